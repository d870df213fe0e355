#pragma once
// `tollgate status [--admin URL] [--json]`: budgets and provider balances of a running instance,
// read from its admin API with a small blocking HTTP client (plain HTTP, usually loopback).

#include <chrono>
#include <optional>
#include <ostream>
#include <string>

namespace proxy {

inline constexpr const char* k_default_admin_url = "http://127.0.0.1:9090";

// Prints a terminal table (or, with `json`, {"budgets":[...],"balances":[...]}) to `out`.
// Returns 0; 1 when the admin API cannot be reached or answers an error (reason to `err`);
// 2 when `admin_url` is not an http:// URL.
int status_command(const std::string& admin_url, bool json, std::ostream& out, std::ostream& err);

// The table for the bodies of GET /v1/budgets and GET /v1/balances; nullopt when either is not
// the JSON the admin API answers. `now` decides the "resets in" column.
std::optional<std::string> format_status_table(const std::string& budgets_json,
                                               const std::string& balances_json,
                                               std::chrono::system_clock::time_point now);

// "3h12m", "2d4h", "12m", "45s"; "now" for zero or less.
std::string format_resets_in(std::chrono::seconds left);

}  // namespace proxy
