// Fuzzes tokens: the value of `?token=` or a body's "token", checked by looks_like_token before
// any lookup and then hashed with keyed_hash to find the stored row.
//
// Feeds: looks_like_token and keyed_hash (fixed secret) on the whole input; keyed_hash and
// same_secret with the input split at its first NUL into an arbitrary secret and text.
// Checks: no crash or sanitizer report; looks_like_token agrees with a plain re-statement (43
// characters of the base64url alphabet); keyed_hash is 64 lower-case hex digits and
// deterministic; same_secret equals ==; a fresh new_token() looks like a token.
#include "core/crypto/token.h"
#include "fuzz_util.h"

namespace {

constexpr std::string_view kSecret = "0123456789abcdef0123456789abcdef";

bool base64url_char(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

void check_hash(const std::string& hash) {
  FUZZ_CHECK(hash.size() == 64);
  for (char c : hash) FUZZ_CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool fresh_token_ok = magic_link::looks_like_token(magic_link::new_token());
  FUZZ_CHECK(fresh_token_ok);

  const std::string_view input = fuzz::text(data, size);
  bool shaped = input.size() == 43;
  for (unsigned char c : input) shaped = shaped && base64url_char(c);
  FUZZ_CHECK(magic_link::looks_like_token(input) == shaped);

  const std::string hash = magic_link::keyed_hash(kSecret, input);
  check_hash(hash);
  FUZZ_CHECK(hash == magic_link::keyed_hash(kSecret, input));

  const auto nul = input.find('\0');
  const std::string_view secret = input.substr(0, nul);
  const std::string_view rest = nul == std::string_view::npos ? "" : input.substr(nul + 1);
  check_hash(magic_link::keyed_hash(secret, rest));
  FUZZ_CHECK(magic_link::same_secret(secret, rest) == (secret == rest));
  FUZZ_CHECK(magic_link::same_secret(input, input));
  return 0;
}
