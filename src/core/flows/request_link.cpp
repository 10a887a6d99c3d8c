#include "core/flows/request_link.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <ctime>
#include <numeric>

#include "core/crypto/token.h"
#include "core/input/email.h"
#include "core/input/redirect.h"
#include "core/metrics/metrics.h"
#include "core/render/mail.h"
#include "core/render/pages.h"

namespace magic_link {
namespace {

constexpr std::string_view kAccepted =
    "If your email exists in our system, a magic link has been sent";
constexpr std::string_view kInvalidEmail = "Please provide a valid email address";
constexpr std::string_view kInvalidRedirect = "The redirectUrl is not allowed";
constexpr std::string_view kInvalidBody = "The request body is not valid JSON";
constexpr std::string_view kInvalidChallenge =
    "The code_challenge must be an S256 challenge (43 base64url characters)";

Response uniform_answer() {
  const nlohmann::ordered_json body = {{"success", true}, {"message", kAccepted}};
  return {200, "application/json", body.dump(), {}};
}

// Whether the request comes from the address's owner: a browser that signed in as it (its
// binding's owner proof) or holds a live Directus session of it (a session cookie signed by
// Directus, or a refresh cookie, naming a row that is still there).
bool from_owner(const Settings& settings, const LinkRequest& request, Backends backends) {
  const std::time_t now = std::time(nullptr);
  const Client& client = request.client;
  if (client.binding) {
    const auto secrets = accepted_secrets(settings);
    if (std::any_of(secrets.begin(), secrets.end(), [&](std::string_view secret) {
          return proves_owner(secret, *client.binding, request.email, now);
        })) {
      return true;
    }
  }
  const auto named = named_session(settings, client.directus_cookies, now);
  if (!named) return false;
  const auto owner = backends.store.find_session(named->row_token);
  return owner && owner->active && normalize_email(owner->email) == request.email;
}

// The owner's requests are counted apart (per address, not per network), so strangers spending
// the address's allowance cannot lock its owner out.
LinkRequestLimits limits_of(const Settings& settings, const LinkRequest& request, bool owner) {
  return {owner ? limit_key(settings, "owner-client", request.email)
                : limit_key(settings, "client", request.client.ip),
          settings.max_requests_per_ip_per_hour,
          limit_key(settings, owner ? "owner" : "email", request.email),
          settings.max_requests_per_email_per_hour};
}

Outcome client_refused(const Settings& settings, const LinkRequest& request, bool owner,
                       LimitVerdict verdict) {
  metrics::count(metrics::LinkRequest::client_limited);
  Outcome refused{
      json_too_many(verdict.retry_after.count()),
      {{LogLine::Level::warn, "magic_link: generate refused: per-client limit reached"}}};
  if (!owner) {
    refused.refused_client = refusal_key(settings, request.client.ip);
    refused.refused_for = verdict.retry_after;
  }
  return refused;
}

// The link, its sealed mail order and its row are made whatever the address turns out to be;
// who it belongs to is looked at after the answer (process_link_requests), so answer times say
// nothing about accounts.
LinkRequestRecord record_of(const Settings& settings, const Sealer& sealer,
                            const LinkRequest& request, bool email_allowed) {
  const std::string token = new_token();
  LinkRequestRecord record;
  record.email = request.email;
  record.client_ip = request.client.ip;
  record.user_agent = request.client.user_agent;
  record.token_hash = link_hash(settings.secret, token, request.code_challenge);
  record.expiration_minutes = settings.expiration_minutes;
  record.allowed_roles = settings.allowed_roles;
  record.disallowed_roles = settings.disallowed_roles;
  record.allow_admin = settings.allow_admin;
  record.allow_sso_users = settings.allow_sso_users;
  record.email_rate_limited = !email_allowed;
  record.after_login_url = request.after_login_url;
  record.sealed_mail = sealer.seal(serialize(
      link_mail_order(settings, request.email, link_with_token(request.link_base, token))));
  if (!request.binding_id.empty()) {
    record.device_hash = binding_hash(settings.secret, request.binding_id);
    record.device = coarse_fingerprint(request.client.user_agent, request.client.accept_language,
                                       request.client.ip);
  }
  return record;
}

Outcome accepted(const Settings& settings, const LinkRequest& request, bool owner) {
  Response answer = uniform_answer();
  if (request.new_binding) {
    const std::string id = request.binding_id.empty() ? new_binding_id() : request.binding_id;
    answer.headers.emplace_back(
        "Set-Cookie", binding_cookie(settings, binding_value(settings.secret, id, "", 0)));
  }
  return {std::move(answer),
          {{LogLine::Level::info, std::string("magic_link: generate: request accepted") +
                                      (owner ? " (from the owner's browser)" : "")}},
          true};
}

}  // namespace

std::string limit_key(const Settings& settings, std::string_view kind, std::string_view value) {
  return "magic_link:" + std::string(kind) + ":" +
         keyed_hash(settings.secret, std::string(kind) + ":" + std::string(value)).substr(0, 32);
}

std::string refusal_key(const Settings& settings, std::string_view client_ip) {
  return limit_key(settings, "client", client_ip) + ":" +
         std::to_string(settings.max_requests_per_ip_per_hour);
}

std::string waiting_path(std::string_view action, std::time_t deadline) {
  return std::string(action) + "?wait=" + std::to_string(deadline);
}

std::variant<Outcome, LinkRequest> read_link_request(const Settings& settings, BodyFormat format,
                                                     std::string_view body, Client client,
                                                     RequestSource source) {
  const auto refuse = [](std::string_view message, std::string_view why) {
    return Outcome{json_failure(400, message),
                   {{LogLine::Level::info, "magic_link: generate refused: " + std::string(why)}}};
  };
  const auto fields = parse_link_request(format, body);
  if (!fields) return refuse(kInvalidBody, "body is not a JSON object");
  if (fields->email.state != Field::State::text) return refuse(kInvalidEmail, "no email string");
  auto email = normalize_email(fields->email.value);
  if (!email) return refuse(kInvalidEmail, "malformed email");

  std::string link_base = settings.public_url.origin() +
                          (settings.public_url.path == "/" ? "" : settings.public_url.path) +
                          settings.verify_endpoint;
  if (fields->redirect_url.state == Field::State::invalid) {
    return refuse(kInvalidRedirect, "redirectUrl is not a string");
  }
  if (fields->redirect_url.state == Field::State::text) {
    auto allowed = allowed_redirect(fields->redirect_url.value, settings);
    if (!allowed) return refuse(kInvalidRedirect, "redirectUrl not on the allow-list");
    link_base = std::move(*allowed);
  }
  // PKCE: S256 only ("plain" would put the verifier itself in the request).
  const Field& challenge = fields->code_challenge;
  const Field& method = fields->code_challenge_method;
  if (challenge.state == Field::State::invalid || method.state == Field::State::invalid ||
      (challenge.state == Field::State::text && !looks_like_code_challenge(challenge.value)) ||
      (method.state == Field::State::text &&
       (method.value != "S256" || challenge.state != Field::State::text))) {
    return refuse(kInvalidChallenge, "malformed PKCE code_challenge");
  }
  // A return path that is not safe is dropped, not refused: the person still gets a link.
  std::string after_login_url = settings.after_login_url;
  if (fields->return_to.state == Field::State::text) {
    if (auto path = return_target(fields->return_to.value)) {
      after_login_url = settings.public_url.origin() + *path;
    }
  }
  LinkRequest request{std::move(*email),
                      std::move(link_base),
                      std::move(client),
                      std::move(after_login_url),
                      challenge.value,
                      {},
                      false};
  if (settings.device_binding != DeviceBinding::off) {
    const auto& binding = request.client.binding;
    if (binding) {
      request.binding_id = binding->id;
    } else if (source == RequestSource::page) {
      request.binding_id = new_binding_id();
      request.new_binding = true;
    } else {
      request.new_binding = request.client.browser;  // for its next request
    }
  }
  return request;
}

std::vector<Outcome> request_links(const Sealer& sealer, const std::vector<LinkRequestJob>& jobs,
                                   Backends backends) {
  std::vector<Outcome> outcomes(jobs.size());
  std::vector<size_t> answered_by_failure(jobs.size());  // every job until the limits are known
  std::iota(answered_by_failure.begin(), answered_by_failure.end(), 0);
  try {
    std::vector<bool> owners;
    std::vector<LinkRequestLimits> limits;
    for (const auto& [settings, request] : jobs) {
      owners.push_back(from_owner(*settings, request, backends));
      limits.push_back(limits_of(*settings, request, owners.back()));
    }
    const std::vector<LinkRequestVerdict> verdicts = backends.limiter.count_link_requests(limits);
    answered_by_failure.clear();
    std::vector<LinkRequestRecord> records;
    for (size_t i = 0; i < jobs.size(); ++i) {
      const auto& [settings, request] = jobs[i];
      if (!verdicts[i].client.allowed) {
        outcomes[i] = client_refused(*settings, request, owners[i], verdicts[i].client);
        continue;
      }
      records.push_back(record_of(*settings, sealer, request, verdicts[i].email.allowed));
      outcomes[i] = accepted(*settings, request, owners[i]);
      answered_by_failure.push_back(i);
    }
    if (!records.empty()) backends.store.enqueue_link_requests(records);
  } catch (const BackendError& error) {
    for (const size_t i : answered_by_failure) {
      metrics::count(metrics::LinkRequest::unavailable);
      outcomes[i] = unavailable(error.failure(), "generate");
    }
  }
  return outcomes;
}

}  // namespace magic_link
