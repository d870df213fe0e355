// util/text.hpp: case-insensitive equality, and integers as decimal digits without a temporary.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "util/text.hpp"

TEST_CASE("iequals") {
  CHECK(util::iequals("Content-Type", "content-type"));
  CHECK_FALSE(util::iequals("host", "hosts"));
}

TEST_CASE("Decimal and append_decimal") {
  CHECK(util::Decimal(0).view() == "0");
  CHECK(util::Decimal(-42).view() == "-42");
  CHECK(util::Decimal(std::numeric_limits<std::int64_t>::min()).view() == "-9223372036854775808");
  // Hold ids use all 64 bits.
  CHECK(util::Decimal(std::numeric_limits<std::uint64_t>::max()).view() == "18446744073709551615");
  std::string out = "n=";
  util::append_decimal(out, std::size_t{1024});
  util::append_decimal(out, -1);
  CHECK(out == "n=1024-1");
}
