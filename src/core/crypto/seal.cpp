#include "core/crypto/seal.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <zlib.h>

#include <memory>
#include <stdexcept>

#include "core/crypto/encoding.h"
#include "core/crypto/token.h"

namespace magic_link {
namespace {

constexpr int kNonceBytes = 12;
constexpr int kTagBytes = 16;

using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

// Fetched once: EVP_aes_256_gcm() in an init looks the cipher up by name each time (OpenSSL 3).
const EVP_CIPHER* aes_256_gcm() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  if (cipher == nullptr) throw std::runtime_error("AES-256-GCM unavailable");
  return cipher;
}

const unsigned char* bytes(std::string_view text) {
  return reinterpret_cast<const unsigned char*>(text.data());
}

// What is sealed now, a mail order, is JSON (it starts with '{'), as was mail sealed by the
// first versions; versions that sealed the rendered mail deflated it first, and a zlib stream
// starts with its header byte (0x48 for a 4 KB window, 0x78 for 32 KB), never '{'.
std::optional<std::string> inflated(std::string text) {
  if (text.empty() || text.front() == '{') return text;
  std::string out;
  z_stream stream{};
  if (inflateInit(&stream) != Z_OK) return std::nullopt;
  stream.next_in = reinterpret_cast<Bytef*>(text.data());
  stream.avail_in = static_cast<uInt>(text.size());
  int status = Z_OK;
  char chunk[16384];
  while (status == Z_OK) {
    stream.next_out = reinterpret_cast<Bytef*>(chunk);
    stream.avail_out = sizeof chunk;
    status = inflate(&stream, Z_NO_FLUSH);
    out.append(chunk, sizeof chunk - stream.avail_out);
  }
  inflateEnd(&stream);
  if (status != Z_STREAM_END) return std::nullopt;
  return out;
}

// The plaintext when `raw` (nonce, ciphertext, tag) was sealed under `key`.
std::optional<std::string> open_with(const std::string& key, const std::string& raw) {
  const size_t body = raw.size() - kNonceBytes - kTagBytes;
  const auto* nonce = bytes(raw);
  std::string plaintext(body, '\0');
  CipherContext ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int length = 0;
  std::string tag = raw.substr(kNonceBytes + body);
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), aes_256_gcm(), nullptr, bytes(key), nonce) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plaintext.data()), &length,
                        nonce + kNonceBytes, static_cast<int>(body)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plaintext.data()) + length,
                          &length) != 1) {
    return std::nullopt;
  }
  return plaintext;
}

}  // namespace

// A key of its own, so the mail key and the token-hash key are never the same bytes.
Sealer::Sealer(const std::vector<std::string_view>& secrets) {
  for (const auto secret : secrets) {
    keys_.push_back(hmac_sha256(secret, "magic-link outbox key v1"));
  }
}

std::string Sealer::seal(std::string_view plaintext) const {
  std::string out(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  if (RAND_bytes(nonce, kNonceBytes) != 1) throw std::runtime_error("RAND_bytes failed");
  CipherContext ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int length = 0;
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), aes_256_gcm(), nullptr, bytes(keys_.front()), nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nonce + kNonceBytes, &length, bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), nonce + kNonceBytes + length, &length) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes,
                          nonce + kNonceBytes + plaintext.size()) != 1) {
    throw std::runtime_error("AES-256-GCM sealing failed");
  }
  return base64(out);
}

std::optional<std::string> Sealer::open(std::string_view sealed) const {
  const auto raw = unbase64(sealed);
  if (!raw || raw->size() < kNonceBytes + kTagBytes) return std::nullopt;
  for (const auto& key : keys_) {
    if (auto plaintext = open_with(key, *raw)) return inflated(std::move(*plaintext));
  }
  return std::nullopt;
}

}  // namespace magic_link
