#include "budget/store/record_chain.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "budget/store/record_json.hpp"
#include "rules/json_reader.hpp"
#include "util/sha256.hpp"

namespace budget {
namespace {

std::string string_member(const rapidjson::Value& object, const char* name) {
  const auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

}  // namespace

std::string sha256_hex(std::string_view text) {
  return util::sha256_hex(text);
}

void RecordChain::link(CostRecord& record) {
  record.prev = last_;
  const std::string_view canonical = canonical_json_view(record);
  record.hash = sha256_hex(canonical);
  record.sig = key_ ? key_->sign(canonical) : std::string();
  last_ = record.hash;
}

ReceiptCheck verify_receipts(std::istream& in, const ReceiptKey* key) {
  ReceiptCheck check;
  check.signatures_checked = key != nullptr;
  std::string line, previous_hash;
  std::size_t number = 0, previous_line = 0;
  const auto bad = [&](std::string id, std::string reason) {
    check.ok = false;
    check.line = number;
    check.id = std::move(id);
    check.reason = std::move(reason);
    return check;
  };
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    ++check.records;
    rapidjson::Document doc;
    if (!rules::read_json(doc, line).ok() || !doc.IsObject())
      return bad("", "not a JSON record (the line was altered or cut)");
    const std::string id = string_member(doc, "id");
    const std::string hash = string_member(doc, "hash");
    const std::string sig = string_member(doc, "sig");
    const std::string prev = string_member(doc, "prev");
    if (hash.empty()) return bad(id, "has no hash");
    // The canonical JSON is the record without hash and sig, members in the order written.
    doc.EraseMember("hash");
    doc.EraseMember("sig");
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> out(buffer);
    doc.Accept(out);
    const std::string_view canonical(buffer.GetString(), buffer.GetSize());
    if (sha256_hex(canonical) != hash)
      return bad(id, "its hash does not match its content (the record was altered)");
    if (previous_line && prev != previous_hash)
      return bad(id, "its prev is not the hash of the record on line " +
                         std::to_string(previous_line) + " (a record was removed, added or moved)");
    if (key) {
      if (sig.empty()) return bad(id, "is not signed");
      if (!key->verify(canonical, sig))
        return bad(id,
                   "its signature does not verify with the key (signed by another key, or "
                   "altered)");
    }
    previous_hash = hash;
    previous_line = number;
  }
  return check;
}

}  // namespace budget
