#include "rules/body_decoder.hpp"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <utility>

#include "util/text.hpp"

namespace rules {
namespace {

constexpr std::size_t k_out_step = 16 * 1024;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 1950 header: CM = 8 (deflate), CINFO <= 7, and the 16-bit header is a multiple of 31.
bool is_zlib_header(unsigned char cmf, unsigned char flg) {
  return (cmf & 0x0f) == 8 && (cmf >> 4) <= 7 && ((cmf << 8) | flg) % 31 == 0;
}

}  // namespace

BodyDecoder::BodyDecoder(std::string_view content_encoding) {
  const std::string_view enc = trim(content_encoding);
  if (enc.empty() || util::iequals(enc, "identity"))
    kind_ = Kind::identity;
  else if (util::iequals(enc, "gzip") || util::iequals(enc, "x-gzip"))
    kind_ = Kind::gzip;
  else if (util::iequals(enc, "deflate"))
    kind_ = Kind::deflate;
  else
    kind_ = Kind::unsupported;
}

BodyDecoder::~BodyDecoder() {
  if (started_) inflateEnd(zs_.get());
}

BodyDecoder::BodyDecoder(BodyDecoder&&) noexcept = default;
BodyDecoder& BodyDecoder::operator=(BodyDecoder&& other) noexcept {
  if (this != &other) {
    if (started_) inflateEnd(zs_.get());
    kind_ = other.kind_;
    zs_ = std::move(other.zs_);
    started_ = std::exchange(other.started_, false);
    failed_ = other.failed_;
    finished_ = other.finished_;
    header_ = std::move(other.header_);
  }
  return *this;
}

bool BodyDecoder::supported() const {
  return kind_ != Kind::unsupported;
}

bool BodyDecoder::start_inflate(int window_bits) {
  zs_ = std::make_unique<z_stream_s>();
  if (inflateInit2(zs_.get(), window_bits) != Z_OK) return false;
  started_ = true;
  return true;
}

bool BodyDecoder::feed(std::string_view in, std::string& out) {
  if (failed_) return false;
  switch (kind_) {
    case Kind::unsupported:
      failed_ = true;
      return false;
    case Kind::identity:
      out.append(in);
      return true;
    case Kind::gzip:
      if (!started_ && !start_inflate(16 + MAX_WBITS)) return !(failed_ = true);
      break;
    case Kind::deflate:
      if (!started_) {
        // "deflate" is zlib-wrapped per RFC 9110, but servers send raw deflate too: look at the
        // first two bytes, which may arrive in separate chunks.
        if (header_.size() + in.size() < 2) {
          header_.append(in);
          return true;
        }
        const auto b0 = static_cast<unsigned char>(header_.empty() ? in[0] : header_[0]);
        const auto b1 = static_cast<unsigned char>(header_.empty() ? in[1] : in[0]);
        if (!start_inflate(is_zlib_header(b0, b1) ? MAX_WBITS : -MAX_WBITS))
          return !(failed_ = true);
        if (!header_.empty()) {
          const std::string first = std::move(header_);
          header_.clear();
          if (!inflate_some(first, out)) return false;
        }
      }
      break;
  }
  return inflate_some(in, out);
}

bool BodyDecoder::inflate_some(std::string_view in, std::string& out) {
  z_stream_s& zs = *zs_;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  while (zs.avail_in > 0) {
    if (finished_) {
      // Another gzip member may follow; anything else after the end is not ours to judge.
      if (kind_ != Kind::gzip || zs.avail_in < 1 || zs.next_in[0] != 0x1f) return true;
      if (inflateReset(&zs) != Z_OK) return !(failed_ = true);
      finished_ = false;
    }
    const std::size_t used = out.size();
    out.resize(used + k_out_step);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + used);
    zs.avail_out = static_cast<uInt>(k_out_step);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    out.resize(used + (k_out_step - zs.avail_out));
    if (rc == Z_STREAM_END) {
      finished_ = true;
    } else if (rc == Z_BUF_ERROR) {
      // No progress possible with this input: it is consumed and more is needed.
      if (zs.avail_out != 0) break;
    } else if (rc != Z_OK) {
      failed_ = true;
      return false;
    }
  }
  // Output may still be pending inside zlib when avail_out hit zero on the last round.
  while (!finished_ && zs.avail_out == 0) {
    const std::size_t used = out.size();
    out.resize(used + k_out_step);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + used);
    zs.avail_out = static_cast<uInt>(k_out_step);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    out.resize(used + (k_out_step - zs.avail_out));
    if (rc == Z_STREAM_END)
      finished_ = true;
    else if (rc == Z_BUF_ERROR)
      break;
    else if (rc != Z_OK)
      return !(failed_ = true);
  }
  return true;
}

}  // namespace rules
