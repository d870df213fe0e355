#pragma once
// The id a provider key appears under in budgets (`per: credential`), records, balances and
// metrics: never the key itself. One home, so that the pipeline and `tollgate key-id` agree.

#include <string>
#include <string_view>

#include "rules/config.hpp"
#include "rules/request_view.hpp"

namespace rules {

// The first 16 hex digits of SHA-256 over the key, after trimming spaces and a leading
// "Bearer " (any case): the same key sent as `x-api-key: K` or `Authorization: Bearer K` gets the
// same id. "" for an empty key.
std::string key_id(std::string_view key);

// The id of the key this request carries: the first of the provider's `credential` references
// that is present and not empty, through key_id; "" when none is.
std::string credential_id(const Provider& provider, const RequestView& request);

}  // namespace rules
