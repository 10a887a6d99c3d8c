// The HTML pages of the browser flow: plain forms, no JavaScript, nothing cached.
#pragma once

#include <string>
#include <string_view>

#include "core/ports/link_store.h"
#include "core/flows/redeem_link.h"
#include "core/render/response.h"
#include "core/config/settings.h"
#include "core/render/templates.h"

namespace magic_link {

// What the confirm page offers. The browser that asked (or any, for an unbound link) signs in;
// another browser may sign in there or approve the asking one (prompt), or only approve (strict).
enum class Choice { sign_in, sign_in_or_approve, approve };

// "Sign in to SITE as EMAIL?" with the buttons of `choice`, which POST the token to `action`
// (with `decision`), and a field for the one-time password when the user has 2FA (`otp_error`
// says why the last code failed). Another browser is told where and when the link was asked for.
Response confirm_page(const Settings& settings, const Templates& templates, const LinkPreview& link,
                      std::string_view token, std::string_view action,
                      Choice choice = Choice::sign_in, std::string_view otp_error = {});

// After a POST: 303 to the after-login target with Directus' cookie, the confirm page again
// when a one-time password is missing or wrong (`token` is still usable), or a page saying what
// went wrong, with a form to request a new link (posted to `action`).
Response redemption_page(const Settings& settings, const Templates& templates,
                         const Redemption& redemption, std::string_view token,
                         std::string_view action);

// 2FA is enforced for the user but not set up: sends them to the Data Studio's own setup.
Response tfa_setup_page(const Settings& settings, const Templates& templates);

// The sign-in form: an email field that posts to `action`, with `return_to` (a checked return
// target) carried along.
Response request_page(const Settings& settings, const Templates& templates, std::string_view action,
                      std::string_view return_to = {});

// "Signed in as EMAIL" (the Directus user `user_id`).
Response account_page(const Settings& settings, const Templates& templates, std::string_view email,
                      std::string_view user_id, std::string_view sign_out_action);

// Not signed in: a link to the sign-in form at `login_path`.
Response signed_out_page(const Settings& settings, const Templates& templates,
                         std::string_view login_path);

// After a new link was requested from a page.
Response check_email_page(const Settings& settings, const Templates& templates);

// A link request made from a form, answered as a page instead of the API's JSON: for a bound
// browser, the waiting page polling `poll_path`.
Response link_request_page(const Settings& settings, const Templates& templates,
                           const Response& api_answer, std::string_view action,
                           std::string_view poll_path = {});

// "Check your email", reloading itself at `poll_path` every few seconds (no script): once
// another browser approves the link, the reload signs this one in.
Response waiting_page(const Settings& settings, const Templates& templates,
                      std::string_view poll_path);

// The waiting page's deadline passed: the link it waited for has expired.
Response wait_expired_page(const Settings& settings, const Templates& templates,
                           std::string_view action);

// The link is unknown, expired, used or superseded: 401 with the form to ask for a new one.
Response invalid_link_page(const Settings& settings, const Templates& templates,
                           std::string_view action);

// Who reads an endpoint's answers: API clients get JSON, browsers get pages.
enum class Audience { api, browser };

// The one answer for a request a backend failure (or an internal error, 500) kept from its
// result: JSON with Retry-After for the API, an HTML page with the request form for browsers.
Response unavailable_response(int status, Audience audience, const Settings& settings,
                              const Templates& templates, std::string_view action);

// A page for a refused request: `status` with `message` and the request form.
Response notice_page(const Settings& settings, const Templates& templates, int status,
                     std::string_view heading, std::string_view message, std::string_view action);

// Whether a browser POST came from the public site: its Origin, else its Referer, must match.
bool same_origin(const Settings& settings, std::string_view origin, std::string_view referer);

// Directus' Set-Cookie as the browser should get it: Secure added behind an https public URL.
std::string relay_cookie(const Settings& settings, std::string_view set_cookie);

// The device binding cookie (crypto/binding.h) with `value`: HttpOnly, SameSite=Lax, site-wide.
std::string binding_cookie(const Settings& settings, std::string_view value);

}  // namespace magic_link
