#include "core/body.h"

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

Field json_field(const nlohmann::json& object, const char* name) {
  const auto found = object.find(name);
  if (found == object.end() || found->is_null()) return {};
  if (!found->is_string()) return {Field::State::invalid, {}};
  return {Field::State::text, found->get<std::string>()};
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

std::optional<LinkRequestFields> parse_link_request(BodyFormat format, std::string_view body) {
  if (format == BodyFormat::form) {
    return LinkRequestFields{form_field(body, "email"), form_field(body, "redirectUrl")};
  }
  const auto json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) return std::nullopt;
  return LinkRequestFields{json_field(json, "email"), json_field(json, "redirectUrl")};
}

}  // namespace magic_link
