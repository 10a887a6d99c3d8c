#include "core/render/pages.h"

#include <algorithm>
#include <cctype>

#include "core/crypto/binding.h"

namespace magic_link {
namespace {

// No script at all; inline styles only; forms post back to this site.
constexpr std::string_view kSecurityPolicy =
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'";

Response page(const Settings& settings, const Templates& templates, int status,
              TemplateValues values) {
  values.emplace("site_name", settings.site_name);
  Response response{status, "text/html; charset=utf-8", templates.render("page.html", values), {}};
  response.headers = {{"Cache-Control", "no-store"},
                      {"Content-Security-Policy", std::string(kSecurityPolicy)},
                      // Never the path: the verify page's URL holds a live token. Not
                      // no-referrer either: browsers then send `Origin: null` with the form
                      // POST, and the same-origin check needs the real one.
                      {"Referrer-Policy", "strict-origin"},
                      {"X-Frame-Options", "DENY"},
                      {"X-Content-Type-Options", "nosniff"}};
  return response;
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

}  // namespace

Response confirm_page(const Settings& settings, const Templates& templates, const LinkPreview& link,
                      std::string_view token, std::string_view action, Choice choice,
                      std::string_view otp_error) {
  TemplateValues values = {{"title", "Sign in to " + settings.site_name},
                           {"confirm", "yes"},
                           {"email", link.email},
                           {"token", std::string(token)},
                           {"action", std::string(action)}};
  if (link.minutes_left > 0) values.emplace("minutes_left", std::to_string(link.minutes_left));
  if (choice != Choice::approve) {
    values.emplace("sign_in", choice == Choice::sign_in ? "Sign in" : "Sign in here");
  }
  if (choice != Choice::sign_in) {
    values.emplace("approve", "yes");
    values.emplace("other_device", "yes");
    if (!link.device.browser.empty() || !link.device.os.empty()) {
      values.emplace("device", (link.device.browser.empty() ? "a browser" : link.device.browser) +
                                   (link.device.os.empty() ? "" : " on " + link.device.os));
    }
    if (!link.device.network.empty()) values.emplace("network", link.device.network);
    if (!link.device.language.empty()) values.emplace("language", link.device.language);
    if (!link.device.browser.empty() || !link.device.network.empty()) {
      values.emplace("asked", link.minutes_since_request <= 0 ? "just now"
                              : link.minutes_since_request == 1
                                  ? "1 minute ago"
                                  : std::to_string(link.minutes_since_request) + " minutes ago");
    }
  }
  if (link.second_factor == SecondFactor::otp) values.emplace("otp", "yes");
  if (!otp_error.empty()) values.emplace("otp_error", std::string(otp_error));
  return page(settings, templates, otp_error.empty() ? 200 : 401, std::move(values));
}

Response tfa_setup_page(const Settings& settings, const Templates& templates) {
  const std::string base = settings.public_url.path == "/" ? "" : settings.public_url.path;
  return page(settings, templates, 403,
              {{"title", "Set up two-factor authentication"},
               {"notice", "yes"},
               {"heading", "Set up two-factor authentication first"},
               {"message",
                "Your account requires two-factor authentication, which is not set up yet. Sign "
                "in to the Data Studio to set it up, then ask for a new link."},
               {"link_url", settings.public_url.origin() + base + "/admin/tfa-setup"},
               {"link_text", "Set up two-factor authentication"}});
}

Response request_page(const Settings& settings, const Templates& templates, std::string_view action,
                      std::string_view return_to) {
  TemplateValues values = {{"title", "Sign in"},
                           {"notice", "yes"},
                           {"heading", "Sign in to " + settings.site_name},
                           {"message",
                            "Enter your email address and we will send you a link that signs "
                            "you in. No password needed."},
                           {"request_form", "yes"},
                           {"action", std::string(action)}};
  if (!return_to.empty()) values.emplace("return_to", std::string(return_to));
  return page(settings, templates, 200, std::move(values));
}

Response account_page(const Settings& settings, const Templates& templates, std::string_view email,
                      std::string_view user_id, std::string_view sign_out_action) {
  return page(settings, templates, 200,
              {{"title", "Signed in"},
               {"signed_in", "yes"},
               {"email", std::string(email)},
               {"user_id", std::string(user_id)},
               {"sign_out_action", std::string(sign_out_action)}});
}

Response signed_out_page(const Settings& settings, const Templates& templates,
                         std::string_view login_path) {
  return page(
      settings, templates, 200,
      {{"title", "Not signed in"}, {"signed_out", "yes"}, {"login_path", std::string(login_path)}});
}

Response notice_page(const Settings& settings, const Templates& templates, int status,
                     std::string_view heading, std::string_view message, std::string_view action) {
  return page(settings, templates, status,
              {{"title", std::string(heading)},
               {"notice", "yes"},
               {"heading", std::string(heading)},
               {"message", std::string(message)},
               {"request_form", "yes"},
               {"action", std::string(action)}});
}

Response invalid_link_page(const Settings& settings, const Templates& templates,
                           std::string_view action) {
  return notice_page(settings, templates, 401, "This link cannot be used",
                     "It has expired, was already used, or a newer link replaced it. "
                     "Ask for a new one below.",
                     action);
}

Response redemption_page(const Settings& settings, const Templates& templates,
                         const Redemption& redemption, std::string_view token,
                         std::string_view action) {
  LinkPreview with_otp;
  with_otp.email = redemption.link.email;
  with_otp.second_factor = SecondFactor::otp;
  const Choice again = redemption.approving ? Choice::approve : Choice::sign_in;
  switch (redemption.status) {
    case Redemption::Status::otp_required:
      return confirm_page(settings, templates, with_otp, token, action, again,
                          "Enter the one-time password from your authenticator app.");
    case Redemption::Status::otp_invalid:
      return confirm_page(settings, templates, with_otp, token, action, again,
                          "That code is not right or was already used. Enter the current one.");
    case Redemption::Status::other_device: {
      LinkPreview elsewhere;
      elsewhere.email = redemption.link.email;
      return confirm_page(settings, templates, elsewhere, token, action, Choice::approve);
    }
    case Redemption::Status::approved:
      return page(settings, templates, 200,
                  {{"title", "Sign-in approved"},
                   {"notice", "yes"},
                   {"heading", "Sign-in approved"},
                   {"message",
                    "The browser that asked for this link signs in within a few seconds. You "
                    "can close this page."}});
    case Redemption::Status::waiting:  // waiting_answer shows the waiting page
      break;
    case Redemption::Status::tfa_setup_required:
      return tfa_setup_page(settings, templates);
    case Redemption::Status::redeemed: {
      const std::string& target = redemption.link.after_login_url.empty()
                                      ? settings.after_login_url
                                      : redemption.link.after_login_url;
      Response response{303,
                        "text/plain; charset=utf-8",
                        "",
                        {{"Location", target}, {"Cache-Control", "no-store"}}};
      for (const auto& cookie : redemption.session.set_cookies) {
        response.headers.emplace_back("Set-Cookie", relay_cookie(settings, cookie));
      }
      if (!redemption.binding.empty()) {
        response.headers.emplace_back("Set-Cookie", binding_cookie(settings, redemption.binding));
      }
      return response;
    }
    case Redemption::Status::invalid:
      return invalid_link_page(settings, templates, action);
    case Redemption::Status::limited: {
      Response response = notice_page(settings, templates, 429, "Too many attempts",
                                      "Please wait a while before trying again.", action);
      response.headers.emplace_back("Retry-After", std::to_string(redemption.retry_after.count()));
      return response;
    }
    case Redemption::Status::user_suspended:
      return notice_page(settings, templates, 403, "Your account is suspended",
                         "This site's Directus has suspended your account, so it cannot sign you "
                         "in. Please contact the site's administrator.",
                         action);
    case Redemption::Status::licence_locked:
      return notice_page(settings, templates, 503, "Sign-in is unavailable",
                         "This site's Directus has more users with app access than its licence "
                         "allows, so it signs nobody in for now. Please tell the site's "
                         "administrator; your link keeps working until it expires.",
                         action);
    case Redemption::Status::unavailable:
      break;
  }
  // A backend failure is answered by unavailable_response, like every other.
  return unavailable_response(redemption.failure.http_status(), Audience::browser, settings,
                              templates, action);
}

Response unavailable_response(int status, Audience audience, const Settings& settings,
                              const Templates& templates, std::string_view action) {
  Response response =
      audience == Audience::api
          ? json_unavailable(status)
          : notice_page(settings, templates, status, "Signing in is unavailable right now",
                        status == 500 ? "Something went wrong. Please try again in a moment."
                                      : "Nothing was lost: please try again in a moment.",
                        action);
  if (audience == Audience::browser && status != 500)
    response.headers.emplace_back("Retry-After", "1");
  return response;
}

Response check_email_page(const Settings& settings, const Templates& templates) {
  return page(settings, templates, 200,
              {{"title", "Check your email"},
               {"notice", "yes"},
               {"heading", "Check your email"},
               {"message",
                "If your address is registered, a sign-in link is on its way. It works "
                "once and expires in " +
                    std::to_string(settings.expiration_minutes) + " minutes."}});
}

Response waiting_page(const Settings& settings, const Templates& templates,
                      std::string_view poll_path) {
  return page(settings, templates, 200,
              {{"title", "Check your email"},
               {"notice", "yes"},
               {"refresh", "3;url=" + std::string(poll_path)},
               {"heading", "Check your email"},
               {"message",
                "If your address is registered, a sign-in link is on its way. Open it here, or "
                "on another device and approve this sign-in there: this page then signs you "
                "in by itself. The link works once and expires in " +
                    std::to_string(settings.expiration_minutes) + " minutes."}});
}

Response wait_expired_page(const Settings& settings, const Templates& templates,
                           std::string_view action) {
  return notice_page(settings, templates, 200, "This sign-in request has expired",
                     "Its link no longer works. Ask for a new one below.", action);
}

Response link_request_page(const Settings& settings, const Templates& templates,
                           const Response& api_answer, std::string_view action,
                           std::string_view poll_path) {
  switch (api_answer.status) {
    case 200: {
      Response answer = poll_path.empty() ? check_email_page(settings, templates)
                                          : waiting_page(settings, templates, poll_path);
      for (const auto& header : api_answer.headers) {
        if (header.first == "Set-Cookie") answer.headers.push_back(header);
      }
      return answer;
    }
    case 400:
      return notice_page(settings, templates, 400, "Please check the address",
                         "Please provide a valid email address.", action);
    case 429: {
      Response response = notice_page(settings, templates, 429, "Too many requests",
                                      "Please wait a while before asking again.", action);
      for (const auto& header : api_answer.headers) {
        if (header.first == "Retry-After") response.headers.push_back(header);
      }
      return response;
    }
    default:  // backend failures are answered by unavailable_response before this
      return unavailable_response(api_answer.status, Audience::browser, settings, templates,
                                  action);
  }
}

bool same_origin(const Settings& settings, std::string_view origin, std::string_view referer) {
  const std::string expected = settings.public_url.origin();
  if (!origin.empty()) return origin == expected;
  return starts_with_ignoring_case(referer, expected + "/");
}

// Whether one of the cookie's attributes (after the first ';') is exactly Secure.
bool has_secure_attribute(std::string_view cookie) {
  for (auto semicolon = cookie.find(';'); semicolon != std::string_view::npos;
       semicolon = cookie.find(';', semicolon + 1)) {
    std::string_view attribute = cookie.substr(semicolon + 1);
    attribute = attribute.substr(0, attribute.find(';'));
    while (!attribute.empty() && attribute.front() == ' ') attribute.remove_prefix(1);
    while (!attribute.empty() && attribute.back() == ' ') attribute.remove_suffix(1);
    if (attribute.size() == 6 && starts_with_ignoring_case(attribute, "secure")) return true;
  }
  return false;
}

std::string relay_cookie(const Settings& settings, std::string_view set_cookie) {
  std::string cookie(set_cookie);
  if (settings.public_url.scheme == "https" && !has_secure_attribute(cookie)) cookie += "; Secure";
  return cookie;
}

std::string binding_cookie(const Settings& settings, std::string_view value) {
  return relay_cookie(
      settings, std::string(kBindingCookie) + "=" + std::string(value) + "; Path=/; Max-Age=" +
                    std::to_string(kBindingLifetime.count()) + "; HttpOnly; SameSite=Lax");
}

}  // namespace magic_link
