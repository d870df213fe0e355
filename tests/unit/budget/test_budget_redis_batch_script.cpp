// The Redis ledger's batch script (budget/store/redis_scripts.hpp, k_batch) against its own
// reservation and close scripts run one call each: the same operations, batched however, give the
// same replies and leave Redis in the same state (counters, their TTLs, the deadline set, the seen
// marks), although a batch reads each calendar counter once, writes its net change once and adds
// most of its holds with one ZADD; a hold reserved and closed in one batch, a refusal that undoes
// the parts before it and a key of the wrong type (that operation fails, the others go on)
// included.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "budget/store/redis_connection.hpp"
#include "budget/store/redis_scripts.hpp"
#include "budget_test_support.hpp"

using namespace budget_test;
namespace scripts = budget::redis_scripts;

namespace {

// One operation as the ledger would send it, with the prefix still to put before its keys.
struct Op {
  int script = 0;  // scripts::reserve or scripts::close
  std::vector<std::string> keys;
  std::string member;                 // its first argument
  std::vector<std::int64_t> numbers;  // its second, packed
};

class Scripts {
 public:
  Scripts()
      : connection_(endpoint(),
                    {scripts::k_reserve, scripts::k_close, scripts::k_expire, scripts::k_read,
                     scripts::k_runtime, scripts::k_batch},
                    {}, budget::RedisConnection::Batching{}) {}

  // The replies of `ops`, one call of the batch script for all of them.
  std::vector<std::string> batch(const std::vector<Op>& ops) {
    budget::RedisConnection::Command c;
    c.op = "test";
    c.script = scripts::batch;
    for (const auto& op : ops)
      for (const auto& k : op.keys) c.script_args.key(k);
    std::vector<std::int64_t> head = {static_cast<std::int64_t>(ops.size())};
    for (const auto& op : ops)
      head.insert(head.end(), {op.script, static_cast<std::int64_t>(op.keys.size()), 2});
    c.script_args.packed(head.data(), head.size());
    for (const auto& op : ops)
      c.script_args.arg(op.member).packed(op.numbers.data(), op.numbers.size());
    std::vector<std::string> out;
    c.done = [&](const budget::RedisConnection::Result& r) {
      REQUIRE(r.reply);
      REQUIRE(r.reply->type == REDIS_REPLY_ARRAY);
      for (std::size_t i = 0; i < r.reply->elements; ++i) out.push_back(text(r.reply->element[i]));
    };
    connection_.call(std::move(c));
    REQUIRE(out.size() == ops.size());
    return out;
  }

  // The reply of `op` as its own script makes it.
  std::string one(const Op& op) {
    budget::RedisConnection::Command c;
    c.op = "test";
    c.script = op.script;
    for (const auto& k : op.keys) c.script_args.key(k);
    c.script_args.arg(op.member).packed(op.numbers.data(), op.numbers.size());
    std::string out = "<none>";
    c.done = [&](const budget::RedisConnection::Result& r) {
      if (r.reply) out = text(r.reply);
    };
    connection_.call(std::move(c));
    return out;
  }

  std::string command(std::vector<std::string> words) {
    budget::RedisConnection::Command c;
    c.op = "test";
    c.args = std::move(words);
    std::string out = "<none>";
    c.done = [&](const budget::RedisConnection::Result& r) {
      if (r.reply) out = text(r.reply);
    };
    connection_.call(std::move(c));
    return out;
  }

  static std::string text(const redisReply* r) {
    switch (r->type) {
      case REDIS_REPLY_INTEGER:
        return std::to_string(r->integer);
      case REDIS_REPLY_STRING:
      case REDIS_REPLY_STATUS:
        return std::string(r->str, r->len);
      case REDIS_REPLY_ERROR:  // its code (the rest names the script, which differs)
        return "error " + std::string(r->str, std::strcspn(r->str, " "));
      case REDIS_REPLY_NIL:
        return "nil";
      case REDIS_REPLY_ARRAY: {
        std::string s = "[";
        for (std::size_t i = 0; i < r->elements; ++i) {
          if (i) s += ',';
          s += text(r->element[i]);
        }
        return s + "]";
      }
      default:
        return "?";
    }
  }

