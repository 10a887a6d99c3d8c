// What an endpoint answers, independent of the server that sends it.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace magic_link {

struct Response {
  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// The extension's JSON shape: {"success":false,"message":"..."}, with a machine-readable
// "code" (Directus' error code names) when one is given.
Response json_failure(int status, std::string_view message, std::string_view code = {});

// 429 with Retry-After, for a client over a limit.
Response json_too_many(long long retry_after_seconds);

// 502/503/504 with Retry-After: 1, for a backend that failed (the client may simply retry).
Response json_unavailable(int status = 503);

Response text(int status, std::string body);

}  // namespace magic_link
