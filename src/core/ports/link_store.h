// Where links, their audit trail and the mail outbox live: the extension's table in the same
// PostgreSQL as Directus, plus an outbox table.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/config/settings.h"
#include "core/input/fingerprint.h"

namespace magic_link {

// What became of an accepted link request. The store reports it by name; each refusal's
// `email_error` text, as the extension wrote it into the audit row, is defined beside the SQL
// that decides it (extension_magic_link_email_error in sql/003_outcomes.sql).
enum class RequestOutcome {
  issued,
  rate_limited,
  unknown_user,
  inactive_user,
  role_refused,
  admin_refused,
  provider_refused,
};

inline constexpr RequestOutcome kRequestOutcomes[] = {
    RequestOutcome::issued,           RequestOutcome::rate_limited, RequestOutcome::unknown_user,
    RequestOutcome::inactive_user,    RequestOutcome::role_refused, RequestOutcome::admin_refused,
    RequestOutcome::provider_refused,
};

constexpr const char* outcome_name(RequestOutcome outcome) {
  switch (outcome) {
    case RequestOutcome::issued:
      return "issued";
    case RequestOutcome::rate_limited:
      return "rate_limited";
    case RequestOutcome::unknown_user:
      return "unknown_user";
    case RequestOutcome::inactive_user:
      return "inactive_user";
    case RequestOutcome::role_refused:
      return "role_refused";
    case RequestOutcome::admin_refused:
      return "admin_refused";
    case RequestOutcome::provider_refused:
      return "provider_refused";
  }
  return "unknown";
}

// What the mail service reported of a sent mail (its delivery webhooks).
struct DeliveryEvent {
  enum class Kind { delivered, bounced, complained };
  Kind kind = Kind::delivered;
  double at = 0;       // when it happened, Unix seconds
  std::string detail;  // a bounce's SMTP code and reason; else empty
};

// The word the audit row's delivery_status holds.
inline const char* delivery_status_name(DeliveryEvent::Kind kind) {
  constexpr const char* kNames[] = {"delivered", "bounced", "complained"};
  return kNames[static_cast<int>(kind)];
}

// The user behind a Directus session, as the location gate needs them.
struct SessionOwner {
  std::string user_id;
  std::string email;
  std::string role;                     // empty: no role
  std::vector<std::string> role_chain;  // the role and its ancestors (Directus 11+ nests roles)
  bool active = false;                  // status `active`
};

struct LinkRequestRecord {
  std::string email;  // normalised
  std::string client_ip;
  std::string user_agent;
  std::string token_hash;
  int expiration_minutes = 0;
  std::vector<std::string> allowed_roles;
  std::vector<std::string> disallowed_roles;
  bool allow_admin = false;
  bool allow_sso_users = false;
  bool email_rate_limited = false;
  std::string after_login_url;
  std::string sealed_mail;  // the rendered message, encrypted; stored only when issued
  std::string device_hash;  // the asking browser's binding (binding_hash), or "" when unbound
  Fingerprint device;       // with a binding: the asking browser, coarsely
};

struct QueuedMail {
  int link_id = 0;
  std::string sealed_mail;
  int attempts = 0;                // including this one
  bool link_still_usable = false;  // not used or expired since it was queued
};

struct LinkClaim {
  enum class Action {
    sign_in,      // spend the link from any browser
    same_device,  // the same, but a link bound to another browser is not spent (other_device)
    approve,      // another browser approves a bound link: nothing spent, the asker may sign in
    approved,     // the asking browser (device_hash) spends its approved link; no token
  } action = Action::sign_in;
  // The token's hash under each accepted secret (a link made before a rotation still counts);
  // likewise the claiming browser's binding, none without one.
  std::vector<std::string> token_hashes;
  std::vector<std::string> device_hashes;
  std::string client_ip;
  std::string user_agent;
  std::string origin;
  std::vector<std::string> allowed_roles;
  std::vector<std::string> disallowed_roles;
  bool allow_admin = false;
  // SHA-256 (hex) of the user's 2FA secret once their one-time password was checked against it.
  std::optional<std::string> verified_tfa_secret_sha256;
  std::string session_token;  // for the short-lived directus_sessions row
};

struct ClaimedLink {
  enum class State {
    claimed,             // spent, and the directus_sessions row is in place
    otp_required,        // the user has 2FA: nothing spent; `tfa_secret` checks their code
    tfa_setup_required,  // 2FA is enforced for the user, who has none yet: nothing spent
    other_device,        // bound to another browser (Action::same_device): nothing spent
    approved,            // the approval is recorded (Action::approve): nothing spent
  } state = State::claimed;
  int link_id = 0;
  std::string stored_hash;
  std::string user_id;
  std::string email;
  std::string first_name;
  std::string last_name;
  std::string after_login_url;
  std::string tfa_secret;  // base32, only with otp_required; never logged
};

enum class SecondFactor { none, otp, setup_required };

// What the confirm page shows before anything is spent.
struct LinkPreview {
  std::string email;
  int minutes_left = 0;
  SecondFactor second_factor = SecondFactor::none;
  std::string device_hash;  // the asking browser's binding, or "" when unbound
  int minutes_since_request = 0;
  Fingerprint device;
};

class LinkStore {
 public:
  virtual ~LinkStore() = default;

