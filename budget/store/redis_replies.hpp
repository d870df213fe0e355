#pragma once
// The Redis ledger's replies (redis_scripts.hpp), read into SharedLedger's types.

#include <hiredis/hiredis.h>

#include <cstdint>
#include <optional>
#include <string>

#include "budget/store/shared_ledger.hpp"

namespace budget::redis_replies {

// Separates the fields of an override record: budget names and HTTP header values never hold
// ASCII control characters.
inline constexpr char k_field = '\x1f';

std::int64_t to_int(const redisReply* r);
std::string text(const redisReply* r);
bool is_array(const redisReply* r, std::size_t at_least = 0);

// The reservation script's reply (null: none came; `sent`: the command was written, so it may have
// run), for a reservation of `parts` parts and `breakers` shared breakers.
SharedLedger::Reservation reservation(const redisReply* reply, bool sent, std::size_t parts,
                                      std::size_t breakers);

// The close script's reply {1, s1..sN, change1, spend1, ...} ({0}: closed already, nothing), for a
// close over `counters` counters.
SharedLedger::Closed closed(const redisReply* reply, std::size_t counters);

// The runtime script's {limits hash, overrides list}; nullopt for anything else.
std::optional<SharedLedger::Runtime> runtime(const redisReply* reply);

}  // namespace budget::redis_replies
