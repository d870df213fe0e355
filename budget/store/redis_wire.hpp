#pragma once
// budget::redis_wire — the Redis protocol as the connection writes and reads it: RESP written
// straight into a string (the commands and batch calls of budget/store/redis_connection.cpp),
// and a hiredis reader that builds replies in the connection's arena instead of one heap block
// per reply, string and array.

#include <hiredis/hiredis.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace budget::redis_wire {

// RESP, appended to `wire`: an array header, a bulk string (of text, or of a number's digits).
void resp_array(std::string& wire, std::size_t n);
void resp_bulk(std::string& wire, std::string_view s);
void resp_bulk(std::string& wire, std::int64_t v);
// One whole command of words (hiredis's formatter).
std::string wire_command(const std::vector<std::string>& args);

// A reader whose replies live in the RedisConnection::ReplyArena given as its privdata (set by
// the caller), freed only as a whole.
redisReader* arena_reader();

}  // namespace budget::redis_wire
