#pragma once
// budget::CostRecord — what one exchange cost and why (DESIGN §13): one per settled exchange and
// one per refusal, kept by the store in the same durable step as the settlement it describes.
// Plain values; amounts in micro-units, times in unix milliseconds.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace budget {

// How the exchange ended.
enum class RecordOutcome {
  complete,        // the response was relayed in full
  upstream_error,  // the upstream failed (connect, TLS, read) or answered 5xx
  client_gone,     // the client went away; the upstream was read on for usage
  expired,         // the hold outlived its owner (a crash, a timeout): charged at its estimate
  refused,         // never forwarded: actual 0
};
std::string_view outcome_name(RecordOutcome outcome);
std::optional<RecordOutcome> parse_outcome(std::string_view name);

// Token counts as the provider reported them: input, cached_input, output, ... in the order read.
using Usage = std::vector<std::pair<std::string, std::int64_t>>;

struct CostRecord {
  std::string id;       // new_record_id(), known before the response head goes out
  std::int64_t at = 0;  // unix milliseconds of the settlement (or refusal)
  std::string provider, endpoint, model, client;
  // The service tier the provider says it billed at (OpenAI "flex", "priority"; "" for the
  // standard tier or a provider without tiers).
  std::string service_tier;
  std::string credential;            // the key's id (rules::key_id), never the key
  std::vector<std::string> budgets;  // instances charged ("daily", "per-client/team-a"); for a
                                     // budget refusal, the instance that refused
  std::string currency;
  std::int64_t estimate = 0, actual = 0;
  Usage usage;
  int status = 0;  // HTTP status the client got (0: none)
  RecordOutcome outcome = RecordOutcome::complete;
  std::string refused_by;           // "" unless refused: budget | balance | rate | breaker | ...
  std::string upstream_request_id;  // the provider's x-request-id, request-id, ...
  std::int64_t ms = 0;              // from the request head to the end of the exchange

  // The receipt chain, set by the store as it keeps the record: the hash of the record before
  // ("" for the first), this record's hash (hex SHA-256 of its canonical JSON, prev included)
  // and its Ed25519 signature (base64; "" unless receipts.sign).
  std::string prev, hash, sig;

  // Every prompt-side count (names ending in "input", and cache_write); every output-side count
  // (names ending in "output", and reasoning).
  std::int64_t input_tokens() const;
  std::int64_t output_tokens() const;
};

// A new record id: 26 characters of Crockford base32, milliseconds first (ids sort by time),
// then 80 random bits (unique across processes). Thread-safe.
std::string new_record_id();

}  // namespace budget
