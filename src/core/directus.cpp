#include "core/directus.h"

#include <curl/curl.h>

#include <memory>

#include <nlohmann/json.hpp>

#include "core/backend_error.h"
#include "core/curl_util.h"

namespace magic_link {
namespace {

struct Exchange {
  std::string body;
  std::vector<std::string> set_cookies;
};

size_t collect_body(char* data, size_t size, size_t count, void* exchange) {
  static_cast<Exchange*>(exchange)->body.append(data, size * count);
  return size * count;
}

size_t collect_header(char* data, size_t size, size_t count, void* exchange) {
  std::string_view line(data, size * count);
  constexpr std::string_view kName = "set-cookie:";
  if (line.size() > kName.size()) {
    bool matches = true;
    for (size_t i = 0; i < kName.size() && matches; ++i) {
      matches = std::tolower(static_cast<unsigned char>(line[i])) == kName[i];
    }
    if (matches) {
      line.remove_prefix(kName.size());
      while (!line.empty() && (line.front() == ' ')) line.remove_prefix(1);
      while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
      static_cast<Exchange*>(exchange)->set_cookies.emplace_back(line);
    }
  }
  return size * count;
}

std::string string_field(const nlohmann::json& object, const char* name) {
  const auto found = object.find(name);
  return found != object.end() && found->is_string() ? found->get<std::string>() : std::string();
}

}  // namespace

DirectusClient::DirectusClient(Url internal_url, Milliseconds timeout)
    : refresh_url_(internal_url.origin() + (internal_url.path == "/" ? "" : internal_url.path) +
                   "/auth/refresh"),
      timeout_(timeout),
      curl_(curl_easy_init()) {
  if (curl_ == nullptr) throw std::bad_alloc();
}

DirectusClient::~DirectusClient() {
  curl_easy_cleanup(curl_);
}

DirectusSession DirectusClient::refresh(const std::string& session_token, SessionMode mode) {
  // json mode reads the token from the body; cookie mode only from the cookie.
  const std::string body =
      mode == SessionMode::json
          ? nlohmann::json{{"refresh_token", session_token}, {"mode", "json"}}.dump()
          : R"({"mode":"cookie"})";
  const std::string cookie = "directus_refresh_token=" + session_token;
  CurlSlist headers(curl_slist_append(nullptr, "Content-Type: application/json"));
  Exchange exchange;

  curl_easy_reset(curl_);
  curl_easy_setopt(curl_, CURLOPT_URL, refresh_url_.c_str());
  curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers.get());
  if (mode == SessionMode::cookie) curl_easy_setopt(curl_, CURLOPT_COOKIE, cookie.c_str());
  curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, collect_body);
  curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &exchange);
  curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, collect_header);
  curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &exchange);
  set_timeouts(curl_, timeout_);
  const CURLcode result = curl_easy_perform(curl_);
  if (result != CURLE_OK) {
    throw BackendError("directus", std::string("refresh failed: ") + curl_easy_strerror(result),
                       result == CURLE_OPERATION_TIMEDOUT);
  }
  long status = 0;
  curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 500) throw BackendError("directus", "refresh answered " + std::to_string(status));
  if (status != 200) throw DirectusRefused("refresh answered " + std::to_string(status));

  const auto json = nlohmann::json::parse(exchange.body, nullptr, false);
  const auto data = json.is_object() ? json.find("data") : json.end();
  if (data == json.end() || !data->is_object() || string_field(*data, "access_token").empty()) {
    throw BackendError("directus", "refresh answered 200 without an access token");
  }
  DirectusSession session;
  session.access_token = string_field(*data, "access_token");
  session.refresh_token = string_field(*data, "refresh_token");
  const auto expires = data->find("expires");
  if (expires != data->end() && expires->is_number())
    session.expires_ms = expires->get<long long>();
  session.set_cookies = std::move(exchange.set_cookies);
  return session;
}

}  // namespace magic_link
