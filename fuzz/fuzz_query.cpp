// Fuzzes query strings: the `?token=` of GET <api>/verify and of the mailed verify page, which the
// nginx layer reads with form_field(r->args, "token").
//
// Feeds: form_field(query, "token") (and "email"), then looks_like_token on the value.
// Checks: no crash or sanitizer report; a text value holds no NUL; a value that is not text is
// empty; and a metamorphic property of "given twice is invalid": appending `&token=X` to the
// query turns an absent token into exactly X and a present (or invalid) one into invalid. That
// is what keeps `?token=ATTACKER&token=REAL` from being read as either token.
// Also feeds mask_tokens (what $magic_link_request logs): the token form_field reads never
// survives in the masked line, masking twice changes nothing, and a line without a token field
// (query_names_token false) is left as it is.
#include "core/input/body.h"
#include "core/input/query.h"
#include "core/crypto/token.h"
#include "fuzz_util.h"

using magic_link::Field;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view query = fuzz::text(data, size);
  for (const char* name : {"token", "email"}) {
    const Field field = magic_link::form_field(query, name);
    if (field.state != Field::State::text) {
      FUZZ_CHECK(field.value.empty());
    } else {
      FUZZ_CHECK(!fuzz::has_byte(field.value, '\0'));
    }

    const std::string appended = std::string(query) + "&" + name + "=Xy_-9";
    const Field again = magic_link::form_field(appended, name);
    if (field.state == Field::State::absent) {
      FUZZ_CHECK(again.state == Field::State::text && again.value == "Xy_-9");
    } else {
      FUZZ_CHECK(again.state == Field::State::invalid);
    }
  }
  const Field token = magic_link::form_field(query, "token");
  if (token.state == Field::State::text && magic_link::looks_like_token(token.value)) {
    FUZZ_CHECK(token.value.size() == 43);
  }

  const std::string line = "GET /magic-link/verify?" + std::string(query) + " HTTP/1.1";
  const std::string masked = magic_link::mask_tokens(line);
  FUZZ_CHECK(magic_link::mask_tokens(masked) == masked);
  if (!magic_link::query_names_token(query)) {
    FUZZ_CHECK(masked == line);
  }
  if (token.state == Field::State::text && magic_link::looks_like_token(token.value)) {
    FUZZ_CHECK(masked.find(token.value) == std::string::npos ||
               std::string(query).find(token.value) != query.rfind(token.value));
  }
  return 0;
}