  // Stores accepted requests durably, in one transaction, the same write whoever the addresses
  // belong to; process_link_requests looks at them right after, in the background.
  virtual void enqueue_link_requests(const std::vector<LinkRequestRecord>& requests) = 0;
  // Takes up to `limit` stored requests (each once, across workers and hosts) and records each
  // (every request leaves a row); for an active user with an allowed role who is within the
  // limit, issues the link: supersedes the email's earlier links and queues its mail, atomically.
  virtual std::vector<RequestOutcome> process_link_requests(int limit) = 0;

  // Leases up to `limit` due mails, but none of `passed_over`, so no other worker or node sends
  // them meanwhile.
  virtual std::vector<QueuedMail> claim_due_mail(int limit, Milliseconds lease,
                                                 const std::vector<int>& passed_over) = 0;
  // Gives a leased mail back untouched, for another host to take at once.
  virtual void release_mail(int link_id) = 0;
  virtual void mail_sent(int link_id) = 0;
  // Records the error; retries after `retry_in`, or gives up when there is none.
  virtual void mail_failed(int link_id, const std::string& error,
                           std::optional<Milliseconds> retry_in) = 0;

  // Records the event on the link's audit row unless a later one is there; false when nothing
  // changed (no such link any more, or a later event recorded).
  virtual bool record_delivery_event(int link_id, const DeliveryEvent& event) = 0;
  // How many mails wait in the outbox, for the status page.
  virtual std::int64_t outbox_depth() = 0;

  // Deletes expired unused links and rows older than the audit retention.
  virtual void delete_old_rows(int retention_days) = 0;

  // Spends a usable link (unused, not superseded, not expired) whose user is still active with
  // an allowed role (and not an admin, unless allowed), recording when and from where, and
  // inserts a short-lived directus_sessions row for that user. Of concurrent claims of one link
  // exactly one gets it; nothing for every other case. A user with 2FA is only claimed once
  // `verified_tfa_secret_sha256` matches their secret; before that the answer says so. The
  // claim's action decides what a device binding changes (LinkClaim::Action).
  virtual std::optional<ClaimedLink> claim_link(const LinkClaim& claim) = 0;
  // The session was not created: the link is usable again and the session row goes.
  virtual void release_claim(int link_id, const std::string& session_token) = 0;
  virtual std::optional<LinkPreview> preview_link(const std::vector<std::string>& token_hashes) = 0;
  // The email of a Directus user, for pages that say who is signed in.
  virtual std::optional<std::string> user_email(const std::string& user_id) = 0;
  // Whose live (unexpired) directus_sessions row `session_token` is; nothing when there is none.
  virtual std::optional<SessionOwner> find_session(const std::string& session_token) = 0;
};

}  // namespace magic_link
