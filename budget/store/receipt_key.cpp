#include "budget/store/receipt_key.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace budget {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

std::string base64(const unsigned char* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(n);
  return out;
}

// The 64 bytes of an Ed25519 signature in base64 (88 characters, two of them padding).
std::optional<std::vector<unsigned char>> unbase64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  std::vector<unsigned char> out(3 * text.size() / 4);
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  std::size_t size = static_cast<std::size_t>(n);
  for (std::size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) --size;
  out.resize(size);
  return out;
}

bool is_ed25519(EVP_PKEY* key) {
  return key && EVP_PKEY_get_id(key) == EVP_PKEY_ED25519;
}

}  // namespace

ReceiptKey::~ReceiptKey() {
  EVP_PKEY_free(key_);
}

std::shared_ptr<const ReceiptKey> ReceiptKey::load_or_create(const std::string& path) {
  if (std::filesystem::exists(path)) {
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    std::string error;
    auto key = from_pem(text.str(), &error);
    if (!key || !key->private_)
      throw std::runtime_error("receipts key " + path + ": " +
                               (key ? "holds no private key" : error));
    return key;
  }
  EVP_PKEY* created = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (!created) throw std::runtime_error("cannot generate an Ed25519 receipts key");
  auto key = std::make_shared<const ReceiptKey>(created, true);
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(bio.get(), created, nullptr, nullptr, 0, nullptr, nullptr))
    throw std::runtime_error("cannot encode the receipts key");
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  // Created 0600 from the start: the key is never readable by others, not even for a moment.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot create the receipts key " + path);
  const bool written = ::write(fd, data, static_cast<std::size_t>(size)) == size;
  ::close(fd);
  if (!written) throw std::runtime_error("cannot write the receipts key " + path);
  return key;
}

std::shared_ptr<const ReceiptKey> ReceiptKey::from_pem(std::string_view pem, std::string* error) {
  const auto fail = [error](const char* why) -> std::shared_ptr<const ReceiptKey> {
    if (error) *error = why;
    return nullptr;
  };
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  bool has_private = pem.find("PRIVATE KEY") != std::string_view::npos;
  EVP_PKEY* key = has_private ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)
                              : PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (!key) return fail("not a PEM key");
  if (!is_ed25519(key)) {
    EVP_PKEY_free(key);
    return fail("not an Ed25519 key");
  }
  return std::make_shared<const ReceiptKey>(key, has_private);
}

std::string ReceiptKey::sign(std::string_view message) const {
  if (!private_) return {};
  MdCtxPtr ctx(EVP_MD_CTX_new());
  unsigned char sig[64];
  std::size_t size = sizeof sig;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_) != 1 ||
      EVP_DigestSign(ctx.get(), sig, &size, reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1)
    return {};
  return base64(sig, size);
}

bool ReceiptKey::verify(std::string_view message, std::string_view signature) const {
  const auto sig = unbase64(signature);
  if (!sig || sig->size() != 64) return false;
  MdCtxPtr ctx(EVP_MD_CTX_new());
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key_) == 1 &&
         EVP_DigestVerify(ctx.get(), sig->data(), sig->size(),
                          reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

std::string ReceiptKey::public_pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PUBKEY(bio.get(), key_)) return {};
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

}  // namespace budget
