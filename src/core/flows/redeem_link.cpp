#include "core/flows/redeem_link.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <ctime>
#include <utility>

#include "core/crypto/binding.h"
#include "core/crypto/token.h"
#include "core/input/email.h"
#include "core/metrics/metrics.h"
#include "core/ports/backend_error.h"
#include "core/crypto/totp.h"
#include "core/render/pages.h"

namespace magic_link {
namespace {

constexpr std::string_view kInvalid = "Invalid or expired link. Please request a new one.";
// A one-time password is good for three 30 s steps; remembered a little longer than that.
constexpr std::chrono::seconds kOtpMemory{120};

// Whether `hashes` holds `stored`, compared in constant time (the index found the row by hash).
bool holds(const std::vector<std::string>& hashes, const std::string& stored) {
  return std::any_of(hashes.begin(), hashes.end(),
                     [&](const std::string& hash) { return same_secret(hash, stored); });
}

// The visitor's binding under each accepted secret; none without a binding cookie.
std::vector<std::string> device_hashes(const Settings& settings, const Client& client) {
  if (!client.binding) return {};
  return under_each_secret(
      settings, [&](std::string_view secret) { return binding_hash(secret, client.binding->id); });
}

// Counted once, where a redemption becomes an answer.
void count(Redemption::Status status) {
  using Metric = metrics::Redemption;
  switch (status) {
    case Redemption::Status::redeemed:
      return metrics::count(Metric::redeemed);
    case Redemption::Status::invalid:
      return metrics::count(Metric::invalid);
    case Redemption::Status::limited:
      return metrics::count(Metric::limited);
    case Redemption::Status::unavailable:
      return metrics::count(Metric::unavailable);
    case Redemption::Status::otp_required:
      return metrics::count(Metric::otp_required);
    case Redemption::Status::otp_invalid:
      return metrics::count(Metric::otp_invalid);
    case Redemption::Status::tfa_setup_required:
      return metrics::count(Metric::tfa_setup_required);
    case Redemption::Status::user_suspended:
      return metrics::count(Metric::user_suspended);
    case Redemption::Status::licence_locked:
      return metrics::count(Metric::licence_locked);
    case Redemption::Status::other_device:
      return metrics::count(Metric::other_device);
    case Redemption::Status::approved:
      return metrics::count(Metric::approved);
    case Redemption::Status::waiting:
      return metrics::count(Metric::waiting);
  }
}

Redemption refused(Redemption::Status status, std::string why) {
  Redemption redemption;
  redemption.status = status;
  redemption.log.push_back({LogLine::Level::info, "magic_link: verify refused: " + why});
  return redemption;
}

Redemption failed(const BackendError& error) {
  Redemption redemption;
  redemption.status = Redemption::Status::unavailable;
  redemption.failure = error.failure();
  redemption.log.push_back(
      {LogLine::Level::error, error.failure().log_line("verify", "; the link stays usable")});
  return redemption;
}

nlohmann::ordered_json name_or_null(const std::string& name) {
  return name.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(name);
}

// Directus said no to a session for a claimed (and released) link. Its reasons that are nobody's
// fault at the client are named to the person and, for the operator, in the error log; anything
// else counts as a failed redemption.
template <typename CountFailure>
Redemption directus_refusal(const DirectusRefused& error, SessionMode mode,
                            CountFailure count_failure) {
  const std::string why = std::string("Directus refused the session: ") + error.what();
  if (error.code() == "RESOURCE_RESTRICTED") {
    Redemption locked = refused(Redemption::Status::licence_locked, why);
    locked.log.back() = {
        LogLine::Level::error,
        "magic_link: verify: Directus refused the session: its licence is locked "
        "(more users with app access than its seats allow); the link stays usable"};
    return locked;
  }
  if (error.code() == "USER_SUSPENDED") return refused(Redemption::Status::user_suspended, why);
  Redemption failed = count_failure(why);
  if (mode == SessionMode::session) {
    // A Directus before 10.10 has no session mode: it looks for a refresh token, finds none
    // and answers INVALID_PAYLOAD; a wrong secret is answered INVALID_TOKEN (10.10 to 12).
    failed.log.back() = {LogLine::Level::error,
                         "magic_link: verify: " + why +
                             (error.code() == "INVALID_PAYLOAD"
                                  ? "; session mode needs Directus 10.10 or later (this Directus "
                                    "has none): use magic_link_session_mode cookie"
                                  : "; check that magic_link_directus_secret is Directus' SECRET")};
  }
  return failed;
}

// What the claim may do with a link bound to another browser than the claimant.
LinkClaim::Action claim_action(const Settings& settings, const RedeemRequest& request,
                               SessionMode mode) {
  if (request.approve) return LinkClaim::Action::approve;
  if (settings.device_binding == DeviceBinding::off) return LinkClaim::Action::sign_in;
  // The API has no page to prompt on; strict leaves another browser only the approval.
  if (mode == SessionMode::json || settings.device_binding == DeviceBinding::strict) {
    return LinkClaim::Action::same_device;
  }
  return LinkClaim::Action::sign_in;
}

LinkClaim new_claim(const Settings& settings, const Client& client, std::string origin) {
  LinkClaim claim;
  claim.device_hashes = device_hashes(settings, client);
  claim.client_ip = client.ip;
  claim.user_agent = client.user_agent;
  claim.origin = std::move(origin);
  claim.allowed_roles = settings.allowed_roles;
  claim.disallowed_roles = settings.disallowed_roles;
  claim.allow_admin = settings.allow_admin;
  claim.session_token = random_text(48);
  return claim;
}

// Turns a claimed link into a Directus session; when Directus does not make one, the claim is
// released and the link works again. A browser that signed in gets an owner proof in its
// binding cookie (an API client only when it sent its binding).
template <typename RefuseInvalid>
Redemption open_session(const Settings& settings, const LinkClaim& claim, ClaimedLink link,
                        SessionMode mode, const Client& client, Backends backends,
                        RefuseInvalid refuse_invalid) {
  try {
    Redemption redeemed;
    redeemed.session = backends.directus.refresh({claim.session_token, link.user_id}, mode);
    redeemed.status = Redemption::Status::redeemed;
    if (settings.device_binding != DeviceBinding::off &&
        (client.binding || mode != SessionMode::json)) {
      redeemed.binding =
          binding_value(settings.secret, client.binding ? client.binding->id : new_binding_id(),
                        normalize_email(link.email).value_or(link.email), std::time(nullptr));
    }
    redeemed.link = std::move(link);
    redeemed.log.push_back({LogLine::Level::info, "magic_link: verify: session created for link " +
                                                      std::to_string(redeemed.link.link_id)});
    return redeemed;
  } catch (const DirectusRefused& error) {
    backends.store.release_claim(link.link_id, claim.session_token);
    return directus_refusal(error, mode, refuse_invalid);
  } catch (const BackendError& error) {
    backends.store.release_claim(link.link_id, claim.session_token);
    return failed(error);
  }
}

}  // namespace

Redemption redeem_link(const Settings& settings, const RedeemRequest& request, SessionMode mode,
                       Backends backends) {
  const std::string client_key = limit_key(settings, "verify", request.client.ip);
  try {
    const LimitVerdict allowed = backends.limiter.check_redemptions(
        client_key, settings.max_failed_verifies_per_ip_per_hour);
    if (!allowed.allowed) {
      Redemption limited = refused(Redemption::Status::limited, "too many failures from client");
      limited.retry_after = allowed.retry_after;
      return limited;
    }
    const auto count_failure = [&](Redemption::Status status, std::string why) {
      backends.limiter.count_failed_redemption(client_key);
      return refused(status, std::move(why));
    };
    if (!looks_like_token(request.token)) {
      return count_failure(Redemption::Status::invalid, "malformed token");
    }
    const std::string& verifier = request.code_verifier;
    if (!verifier.empty() && !looks_like_code_verifier(verifier)) {
      return count_failure(Redemption::Status::invalid, "malformed PKCE code_verifier");
    }

    // A link asked for with a PKCE challenge is found only with its verifier.
    const std::string challenge = verifier.empty() ? "" : pkce_challenge(verifier);
    LinkClaim claim = new_claim(settings, request.client, request.origin);
    claim.action = claim_action(settings, request, mode);
    claim.token_hashes = under_each_secret(settings, [&](std::string_view secret) {
      return link_hash(secret, request.token, challenge);
    });
    auto link = backends.store.claim_link(claim);
    // The index found it by hash; the constant-time comparison is defence in depth.
    if (!link || !holds(claim.token_hashes, link->stored_hash)) {
      return count_failure(Redemption::Status::invalid,
                           "no usable link (unknown, expired, used, superseded or user refused)");
    }
    if (link->state == ClaimedLink::State::other_device) {
      Redemption elsewhere =
          refused(Redemption::Status::other_device, "link bound to another browser");
      elsewhere.link = std::move(*link);
      return elsewhere;
    }
    if (link->state == ClaimedLink::State::otp_required) {
      // Nothing is spent until the code is right; a wrong one counts like a wrong token. The
      // answer names whose link it is, so the page can ask again.
      const std::string secret = std::exchange(link->tfa_secret, {});
      const auto ask_again = [&](Redemption redemption) {
        redemption.link = *link;
        redemption.approving = request.approve;
        return redemption;
      };
      if (request.otp.empty()) {
        return ask_again(refused(Redemption::Status::otp_required, "one-time password required"));
      }
      if (!totp_matches(secret, request.otp, std::time(nullptr))) {
        return ask_again(count_failure(Redemption::Status::otp_invalid, "wrong one-time password"));
      }
      if (!backends.limiter.first_use(limit_key(settings, "otp", link->user_id + ":" + request.otp),
                                      kOtpMemory)) {
        return ask_again(
            count_failure(Redemption::Status::otp_invalid, "one-time password already used"));
      }
      claim.verified_tfa_secret_sha256 = sha256_hex(secret);
      link = backends.store.claim_link(claim);
      if (!link || (link->state != ClaimedLink::State::claimed &&
                    link->state != ClaimedLink::State::approved)) {
        return count_failure(Redemption::Status::invalid, "link no longer usable after 2FA");
      }
    }
    if (link->state == ClaimedLink::State::tfa_setup_required) {
      return refused(Redemption::Status::tfa_setup_required,
                     "2FA is enforced for the user and not set up");
    }
    if (link->state == ClaimedLink::State::approved) {
      Redemption approved;
      approved.status = Redemption::Status::approved;
      approved.link = std::move(*link);
      approved.log.push_back(
          {LogLine::Level::info, "magic_link: verify: another browser approved link " +
                                     std::to_string(approved.link.link_id)});
      return approved;
    }
    return open_session(settings, claim, std::move(*link), mode, request.client, backends,
                        [&](std::string why) {
                          return count_failure(Redemption::Status::invalid, std::move(why));
                        });
  } catch (const BackendError& error) {
    return failed(error);
  }
}

Redemption await_approval(const Settings& settings, const Client& client, Backends backends) try {
  Redemption waiting;
  waiting.status = Redemption::Status::waiting;
  if (!client.binding || settings.device_binding == DeviceBinding::off) return waiting;
  LinkClaim claim = new_claim(settings, client, {});
  claim.action = LinkClaim::Action::approved;
  auto link = backends.store.claim_link(claim);
  if (!link || link->state != ClaimedLink::State::claimed) return waiting;
  return open_session(
      settings, claim, std::move(*link), browser_session_mode(settings), client, backends,
      [](std::string why) { return refused(Redemption::Status::invalid, std::move(why)); });
} catch (const BackendError& error) {
  return failed(error);
}

SessionMode browser_session_mode(const Settings& settings) {
  return settings.browser_session == BrowserSession::session ? SessionMode::session
                                                             : SessionMode::cookie;
}

Outcome api_answer(const Settings& settings, Redemption redemption) {
  count(redemption.status);
  Outcome outcome{{}, std::move(redemption.log)};
  switch (redemption.status) {
    case Redemption::Status::redeemed: {
      const nlohmann::ordered_json body = {
          {"success", true},
          {"message", "Authentication successful"},
          {"data",
           {{"user",
             {{"id", redemption.link.user_id},
              {"email", redemption.link.email},
              {"first_name", name_or_null(redemption.link.first_name)},
              {"last_name", name_or_null(redemption.link.last_name)}}},
            {"access_token", redemption.session.access_token},
            {"refresh_token", redemption.session.refresh_token},
            {"expires", redemption.session.expires_ms}}}};
      outcome.response = {200, "application/json", body.dump(), {{"Cache-Control", "no-store"}}};
      if (!redemption.binding.empty()) {
        outcome.response.headers.emplace_back("Set-Cookie",
                                              binding_cookie(settings, redemption.binding));
      }
      break;
    }
    case Redemption::Status::invalid:
    case Redemption::Status::approved:  // pages only
    case Redemption::Status::waiting:
      outcome.response = json_failure(401, kInvalid);
      break;
    case Redemption::Status::other_device:
      outcome.response = json_failure(
          403,
          "This link was asked for in another browser: open it there, or approve it from "
          "the sign-in page",
          "DEVICE_MISMATCH");
      break;
    case Redemption::Status::otp_required:
      outcome.response = json_failure(401, "A one-time password is required", "OTP_REQUIRED");
      break;
    case Redemption::Status::otp_invalid:
      outcome.response = json_failure(401, "Invalid one-time password", "INVALID_OTP");
      break;
    case Redemption::Status::tfa_setup_required:
      outcome.response = json_failure(
          403, "Two-factor authentication must be set up in Directus first", "TFA_SETUP_REQUIRED");
      break;
    case Redemption::Status::limited:
      outcome.response = json_too_many(redemption.retry_after.count());
      break;
    case Redemption::Status::user_suspended:
      outcome.response = json_failure(403, "Your account is suspended", "USER_SUSPENDED");
      break;
    case Redemption::Status::licence_locked:
      outcome.response =
          json_failure(503, "Sign-in is unavailable: the site's Directus licence is locked",
                       "RESOURCE_RESTRICTED");
      break;
    case Redemption::Status::unavailable:
      outcome.failure = redemption.failure;
      break;
  }
  return outcome;
}

Outcome page_answer(const Settings& settings, const Templates& templates, Redemption redemption,
                    const std::string& token, const std::string& action) {
  count(redemption.status);
  Outcome outcome{{}, std::move(redemption.log)};
  if (redemption.status == Redemption::Status::unavailable) {
    outcome.failure = redemption.failure;
  } else {
    outcome.response = redemption_page(settings, templates, redemption, token, action);
  }
  return outcome;
}

Outcome waiting_answer(const Settings& settings, const Templates& templates, Redemption redemption,
                       const std::string& poll_path, const std::string& action) {
  if (redemption.status != Redemption::Status::waiting) {
    return page_answer(settings, templates, std::move(redemption), "", action);
  }
  count(redemption.status);
  return {waiting_page(settings, templates, poll_path), std::move(redemption.log)};
}

Outcome show_link(const Settings& settings, const Templates& templates, const std::string& token,
                  const Client& client, const std::string& action, Backends backends) try {
  const auto link =
      looks_like_token(token)
          ? backends.store.preview_link(under_each_secret(
                settings, [&](std::string_view secret) { return keyed_hash(secret, token); }))
          : std::nullopt;
  if (!link) {
    return {invalid_link_page(settings, templates, action),
            {{LogLine::Level::info, "magic_link: verify page: no usable link"}}};
  }
  if (link->second_factor == SecondFactor::setup_required) {
    return {tfa_setup_page(settings, templates),
            {{LogLine::Level::info, "magic_link: verify page: 2FA enforced, not set up"}}};
  }
  const bool elsewhere = settings.device_binding != DeviceBinding::off &&
                         !link->device_hash.empty() &&
                         !holds(device_hashes(settings, client), link->device_hash);
  const Choice choice = !elsewhere ? Choice::sign_in
                        : settings.device_binding == DeviceBinding::strict
                            ? Choice::approve
                            : Choice::sign_in_or_approve;
  return {confirm_page(settings, templates, *link, token, action, choice), {}};
} catch (const BackendError& error) {
  return unavailable(error.failure(), "verify page");
}

}  // namespace magic_link
