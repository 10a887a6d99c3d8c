#include "core/crypto/encoding.h"

#include <openssl/evp.h>

#include <algorithm>

namespace magic_link {
namespace {

const unsigned char* bytes(std::string_view text) {
  return reinterpret_cast<const unsigned char*>(text.data());
}

}  // namespace

std::string base64(std::string_view raw) {
  std::string text(4 * ((raw.size() + 2) / 3) + 1, '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(text.data()), bytes(raw),
                                      static_cast<int>(raw.size()));
  text.resize(static_cast<size_t>(written));
  return text;
}

std::string base64url(std::string_view raw) {
  std::string text = base64(raw);
  while (!text.empty() && text.back() == '=') text.pop_back();
  std::replace(text.begin(), text.end(), '+', '-');
  std::replace(text.begin(), text.end(), '/', '_');
  return text;
}

std::optional<std::string> unbase64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string raw(3 * text.size() / 4 + 1, '\0');
  const int written = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(raw.data()), bytes(text),
                                      static_cast<int>(text.size()));
  if (written < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes.
  const size_t padding = text.size() - text.find_last_not_of('=') - 1;
  raw.resize(static_cast<size_t>(written) - std::min(padding, static_cast<size_t>(written)));
  return raw;
}

}  // namespace magic_link
