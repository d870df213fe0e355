// The JSON text helpers (rules/json_reader.hpp) that replaced a writer and a buffer made for each
// text: json_text writes what a fresh RapidJSON writer writes, call after call on the thread's
// kept writer (nothing of one text left in the next, also after a text past the 64 KiB it keeps);
// json_size is that text's length without the text (the input estimate by bytes relies on it).
#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>
#include <vector>

#include "rules/json_reader.hpp"

namespace {

std::string fresh_text(const rapidjson::Value& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  v.Accept(writer);
  return {buffer.GetString(), buffer.GetSize()};
}

}  // namespace

TEST_CASE("json_text and json_size agree with a fresh writer, text after text") {
  const std::string big = "[\"" + std::string(100'000, 'x') + "\", 1, 2]";
  const std::vector<std::string> inputs = {
      R"({"model":"gpt-5.4","messages":[{"role":"user","content":"hi"}],"n":2})",
      R"("quote \" backslash \\ newline \n tab \t control \u0001 é 漢字 😀")",
      R"([1, -2, 3.5, 1e300, true, false, null, {}, []])",
      big,
      R"({"after":"the big one","nested":{"a":[{"b":[{"c":"d"}]}]}})",
      "0",
  };
  for (const auto& input : inputs) {
    rapidjson::Document doc;
    doc.Parse(input.data(), input.size());
    REQUIRE_FALSE(doc.HasParseError());
    const std::string expected = fresh_text(doc);
    CHECK(rules::json_text(doc) == expected);
    CHECK(rules::json_size(doc) == expected.size());
  }
}

TEST_CASE("ReusableJsonWriter starts every text empty") {
  rules::ReusableJsonWriter writer;
  auto& first = writer.start();
  first.StartArray();
  first.Int(1);
  first.EndArray();
  CHECK(writer.text() == "[1]");
  auto& second = writer.start();
  second.StartObject();
  second.Key("k");
  second.String("v");
  second.EndObject();
  CHECK(writer.text() == R"({"k":"v"})");
}
