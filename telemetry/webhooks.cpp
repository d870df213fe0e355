#include "telemetry/webhooks.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "telemetry/access_log.hpp"

namespace proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct Delivery {
  std::string url, body;
  int attempts = 0;
  std::chrono::steady_clock::time_point not_before{};
};

std::string iso_time(budget::TimePoint t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool subscribes(const rules::WebhookConfig& hook, const std::string& type) {
  if (hook.events.empty()) return true;
  for (const auto& e : hook.events)
    if (e == type || (e == "refused" && type == "would_refuse") ||
        (e == "threshold" && type == "balance_warning"))
      return true;
  return false;
}

struct Url {
  bool https = false;
  std::string host, port, target;
};

// http(s)://host[:port][/target]; IPv6 literals in brackets.
std::optional<Url> parse_url(std::string_view url) {
  Url out;
  if (url.starts_with("https://")) {
    out.https = true;
    url.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    url.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  const auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  out.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  std::string_view port;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    out.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size() && authority[close + 1] == ':')
      port = authority.substr(close + 2);
  } else {
    const auto colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  out.port = port.empty() ? (out.https ? "443" : "80") : std::string(port);
  if (out.host.empty()) return std::nullopt;
  return out;
}

// One POST; true on a 2xx answer. Blocking, with a 5 s bound on every step.
bool post(asio::ssl::context& tls, const std::string& url, const std::string& body) {
  const auto parsed = parse_url(url);
  if (!parsed) return false;
  const bool https = parsed->https;
  const std::string& host = parsed->host;
  const std::string& port = parsed->port;
  const std::string& target = parsed->target;

  asio::io_context io;
  tcp::resolver resolver(io);
  beast::error_code ec;
  const auto endpoints = resolver.resolve(host, port, ec);
  if (ec) return false;
  http::request<http::string_body> req{http::verb::post, target, 11};
  req.set(http::field::host, host);
  req.set(http::field::content_type, "application/json");
  req.set(http::field::user_agent, "tollgate");
  req.body() = body;
  req.prepare_payload();
  http::response<http::string_body> res;
  beast::flat_buffer buffer;

  auto finish = [&](auto& stream) {
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
    http::write(stream, req, ec);
    if (ec) return false;
    http::read(stream, buffer, res, ec);
    return !ec && res.result_int() / 100 == 2;
  };
  if (!https) {
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(5));
    stream.connect(endpoints, ec);
    return !ec && finish(stream);
  }
  beast::ssl_stream<beast::tcp_stream> stream(io, tls);
  if (!SSL_set_tlsext_host_name(stream.native_handle(), host.c_str())) return false;
  SSL_set1_host(stream.native_handle(), host.c_str());
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
  beast::get_lowest_layer(stream).connect(endpoints, ec);
  if (ec) return false;
  stream.handshake(asio::ssl::stream_base::client, ec);
  return !ec && finish(stream);
}

}  // namespace

// One queue and one thread per receiver URL: a slow or dead receiver delays only its own events.
struct Channel {
  std::string url;
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<Delivery> queue;
  bool stopping = false;
  std::thread thread;

  void loop(asio::ssl::context& tls, std::atomic<std::uint64_t>& delivered,
            std::atomic<std::uint64_t>& dropped) {
    std::unique_lock lock(mutex);
    while (!stopping) {
      if (queue.empty()) {
        wake.wait(lock);
        continue;
      }
      // The delivery due first (a retry waits its backoff; new events behind it do not).
      auto due = std::min_element(queue.begin(), queue.end(), [](const auto& a, const auto& b) {
        return a.not_before < b.not_before;
      });
      if (due->not_before > std::chrono::steady_clock::now()) {
        wake.wait_until(lock, due->not_before);
        continue;
      }
      Delivery d = std::move(*due);
      queue.erase(due);
      lock.unlock();
      const bool ok = post(tls, d.url, d.body);
      lock.lock();
      if (ok) {
        ++delivered;
      } else if (++d.attempts < WebhookSender::k_max_attempts) {
        // Backoff 1 s, 2 s, 4 s, 8 s.
        d.not_before =
            std::chrono::steady_clock::now() + std::chrono::seconds(1 << (d.attempts - 1));
        queue.push_back(std::move(d));
      } else {
        ++dropped;
        log_warning("webhook " + d.url + ": gave up after " +
                    std::to_string(WebhookSender::k_max_attempts) + " attempts");
      }
    }
  }
};

struct WebhookSender::Impl {
  std::mutex mutex;  // hooks and channels
  std::vector<rules::WebhookConfig> hooks;
  std::vector<std::unique_ptr<Channel>> channels;  // created on first use, kept until shutdown
  std::atomic<std::uint64_t> delivered{0}, dropped{0};
  asio::ssl::context tls{asio::ssl::context::tls_client};

  Channel& channel(const std::string& url) {
    for (auto& c : channels)
      if (c->url == url) return *c;
    auto& c = channels.emplace_back(std::make_unique<Channel>());
    c->url = url;
    Channel* raw = c.get();
    c->thread = std::thread([this, raw] { raw->loop(tls, delivered, dropped); });
    return *raw;
  }
};

WebhookSender::WebhookSender(std::vector<rules::WebhookConfig> hooks, std::string trust)
    : impl_(std::make_unique<Impl>()) {
  impl_->hooks = std::move(hooks);
  impl_->tls.set_verify_mode(asio::ssl::verify_peer);
  if (trust.empty() || trust == "system")
    impl_->tls.set_default_verify_paths();
  else
    impl_->tls.load_verify_file(trust);
}

WebhookSender::~WebhookSender() {
  std::lock_guard lock(impl_->mutex);
  for (auto& c : impl_->channels) {
    {
      std::lock_guard channel_lock(c->mutex);
      c->stopping = true;
    }
    c->wake.notify_all();
  }
  for (auto& c : impl_->channels) c->thread.join();
}

void WebhookSender::send(const budget::Event& event) {
  std::lock_guard lock(impl_->mutex);
  if (impl_->hooks.empty()) return;
  const std::string body = event_json(event);
  for (const auto& hook : impl_->hooks) {
    if (!subscribes(hook, event.type)) continue;
    Channel& c = impl_->channel(hook.url);
    {
      std::lock_guard channel_lock(c.mutex);
      if (c.queue.size() >= k_max_queue) {
        c.queue.pop_front();
        ++impl_->dropped;
      }
      c.queue.push_back({hook.url, body, 0, {}});
    }
    c.wake.notify_one();
  }
}

void WebhookSender::set_hooks(std::vector<rules::WebhookConfig> hooks) {
  std::lock_guard lock(impl_->mutex);
  impl_->hooks = std::move(hooks);
}

std::uint64_t WebhookSender::delivered() const {
  return impl_->delivered;
}
std::uint64_t WebhookSender::dropped() const {
  return impl_->dropped;
}

std::string event_json(const budget::Event& e) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> out(buffer);
  const auto str = [&out](const char* key, const std::string& value) {
    out.Key(key);
    out.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  };
  out.StartObject();
  out.Key("id");
  out.Uint64(e.id);
  str("at", iso_time(e.at));
  str("type", e.type);
  str("budget", e.budget);
  str("key", e.key);
  str("message", e.message);
  // The detail is built by budget::EventDetail, a JSON writer: it is an object (or empty).
  const std::string_view detail =
      e.detail_json.empty() ? std::string_view("{}") : std::string_view(e.detail_json);
  out.Key("detail");
  out.RawValue(detail.data(), detail.size(), rapidjson::kObjectType);
  out.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace proxy
