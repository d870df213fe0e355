#pragma once
// Which budgets and rate limits a request falls in, and which instance of each: the `match`
// filters and the `per` keys of DESIGN §4.

#include <string>

#include "budget/enforcer.hpp"

namespace budget {

// The instance key used when the value `per` names is absent (no client, no header).
inline constexpr const char* k_no_key = "(none)";

// True when every non-empty list of `match` contains the request's value.
bool matches(const rules::Match& match, const AdmitRequest& request);

// False when `per` needs something the request lacks to have an instance at all: per: session
// applies only to requests of a realtime session.
bool in_scope(const std::string& per, const AdmitRequest& request);

// The instance key for `per` ("" -> "", "client", "credential", "model", "session",
// "header:NAME").
std::string scope_key(const std::string& per, const AdmitRequest& request);

}  // namespace budget
