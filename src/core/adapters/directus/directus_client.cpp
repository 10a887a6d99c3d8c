#include "core/adapters/directus/directus_client.h"

#include <curl/curl.h>

#include <ctime>
#include <memory>

#include <nlohmann/json.hpp>

#include "core/ports/backend_error.h"
#include "core/adapters/curl_util.h"
#include "core/crypto/jwt.h"

namespace magic_link {
namespace {

struct Exchange {
  std::string body;
  std::vector<std::string> set_cookies;
};

// libcurl's callbacks are C: no exception may leave them. Returning less than given makes
// libcurl end the transfer with an error, which `call` reports as a failed call.
size_t collect_body(char* data, size_t size, size_t count, void* exchange) noexcept try {
  static_cast<Exchange*>(exchange)->body.append(data, size * count);
  return size * count;
} catch (const std::exception&) {
  return 0;
}

size_t collect_header(char* data, size_t size, size_t count, void* exchange) noexcept try {
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
} catch (const std::exception&) {
  return 0;
}

std::string string_field(const nlohmann::json& object, const char* name) {
  const auto found = object.find(name);
  return found != object.end() && found->is_string() ? found->get<std::string>() : std::string();
}

// Directus' error answer: {"errors":[{"message":..., "extensions":{"code":"..."}}]}.
std::string error_code(const nlohmann::json& answer) {
  if (!answer.is_object()) return {};
  const auto errors = answer.find("errors");
  if (errors == answer.end() || !errors->is_array() || errors->empty()) return {};
  const auto& first = errors->front();
  const auto extensions = first.is_object() ? first.find("extensions") : first.end();
  if (extensions == first.end() || !extensions->is_object()) return {};
  return string_field(*extensions, "code");
}

}  // namespace

struct DirectusClient::Answer {
  long status = 0;
  nlohmann::json data;  // the answer's "data" object, when there is one
  std::vector<std::string> set_cookies;
};

DirectusClient::DirectusClient(Url internal_url, std::string secret, Milliseconds timeout)
    : base_url_(internal_url.base()),
      secret_(std::move(secret)),
      timeout_(timeout),
      curl_(new_curl_handle()) {}

DirectusClient::Answer DirectusClient::call(const char* step, const std::string& url,
                                            const std::string* body, curl_slist* headers,
                                            const std::string* cookie) {
  CURL* curl = curl_.get();
  Exchange exchange;
  curl_easy_reset(curl);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  if (body != nullptr) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body->size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  if (cookie != nullptr) curl_easy_setopt(curl, CURLOPT_COOKIE, cookie->c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &exchange);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &exchange);
  set_timeouts(curl, timeout_);
  const CURLcode result = curl_easy_perform(curl);
  if (result != CURLE_OK) {
    throw BackendError(Backend::directus, step,
                       std::string("call failed: ") + curl_easy_strerror(result),
                       result == CURLE_OPERATION_TIMEDOUT);
  }
  Answer answer;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &answer.status);
  if (answer.status >= 500) {
    throw BackendError(Backend::directus, step, "answered " + std::to_string(answer.status));
  }
  const auto json = nlohmann::json::parse(exchange.body, nullptr, false);
  if (answer.status != 200 && answer.status != 204) {
    throw DirectusRefused("answered " + std::to_string(answer.status), error_code(json));
  }
  const auto data = json.is_object() ? json.find("data") : json.end();
  if (data != json.end() && data->is_object()) answer.data = *data;  // logout answers none
  answer.set_cookies = std::move(exchange.set_cookies);
  return answer;
}

DirectusSession DirectusClient::refresh(const SessionRow& row, SessionMode mode) {
  // json mode reads the row's token from the body, cookie mode from the refresh cookie, and
  // session mode from a session cookie: a 30-second bootstrap that Directus replaces by its own.
  std::string body, cookie;
  switch (mode) {
    case SessionMode::json:
      body = nlohmann::json{{"refresh_token", row.token}, {"mode", "json"}}.dump();
      break;
    case SessionMode::cookie:
      body = R"({"mode":"cookie"})";
      cookie = "directus_refresh_token=" + row.token;
      break;
    case SessionMode::session:
      body = R"({"mode":"session"})";
      cookie = "directus_session_token=" +
               bootstrap_session_jwt(secret_, row.user_id, row.token, std::time(nullptr));
      break;
  }
  CurlSlist headers(curl_slist_append(nullptr, "Content-Type: application/json"));
  Answer answer = call("refresh", base_url_ + "/auth/refresh", &body, headers.get(),
                       cookie.empty() ? nullptr : &cookie);
  DirectusSession session;
  session.access_token = string_field(answer.data, "access_token");
  const bool credential =
      mode == SessionMode::session ? !answer.set_cookies.empty() : !session.access_token.empty();
  if (!credential) {
    throw BackendError(Backend::directus, "refresh", "no session in the answer", false, false);
  }
  session.refresh_token = string_field(answer.data, "refresh_token");
  const auto expires = answer.data.find("expires");
  if (expires != answer.data.end() && expires->is_number()) {
    session.expires_ms = expires->get<long long>();
  }
  session.set_cookies = std::move(answer.set_cookies);
  return session;
}

void DirectusClient::logout(const std::string& cookie, SessionMode mode) {
  const std::string body =
      mode == SessionMode::session ? R"({"mode":"session"})" : R"({"mode":"cookie"})";
  CurlSlist headers(curl_slist_append(nullptr, "Content-Type: application/json"));
  call("logout", base_url_ + "/auth/logout", &body, headers.get(), &cookie);
}

std::string DirectusClient::current_user_id(const std::string& access_token) {
  CurlSlist headers(curl_slist_append(nullptr, ("Authorization: Bearer " + access_token).c_str()));
  const std::string id = string_field(
      call("users/me", base_url_ + "/users/me?fields=id", nullptr, headers.get(), nullptr).data,
      "id");
  if (id.empty()) throw DirectusRefused("/users/me gave no id");
  return id;
}

}  // namespace magic_link
