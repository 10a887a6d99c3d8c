// The SessionIssuer over Directus' own API on its internal URL.
#pragma once

#include "core/adapters/curl_util.h"
#include "core/config/settings.h"
#include "core/ports/session_issuer.h"

struct curl_slist;

namespace magic_link {

// libcurl, one handle per pooled connection (keep-alive to Directus between requests).
class DirectusClient final : public SessionIssuer {
 public:
  // `secret` is Directus' SECRET, for session mode's bootstrap (may be empty otherwise).
  DirectusClient(Url internal_url, std::string secret, Milliseconds timeout);

  DirectusSession refresh(const SessionRow& row, SessionMode mode) override;
  std::string current_user_id(const std::string& access_token) override;
  void logout(const std::string& cookie, SessionMode mode) override;

 private:
  struct Answer;
  // Sends one request and returns Directus' answer; throws on transport errors and 5xx.
  Answer call(const char* step, const std::string& url, const std::string* body,
              curl_slist* headers, const std::string* cookie);

  std::string base_url_;
  std::string secret_;
  Milliseconds timeout_;
  CurlEasy curl_;
};

}  // namespace magic_link
