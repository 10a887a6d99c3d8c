#include "core/flows/outbox.h"

#include <algorithm>
#include <optional>
#include <string>

#include "core/ports/backend_error.h"
#include "core/render/mail.h"

namespace magic_link {
namespace {

// Accepted requests are looked at in one transaction per batch (one commit for many); mail goes
// out in smaller batches, each mail a round trip to the SMTP server.
constexpr int kRequestBatch = 200;
constexpr int kMailBatch = 20;

Milliseconds retry_delay(int attempts, Milliseconds max_delay) {
  const int doublings = std::min(attempts - 1, 20);
  return std::min(Milliseconds(1000LL << doublings), max_delay);
}

std::string id_text(int link_id) {
  return "link " + std::to_string(link_id);
}

const char* describe(RequestOutcome outcome) {
  switch (outcome) {
    case RequestOutcome::issued:
      return "link issued and queued for mail";
    case RequestOutcome::rate_limited:
      return "no mail: per-email limit reached";
    case RequestOutcome::unknown_user:
      return "no mail: no such user";
    case RequestOutcome::inactive_user:
      return "no mail: user not active";
    case RequestOutcome::role_refused:
      return "no mail: role not allowed";
    case RequestOutcome::admin_refused:
      return "no mail: admin access (magic_link_allow_admin is off)";
    case RequestOutcome::provider_refused:
      return "no mail: an SSO provider's user (magic_link_allow_sso_users is off)";
  }
  return "unknown outcome";
}

}  // namespace

DeliveryReport run_background_work(const Settings& shared, const Sealer& sealer, Backends backends,
                                   bool cleanup_due) {
  DeliveryReport report;
  try {
    process_link_requests(backends, report);
    deliver_due_mail(shared, sealer, backends, report);
    if (cleanup_due) backends.store.delete_old_rows(shared.audit_retention_days);
  } catch (const BackendError& error) {
    report.failure = error.failure();
  }
  return report;
}

void process_link_requests(Backends backends, DeliveryReport& report) {
  for (const RequestOutcome outcome : backends.store.process_link_requests(kRequestBatch)) {
    const auto level =
        outcome == RequestOutcome::issued ? LogLine::Level::info : LogLine::Level::warn;
    report.log.push_back({level, std::string("magic_link: link request: ") + describe(outcome)});
    ++report.requests;
  }
}

void deliver_due_mail(const Settings& shared, const Sealer& sealer, Backends backends,
                      DeliveryReport& report) {
  // Long enough for every mail of the batch to time out once before another worker may retry.
  const Milliseconds lease = shared.smtp_timeout * (kMailBatch + 1);
  std::optional<std::string> smtp_down;  // after one failure the rest of the batch waits too
  for (const QueuedMail& queued : backends.store.claim_due_mail(kMailBatch, lease)) {
    if (!queued.link_still_usable) {
      backends.store.mail_failed(queued.link_id, "Link expired or used before delivery",
                                 std::nullopt);
      ++report.dropped;
      continue;
    }
    const auto mail = deserialize(sealer.open(queued.sealed_mail).value_or(""));
    if (!mail) {
      // Sealed under another secret (it was rotated), or altered: it cannot be sent.
      backends.store.mail_failed(queued.link_id, "Queued mail cannot be opened", std::nullopt);
      report.log.push_back(
          {LogLine::Level::error, "magic_link: mail for " + id_text(queued.link_id) +
                                      " cannot be opened (was magic_link_secret changed?)"});
      ++report.dropped;
      continue;
    }
    if (!smtp_down) {
      try {
        backends.mailer.send(*mail);
        backends.store.mail_sent(queued.link_id);
        ++report.sent;
        continue;
      } catch (const BackendError& error) {
        if (error.backend() != Backend::smtp) throw;
        smtp_down = error.what();
      }
    }
    const Milliseconds delay = retry_delay(queued.attempts, shared.mail_retry_max_delay);
    backends.store.mail_failed(queued.link_id, *smtp_down, delay);
    report.log.push_back({LogLine::Level::warn, "magic_link: mail for " + id_text(queued.link_id) +
                                                    " not sent (" + *smtp_down + "), retry in " +
                                                    std::to_string(delay.count()) + "ms"});
    ++report.retrying;
  }
}

}  // namespace magic_link
