#pragma once
// Incremental Content-Encoding decoder for usage extraction: the proxy forwards the provider's
// bytes untouched and feeds a copy here, chunk by chunk, to read usage from the decoded text.

#include <memory>
#include <string>
#include <string_view>

struct z_stream_s;

namespace rules {

// Decodes "", "identity", "gzip", "x-gzip" and "deflate" (zlib-wrapped or raw, detected from the
// first two bytes). Concatenated gzip members are decoded in turn; bytes after the end of a
// deflate stream are ignored.
class BodyDecoder {
 public:
  explicit BodyDecoder(std::string_view content_encoding);
  ~BodyDecoder();
  BodyDecoder(BodyDecoder&&) noexcept;
  BodyDecoder& operator=(BodyDecoder&&) noexcept;

  bool supported() const;  // false for br, zstd, or anything unknown
  // Appends the decoded bytes of `in` to `out`; false (and failed() from then on) on corrupt data
  // or an unsupported encoding.
  bool feed(std::string_view in, std::string& out);
  bool failed() const { return failed_; }
  bool finished() const { return finished_; }  // a compressed stream reached its end marker

 private:
  enum class Kind { identity, gzip, deflate, unsupported };

  bool start_inflate(int window_bits);
  bool inflate_some(std::string_view in, std::string& out);

  Kind kind_ = Kind::identity;
  std::unique_ptr<z_stream_s> zs_;
  bool started_ = false;
  bool failed_ = false;
  bool finished_ = false;
  std::string header_;  // first byte of a deflate body while its format is still unknown
};

}  // namespace rules
