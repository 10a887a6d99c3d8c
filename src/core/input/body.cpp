#include "core/input/body.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>

#include <nlohmann/json.hpp>

namespace magic_link {
namespace {

std::optional<std::string> percent_decode(std::string_view text) {
  std::string plus_as_space(text);
  std::replace(plus_as_space.begin(), plus_as_space.end(), '+', ' ');
  int length = 0;
  std::unique_ptr<char, decltype(&curl_free)> decoded(
      curl_easy_unescape(nullptr, plus_as_space.data(), static_cast<int>(plus_as_space.size()),
                         &length),
      curl_free);
  if (!decoded) return std::nullopt;
  std::string value(decoded.get(), static_cast<size_t>(length));
  if (value.find('\0') != std::string::npos) return std::nullopt;
  return value;
}

}  // namespace

Field form_field(std::string_view form, std::string_view name) {
  Field field;
  while (!form.empty()) {
    const auto amp = form.find('&');
    const std::string_view pair = form.substr(0, amp);
    form = amp == std::string_view::npos ? std::string_view{} : form.substr(amp + 1);
    const auto eq = pair.find('=');
    if (percent_decode(pair.substr(0, eq)) != std::string(name)) continue;
    if (field.state != Field::State::absent) return {Field::State::invalid, {}};
    auto value = percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    if (!value) return {Field::State::invalid, {}};
    field = {Field::State::text, std::move(*value)};
  }
  return field;
}

std::optional<RequestBody> RequestBody::parse(BodyFormat format, std::string_view text) {
  RequestBody body;
  if (format == BodyFormat::form) {
    body.form_ = std::string(text);
    return body;
  }
  auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) return std::nullopt;
  body.json_ = std::make_shared<const nlohmann::json>(std::move(json));
  return body;
}

Field RequestBody::field(std::string_view name) const {
  if (!json_) return form_field(form_, name);
  const auto found = json_->find(name);
  if (found == json_->end() || found->is_null()) return {};
  if (!found->is_string()) return {Field::State::invalid, {}};
  std::string value = found->get<std::string>();
  // As in forms: a NUL (JSON's \u0000) never belongs in a field.
  if (value.find('\0') != std::string::npos) return {Field::State::invalid, {}};
  return {Field::State::text, std::move(value)};
}

std::optional<LinkRequestFields> parse_link_request(BodyFormat format, std::string_view text) {
  const auto body = RequestBody::parse(format, text);
  if (!body) return std::nullopt;
  return LinkRequestFields{body->field("email"), body->field("redirectUrl"), body->field("return"),
                           body->field("code_challenge"), body->field("code_challenge_method")};
}

}  // namespace magic_link
