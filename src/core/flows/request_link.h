// POST <api>/generate: the first half of the login flow.
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "core/ports/backends.h"
#include "core/input/body.h"
#include "core/flows/outcome.h"
#include "core/crypto/seal.h"
#include "core/config/settings.h"
#include "core/render/templates.h"

namespace magic_link {

struct Client {
  std::string ip;  // $remote_addr, so the realip module decides
  std::string user_agent;
};

struct LinkRequest {
  std::string email;      // normalised
  std::string link_base;  // an allowed redirectUrl, else public URL + verify endpoint
  Client client;
  std::string after_login_url;  // where the verify page sends the browser once signed in
  std::string code_challenge;   // PKCE S256: verify then needs the matching code_verifier
};

// Checks the body without touching a backend: a 400 answer, or a request worth running.
std::variant<Outcome, LinkRequest> read_link_request(const Settings& settings, BodyFormat format,
                                                     std::string_view body, Client client);

// Rate limits, link, audit row and queued mail. Runs on a pool thread; the answer is the same
// for every well-formed email whatever happened, and takes the same work to produce.
Outcome request_link(const Settings& settings, const Templates& templates, const Sealer& sealer,
                     const LinkRequest& request, Backends backends);

// Keys under which Redis counts a client or an email: keyed hashes, never the values.
std::string limit_key(const Settings& settings, std::string_view kind, std::string_view value);

}  // namespace magic_link
