// Who a browser is signed in as (the UI's success page), and signing it out.
#pragma once

#include <string>

#include "core/config/settings.h"
#include "core/flows/gate.h"
#include "core/flows/outcome.h"
#include "core/ports/backends.h"
#include "core/render/templates.h"

namespace magic_link {

// Where the UI's pages link and post to.
struct AccountPaths {
  std::string sign_in;   // the UI's form
  std::string sign_out;  // its sign-out POST
};

// A page saying who the browser is signed in as, from Directus itself: a session cookie's row
// (its JWT checked first), else a refresh cookie refreshed (Directus rotates it, so the new
// cookie is relayed) and asked whose it is; without a working session, a page to sign in.
Outcome signed_in_page(const Settings& settings, const Templates& templates,
                       const GateCookies& cookies, const AccountPaths& paths, Backends backends);

// Ends the browser's Directus session through Directus' own logout (which deletes its row, so
// every gate refuses it within magic_link_session_cache) and clears both cookies; then 303 to
// the sign-in form.
Outcome sign_out(const Settings& settings, const GateCookies& cookies, const AccountPaths& paths,
                 Backends backends);

}  // namespace magic_link
