// GET /v1/events/stream: the SSE frame of an event, the cap on streams, where a stream starts
// (Last-Event-ID, ?since=, now), and the stream itself over loopback: live events, resumption,
// keep-alive comments, 503 past the cap and a slot given back as soon as a client leaves.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "admin/admin_routes.hpp"
#include "admin/admin_server.hpp"
#include "admin/event_stream.hpp"
#include "admin_test_support.hpp"

using namespace admin_test;
using namespace std::chrono_literals;

namespace {

budget::Event event(std::uint64_t id, std::string type, std::string message) {
  budget::Event e;
  e.id = id;
  e.at = budget::TimePoint{} + std::chrono::hours(24 * 20000) + 1500ms;
  e.type = budget::parse_event_type(type).value();
  e.budget = "daily";
  e.message = std::move(message);
  e.detail_json = R"({"estimate":"0.5"})";
  return e;
}

struct RoutesFixture {
  TempDir dir;
  std::string config_path = dir.write("tollgate.yaml", config_yaml("50"));
  RecordingEnforcer enforcer;
  proxy::ConfigHolder holder{load(config_path)};
  proxy::Reloader reloader{config_path, holder, enforcer};
  proxy::AuditLog audit{dir.at("data/audit.log")};
  proxy::AdminRoutes routes{"tok", holder, enforcer, reloader, audit, [] { return true; }};

