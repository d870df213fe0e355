// The event as webhooks and the log carry it: one JSON object written by RapidJSON, with the
// detail object embedded as it is and every text field escaped.
#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include "budget/event_detail.hpp"
#include "telemetry/webhooks.hpp"

TEST_CASE("event_json, fields escaped and the detail embedded") {
  budget::Event e{7,
                  budget::TimePoint{std::chrono::seconds(1'700'000'000)},
                  budget::EventType::threshold,
                  "daily",
                  "team \"a\"",
                  "line\none",
                  budget::EventDetail().num("percent", 80).str("spent", "1.5").done()};
  const auto text = proxy::event_json(e);
  CHECK(text ==
        R"({"id":7,"at":"2023-11-14T22:13:20Z","type":"threshold","budget":"daily",)"
        R"("key":"team \"a\"","message":"line\none","detail":{"percent":80,"spent":"1.5"}})");
  e.detail_json.clear();
  rapidjson::Document doc;
  doc.Parse(proxy::event_json(e).c_str());
  REQUIRE_FALSE(doc.HasParseError());
  CHECK(doc["detail"].IsObject());
  CHECK(doc["detail"].MemberCount() == 0);
}
