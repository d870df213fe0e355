// Where Redis is and how to log in: the store URL (redis://, rediss://, user and password), AUTH
// with a password or an ACL user, and TLS checked against a CA.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "budget/store/redis_connection.hpp"
#include "budget/store/redis_socket.hpp"
#include "budget_test_support.hpp"

using namespace budget_test;
using Kind = rules::Period::Kind;

TEST_CASE("parse_redis_url") {
  SUBCASE("host, port, database, user and password (percent-decoded)") {
    const auto e = budget::parse_redis_url("redis://alice:p%40ss%3Aword@redis.internal:6380/3");
    REQUIRE(e);
    CHECK(e->host == "redis.internal");
    CHECK(e->port == 6380);
    CHECK(e->db == 3);
    CHECK(e->user == "alice");
    CHECK(e->password == "p@ss:word");
    CHECK_FALSE(e->tls);
    CHECK(e->shown == "redis://alice:***@redis.internal:6380/3");
  }
  SUBCASE("defaults; a password alone, with or without the colon") {
    const auto e = budget::parse_redis_url("redis://localhost");
    REQUIRE(e);
    CHECK(e->port == 6379);
    CHECK(e->db == 0);
    CHECK(e->password.empty());
    CHECK(budget::parse_redis_url("redis://:secret@h/0")->password == "secret");
    CHECK(budget::parse_redis_url("redis://:secret@h/0")->user.empty());
    CHECK(budget::parse_redis_url("redis://secret@h/0")->password == "secret");
  }
  SUBCASE("rediss: TLS, with a CA file") {
    const auto e = budget::parse_redis_url("rediss://[::1]:6390/0?ca=/etc/redis/ca.pem");
    REQUIRE(e);
    CHECK(e->tls);
    CHECK(e->host == "::1");
    CHECK(e->tls_ca == "/etc/redis/ca.pem");
    CHECK(e->shown == "rediss://[::1]:6390/0");
  }
  std::string problem;
  SUBCASE("another scheme") {
    CHECK_FALSE(budget::parse_redis_url("http://h:6379/0", &problem));
    CHECK(problem == "the scheme must be redis:// or rediss://");
  }
  SUBCASE("a database that is not a number") {
    CHECK_FALSE(budget::parse_redis_url("redis://h/zero", &problem));
    CHECK(problem == "the path must be a database number (/0)");
  }
  SUBCASE("a bad escape") {
    CHECK_FALSE(budget::parse_redis_url("redis://u:%zz@h/0", &problem));
    CHECK(problem == "a bad %-escape in the user or password");
  }
  SUBCASE("an unknown parameter") {
    CHECK_FALSE(budget::parse_redis_url("redis://h/0?ca=/x.pem", &problem));
    CHECK(problem == "unknown parameter \"ca\" (rediss:// takes ca=FILE)");
  }
  SUBCASE("a bad port") {
    CHECK_FALSE(budget::parse_redis_url("redis://h:99999/0", &problem));
    CHECK(problem == "missing or invalid port");
  }
  SUBCASE("the store refuses a URL it cannot use") {
    CHECK_THROWS_WITH(budget::make_redis_ledger("redis://h/x", "p:"),
                      "store.redis.url: the path must be a database number (/0)");
  }
}

namespace {

std::string url_with(const RedisServer& server, const std::string& userinfo,
                     const std::string& scheme = "redis", const std::string& query = "") {
  return scheme + "://" + userinfo + "127.0.0.1:" + std::to_string(server.port()) + "/2" + query;
}

void check_store_works(const std::string& url) {
  ManualClock clock;
  auto config = redis_config(base_config(), url);
  config->budgets = {budget_config("daily", 10 * k_usd, Kind::day)};
  auto e = budget::make_enforcer(config, clock);
  REQUIRE(eventually([&] { return e->store_healthy(); }));
  const auto a = admit(*e, openai(k_usd));
  REQUIRE(a.admitted);
  settle(*e, a.hold, 250'000);
  CHECK(standing(*e, "daily").spent == 250'000);
}

bool store_connects(const std::string& url) {
  ManualClock clock;
  auto config = redis_config(base_config(), url);
  config->budgets = {budget_config("daily", 10 * k_usd, Kind::day)};
  auto e = budget::make_enforcer(config, clock);
  // A refusal needs no wait: the first attempt is made at once.
  return admit(*e, openai(k_usd)).admitted;
}

}  // namespace

TEST_CASE("Redis store, AUTH with a password or an ACL user") {
  RedisServer server(
      {"--requirepass", "s3cr:t", "--user", "alice", "on", ">wonder land", "~*", "&*", "+@all"});
  SUBCASE("the default user's password") {
    check_store_works(url_with(server, ":s3cr%3At@"));
  }
  SUBCASE("an ACL user") {
    check_store_works(url_with(server, "alice:wonder%20land@"));
  }
  SUBCASE("a wrong password or none: never connected") {
    CHECK_FALSE(store_connects(url_with(server, "alice:nope@")));
    CHECK_FALSE(store_connects(url_with(server, "")));
  }
}

TEST_CASE("Redis store, TLS (rediss://) checked against a CA") {
  TempDir pki;
  const auto openssl = [&](const std::string& args) {
    const std::string command = "cd " + pki.path.string() + " && openssl " + args + " 2>/dev/null";
    REQUIRE(std::system(command.c_str()) == 0);
  };
  openssl(
      "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem "
      "-days 2 -subj /CN=redis-test-ca");
  openssl(
      "req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr "
      "-subj /CN=redis");
  {
    std::ofstream ext(pki.path / "ext.cnf");
    ext << "subjectAltName=IP:127.0.0.1\n";
  }
  openssl(
      "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
      "-extfile ext.cnf");
  openssl(
      "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key -out "
      "other.pem -days 2 -subj /CN=another-ca");
  const std::string dir = pki.path.string();
  RedisServer server({"--tls-cert-file", dir + "/server.pem", "--tls-key-file", dir + "/server.key",
                      "--tls-ca-cert-file", dir + "/ca.pem", "--tls-auth-clients", "no"},
                     true);

  SUBCASE("trusted") {
    check_store_works(url_with(server, "", "rediss", "?ca=" + dir + "/ca.pem"));
  }
  SUBCASE("a certificate from another CA is refused") {
    CHECK_FALSE(store_connects(url_with(server, "", "rediss", "?ca=" + dir + "/other.pem")));
  }
  SUBCASE("plain redis:// to a TLS port gets nowhere") {
    CHECK_FALSE(store_connects(url_with(server, "")));
  }
}

TEST_CASE("the reply arena hands out aligned, separate blocks and starts over") {
  budget::RedisConnection::ReplyArena arena;
  std::vector<char*> blocks;
  for (std::size_t size : {1, 24, 7, 40, 16000, 3}) {
    auto* p = static_cast<char*>(arena.allocate(size));
    REQUIRE(p != nullptr);
    CHECK(reinterpret_cast<std::uintptr_t>(p) % 16 == 0);
    std::memset(p, static_cast<int>(blocks.size()) + 1, size);
    blocks.push_back(p);
  }
  // What was written into each block is still there: no two overlap.
  CHECK(blocks[1][23] == 2);
  CHECK(blocks[3][0] == 4);
  CHECK(blocks[4][15999] == 5);
  // A reply larger than a chunk gets a chunk of its own.
  auto* big = static_cast<char*>(arena.allocate(100000));
  std::memset(big, 9, 100000);
  CHECK(blocks[5][0] == 6);
  // Started over, the first block comes from the start of the first chunk again.
  arena.reset();
  CHECK(arena.allocate(8) == blocks[0]);
}
