// Request bodies and query strings of the API: JSON or HTML-form encoded.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace magic_link {

enum class BodyFormat { json, form };

// A field as sent: absent, a string, or something else (a number, an object, a repeated key).
struct Field {
  enum class State { absent, text, invalid } state = State::absent;
  std::string value;
};

struct LinkRequestFields {
  Field email;
  Field redirect_url;
};

// Nothing when the body cannot be read as `format` at all (broken JSON, not an object).
std::optional<LinkRequestFields> parse_link_request(BodyFormat format, std::string_view body);

// One field of an `a=1&b=2` string (query or form body), percent-decoded; a field given twice
// or holding a NUL byte is `invalid`.
Field form_field(std::string_view form, std::string_view name);

}  // namespace magic_link