  RoutesFixture() {
    for (int i = 0; i < 5; ++i) enforcer.emit(event(0, "threshold", "t" + std::to_string(i)));
  }
  std::variant<std::uint64_t, proxy::AdminResponse> start(const std::string& target,
                                                          const std::string& last_event_id = "") {
    return routes.event_stream_start({"GET", target, "", "", "127.0.0.1:1"}, last_event_id);
  }
};

// A blocking loopback client with a receive timeout, so that a broken stream fails the test
// instead of hanging it.
class Client {
 public:
  Client(std::uint16_t port, const std::string& request) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval timeout{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::send(fd_, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size()));
  }
  ~Client() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Everything received until `marker` has arrived (after what earlier calls returned);
  // what arrived so far when the timeout passes or the server closes.
  std::string until(std::string_view marker) {
    for (;;) {
      if (const auto at = buffer_.find(marker); at != std::string::npos) {
        auto out = buffer_.substr(0, at + marker.size());
        buffer_.erase(0, at + marker.size());
        return out;
      }
      char chunk[4096];
      const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return std::exchange(buffer_, {});
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  // The next event frame, past any keep-alive comments.
  std::string event() {
    for (;;) {
      auto frame = until("\n\n");
      if (!frame.starts_with(":")) return frame;
    }
  }

 private:
  int fd_ = -1;
  std::string buffer_;
};

std::string stream_request(const std::string& extra = "", const std::string& target = "") {
  return "GET " + (target.empty() ? std::string(proxy::k_event_stream_path) : target) +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n" + extra + "\r\n";
}

struct LiveServer {
  TempDir dir;
  std::string config_path = dir.write("tollgate.yaml", config_yaml("50"));
  proxy::ConfigHolder holder{load(config_path)};
  std::unique_ptr<budget::Enforcer> enforcer = budget::make_enforcer(holder.get());
  proxy::Reloader reloader{config_path, holder, *enforcer};
  proxy::AdminOptions options = [] {
    proxy::AdminOptions o;
    o.listen.host = "127.0.0.1";
    o.event_stream_keep_alive = 300ms;
    return o;
  }();
  proxy::AdminServer server{options, holder, *enforcer, reloader, [] { return true; }};
  std::uint16_t port = server.start();

  void emit(const std::string& type, const std::string& message) {
    enforcer->emit({0, std::chrono::system_clock::now(), budget::parse_event_type(type).value(), "",
                    "", message, ""});
  }
};

}  // namespace

TEST_CASE("sse_event, one event as one Server-Sent Event") {
  SUBCASE("id, type and the event's JSON on one data line") {
    CHECK(proxy::sse_event(event(7, "refused", "over budget")) ==
          "id: 7\nevent: refused\ndata: "
          R"({"id":7,"at":"2024-10-04T00:00:01.500Z","type":"refused","budget":"daily","key":"",)"
          R"("message":"over budget","detail":{"estimate":"0.5"}})"
          "\n\n");
  }
  SUBCASE("a line break in the message stays inside the JSON string") {
    const auto frame = proxy::sse_event(event(8, "admin", "a\nb\r\n\nc"));
    CHECK(frame.find(R"("message":"a\nb\r\n\nc")") != std::string::npos);
    CHECK(frame.find("\n\n") == frame.size() - 2);
  }
}

TEST_CASE("StreamSlots, at most max at once") {
  proxy::StreamSlots slots(2);
  auto a = slots.try_acquire();
  auto b = slots.try_acquire();
  REQUIRE(a);
  REQUIRE(b);
  CHECK_FALSE(slots.try_acquire());
  CHECK(slots.in_use() == 2);
  SUBCASE("a slot is given back when destroyed") {
    a.reset();
    CHECK(slots.in_use() == 1);
    CHECK(slots.try_acquire());
    CHECK(slots.in_use() == 1);  // the temporary was destroyed at once
  }
  SUBCASE("a moved slot is given back once") {
    {
      auto moved = std::move(*b);
      b.reset();
      CHECK(slots.in_use() == 2);
    }
    CHECK(slots.in_use() == 1);
  }
}

TEST_CASE("AdminRoutes::event_stream_start, where a stream begins") {
  RoutesFixture f;  // events 1..5
  SUBCASE("without an id: after the newest, so only what happens from now on") {
    CHECK(std::get<std::uint64_t>(f.start("/v1/events/stream")) == 5);
  }
  SUBCASE("?since=") {
    CHECK(std::get<std::uint64_t>(f.start("/v1/events/stream?since=2")) == 2);
  }
  SUBCASE("Last-Event-ID, sent by a reconnecting EventSource, wins over ?since=") {
    CHECK(std::get<std::uint64_t>(f.start("/v1/events/stream?since=2", "3")) == 3);
  }
  SUBCASE("an id past the newest was handed out before a restart: from the start") {
    CHECK(std::get<std::uint64_t>(f.start("/v1/events/stream", "900")) == 0);
    CHECK(std::get<std::uint64_t>(f.start("/v1/events/stream?since=6")) == 0);
  }
  SUBCASE("a malformed Last-Event-ID") {
    const auto started = f.start("/v1/events/stream", "x1");
    const auto& r = std::get<proxy::AdminResponse>(started);
    CHECK(r.status == 400);
    CHECK(r.body == R"j({"error":"Last-Event-ID: must be an event id (a whole number)"})j");
  }
  SUBCASE("a malformed since") {
    const auto started = f.start("/v1/events/stream?since=-1");
    const auto& r = std::get<proxy::AdminResponse>(started);
    CHECK(r.status == 400);
    CHECK(r.body == R"j({"error":"since: must be an event id (a whole number)"})j");
  }
  SUBCASE("handle() without a socket says what the endpoint is") {
    const auto r = f.routes.handle({"GET", "/v1/events/stream", "", "", "127.0.0.1:1"});
    CHECK(r.status == 406);
    CHECK(f.routes.handle({"POST", "/v1/events/stream", "", "", "127.0.0.1:1"}).status == 405);
  }
}

TEST_CASE("AdminRoutes::handle, GET /v1/events?last=N and GET /v1/breakers") {
  RoutesFixture f;  // events 1..5
  auto call = [&](const std::string& target) {
    return f.routes.handle({"GET", target, "", "", "127.0.0.1:1"});
  };
  SUBCASE("the newest N, oldest first") {
    const auto r = call("/v1/events?last=2");
    REQUIRE(r.status == 200);
    CHECK(r.body.find(R"("id":3)") == std::string::npos);
    CHECK(r.body.find(R"("id":4)") < r.body.find(R"("id":5)"));
    CHECK(r.body.ends_with(R"("last_id":5})"));
  }
  SUBCASE("more than there are") {
    CHECK(call("/v1/events?last=1000").body.find(R"("id":1,)") != std::string::npos);
  }
  SUBCASE("with since: the newest N after it") {
    const auto r = call("/v1/events?since=4&last=3");
    CHECK(r.body.find(R"("id":4)") == std::string::npos);
    CHECK(r.body.find(R"("id":5)") != std::string::npos);
  }
  SUBCASE("out of range") {
    for (const auto* bad : {"0", "1001", "x", ""}) {
      const auto r = call(std::string("/v1/events?last=") + bad);
      CHECK(r.status == 400);
      CHECK(r.body == R"({"error":"last: must be a number of events from 1 to 1000"})");
    }
  }
  SUBCASE("breakers") {
    f.enforcer.breaker_list = {{"openai-5xx:api.openai.com", true}, {"keepa", false}};
    const auto r = call("/v1/breakers");
    CHECK(r.status == 200);
    CHECK(r.body == R"({"breakers":[{"name":"openai-5xx:api.openai.com","open":true},)"
                    R"({"name":"keepa","open":false}]})");
  }
}

TEST_CASE("AdminServer, /v1/events/stream over loopback") {
  LiveServer live;
  live.emit("reload", "before anyone listened");  // id 1

  SUBCASE("events emitted after connecting arrive as they happen") {
    Client client(live.port, stream_request());
    const auto head = client.until("retry: 2000\n\n");
    CHECK(head.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(head.find("Content-Type: text/event-stream; charset=utf-8\r\n") != std::string::npos);
    CHECK(head.find("Cache-Control: no-store\r\n") != std::string::npos);
    CHECK(head.find("Connection: close\r\n") != std::string::npos);
    CHECK(head.find("Content-Length") == std::string::npos);
    CHECK(head.find("before anyone listened") == std::string::npos);  // starts at now
    live.emit("refused", "over budget");
    const auto frame = client.event();
    CHECK(frame.starts_with("id: 2\nevent: refused\ndata: {\"id\":2,"));
    CHECK(frame.find(R"("message":"over budget")") != std::string::npos);
    live.emit("admin", "third");
    CHECK(client.event().starts_with("id: 3\nevent: admin\n"));
  }
  SUBCASE("Last-Event-ID resumes after the id given") {
    live.emit("threshold", "second");  // id 2
    Client client(live.port, stream_request("Last-Event-ID: 1\r\n"));
    client.until("retry: 2000\n\n");
    CHECK(client.event().starts_with("id: 2\nevent: threshold\n"));
    live.emit("admin", "third");
    CHECK(client.event().starts_with("id: 3\nevent: admin\n"));
  }
  SUBCASE("?since=0 replays what the log holds") {
    Client client(live.port, stream_request("", "/v1/events/stream?since=0"));
    client.until("retry: 2000\n\n");
    CHECK(client.event().starts_with("id: 1\nevent: reload\n"));
  }
  SUBCASE("a quiet stream gets keep-alive comments") {
    Client client(live.port, stream_request());
    client.until("retry: 2000\n\n");
    CHECK(client.until("\n\n") == ": keep-alive\n\n");
    CHECK(client.until("\n\n") == ": keep-alive\n\n");
  }
  SUBCASE("a malformed Last-Event-ID is a 400") {
    Client client(live.port, stream_request("Last-Event-ID: seven\r\n"));
    const auto answer = client.until("}");
    CHECK(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"));
    CHECK(answer.ends_with(R"j({"error":"Last-Event-ID: must be an event id (a whole number)"})j"));
  }
  SUBCASE("past the cap: 503; a client that leaves frees its slot at once") {
    std::vector<std::unique_ptr<Client>> open;
    for (std::size_t i = 0; i < proxy::k_max_event_streams; ++i) {
      open.push_back(std::make_unique<Client>(live.port, stream_request()));
      REQUIRE(open.back()->until("retry: 2000\n\n").starts_with("HTTP/1.1 200 OK"));
    }
    {
      Client refused(live.port, stream_request());
      const auto answer = refused.until("}");
      CHECK(answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
      CHECK(answer.find("Retry-After: 10\r\n") != std::string::npos);
      CHECK(answer.ends_with(R"({"error":"too many event streams open (16): try again later"})"));
    }
    open.front()->close();
    bool admitted = false;
    for (int i = 0; i < 50 && !admitted; ++i) {
      Client again(live.port, stream_request());
      admitted = again.until("\r\n").starts_with("HTTP/1.1 200 OK");
      if (!admitted) std::this_thread::sleep_for(20ms);
    }
    CHECK(admitted);
    // The other streams still work, and the rest of the admin API answers meanwhile.
    live.emit("admin", "to all");
    CHECK(open.back()->event().starts_with("id: 2\n"));
    Client health(live.port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(health.until("ok\n").starts_with("HTTP/1.1 200 OK"));
  }
}
