// The Redis shared ledger: every call goes through one RedisConnection (its own thread, pipelined
// batches), so no caller waits on Redis; closes Redis could not take wait in a RedisOutbox and
// are sent again once it is back.
#include <charconv>
#include <future>
#include <stdexcept>
#include <unordered_map>

#include "budget/store/redis_connection.hpp"
#include "budget/store/redis_outbox.hpp"
#include "budget/store/redis_replies.hpp"
#include "budget/store/redis_scripts.hpp"
#include "budget/store/shared_ledger.hpp"
#include "util/text.hpp"

namespace budget {
namespace {

namespace scripts = redis_scripts;
using redis_replies::is_array;
using redis_replies::text;
using redis_replies::to_int;
using Result = RedisConnection::Result;

// How long a closed hold's mark stays: longer than any outage whose closes wait in the outbox is
// expected to last (the outbox keeps them until Redis is back, however long).
constexpr std::int64_t k_seen_ttl_s = 2 * 86'400;

// Reservations and closes per call of the batch script at most: Redis runs a call's operations
// one after another while every other client waits, so a call is kept to a few milliseconds.
constexpr std::size_t k_batch_max_ops = 128;

// An operation's numbers, gathered for ScriptArgs::packed: this thread's, emptied for each use.
std::vector<std::int64_t>& numbers() {
  thread_local std::vector<std::int64_t> n;
  n.clear();
  return n;
}

// A close's amounts are kept as text (the outbox's columns): "-1" for a release.
std::int64_t amount(const std::string& text, std::int64_t otherwise) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  return ec == std::errc{} && end == text.data() + text.size() ? v : otherwise;
}

class RedisLedger final : public SharedLedger {
 public:
  RedisLedger(RedisEndpoint endpoint, std::string prefix, const std::string& outbox_path)
      : prefix_(std::move(prefix)), outbox_(outbox_path) {
    RedisConnection::Hooks hooks;
    hooks.connected = [this] { return replay(); };
    hooks.after_batch = [this] { keep_closes(); };
    hooks.failed = [this](const std::string& problem) {
      std::lock_guard lock(listener_mutex_);
      if (listener_) listener_(problem);
    };
    connection_ = std::make_unique<RedisConnection>(
        std::move(endpoint),
        std::vector<std::string>{scripts::k_reserve, scripts::k_close, scripts::k_expire,
                                 scripts::k_read, scripts::k_runtime, scripts::k_batch},
        std::move(hooks),
        // Reservations and closes (replayed ones too) queued together go to Redis as one call.
        RedisConnection::Batching{scripts::batch, {0, 1, -1, -1, -1, -1}, k_batch_max_ops});
  }
  // The connection goes first: what it still holds fails, and closes among it reach the outbox.
  ~RedisLedger() override { connection_.reset(); }

  void reserve(std::uint64_t hold, const std::vector<Part>& parts,
               const std::vector<RatePart>& rates, const std::vector<BreakerPart>& breakers,
               std::int64_t estimate, std::int64_t hold_ttl_ms,
               std::function<void(Reservation)> done) override {
    PendingClose open = pending_close(hold, parts);
    open.estimate = std::to_string(estimate);
    // The hold as its member in the deadline set carries it: "ID\nESTIMATE\nROLLS\nKEY1\nKEY2..."
    const util::Decimal digits(hold);
    const std::string_view id = digits.view();
    std::size_t size = id.size() + open.estimate.size() + 2 + 8 * parts.size();
    for (const auto& k : open.keys) size += k.size() + 1;
    open.member.reserve(size);
    open.member += id;
    open.member += '\n';
    open.member += open.estimate;
    open.member += '\n';
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (i) open.member += ' ';
      util::append_decimal(open.member, parts[i].window);
      open.member += ':';
      util::append_decimal(open.member, parts[i].bucket);
    }
    for (const auto& k : open.keys) {
      open.member += '\n';
      open.member += k;
    }
    RedisConnection::ScriptArgs args;
    std::size_t bytes = 2 * open.member.size() + prefix_.size() * 2 + 64 + 48 * parts.size();
    args.reserve(bytes);
    for (const auto& k : open.keys) args.key(k);
    args.key(holds_key_);
    args.key(seen_prefix_, id);  // PREFIX seen:ID
    for (const auto& r : rates) args.key(rate_key(r.name, r.key));
    for (const auto& b : breakers) args.key(breaker_key(b.name));
    args.arg(open.member);
    std::vector<std::int64_t>& n = numbers();
    n.insert(n.end(), {estimate, hold_ttl_ms, static_cast<std::int64_t>(parts.size())});
    for (const auto& p : parts)
      n.insert(n.end(), {p.limit, p.enforce ? 1 : 0, p.ttl, p.window, p.bucket});
    if (!rates.empty() || !breakers.empty()) {
      n.push_back(static_cast<std::int64_t>(rates.size()));
      for (const auto& r : rates) n.insert(n.end(), {r.requests, r.tokens, r.window_ms, r.need});
    }
    if (!breakers.empty()) n.push_back(static_cast<std::int64_t>(breakers.size()));
    args.packed(n.data(), n.size());
    // A rate check alone (no parts) leaves nothing to close. (Breakers are given to the close
    // again.)
    if (!parts.empty()) {
      std::lock_guard lock(open_mutex_);
      open_[hold] = std::move(open);
    }
    connection_->send({"reserve",
                       scripts::reserve,
                       {},
                       std::move(args),
                       [this, hold, parts = parts.size(), breakers = breakers.size(),
                        done = std::move(done)](const Result& r) {
                         Reservation out =
                             redis_replies::reservation(r.reply, r.sent, parts, breakers);
                         // Refused, or never sent: no close will name it (one that might have
                         // been made is released, and needs its member).
                         if (out.outcome == Reservation::Outcome::refused ||
                             out.outcome == Reservation::Outcome::rate_refused ||
                             out.outcome == Reservation::Outcome::breaker_refused ||
                             (out.outcome == Reservation::Outcome::failed && !out.maybe_reserved)) {
                           std::lock_guard lock(open_mutex_);
                           open_.erase(hold);
                         }
                         done(std::move(out));
                       }});
  }

