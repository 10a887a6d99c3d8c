// POST <api>/generate: the first half of the login flow.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/crypto/binding.h"
#include "core/flows/gate.h"
#include "core/ports/backends.h"
#include "core/input/body.h"
#include "core/flows/outcome.h"
#include "core/crypto/seal.h"
#include "core/config/settings.h"

namespace magic_link {

struct Client {
  std::string ip;  // $remote_addr, so the realip module decides
  std::string user_agent;
  std::string accept_language;
  std::optional<Binding> binding;  // its magic_link_device cookie, when it sent a valid one
  GateCookies directus_cookies;    // its Directus session and refresh cookies, as sent
  bool browser = false;            // it sent an Origin or cookies: a browser's form or fetch
};

// Where a link request came from: a page's form (always a browser, so always bound), or the
// API (bound only when the browser sends its binding cookie along: fetch with credentials; a
// browser's fetch without one gets one for its next request, other clients none).
enum class RequestSource { api, page };

struct LinkRequest {
  std::string email;      // normalised
  std::string link_base;  // an allowed redirectUrl, else public URL + verify endpoint
  Client client;
  std::string after_login_url;  // where the verify page sends the browser once signed in
  std::string code_challenge;   // PKCE S256: verify then needs the matching code_verifier
  std::string binding_id;       // the browser the link is bound to, or "" (unbound)
  bool new_binding = false;     // the answer sets the binding cookie
};

// Checks the body without touching a backend: a 400 answer, or a request worth running.
std::variant<Outcome, LinkRequest> read_link_request(const Settings& settings, BodyFormat format,
                                                     std::string_view body, Client client,
                                                     RequestSource source);

// One link request of a batch, with its location's settings.
struct LinkRequestJob {
  const Settings* settings;
  LinkRequest request;
};

// Rate limits and the accepted requests (their links' hashes and sealed mail orders), stored
// before the answers: one Redis round trip and one transaction for a batch of requests that
// arrived together. Runs on a pool thread; outcome i answers job i. The answer is the same for
// every well-formed email whatever happened, and takes the same work to produce.
std::vector<Outcome> request_links(const Sealer& sealer, const std::vector<LinkRequestJob>& jobs,
                                   Backends backends);

// The waiting page a bound browser polls after asking from `action`, until `deadline`.
std::string waiting_path(std::string_view action, std::time_t deadline);

// Keys under which Redis counts a client or an email: keyed hashes, never the values.
std::string limit_key(const Settings& settings, std::string_view kind, std::string_view value);

// What a client over its per-client limit is remembered as (its key and the limit, which
// locations may set differently).
std::string refusal_key(const Settings& settings, std::string_view client_ip);

}  // namespace magic_link
