// Redeeming a link: the second half of the login flow, shared by the API (JSON tokens) and the
// browser page (Directus' refresh cookie and a redirect).
#pragma once

#include <chrono>
#include <string>

#include "core/ports/backends.h"
#include "core/ports/session_issuer.h"
#include "core/flows/outcome.h"
#include "core/flows/request_link.h"
#include "core/config/settings.h"
#include "core/render/templates.h"

namespace magic_link {

struct Redemption {
  enum class Status {
    redeemed,            // `link` and `session` are set
    invalid,             // unknown, malformed, expired, used, superseded, user or role refused
    limited,             // too many failed redemptions from this client
    unavailable,         // a backend failed; the link is still usable
    otp_required,        // the user has 2FA and no code came: the link is still usable
    otp_invalid,         // a wrong or replayed code: counted as a failure, the link still usable
    tfa_setup_required,  // 2FA is enforced for the user, who has not set it up in Directus
    user_suspended,      // Directus refused the session: the user is suspended
    licence_locked,      // Directus refused the session: its licence is locked (over its seats)
    other_device,        // bound to another browser, which alone may use it: nothing spent
    approved,            // this browser approved the asking one's sign-in: nothing spent
    waiting,             // the waiting browser's link is not approved (yet)
  } status = Status::invalid;
  bool approving = false;  // asking again for the one-time password of an approval
  ClaimedLink link;
  DirectusSession session;
  std::string binding;  // with `redeemed`: the binding cookie's new value (owner proof), or ""
  std::chrono::seconds retry_after{0};
  BackendFailure failure;  // with `unavailable`
  std::vector<LogLine> log;
};

// What a redemption was given: the link's token and, for users with 2FA, their one-time password.
struct RedeemRequest {
  std::string token;
  std::string otp;
  std::string code_verifier;  // PKCE: needed when the link was asked for with a code_challenge
  Client client;
  std::string origin;
  bool approve = false;  // another browser approves the asking one instead of signing in
};

// Runs on a pool thread. The claim spends the link; if Directus then fails to create the
// session, the claim is released and the link works again. A client's failures (wrong codes
// included) count towards its limit, so guessing tokens or codes is hopeless. A user with 2FA
// needs the current one-time password, each code accepted once.
Redemption redeem_link(const Settings& settings, const RedeemRequest& request, SessionMode mode,
                       Backends backends);

// How a browser location's sign-in hands over the session (magic_link_session_mode).
SessionMode browser_session_mode(const Settings& settings);

// The extension's answers: 200 {"success":true,...,"data":{user, tokens}}, 401, 429, 5xx.
Outcome api_answer(const Settings& settings, Redemption redemption);

// The browser's answer: 303 with Directus' cookie, or a page (see redemption_page).
Outcome page_answer(const Settings& settings, const Templates& templates, Redemption redemption,
                    const std::string& token, const std::string& action);

// The waiting page's poll (GET `action`?wait=`deadline`) from the browser that asked for a
// link: signs it in once another browser approved the link (one round trip, found by the
// browser's binding); until then the same page again, until the deadline.
Redemption await_approval(const Settings& settings, const Client& client, Backends backends);

// The waiting page's answer to its poll: signed in (303 with the cookies), the waiting page
// again (polling `poll_path`), or what went wrong (with the request form posting to `action`).
Outcome waiting_answer(const Settings& settings, const Templates& templates, Redemption redemption,
                       const std::string& poll_path, const std::string& action);

// GET of the mailed link: the confirm page (who the link signs in, a field for the one-time
// password when the user has 2FA), read only: it never spends the link. Opened in another
// browser than the one that asked, a bound link's page says where it was asked for and offers
// what magic_link_device_binding allows.
Outcome show_link(const Settings& settings, const Templates& templates, const std::string& token,
                  const Client& client, const std::string& action, Backends backends);

}  // namespace magic_link
