#pragma once
// output_cap: inject (DESIGN §4 "Keys added since"): a request that names no output maximum is
// held at the model's max_output, which a small budget cannot afford although the answer would
// cost a fraction of that. With output_cap on its endpoint, tollgate writes a maximum into the
// request instead — no more than the tightest budget can still pay for — and reserves that.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "rules/estimator.hpp"

namespace rules {

// Below this many output tokens a capped request would be useless: it is refused as before.
inline constexpr std::int64_t k_min_output_cap = 1;

// The output maximum to write into the request `priced` describes, or nullopt to leave it as it
// is. The cap is the smallest of the model's max_output, the endpoint's default_output_max and
// the most output tokens `remaining` (micro-units left in the tightest budget the request falls
// in; nullopt: no budget applies) pays for after the input, priced exactly as the estimate is.
// nullopt too when neither the endpoint nor a budget of the request (`budget_asks`) has
// output_cap: inject, when the request already names no more than the cap, and when the budget
// affords fewer than k_min_output_cap tokens.
std::optional<std::int64_t> output_cap(const Priced& priced, std::optional<std::int64_t> remaining,
                                       bool budget_asks = false);

// `body` with `tokens` written where the request named its output maximum (`named_at`), else at
// the endpoint's first body pointer of output_max (parents created as objects); nullopt when the
// body is no JSON object, a parent on the way is no object, or output_max names no body pointer.
std::optional<std::string> write_output_max(const Endpoint& endpoint, const ValueRef* named_at,
                                            std::string_view body, std::int64_t tokens);

}  // namespace rules
