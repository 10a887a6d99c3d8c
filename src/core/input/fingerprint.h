// A coarse description of the browser that asked for a link, for the audit row and for the page
// another device sees: never more than its family, OS, first language and network, so it names
// no one and follows no one.
#pragma once

#include <string>
#include <string_view>

namespace magic_link {

struct Fingerprint {
  std::string browser;   // "Firefox", "Chrome", ... or "" when unknown
  std::string os;        // "Windows", "iOS", ... or ""
  std::string language;  // the first tag of Accept-Language, e.g. "en-US", or ""
  std::string network;   // "203.0.113.0/24" or "2001:db8:1::/48", or ""
};

Fingerprint coarse_fingerprint(std::string_view user_agent, std::string_view accept_language,
                               std::string_view ip);

}  // namespace magic_link
