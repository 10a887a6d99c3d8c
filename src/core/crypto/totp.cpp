#include "core/crypto/totp.h"

#include <liboath/oath.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>

namespace magic_link {
namespace {

constexpr unsigned kStepSeconds = 30;
constexpr unsigned kDigits = 6;

// liboath's global state; oath_init only sets up its crypto backend and is idempotent.
bool oath_ready() {
  static const bool ready = oath_init() == OATH_OK;
  return ready;
}

// The raw key behind a base32 secret (otplib writes it upper case, without padding).
std::string decoded_secret(std::string_view secret) {
  if (!oath_ready() || secret.empty()) return {};
  std::string upper(secret);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  char* raw = nullptr;
  size_t length = 0;
  if (oath_base32_decode(upper.data(), upper.size(), &raw, &length) != OATH_OK) return {};
  std::unique_ptr<char, decltype(&std::free)> owned(raw, std::free);
  return std::string(raw, length);
}

std::string code_at(const std::string& key, std::time_t when) {
  char code[kDigits + 1] = {};
  if (oath_totp_generate(key.data(), key.size(), when, kStepSeconds, 0, kDigits, code) != OATH_OK) {
    return {};
  }
  return code;
}

}  // namespace

bool totp_matches(std::string_view secret, std::string_view code, std::time_t now) {
  const std::string key = decoded_secret(secret);
  if (key.empty() || code.size() != kDigits ||
      !std::all_of(code.begin(), code.end(), [](unsigned char c) { return std::isdigit(c); })) {
    return false;
  }
  bool matched = false;
  for (const std::time_t when : {now - kStepSeconds, now, now + kStepSeconds}) {
    const std::string expected = code_at(key, when);
    matched |=
        expected.size() == kDigits && CRYPTO_memcmp(expected.data(), code.data(), kDigits) == 0;
  }
  return matched;
}

std::string totp_code(std::string_view secret, std::time_t now) {
  const std::string key = decoded_secret(secret);
  return key.empty() ? std::string() : code_at(key, now);
}

}  // namespace magic_link
