#include "core/crypto/token.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <map>
#include <memory>
#include <stdexcept>
#include <vector>

#include "core/crypto/encoding.h"

namespace magic_link {
namespace {

constexpr size_t kTokenBytes = 32;
constexpr size_t kTokenLength = 43;  // base64url of 32 bytes, unpadded

std::string lower_hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * bytes.size());
  for (const unsigned char byte : bytes) {
    hex += kHex[byte >> 4];
    hex += kHex[byte & 0xf];
  }
  return hex;
}

// OpenSSL 3 looks an algorithm up by name, under a lock, on every one-shot call (HMAC(), or an
// init with EVP_sha256()): a tenth of a worker's time on a busy generate location. So the
// algorithms are fetched once, and each secret's keyed HMAC state is kept per thread: a hash is
// then a reset to that state, an update and a final.
const EVP_MD* sha256_algorithm() {
  static EVP_MD* const algorithm = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (algorithm == nullptr) throw std::runtime_error("SHA-256 unavailable");
  return algorithm;
}

struct MacContextFree {
  void operator()(EVP_MAC_CTX* context) const { EVP_MAC_CTX_free(context); }
};
using MacContext = std::unique_ptr<EVP_MAC_CTX, MacContextFree>;

EVP_MAC* hmac_algorithm() {
  static EVP_MAC* const algorithm = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (algorithm == nullptr) throw std::runtime_error("HMAC unavailable");
  return algorithm;
}

EVP_MAC_CTX* hmac_sha256_keyed_by(std::string_view secret) {
  // A few secrets per process (the current and older link secrets, a webhook key); the bound
  // only keeps a mistake from growing the map.
  thread_local std::map<std::string, MacContext, std::less<>> keyed;
  const auto found = keyed.find(secret);
  if (found != keyed.end()) return found->second.get();
  if (keyed.size() >= 16) keyed.clear();
  MacContext context(EVP_MAC_CTX_new(hmac_algorithm()));
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  static const unsigned char kEmpty = 0;  // a null key would mean "keep the previous one"
  const auto* key =
      secret.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(secret.data());
  if (!context || EVP_MAC_init(context.get(), key, secret.size(), params) != 1) {
    throw std::runtime_error("HMAC-SHA-256 unavailable");
  }
  return keyed.emplace(secret, std::move(context)).first->second.get();
}

}  // namespace

std::string random_text(size_t bytes) {
  std::vector<unsigned char> random(bytes);
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return base64url(std::string_view(reinterpret_cast<const char*>(random.data()), random.size()));
}

std::string new_token() {
  return random_text(kTokenBytes);
}

bool looks_like_token(std::string_view text) {
  return text.size() == kTokenLength && std::all_of(text.begin(), text.end(), [](unsigned char c) {
           return std::isalnum(c) || c == '-' || c == '_';
         });
}

std::string hmac_sha256(std::string_view secret, std::string_view text) {
  EVP_MAC_CTX* context = hmac_sha256_keyed_by(secret);
  unsigned char digest[EVP_MAX_MD_SIZE];
  size_t length = 0;
  // Initialising without a key starts again from the keyed state.
  if (EVP_MAC_init(context, nullptr, 0, nullptr) != 1 ||
      EVP_MAC_update(context, reinterpret_cast<const unsigned char*>(text.data()), text.size()) !=
          1 ||
      EVP_MAC_final(context, digest, &length, sizeof digest) != 1) {
    throw std::runtime_error("HMAC-SHA-256 failed");
  }
  return std::string(reinterpret_cast<const char*>(digest), length);
}

std::string keyed_hash(std::string_view secret, std::string_view text) {
  return lower_hex(hmac_sha256(secret, text));
}

std::string link_hash(std::string_view secret, std::string_view token,
                      std::string_view code_challenge) {
  if (code_challenge.empty()) return keyed_hash(secret, token);
  return keyed_hash(secret, std::string(token) + ":pkce:" + std::string(code_challenge));
}

std::string pkce_challenge(std::string_view code_verifier) {
  return base64url(sha256(code_verifier));
}

bool looks_like_code_verifier(std::string_view text) {
  return text.size() >= 43 && text.size() <= 128 &&
         std::all_of(text.begin(), text.end(), [](unsigned char c) {
           return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
         });
}

bool looks_like_code_challenge(std::string_view text) {
  return looks_like_token(text);  // 32 bytes in base64url, as a link token
}

std::string sha256(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &length, sha256_algorithm(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed");
  }
  return std::string(reinterpret_cast<const char*>(digest), length);
}

std::string sha256_hex(std::string_view text) {
  return lower_hex(sha256(text));
}

bool same_secret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace magic_link
