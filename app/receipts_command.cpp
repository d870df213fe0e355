#include "app/receipts_command.hpp"

#include <fstream>
#include <sstream>

#include "budget/store/receipt_key.hpp"
#include "budget/store/record_chain.hpp"

namespace proxy {

int receipts_verify_command(const std::string& file, const std::string& key_file, std::ostream& out,
                            std::ostream& err) {
  std::shared_ptr<const budget::ReceiptKey> key;
  if (!key_file.empty()) {
    std::ifstream in(key_file);
    std::ostringstream pem;
    pem << in.rdbuf();
    std::string error;
    key = budget::ReceiptKey::from_pem(pem.str(), &error);
    if (!in || !key) {
      err << "receipts: " << key_file << ": " << (in ? error : "cannot be read") << "\n";
      return 2;
    }
  }
  std::ifstream in(file);
  if (!in) {
    err << "receipts: " << file << ": cannot be read\n";
    return 2;
  }
  const auto check = budget::verify_receipts(in, key.get());
  if (!check.ok) {
    err << "receipts: " << file << ": line " << check.line << ", record "
        << (check.id.empty() ? "(no id)" : check.id) << ": " << check.reason << "\n";
    return 1;
  }
  out << "receipts: " << file << ": " << check.records << " records, every hash and link intact";
  if (check.signatures_checked)
    out << ", every signature valid";
  else
    out << " (signatures not checked: give the public key with --key)";
  out << "\n";
  return 0;
}

}  // namespace proxy
