#pragma once
// budget::RateLimiter — token buckets for `rate_limits:`: requests and estimated tokens per
// window, one bucket pair per `per` instance. Buckets refill continuously (window / capacity per
// unit) and start full. Not thread-safe: the enforcer calls it under its one mutex.

#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "budget/enforcer.hpp"

namespace budget {

class RateLimiter {
 public:
  // Checks every matching limit without taking anything: a refusal, or the buckets to take from.
  // With `shared`, a limit marked shared is not checked here (its buckets are the shared
  // store's) but listed there with its instance key, once the request is known to fit it at all.
  struct Bucket;
  struct Plan {
    std::vector<Bucket*> buckets;
  };
  struct SharedLimit {
    const rules::RateLimitConfig* config = nullptr;
    std::string key;
  };
  std::optional<Admission> check(const rules::Config& config, const AdmitRequest& request,
                                 TimePoint now, Plan& plan,
                                 std::vector<SharedLimit>* shared = nullptr);

  // Takes one request (and the request's estimated tokens) from every bucket of `plan`.
  void take(const Plan& plan, const AdmitRequest& request);

  // One limit's bucket for instance `key` checked here, whether the limit is shared or not (a
  // shared limit while the shared store cannot be reached, on_error: allow): a refusal, or the
  // bucket added to `plan`; then take(plan, tokens).
  std::optional<Admission> check_one(const rules::RateLimitConfig& limit, const std::string& key,
                                     std::int64_t tokens, TimePoint now, Plan& plan);
  void take(const Plan& plan, std::int64_t tokens);

  // Forgets buckets that have been full for a while (same as absent).
  void expire_idle(TimePoint now);

  struct Bucket {
    const rules::RateLimitConfig* config = nullptr;  // valid for the snapshot being checked
    // Levels are scaled by the window in ms so that refill stays in integers:
    // one unit = window_ms scaled; refill = capacity scaled per window_ms.
    std::int64_t requests = 0, tokens = 0;
    TimePoint at{};
    std::chrono::milliseconds window{0};
    bool fresh = true;
  };

 private:
  std::map<std::string, std::unordered_map<std::string, Bucket>> buckets_;
};

// The refusal of a limit whose bucket `key` has too little of requests (or, `tokens`, of tokens)
// for `wait_ms` more milliseconds: retried after that.
Admission rate_refusal(const rules::RateLimitConfig& limit, const std::string& key, bool tokens,
                       std::int64_t wait_ms);

}  // namespace budget
