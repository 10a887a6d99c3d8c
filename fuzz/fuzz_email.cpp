// Fuzzes email addresses: the `email` a client posts to <api>/generate or the page's form.
//
// Feeds: normalize_email on arbitrary bytes.
// Checks: no crash or sanitizer report; an accepted address is at most 254 bytes, lower case,
// plain ASCII with no byte that could break a mail header or an SMTP envelope (controls, space,
// <>, quotes, parentheses, comma, semicolon, colon, backslash, brackets); it has exactly one
// '@' and a dot in the domain; it re-normalizes to itself (idempotent); and its upper-case
// spelling normalizes to the same address (the lookup key does not depend on case).
#include "core/input/email.h"
#include "fuzz_util.h"

#include <algorithm>
#include <cctype>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = fuzz::text(data, size);
  const auto email = magic_link::normalize_email(input);
  if (!email) return 0;

  FUZZ_CHECK(email->size() <= 254 && email->size() == input.size());
  FUZZ_CHECK(fuzz::is_lower_ascii(*email));
  for (unsigned char c : *email) {
    FUZZ_CHECK(c > 0x20 && c < 0x7f);
    FUZZ_CHECK(std::string_view("<>\"(),;:\\[]").find(static_cast<char>(c)) ==
               std::string_view::npos);
  }
  FUZZ_CHECK(std::count(email->begin(), email->end(), '@') == 1);
  const std::string_view domain = std::string_view(*email).substr(email->find('@') + 1);
  FUZZ_CHECK(domain.find('.') != std::string_view::npos);

  FUZZ_CHECK(magic_link::normalize_email(*email) == email);
  std::string upper(input);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  FUZZ_CHECK(magic_link::normalize_email(upper) == email);
  return 0;
}
