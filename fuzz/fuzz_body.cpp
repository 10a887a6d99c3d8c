// Fuzzes request bodies: the raw body of POST <api>/generate, POST <api>/verify and the verify
// page's form, read both as JSON and as an HTML form (the handler picks the format from
// Content-Type, which the client controls too).
//
// Feeds: RequestBody::parse + field() for both formats, parse_link_request, and the field values
// on to what the flows do next with them (normalize_email, looks_like_token).
// Checks: no crash or sanitizer report; a form body always parses; parse_link_request agrees
// with parse + field(); a field that is not text carries no value; a form field's value holds
// no NUL and equals form_field() on the same text.
#include "core/input/body.h"
#include "core/input/email.h"
#include "core/crypto/token.h"
#include "fuzz_util.h"

using magic_link::BodyFormat;
using magic_link::Field;
using magic_link::RequestBody;

namespace {

bool same(const Field& a, const Field& b) {
  return a.state == b.state && a.value == b.value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = fuzz::text(data, size);
  for (const BodyFormat format : {BodyFormat::json, BodyFormat::form}) {
    const auto body = RequestBody::parse(format, input);
    const auto link = magic_link::parse_link_request(format, input);
    FUZZ_CHECK(body.has_value() == link.has_value());
    if (format == BodyFormat::form) FUZZ_CHECK(body.has_value());
    if (!body) continue;

    for (const char* name : {"email", "redirectUrl", "token"}) {
      const Field field = body->field(name);
      if (field.state != Field::State::text) FUZZ_CHECK(field.value.empty());
      if (format == BodyFormat::form) {
        FUZZ_CHECK(same(field, magic_link::form_field(input, name)));
        if (field.state == Field::State::text) FUZZ_CHECK(!fuzz::has_byte(field.value, '\0'));
      }
      if (field.state != Field::State::text) continue;
      // What request_link and redeem_link do with the values.
      if (const auto email = magic_link::normalize_email(field.value)) {
        FUZZ_CHECK(!fuzz::has_byte(*email, '\0') && !fuzz::has_byte(*email, '\n'));
      }
      if (magic_link::looks_like_token(field.value)) FUZZ_CHECK(field.value.size() == 43);
    }
    FUZZ_CHECK(same(link->email, body->field("email")));
    FUZZ_CHECK(same(link->redirect_url, body->field("redirectUrl")));
  }
  return 0;
}
