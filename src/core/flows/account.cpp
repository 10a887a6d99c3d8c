#include "core/flows/account.h"

#include "core/ports/backend_error.h"
#include "core/render/pages.h"

namespace magic_link {

Outcome signed_in_page(const Settings& settings, const Templates& templates,
                       const std::string& refresh_token, const std::string& login_path,
                       Backends backends) {
  if (refresh_token.empty()) return {signed_out_page(settings, templates, login_path), {}};
  try {
    const DirectusSession session = backends.directus.refresh({refresh_token, {}}, SessionMode::cookie);
    const std::string user_id = backends.directus.current_user_id(session.access_token);
    const std::string email = backends.store.user_email(user_id).value_or(user_id);
    Response page = account_page(settings, templates, email, user_id);
    for (const auto& cookie : session.set_cookies) {
      page.headers.emplace_back("Set-Cookie", relay_cookie(settings, cookie));
    }
    return {std::move(page), {}};
  } catch (const DirectusRefused&) {
    return {signed_out_page(settings, templates, login_path), {}};
  } catch (const BackendError& error) {
    return unavailable(error.failure(), "account page");
  }
}

}  // namespace magic_link