 private:
  static budget::RedisEndpoint endpoint() {
    auto e = budget::parse_redis_url(RedisServer::shared().url());
    REQUIRE(e);
    return *e;
  }
  budget::RedisConnection connection_;
};

constexpr std::int64_t k_hold_ttl_ms = 3'600'000, k_seen_ttl = 172'800, k_counter_ttl = 90'000;

std::string member(const std::string& prefix, int id, std::int64_t estimate,
                   const std::vector<std::string>& counters) {
  std::string m = std::to_string(id) + "\n" + std::to_string(estimate) + "\n";
  for (std::size_t i = 0; i < counters.size(); ++i) m += i ? " 0:0" : "0:0";
  for (const auto& c : counters) m += "\n" + prefix + c;
  return m;
}

Op reserve(const std::string& prefix, int id, std::int64_t estimate,
           const std::vector<std::string>& counters, std::int64_t limit) {
  Op op;
  op.script = scripts::reserve;
  for (const auto& c : counters) op.keys.push_back(prefix + c);
  op.keys.push_back(prefix + "holds");
  op.keys.push_back(prefix + "seen:" + std::to_string(id));
  op.member = member(prefix, id, estimate, counters);
  op.numbers = {estimate, k_hold_ttl_ms, static_cast<std::int64_t>(counters.size())};
  for (std::size_t i = 0; i < counters.size(); ++i)
    op.numbers.insert(op.numbers.end(), {limit, 1, k_counter_ttl, 0, 0});
  op.numbers.push_back(0);  // no rate buckets
  op.numbers.push_back(0);  // no breakers
  return op;
}

Op close(const std::string& prefix, int id, std::int64_t estimate,
         const std::vector<std::string>& counters, std::int64_t actual) {
  Op op;
  op.script = scripts::close;
  op.keys = {prefix + "holds", prefix + "seen:" + std::to_string(id)};
  for (const auto& c : counters) op.keys.push_back(prefix + c);
  op.member = member(prefix, id, estimate, counters);
  op.numbers = {actual, k_seen_ttl, estimate, 0, 0};
  for (std::size_t i = 0; i < counters.size(); ++i)
    op.numbers.insert(op.numbers.end(), {k_counter_ttl, 0, 0});
  return op;
}

// What Redis keeps for `prefix`, with the prefix taken out so that two prefixes compare.
std::vector<std::string> state(Scripts& s, const std::string& prefix,
                               const std::vector<std::string>& counters, int ids) {
  std::vector<std::string> out;
  const auto strip = [&](std::string v) {
    for (std::size_t at; (at = v.find(prefix)) != std::string::npos;) v.erase(at, prefix.size());
    return v;
  };
  for (const auto& c : counters) {
    // A counter at zero is the same as none (a batch does not write a change that nets to zero).
    const auto value = s.command({"BITFIELD", prefix + c, "GET", "i64", "#0", "GET", "i64", "#1"});
    out.push_back(c + " " + value);
    const auto ttl = std::stoll(s.command({"TTL", prefix + c}));
    out.push_back(c + " ttl " + (value == "[0,0]" ? "-" : ttl > 0 ? "set" : std::to_string(ttl)));
  }
  out.push_back("holds " + strip(s.command({"ZRANGE", prefix + "holds", "0", "-1"})));
  for (int id = 1; id <= ids; ++id)
    out.push_back("seen " + std::to_string(id) + " " +
                  s.command({"EXISTS", prefix + "seen:" + std::to_string(id)}));
  return out;
}

}  // namespace

