#include "budget/rate_limiter.hpp"

#include <algorithm>

#include "budget/period_window.hpp"
#include "budget/scope.hpp"

namespace budget {
namespace {

using std::chrono::milliseconds;

// Refills one level (scaled by window_ms) up to capacity * window_ms.
std::int64_t refilled(std::int64_t level, std::int64_t capacity, std::int64_t window_ms,
                      std::int64_t elapsed_ms) {
  const __int128 full = static_cast<__int128>(capacity) * window_ms;
  const __int128 next = static_cast<__int128>(level) + static_cast<__int128>(capacity) * elapsed_ms;
  return static_cast<std::int64_t>(std::min(full, next));
}

// Milliseconds until `level` reaches `need` (both scaled) at `capacity` per ms.
std::int64_t wait_ms(std::int64_t level, std::int64_t need, std::int64_t capacity) {
  if (level >= need || capacity <= 0) return 0;
  return (need - level + capacity - 1) / capacity;
}

std::string key_text(const std::string& key) {
  return key.empty() ? "" : " (key \"" + key + "\")";
}

// A request that asks more tokens than the limit gives in a whole window: never admitted.
Admission too_many(const rules::RateLimitConfig& limit, const std::string& key,
                   std::int64_t tokens) {
  Admission refusal;
  refusal.admitted = false;
  refusal.refused_by = RefusedBy::rate;
  refusal.name = limit.name;
  refusal.message = "rate limit \"" + limit.name + "\"" + key_text(key) + ": request of " +
                    std::to_string(tokens) + " tokens exceeds " +
                    std::to_string(limit.tokens.value_or(0)) + " tokens per " +
                    format_span(std::chrono::duration_cast<std::chrono::seconds>(limit.window));
  return refusal;
}

}  // namespace

Admission rate_refusal(const rules::RateLimitConfig& limit, const std::string& key, bool tokens,
                       std::int64_t wait_ms) {
  const std::int64_t wait_s = std::max<std::int64_t>(1, (wait_ms + 999) / 1000);
  const std::string what = tokens ? std::to_string(limit.tokens.value_or(0)) + " tokens"
                                  : std::to_string(limit.requests.value_or(0)) + " requests";
  Admission refusal;
  refusal.admitted = false;
  refusal.refused_by = RefusedBy::rate;
  refusal.name = limit.name;
  refusal.message = "rate limit \"" + limit.name + "\"" + key_text(key) + " reached: " + what +
                    " per " +
                    format_span(std::chrono::duration_cast<std::chrono::seconds>(limit.window)) +
                    "; next request allowed in " + format_span(std::chrono::seconds(wait_s));
  refusal.retry_after_s = wait_s;
  refusal.should_retry = true;
  return refusal;
}

std::optional<Admission> RateLimiter::check(const rules::Config& config,
                                            const AdmitRequest& request, TimePoint now, Plan& plan,
                                            std::vector<SharedLimit>* shared) {
  for (const auto& limit : config.rate_limits) {
    if (!matches(limit.match, request) || !in_scope(limit.per, request)) continue;
    const std::string key = scope_key(limit.per, request);
    if (limit.shared && shared) {
      if (limit.tokens && request.estimated_tokens > *limit.tokens)
        return too_many(limit, key, request.estimated_tokens);
      shared->push_back({&limit, key});
      continue;
    }
    if (auto refusal = check_one(limit, key, request.estimated_tokens, now, plan)) return refusal;
  }
  return std::nullopt;
}

std::optional<Admission> RateLimiter::check_one(const rules::RateLimitConfig& limit,
                                                const std::string& key, std::int64_t need_tokens,
                                                TimePoint now, Plan& plan) {
  Bucket& bucket = buckets_[limit.name][key];
  const std::int64_t window_ms = std::max<std::int64_t>(1, limit.window.count());
  if (bucket.fresh || bucket.window.count() != window_ms) {
    bucket.requests = limit.requests.value_or(0) * window_ms;
    bucket.tokens = limit.tokens.value_or(0) * window_ms;
    bucket.at = now;
    bucket.window = milliseconds(window_ms);
    bucket.fresh = false;
  }
  const std::int64_t elapsed =
      std::max<std::int64_t>(0, std::chrono::duration_cast<milliseconds>(now - bucket.at).count());
  bucket.at = std::max(bucket.at, now);
  bucket.config = &limit;
  std::int64_t wait = 0;
  bool tokens = false;
  if (limit.requests) {
    bucket.requests = refilled(bucket.requests, *limit.requests, window_ms, elapsed);
    const std::int64_t w = wait_ms(bucket.requests, window_ms, *limit.requests);
    if (w > wait) wait = w;
  }
  if (limit.tokens) {
    bucket.tokens = refilled(bucket.tokens, *limit.tokens, window_ms, elapsed);
    if (need_tokens > *limit.tokens) return too_many(limit, key, need_tokens);
    const std::int64_t w = wait_ms(bucket.tokens, need_tokens * window_ms, *limit.tokens);
    if (w > wait) wait = w, tokens = true;
  }
  if (wait > 0) return rate_refusal(limit, key, tokens, wait);
  plan.buckets.push_back(&bucket);
  return std::nullopt;
}

void RateLimiter::take(const Plan& plan, const AdmitRequest& request) {
  take(plan, request.estimated_tokens);
}

void RateLimiter::take(const Plan& plan, std::int64_t tokens) {
  for (Bucket* bucket : plan.buckets) {
    const std::int64_t window_ms = bucket->window.count();
    if (bucket->config->requests) bucket->requests -= window_ms;
    if (bucket->config->tokens) bucket->tokens -= tokens * window_ms;
  }
}

void RateLimiter::expire_idle(TimePoint now) {
  for (auto& [name, buckets] : buckets_)
    std::erase_if(buckets, [&](const auto& entry) {
      return now - entry.second.at > 2 * entry.second.window;
    });
}

}  // namespace budget
