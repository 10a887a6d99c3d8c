#include "core/flows/account.h"

#include <ctime>

#include "core/ports/backend_error.h"
#include "core/render/pages.h"

namespace magic_link {
namespace {

constexpr const char* kDirectusCookies[] = {"directus_session_token", "directus_refresh_token"};

// Who holds the session: a session cookie's row, else the refresh cookie's (via Directus).
std::optional<std::pair<std::string, std::string>> session_user(const Settings& settings,
                                                                const GateCookies& cookies,
                                                                Backends backends,
                                                                std::vector<std::string>& relay) {
  if (const auto named = named_session(settings, {cookies.session_jwt, {}}, std::time(nullptr))) {
    if (auto owner = backends.store.find_session(named->row_token)) {
      return std::make_pair(owner->email, owner->user_id);
    }
  }
  if (cookies.refresh_token.empty()) return std::nullopt;
  const DirectusSession session =
      backends.directus.refresh({cookies.refresh_token, {}}, SessionMode::cookie);
  relay = session.set_cookies;
  const std::string user_id = backends.directus.current_user_id(session.access_token);
  return std::make_pair(backends.store.user_email(user_id).value_or(user_id), user_id);
}

}  // namespace

Outcome signed_in_page(const Settings& settings, const Templates& templates,
                       const GateCookies& cookies, const AccountPaths& paths, Backends backends) {
  try {
    std::vector<std::string> relay;
    const auto user = session_user(settings, cookies, backends, relay);
    if (!user) return {signed_out_page(settings, templates, paths.sign_in), {}};
    Response page = account_page(settings, templates, user->first, user->second, paths.sign_out);
    for (const auto& cookie : relay) {
      page.headers.emplace_back("Set-Cookie", relay_cookie(settings, cookie));
    }
    return {std::move(page), {}};
  } catch (const DirectusRefused&) {
    return {signed_out_page(settings, templates, paths.sign_in), {}};
  } catch (const BackendError& error) {
    return unavailable(error.failure(), "account page");
  }
}

Outcome sign_out(const Settings& settings, const GateCookies& cookies, const AccountPaths& paths,
                 Backends backends) {
  Response response{303,
                    "text/plain; charset=utf-8",
                    "",
                    {{"Location", paths.sign_in}, {"Cache-Control", "no-store"}}};
  Outcome outcome{{}, {{LogLine::Level::info, "magic_link: sign-out"}}};
  const std::pair<const std::string*, SessionMode> sessions[] = {
      {&cookies.session_jwt, SessionMode::session}, {&cookies.refresh_token, SessionMode::cookie}};
  for (size_t i = 0; i < std::size(sessions); ++i) {
    const auto& [value, mode] = sessions[i];
    if (value->empty()) continue;
    try {
      backends.directus.logout(std::string(kDirectusCookies[i]) + "=" + *value, mode);
    } catch (const DirectusRefused& error) {  // no such session left: signed out all the same
      outcome.log.push_back(
          {LogLine::Level::info, std::string("magic_link: sign-out: Directus: ") + error.what()});
    } catch (const BackendError& error) {
      return unavailable(error.failure(), "sign-out");
    }
  }
  // Directus' own clearing lines keep a Max-Age; these expire both cookies at once.
  for (const char* name : kDirectusCookies) {
    response.headers.emplace_back(
        "Set-Cookie",
        relay_cookie(settings, std::string(name) + "=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"));
  }
  outcome.response = std::move(response);
  return outcome;
}

}  // namespace magic_link
