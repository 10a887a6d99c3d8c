// Request bodies and query strings of the API: JSON or HTML-form encoded.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace magic_link {

enum class BodyFormat { json, form };

// A field as sent: absent, a string, or something else (a number, an object, a repeated key).
struct Field {
  enum class State { absent, text, invalid } state = State::absent;
  std::string value;
};

// One field of an `a=1&b=2` string (query or form body), percent-decoded; a field given twice
// or holding a NUL byte is `invalid`.
Field form_field(std::string_view form, std::string_view name);

class RequestBody {
 public:
  // Nothing when the text cannot be read as `format` at all (broken JSON, not an object).
  static std::optional<RequestBody> parse(BodyFormat format, std::string_view text);
  Field field(std::string_view name) const;

 private:
  std::string form_;                            // a form body
  std::shared_ptr<const nlohmann::json> json_;  // or a JSON object
};

struct LinkRequestFields {
  Field email;
  Field redirect_url;
  Field return_to;       // `return`: where the gate's sign-in page sends the browser afterwards
  Field code_challenge;  // PKCE (RFC 7636), S256 only
  Field code_challenge_method;
};

std::optional<LinkRequestFields> parse_link_request(BodyFormat format, std::string_view body);

}  // namespace magic_link
