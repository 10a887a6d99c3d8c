#include "core/response.h"

#include <nlohmann/json.hpp>

namespace magic_link {

Response json_failure(int status, std::string_view message) {
  const nlohmann::ordered_json body = {{"success", false}, {"message", message}};
  return {status, "application/json", body.dump(), {}};
}

Response text(int status, std::string body) {
  return {status, "text/plain; charset=utf-8", std::move(body), {}};
}

}  // namespace magic_link
