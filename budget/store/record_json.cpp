#include "budget/store/record_json.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "rules/json_reader.hpp"
#include "rules/money.hpp"
#include "util/time.hpp"

namespace budget {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void put(Writer& out, const char* key, std::string_view value) {
  out.Key(key);
  out.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

void put_amount(Writer& out, const char* key, std::int64_t micros) {
  put(out, key, rules::format_micros(micros));
}

void write_fields(Writer& out, const CostRecord& r) {
  put(out, "id", r.id);
  char at[32];
  put(out, "at",
      std::string_view(
          at,
          util::write_rfc3339(
              at, std::chrono::system_clock::time_point{std::chrono::milliseconds(r.at)}, true)));
  put(out, "provider", r.provider);
  put(out, "endpoint", r.endpoint);
  put(out, "model", r.model);
  if (!r.service_tier.empty()) put(out, "service_tier", r.service_tier);
  put(out, "client", r.client);
  put(out, "credential", r.credential);
  out.Key("budgets");
  out.StartArray();
  for (const auto& b : r.budgets) out.String(b.data(), static_cast<rapidjson::SizeType>(b.size()));
  out.EndArray();
  put(out, "currency", r.currency);
  put_amount(out, "estimate", r.estimate);
  put_amount(out, "actual", r.actual);
  out.Key("usage");
  out.StartObject();
  for (const auto& [name, count] : r.usage) {
    out.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
    out.Int64(count);
  }
  out.EndObject();
  out.Key("status");
  out.Int(r.status);
  put(out, "outcome", outcome_name(r.outcome));
  put(out, "refused_by", r.refused_by);
  put(out, "upstream_request_id", r.upstream_request_id);
  out.Key("ms");
  out.Int64(r.ms);
  put(out, "prev", r.prev);
}

const rapidjson::Value* member(const rapidjson::Value& object, const char* name) {
  const auto it = object.FindMember(name);
  return it == object.MemberEnd() ? nullptr : &it->value;
}

// A record is written for every exchange: the buffer and the writer's stack are this thread's,
// kept from one record to the next (their memory grows to the largest record once).
rules::ReusableJsonWriter& record_writer() {
  thread_local rules::ReusableJsonWriter writer;
  return writer;
}

}  // namespace

std::string_view canonical_json_view(const CostRecord& record) {
  rules::ReusableJsonWriter& writer = record_writer();
  Writer& out = writer.start();
  out.StartObject();
  write_fields(out, record);
  out.EndObject();
  return {writer.buffer.GetString(), writer.buffer.GetSize()};
}

std::string_view record_json_view(const CostRecord& record) {
  rules::ReusableJsonWriter& writer = record_writer();
  Writer& out = writer.start();
  out.StartObject();
  write_fields(out, record);
  put(out, "hash", record.hash);
  put(out, "sig", record.sig);
  out.EndObject();
  return {writer.buffer.GetString(), writer.buffer.GetSize()};
}

std::string canonical_json(const CostRecord& record) {
  return std::string(canonical_json_view(record));
}

std::string record_json(const CostRecord& record) {
  return std::string(record_json_view(record));
}

std::optional<CostRecord> parse_record_json(std::string_view text, std::string* error) {
  const auto fail = [error](std::string why) -> std::optional<CostRecord> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  rapidjson::Document doc;
  if (const auto read = rules::read_json(doc, text); !read.ok())
    return fail("not JSON: " + read.message);
  if (!doc.IsObject()) return fail("not a JSON object");
  CostRecord r;
  const auto text_of = [&](const char* name, std::string& into) {
    const auto* v = member(doc, name);
    if (!v) return true;  // optional: hash and sig are absent from the canonical form
    if (!v->IsString()) return false;
    into.assign(v->GetString(), v->GetStringLength());
    return true;
  };
  for (const auto& [name, into] : {std::pair{"id", &r.id},
                                   {"provider", &r.provider},
                                   {"endpoint", &r.endpoint},
                                   {"model", &r.model},
                                   {"service_tier", &r.service_tier},
                                   {"client", &r.client},
                                   {"credential", &r.credential},
                                   {"currency", &r.currency},
                                   {"refused_by", &r.refused_by},
                                   {"upstream_request_id", &r.upstream_request_id},
                                   {"prev", &r.prev},
                                   {"hash", &r.hash},
                                   {"sig", &r.sig}})
    if (!text_of(name, *into)) return fail(std::string("'") + name + "' must be a string");
  std::string at, estimate, actual, outcome;
  if (!text_of("at", at) || !text_of("estimate", estimate) || !text_of("actual", actual) ||
      !text_of("outcome", outcome))
    return fail("'at', 'estimate', 'actual' and 'outcome' must be strings");
  const auto when = util::parse_rfc3339(at);
  if (!when) return fail("'at' must be an RFC 3339 time");
  r.at = util::unix_millis(*when);
  const auto e = rules::parse_micros(estimate), a = rules::parse_micros(actual);
  if (!e || !a) return fail("'estimate' and 'actual' must be decimal amounts");
  r.estimate = *e;
  r.actual = *a;
  const auto o = parse_outcome(outcome);
  if (!o) return fail("unknown outcome '" + outcome + "'");
  r.outcome = *o;
  if (const auto* v = member(doc, "budgets")) {
    if (!v->IsArray()) return fail("'budgets' must be an array");
    for (const auto& b : v->GetArray()) {
      if (!b.IsString()) return fail("'budgets' must hold strings");
      r.budgets.emplace_back(b.GetString(), b.GetStringLength());
    }
  }
  if (const auto* v = member(doc, "usage")) {
    if (!v->IsObject()) return fail("'usage' must be an object");
    for (const auto& m : v->GetObject()) {
      if (!m.value.IsInt64()) return fail("'usage' counts must be whole numbers");
      r.usage.emplace_back(std::string(m.name.GetString(), m.name.GetStringLength()),
                           m.value.GetInt64());
    }
  }
  if (const auto* v = member(doc, "status")) {
    if (!v->IsInt()) return fail("'status' must be a whole number");
    r.status = v->GetInt();
  }
  if (const auto* v = member(doc, "ms")) {
    if (!v->IsInt64()) return fail("'ms' must be a whole number");
    r.ms = v->GetInt64();
  }
  return r;
}

}  // namespace budget
