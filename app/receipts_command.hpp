#pragma once
// `tollgate receipts verify FILE [--key PUB]`: checks a receipts export (GET /v1/receipts)
// offline — every hash, every link and, with the public key (GET /v1/receipts/key), every
// signature.

#include <ostream>
#include <string>

namespace proxy {

// Returns 0 when every record checks out (a summary to `out`); 1 naming the first bad record
// (to `err`); 2 when the file or the key cannot be read.
int receipts_verify_command(const std::string& file, const std::string& key_file, std::ostream& out,
                            std::ostream& err);

}  // namespace proxy
