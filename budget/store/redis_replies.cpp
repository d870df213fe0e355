#include "budget/store/redis_replies.hpp"

#include <charconv>
#include <vector>

namespace budget::redis_replies {

using Reservation = SharedLedger::Reservation;
using BreakerChange = SharedLedger::BreakerChange;

std::int64_t to_int(const redisReply* r) {
  if (r->type == REDIS_REPLY_INTEGER) return r->integer;
  std::int64_t v = 0;
  if (r->type == REDIS_REPLY_STRING) std::from_chars(r->str, r->str + r->len, v);
  return v;
}

std::string text(const redisReply* r) {
  return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS
             ? std::string(r->str, r->len)
             : std::string();
}

bool is_array(const redisReply* r, std::size_t at_least) {
  return r && r->type == REDIS_REPLY_ARRAY && r->elements >= at_least;
}

Reservation reservation(const redisReply* reply, bool sent, std::size_t parts,
                        std::size_t breakers) {
  Reservation out;
  if (!is_array(reply, 2)) {
    out.maybe_reserved = sent && !is_array(reply);
    return out;
  }
  const auto status = to_int(reply->element[0]);
  out.outcome = status == 1   ? Reservation::Outcome::admitted
                : status == 0 ? Reservation::Outcome::refused
                : status == 3 ? Reservation::Outcome::rate_refused
                : status == 4 ? Reservation::Outcome::breaker_refused
                              : Reservation::Outcome::failed;
  if (status == 4) {
    if (reply->elements < 4) {
      out.outcome = Reservation::Outcome::failed;
      return out;
    }
    out.refused_part = static_cast<std::size_t>(to_int(reply->element[1]) - 1);
    out.breaker_wait_ms = to_int(reply->element[2]);
    out.breaker_trial_out = to_int(reply->element[3]) == 1;
    return out;
  }
  if (status == 0 || status == 3)
    out.refused_part = static_cast<std::size_t>(to_int(reply->element[1]) - 1);
  if (status == 3) {
    if (reply->elements < 4) {
      out.outcome = Reservation::Outcome::failed;
      return out;
    }
    out.rate_wait_ms = to_int(reply->element[2]);
    out.rate_tokens = to_int(reply->element[3]) == 2;
    return out;
  }
  std::size_t i = 2;
  for (; i + 2 < reply->elements && out.counters.size() < parts; i += 3)
    out.counters.push_back(
        {to_int(reply->element[i]), to_int(reply->element[i + 1]), to_int(reply->element[i + 2])});
  if (status == 1)
    for (; i < reply->elements && out.breaker_trials.size() < breakers; ++i)
      out.breaker_trials.push_back(to_int(reply->element[i]) == 1);
  return out;
}

SharedLedger::Closed closed(const redisReply* reply, std::size_t counters) {
  SharedLedger::Closed out;
  if (to_int(reply->element[0]) != 1) return out;
  std::size_t i = 1;
  for (; i < reply->elements && out.spent.size() < counters; ++i)
    out.spent.push_back(to_int(reply->element[i]));
  for (; i + 1 < reply->elements; i += 2) {
    const auto change = to_int(reply->element[i]);
    out.breakers.push_back({change == 1   ? BreakerChange::Kind::opened
                            : change == 2 ? BreakerChange::Kind::closed
                                          : BreakerChange::Kind::none,
                            to_int(reply->element[i + 1])});
  }
  return out;
}

std::optional<SharedLedger::Runtime> runtime(const redisReply* r) {
  if (!is_array(r, 2) || !is_array(r->element[0]) || !is_array(r->element[1])) return std::nullopt;
  SharedLedger::Runtime out;
  const redisReply* limits = r->element[0];
  for (std::size_t i = 0; i + 1 < limits->elements; i += 2) {
    const std::string value = text(limits->element[i + 1]);
    const auto colon = value.find(':');
    if (colon == std::string::npos) continue;
    out.limits.push_back({text(limits->element[i]), std::stoll(value.substr(0, colon)),
                          std::stoll(value.substr(colon + 1))});
  }
  const redisReply* overrides = r->element[1];
  for (std::size_t i = 0; i < overrides->elements; ++i) {
    const std::string v = text(overrides->element[i]);
    std::vector<std::string> f;
    for (std::size_t pos = 0;;) {
      const auto end = v.find(k_field, pos);
      f.push_back(v.substr(pos, end - pos));
      if (end == std::string::npos) break;
      pos = end + 1;
    }
    if (f.size() == 5)
      out.overrides.push_back({f[0], f[1], f[4], std::stoll(f[2]), std::stoll(f[3])});
  }
  return out;
}

}  // namespace budget::redis_replies