  void close(std::uint64_t hold, std::optional<std::int64_t> actual,
             const std::vector<Part>& unreserved, const std::vector<BreakerPart>& breakers,
             std::function<void(std::optional<Closed>)> done) override {
    PendingClose c;
    {
      std::lock_guard lock(open_mutex_);
      if (auto found = open_.find(hold); found != open_.end()) {
        c = std::move(found->second);
        open_.erase(found);
      }
    }
    // Admitted while Redis could not be reached: charged to its counters unless a reservation
    // was made after all (then closed as one).
    if (!unreserved.empty()) {
      if (c.member.empty()) c = pending_close(hold, unreserved);
      c.unreserved = true;
    }
    c.hold = hold;
    c.actual = actual ? std::to_string(*actual) : "-1";
    c.breaker_keys.clear();
    c.breaker_args.clear();
    for (const auto& b : breakers) {
      c.breaker_keys.push_back(breaker_key(b.name));
      c.breaker_args.insert(c.breaker_args.end(), {b.limit, b.window, b.bucket, b.cooldown_ms});
    }
    auto args = close_args(c);
    connection_->send({"close",
                       scripts::close,
                       {},
                       std::move(args),
                       [this, c = std::move(c), done = std::move(done)](const Result& r) mutable {
                         if (is_array(r.reply, 1)) {
                           if (done) done(redis_replies::closed(r.reply, c.keys.size()));
                           return;
                         }
                         // No reply: kept and sent again when Redis is back. (A script error
                         // would come back the same: nothing to keep.)
                         if (!r.reply)
                           to_keep_.push_back({std::move(c), std::move(done)});
                         else if (done)
                           done(std::nullopt);
                       }});
  }

  void settle_expired() override {
    RedisConnection::ScriptArgs args;
    args.key(holds_key_).arg(prefix_ + "hold:").arg(prefix_ + "seen:").arg(k_seen_ttl_s);
    connection_->send({"expire", scripts::expire, {}, std::move(args), nullptr});
  }

  void runtime(std::function<void(std::optional<Runtime>)> done) override {
    RedisConnection::ScriptArgs args;
    args.key(prefix_ + "limits").key(prefix_ + "overrides");
    connection_->send(
        {"runtime",
         scripts::runtime,
         {},
         std::move(args),
         [done = std::move(done)](const Result& r) { done(redis_replies::runtime(r.reply)); }});
  }

  std::optional<std::vector<Counters>> read(const std::vector<Part>& parts) override {
    RedisConnection::ScriptArgs args;
    for (const auto& p : parts) args.key(counter_key(p.budget, p.key, p.period));
    for (const auto& p : parts) args.arg(p.window);
    std::optional<std::vector<Counters>> out;
    connection_->call({"read", scripts::read, {}, std::move(args), [&](const Result& r) {
                         if (!is_array(r.reply)) return;
                         out.emplace();
                         for (std::size_t i = 0; i + 2 < r.reply->elements; i += 3)
                           out->push_back({to_int(r.reply->element[i]),
                                           to_int(r.reply->element[i + 1]),
                                           to_int(r.reply->element[i + 2])});
                       }});
    return out;
  }

