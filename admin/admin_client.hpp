#pragma once
// How the CLI verbs that read a running tollgate (status, report) reach its admin API: the base
// URL they were given, checked, and one GET with its failure told apart from an error answer.

#include <optional>
#include <string>

#include "telemetry/http_client.hpp"

namespace proxy {

// The admin URL without a trailing '/', or nullopt when it is not http://host[:port][/base].
std::optional<std::string> admin_base(const std::string& admin_url);

// GET base+path: the body of a 200, else why not.
struct Fetched {
  bool ok = false;
  bool reached = true;  // false: no connection to the admin API at all
  std::string text;     // body, or the reason it failed
};
Fetched admin_get(const HttpClient& client, const std::string& base, const std::string& path);

}  // namespace proxy