TEST_CASE("Redis batch script: one batch leaves what its operations leave one call each") {
  Scripts s;
  const std::vector<std::string> ab = {"{a}:k:1", "{b}:k:1"};
  // Hold 1 reserved and settled in the batch, hold 2 reserved (its ZADD put off to the batch's
  // end) and settled in it, hold 3 refused by the first counter (60 spent + 200 reserved > 250)
  // and undone, hold 4 left open, hold 5 on a key of the wrong type, hold 1 settled again.
  const auto ops = [&](const std::string& p) {
    return std::vector<Op>{reserve(p, 1, 100, ab, 250),     reserve(p, 2, 100, ab, 250),
                           close(p, 1, 100, ab, 60),        reserve(p, 3, 100, ab, 250),
                           reserve(p, 4, 10, ab, 250),      close(p, 2, 100, ab, 30),
                           reserve(p, 5, 10, {"bad"}, 250), close(p, 1, 100, ab, 60)};
  };
  for (const std::string p : {"bs1:", "bs2:"}) {
    s.command({"DEL", p + "{a}:k:1", p + "{b}:k:1", p + "holds", p + "bad"});
    s.command({"RPUSH", p + "bad", "not a counter"});
    for (int id = 1; id <= 5; ++id) s.command({"DEL", p + "seen:" + std::to_string(id)});
  }
  const auto batched = s.batch(ops("bs1:"));
  std::vector<std::string> each;
  for (const auto& op : ops("bs2:")) each.push_back(s.one(op));
  CHECK(batched == each);
  CHECK(batched == std::vector<std::string>{"[1,0,0,100,0,0,100,0]", "[1,0,0,200,0,0,200,0]",
                                            "[1,60,60]", "[0,1,60,100,0]",
                                            "[1,0,60,110,0,60,110,0]", "[1,90,90]",
                                            "error WRONGTYPE", "[0]"});
  const auto kept = state(s, "bs1:", ab, 5);
  CHECK(kept == state(s, "bs2:", ab, 5));
  CHECK(kept[0] == "{a}:k:1 [90,10]");
  CHECK(kept[1] == "{a}:k:1 ttl set");
  CHECK(kept[4] == "holds [4\n10\n0:0 0:0\n{a}:k:1\n{b}:k:1]");
}

TEST_CASE("Redis batch script: random operations in batches of any size, the same as one by one") {
  Scripts s;
  const std::vector<std::string> counters = {"{a}:k:1", "{b}:k:1", "{c}:k:1"};
  std::mt19937 random(11);
  struct Hold {
    int id;
    std::int64_t estimate;
    std::vector<std::string> counters;
  };
  std::vector<Hold> open, closed;
  std::vector<std::function<Op(const std::string&)>> ops;
  int next_id = 0;
  for (int i = 0; i < 600; ++i) {
    const auto pick = random() % 10;
    if (pick < 5 || open.empty()) {
      Hold h{++next_id, static_cast<std::int64_t>(random() % 120), {}};
      for (const auto& c : counters)
        if (random() % 2 || (h.counters.empty() && &c == &counters.back())) h.counters.push_back(c);
      const std::int64_t limit = 600 + random() % 4000;
      ops.push_back([h, limit](const std::string& p) {
        return reserve(p, h.id, h.estimate, h.counters, limit);
      });
      open.push_back(h);  // refused or not: closing it is what the ledger would do, or not
    } else if (pick < 9 || closed.empty()) {
      const auto at = random() % open.size();
      const Hold h = open[at];
      open.erase(open.begin() + static_cast<std::ptrdiff_t>(at));
      const std::int64_t actual =
          random() % 5 == 0 ? -1 : static_cast<std::int64_t>(random() % 150);
      ops.push_back([h, actual](const std::string& p) {
        return close(p, h.id, h.estimate, h.counters, actual);
      });
      closed.push_back(h);
    } else {
      const Hold h = closed[random() % closed.size()];  // settled again: does nothing
      ops.push_back(
          [h](const std::string& p) { return close(p, h.id, h.estimate, h.counters, 7); });
    }
  }
  for (const std::string p : {"rb1:", "rb2:"}) {
    for (const auto& c : counters) s.command({"DEL", p + c});
    s.command({"DEL", p + "holds"});
    for (int id = 1; id <= next_id; ++id) s.command({"DEL", p + "seen:" + std::to_string(id)});
  }
  std::vector<std::string> batched, each;
  for (std::size_t i = 0; i < ops.size();) {
    const std::size_t n = std::min<std::size_t>(1 + random() % 24, ops.size() - i);
    std::vector<Op> batch;
    for (std::size_t j = i; j < i + n; ++j) batch.push_back(ops[j]("rb1:"));
    for (auto& r : s.batch(batch)) batched.push_back(std::move(r));
    i += n;
  }
  for (const auto& op : ops) each.push_back(s.one(op("rb2:")));
  REQUIRE(batched.size() == each.size());
  for (std::size_t i = 0; i < each.size(); ++i) {
    INFO("operation " << i);
    CHECK(batched[i] == each[i]);
  }
  CHECK(state(s, "rb1:", counters, next_id) == state(s, "rb2:", counters, next_id));
  // Some were refused, some reserved and settled in one batch: the comparison covered both.
  CHECK(std::count_if(each.begin(), each.end(),
                      [](const auto& r) { return r.rfind("[0,", 0) == 0; }) > 5);
}