  std::optional<std::vector<bool>> breakers_open(const std::vector<std::string>& names) override {
    std::vector<bool> out;
    for (const auto& name : names) {
      std::optional<bool> open;
      // Its state exists only while it is open.
      connection_->call(
          {"breaker", -1, {"HGET", breaker_key(name), "open"}, {}, [&](const Result& r) {
             if (r.reply && r.reply->type != REDIS_REPLY_ERROR) open = text(r.reply) == "1";
           }});
      if (!open) return std::nullopt;
      out.push_back(*open);
    }
    return out;
  }

  bool reset(const std::string& budget, const std::string& key, std::int64_t period) override {
    if (!key.empty()) return command({"DEL", counter_key(budget, key, period)});
    // Every instance: its counters share the budget's {hash tag} prefix.
    std::string cursor = "0";
    do {
      std::vector<std::string> keys;
      bool ok = false;
      connection_->call({"reset",
                         -1,
                         {"SCAN", cursor, "MATCH", prefix_ + "{" + budget + "}:*", "COUNT", "1000"},
                         {},
                         [&](const Result& r) {
                           if (!is_array(r.reply, 2)) return;
                           ok = true;
                           cursor = text(r.reply->element[0]);
                           for (std::size_t i = 0; i < r.reply->element[1]->elements; ++i)
                             keys.push_back(text(r.reply->element[1]->element[i]));
                         }});
      if (!ok) return false;
      if (!keys.empty()) {
        keys.insert(keys.begin(), "DEL");
        if (!command(std::move(keys))) return false;
      }
    } while (cursor != "0");
    return true;
  }

  // Limits are one hash (budget -> "limit:config_limit"), overrides one list of records: every
  // process re-reads both (runtime()) and applies them as its own.
  bool set_limit(const LimitRow& limit) override {
    return command({"HSET", prefix_ + "limits", limit.budget,
                    std::to_string(limit.limit) + ":" + std::to_string(limit.config_limit)});
  }

  bool add_override(const OverrideRow& o) override {
    return command({"RPUSH", prefix_ + "overrides",
                    o.budget + redis_replies::k_field + o.key + redis_replies::k_field +
                        std::to_string(o.extra) + redis_replies::k_field + std::to_string(o.until) +
                        redis_replies::k_field + o.reason});
  }

  bool healthy() const override { return connection_->connected(); }

  void on_failure(std::function<void(const std::string&)> listener) override {
    std::lock_guard lock(listener_mutex_);
    listener_ = std::move(listener);
  }

  void on_breaker_change(std::function<void(const std::string&, BreakerChange)> listener) override {
    std::lock_guard lock(listener_mutex_);
    breaker_listener_ = std::move(listener);
  }

 private:
  struct Keep {
    PendingClose close;
    std::function<void(std::optional<Closed>)> done;
  };

  // A close of `hold` over the counters of `parts` (its member, estimate and actual to be set).
  PendingClose pending_close(std::uint64_t hold, const std::vector<Part>& parts) const {
    PendingClose c;
    c.hold = hold;
    c.keys.reserve(parts.size());
    c.key_ttls.reserve(parts.size());
    c.key_windows.reserve(parts.size());
    c.key_buckets.reserve(parts.size());
    for (const auto& p : parts) {
      c.keys.push_back(counter_key(p.budget, p.key, p.period));
      c.key_ttls.push_back(p.ttl);
      c.key_windows.push_back(p.window);
      c.key_buckets.push_back(p.bucket);
    }
    return c;
  }

  RedisConnection::ScriptArgs close_args(const PendingClose& c) const {
    const util::Decimal digits(c.hold);
    const std::string_view id = digits.view();
    RedisConnection::ScriptArgs args;
    std::size_t bytes = c.member.size() + prefix_.size() * 2 + 96 + 24 * c.keys.size();
    for (const auto& k : c.keys) bytes += k.size() + 8;
    args.reserve(bytes);
    args.key(holds_key_);
    args.key(seen_prefix_, id);  // PREFIX seen:ID
    for (const auto& k : c.keys) args.key(k);
    const std::size_t breakers = std::min(c.breaker_keys.size(), c.breaker_args.size() / 4);
    for (std::size_t i = 0; i < breakers; ++i)
      args.key(c.breaker_keys[i]).key(c.breaker_keys[i], ":w");
    // A hold never sent has no member: the bare id, which names no hold.
    args.arg(c.member.empty() ? id : std::string_view(c.member));
    std::vector<std::int64_t>& n = numbers();
    n.insert(n.end(), {amount(c.actual, -1), k_seen_ttl_s, amount(c.estimate, 0),
                       c.unreserved ? 1 : 0, static_cast<std::int64_t>(breakers)});
    for (std::size_t i = 0; i < c.keys.size(); ++i)
      n.insert(n.end(), {i < c.key_ttls.size() ? c.key_ttls[i] : 0,
                         i < c.key_windows.size() ? c.key_windows[i] : 0,
                         i < c.key_buckets.size() ? c.key_buckets[i] : 0});
    n.insert(n.end(), c.breaker_args.begin(),
             c.breaker_args.begin() + static_cast<std::ptrdiff_t>(4 * breakers));
    args.packed(n.data(), n.size());
    return args;
  }

