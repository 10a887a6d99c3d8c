#include "core/render/response.h"

#include <nlohmann/json.hpp>

namespace magic_link {

Response json_failure(int status, std::string_view message, std::string_view code) {
  nlohmann::ordered_json body = {{"success", false}, {"message", message}};
  if (!code.empty()) body["code"] = code;
  return {status, "application/json", body.dump(), {}};
}

Response json_too_many(long long retry_after_seconds) {
  Response response = json_failure(429, "Too many requests, please try again later");
  response.headers.emplace_back("Retry-After", std::to_string(retry_after_seconds));
  return response;
}

Response json_unavailable(int status) {
  Response response = json_failure(status, "Service temporarily unavailable, please try again");
  response.headers.emplace_back("Retry-After", "1");
  return response;
}

Response text(int status, std::string body) {
  return {status, "text/plain; charset=utf-8", std::move(body), {}};
}

}  // namespace magic_link
