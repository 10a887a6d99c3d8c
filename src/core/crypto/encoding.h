// Base64 (RFC 4648) on OpenSSL's codec, for tokens, sealed mail and encoded mail headers.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace magic_link {

std::string base64(std::string_view raw);
// The URL-safe alphabet without padding.
std::string base64url(std::string_view raw);
// Nothing when `text` is not padded base64.
std::optional<std::string> unbase64(std::string_view text);

}  // namespace magic_link
