#pragma once
// Pure parsers for the scalar forms the config allows (durations, percentages, value references,
// host:port, ${ENV} expansion) and the "did you mean" suggestion for unknown keys.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rules/pricing_model.hpp"

namespace rules {

// "500ms", "30s", "10m", "1h", "7d" (a whole number and a unit); nullopt when malformed.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// "80%" -> 80; nullopt when malformed or above 1000.
std::optional<int> parse_percentage(std::string_view text);

// "body:/model", "query:asin", "header:x-api-key", "path:model"; any other text is a literal.
// nullopt for a known prefix with nothing after it, or a body pointer not starting with '/'.
std::optional<ValueRef> parse_value_ref(std::string_view text);

struct HostPortText {
  std::string host;
  std::uint16_t port = 0;
};
// "127.0.0.1:8080", "[::1]:8080", "localhost:80"; nullopt when the port is missing or invalid.
std::optional<HostPortText> parse_host_port(std::string_view text);

// YAML cannot hold `${X}` in flow context ({ a: ${X} }): braces are flow indicators. Before
// parsing, every well-formed `${NAME}` / `${NAME:-default}` is rewritten to the same-length
// `$<NAME>` / `$<NAME:-default>`, so marks stay exact and expand_env finds them in scalars.
std::string protect_env_refs(std::string_view yaml);

// Expands the `$<NAME>` / `$<NAME:-default>` references of one scalar from the environment.
// An unset NAME without a default is an error: `error` gets the message, nullopt is returned.
std::optional<std::string> expand_env(std::string_view scalar, std::string& error);

// The candidate closest to `word` when it is plausibly a typo of it (edit distance <= 2, and less
// than half the word); "" when none is close.
std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates);

}  // namespace rules
