#pragma once
// One JSON line per exchange and per tunnel on stdout (issue 2). Lines are batched in memory and
// written by a background thread about every 100 ms, so a worker never makes a system call or
// wakes a thread per line; flush_logs() (SIGTERM, exit) writes the rest. Secrets never reach a
// log line.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace proxy {

struct AccessRecord {
  std::string client;  // "127.0.0.1:53412"
  std::string user;
  std::string_view mode;  // intercept | tunnel | http
  std::string method, host, target;
  int status = 0;
  std::uint64_t bytes_in = 0;   // from the client (request body, or tunnel bytes up)
  std::uint64_t bytes_out = 0;  // to the client (response body, or tunnel bytes down)
  double ms = 0;
  std::string error;  // what failed, if anything

  // Provider exchanges (DESIGN §13): what was priced, held and charged; absent for other hosts.
  std::string provider, endpoint, model, currency;
  std::optional<std::int64_t> estimate, cost;  // micro-units; cost: what the ledger was charged
  std::vector<std::string> budgets;            // instances held: "daily", "per-key/3f9a1c…"
  std::string refused_by;                      // budget | balance | rate | breaker | store | price
  std::string record;                          // the cost record's id (x-tollgate-record)
};

// One realtime response (an OpenAI Realtime response, a transcription, a Gemini Live turn):
// what it was reserved at and what it cost, as it settles. Amounts in micro-units.
struct RealtimeRecord {
  std::string client, user, host, target;
  std::string session, response, model, outcome, currency;
  std::int64_t estimate = 0, cost = 0;
  std::int64_t input_tokens = 0, cached_tokens = 0, output_tokens = 0;
  std::int64_t audio_input_tokens = 0, audio_output_tokens = 0;
  double ms = 0;  // from reservation to settlement
};

// `target` with the value of every key= query parameter (any name ending in "key", e.g. key,
// api_key) replaced by "REDACTED".
std::string redact_target(std::string_view target);

// True for header names whose values are credentials (Authorization, x-api-key, ...).
bool is_secret_header(std::string_view name);

// JSON string escaping (quotes included).
std::string json_quote(std::string_view s);

// The log line of one record (no trailing newline); the path is redacted.
std::string access_json(const AccessRecord& record);

// Sets up the stdout line buffer and the stderr diagnostics logger (idempotent).
void init_logging();
void log_access(const AccessRecord& record);
// The line of a realtime response: mode "realtime", the access line's client, host and path, and
// session, response, model, outcome, estimate, cost (decimal strings), currency, token counts.
std::string realtime_json(const RealtimeRecord& record);
void log_realtime(const RealtimeRecord& record);
void log_warning(std::string_view what);
// Any other JSON line for stdout (budget events), through the same buffer.
void log_line(std::string_view json_line);
void flush_logs();

}  // namespace proxy
