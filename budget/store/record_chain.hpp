#pragma once
// Receipts (DESIGN §13): records form a hash chain — each names the hash of the one before
// (`prev`), and its own `hash` is the hex SHA-256 of its canonical JSON, prev included — and each
// is signed with the receipts key when there is one. RecordChain links records as a store keeps
// them; verify_receipts() checks an export offline.

#include <cstddef>
#include <istream>
#include <memory>
#include <string>

#include "budget/store/cost_record.hpp"
#include "budget/store/receipt_key.hpp"

namespace budget {

// Hex SHA-256 of `text`.
std::string sha256_hex(std::string_view text);

// Not thread-safe: a store links under the lock that orders its writes.
class RecordChain {
 public:
  // `key` may be null (records hashed, not signed); `last_hash`: the hash of the last record
  // kept ("" for an empty store).
  RecordChain(std::shared_ptr<const ReceiptKey> key, std::string last_hash)
      : key_(std::move(key)), last_(std::move(last_hash)) {}

  // Sets record.prev, hash and sig; the record becomes the last of the chain.
  void link(CostRecord& record);
  const std::string& last_hash() const { return last_; }
  // Back to an earlier end (a transaction that held linked records rolled back).
  void rewind(std::string last_hash) { last_ = std::move(last_hash); }

 private:
  std::shared_ptr<const ReceiptKey> key_;
  std::string last_;
};

struct ReceiptCheck {
  bool ok = true;
  std::size_t records = 0;          // records read (up to and including the bad one)
  bool signatures_checked = false;  // a key was given
  // When not ok: the 1-based line and the id of the first bad record, and what is wrong with it.
  std::size_t line = 0;
  std::string id, reason;
};

// Checks every line of a receipts export (NDJSON, as GET /v1/receipts serves it): each record's
// hash against its content, each prev against the hash of the record on the line before (the
// first record's prev is taken as given: older records may have been pruned), and, with `key`,
// each signature. Stops at the first bad record.
ReceiptCheck verify_receipts(std::istream& in, const ReceiptKey* key);

}  // namespace budget