  // On the connection's thread, first on a new connection: the closes the outbox keeps.
  std::vector<RedisConnection::Command> replay() {
    std::vector<RedisConnection::Command> out;
    for (auto& c : outbox_.all())
      out.push_back({"replay",
                     scripts::close,
                     {},
                     close_args(c),
                     [this, hold = c.hold, counters = c.keys.size(),
                      breakers = c.breaker_keys](const Result& r) {
                       if (!is_array(r.reply, 1)) return;
                       replayed_.push_back(hold);
                       const Closed result = redis_replies::closed(r.reply, counters);
                       for (std::size_t k = 0; k < result.breakers.size() && k < breakers.size();
                            ++k)
                         if (result.breakers[k].kind != BreakerChange::Kind::none)
                           breaker_changed(breakers[k], result.breakers[k]);
                     }});
    return out;
  }

  // On the connection's thread after each batch: closes that failed go to the outbox (one
  // transaction) before their callers hear of them; those replayed leave it.
  void keep_closes() {
    outbox_.remove(replayed_);
    replayed_.clear();
    if (to_keep_.empty()) return;
    std::vector<PendingClose> closes;
    for (const auto& k : to_keep_) closes.push_back(k.close);
    outbox_.add(closes);
    auto waiting = std::move(to_keep_);
    to_keep_.clear();
    for (auto& k : waiting)
      if (k.done) k.done(std::nullopt);
  }

  // A replayed close changed the breaker whose state is at `key` (PREFIX breaker{NAME}).
  void breaker_changed(const std::string& key, BreakerChange change) {
    const std::string head = prefix_ + "breaker{";
    if (!key.starts_with(head) || !key.ends_with('}')) return;
    std::lock_guard lock(listener_mutex_);
    if (breaker_listener_)
      breaker_listener_(key.substr(head.size(), key.size() - head.size() - 1), change);
  }

  // A plain command, waited for; false when it failed.
  bool command(std::vector<std::string> args) {
    bool ok = false;
    connection_->call({"admin", -1, std::move(args), {}, [&](const Result& r) {
                         ok = r.reply && r.reply->type != REDIS_REPLY_ERROR;
                       }});
    return ok;
  }

  // Keys of one budget carry its name as a {hash tag}: one Redis Cluster slot per budget (unless
  // the prefix has a hash tag of its own, which then puts every key in one slot). A rolling
  // window is one key per instance, whatever the time: PREFIX{budget}:KEY:rolling.
  // A shared rate limit's buckets: PREFIX rate{NAME}:KEY (a hash, redis_scripts.hpp).
  std::string rate_key(const std::string& name, const std::string& key) const {
    return prefix_ + "rate{" + name + "}:" + key;
  }

  // A shared breaker's state: PREFIX breaker{NAME}; its window of settled spend: that + ":w".
  std::string breaker_key(const std::string& name) const {
    return prefix_ + "breaker{" + name + "}";
  }

  std::string counter_key(const std::string& budget, const std::string& key,
                          std::int64_t period) const {
    std::string k;
    k.reserve(prefix_.size() + budget.size() + key.size() + 24);
    k += prefix_;
    k += '{';
    k += budget;
    k += "}:";
    k += key;
    k += ':';
    k += period == k_rolling ? std::string("rolling") : std::to_string(period);
    return k;
  }

  const std::string prefix_;
  const std::string holds_key_ = prefix_ + "holds";
  const std::string seen_prefix_ = prefix_ + "seen:";
  RedisOutbox outbox_;
  // The holds reserved and not closed yet, as their closes will name them.
  std::mutex open_mutex_;
  std::unordered_map<std::uint64_t, PendingClose> open_;
  std::vector<Keep> to_keep_;            // the connection's thread only
  std::vector<std::uint64_t> replayed_;  // the connection's thread only
  std::mutex listener_mutex_;
  std::function<void(const std::string&)> listener_;
  std::function<void(const std::string&, BreakerChange)> breaker_listener_;
  std::unique_ptr<RedisConnection> connection_;
};

}  // namespace

std::unique_ptr<SharedLedger> make_redis_ledger(const std::string& url, const std::string& prefix,
                                                const std::string& outbox_path) {
  std::string problem;
  auto endpoint = parse_redis_url(url, &problem);
  if (!endpoint) throw std::invalid_argument("store.redis.url: " + problem);
  return std::make_unique<RedisLedger>(std::move(*endpoint), prefix, outbox_path);
}

}  // namespace budget
