#pragma once
// A cost record as JSON (DESIGN §13), the one form in which records leave tollgate and in which
// their receipts are hashed and signed. Members in a fixed order: id, at, provider, endpoint,
// model, service_tier (only when not empty: a record without one hashes as it always did),
// client, credential, budgets, currency, estimate, actual, usage, status, outcome,
// refused_by, upstream_request_id, ms, prev — that object, written without whitespace, is the
// record's canonical JSON; the full form appends hash and sig. Times are RFC 3339 UTC with
// milliseconds; amounts decimal strings.

#include <optional>
#include <string>
#include <string_view>

#include "budget/store/cost_record.hpp"

namespace budget {

// The canonical JSON: what `hash` is the SHA-256 of, and what `sig` signs.
std::string canonical_json(const CostRecord& record);

// The canonical JSON with hash and sig appended: one line of a receipts export.
std::string record_json(const CostRecord& record);

// The same texts in this thread's buffer, without a copy: valid until the thread's next call of
// any of these four (a record is hashed, or kept with its hold, for every request).
std::string_view canonical_json_view(const CostRecord& record);
std::string_view record_json_view(const CostRecord& record);

// The record a record_json() (or canonical_json()) text describes; nullopt, with the reason in
// `error`, when it is not one.
std::optional<CostRecord> parse_record_json(std::string_view text, std::string* error = nullptr);

}  // namespace budget
