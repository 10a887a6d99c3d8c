#include "core/flows/outbox.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>

#include "core/metrics/metrics.h"
#include "core/ports/backend_error.h"
#include "core/render/mail.h"

namespace magic_link {
namespace {

// Accepted requests are looked at in one transaction per batch (one commit for many); mail goes
// out in smaller batches, each mail a round trip to the mail transport.
constexpr int kRequestBatch = 200;
constexpr int kMailBatch = 20;
constexpr Milliseconds kMailLease{20000};
constexpr std::chrono::hours kPassOverFor{1};
constexpr size_t kMaxPassedOver = 10000;

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

Milliseconds mail_lease(const Settings& shared) {
  return std::max(kMailLease, shared.smtp_timeout + Milliseconds(5000));
}

DeliveryReport run_background_work(const Settings& shared, const MailMaker& maker,
                                   Backends backends, bool cleanup_due, OutboxMemory& memory) {
  DeliveryReport report;
  try {
    process_link_requests(backends, report);
    deliver_due_mail(shared, maker, backends, report, memory);
    if (cleanup_due) backends.store.delete_old_rows(shared.audit_retention_days);
    metrics::set_outbox_depth(backends.store.outbox_depth());
  } catch (const BackendError& error) {
    report.failure = error.failure();
  }
  return report;
}

void process_link_requests(Backends backends, DeliveryReport& report) {
  for (const RequestOutcome outcome : backends.store.process_link_requests(kRequestBatch)) {
    // Who asked for which address is the client's doing, not a fault of the server: info, like
    // nginx's own client errors, so a flood of unknown addresses stays out of a warn-level log
    // (the metrics count every outcome).
    report.log.push_back(
        {LogLine::Level::info, std::string("magic_link: link request: ") + describe(outcome)});
    ++report.requests;
    metrics::count(outcome);
  }
}

void deliver_due_mail(const Settings& shared, const MailMaker& maker, Backends backends,
                      DeliveryReport& report, OutboxMemory& memory) {
  while (!memory.unrecorded.empty()) {
    backends.store.mail_sent(memory.unrecorded.back());
    memory.unrecorded.pop_back();
  }
  const auto now = std::chrono::steady_clock::now();
  auto& passed_over = memory.passed_over;
  if (passed_over.size() > kMaxPassedOver) passed_over.clear();
  std::vector<int> skip;
  for (auto it = passed_over.begin(); it != passed_over.end();) {
    if (now - it->second > kPassOverFor) {
      it = passed_over.erase(it);
    } else {
      skip.push_back(it++->first);
    }
  }
  const Milliseconds lease = mail_lease(shared);
  const auto leased_until = now + lease;
  std::optional<std::string> mail_down;  // after one failure the rest of the batch waits too
  for (const QueuedMail& queued : backends.store.claim_due_mail(kMailBatch, lease, skip)) {
    // Left leased: taken again once the lease ends, by whichever worker or host looks first.
    if (std::chrono::steady_clock::now() + shared.smtp_timeout > leased_until) break;
    if (!queued.link_still_usable) {
      backends.store.mail_failed(queued.link_id, "Link expired or used before delivery",
                                 std::nullopt);
      ++report.dropped;
      metrics::count(metrics::Mail::failed);
      continue;
    }
    const auto opened = maker.sealer.open(queued.sealed_mail);
    const auto mail = opened ? queued_mail(*opened, maker.templates) : std::nullopt;
    if (!mail) {
      // Another host (during a rotation or a rolling change of configuration) sends it.
      backends.store.release_mail(queued.link_id);
      passed_over.emplace(queued.link_id, now);
      report.log.push_back(
          {LogLine::Level::warn,
           "magic_link: mail for " + id_text(queued.link_id) +
               (opened ? " uses a templates folder that no location of this host's "
                         "configuration uses; left for a host that does"
                       : " is sealed under a secret this host does not hold; left for a host "
                         "that does (during a rotation, list the new secret in "
                         "magic_link_secret on every host)")});
      continue;
    }
    if (!mail_down) {
      try {
        backends.mailer.send(*mail, queued.link_id);
      } catch (const BackendError& error) {
        if (error.backend() != Backend::mail) throw;
        mail_down = error.what();
      }
    }
    if (!mail_down) {
      ++report.sent;
      metrics::count(metrics::Mail::sent);
      try {
        backends.store.mail_sent(queued.link_id);
      } catch (const BackendError&) {
        memory.unrecorded.push_back(queued.link_id);  // sent: recorded next time, never again
        throw;
      }
      continue;
    }
    const Milliseconds delay = retry_delay(queued.attempts, shared.mail_retry_max_delay);
    backends.store.mail_failed(queued.link_id, *mail_down, delay);
    report.log.push_back({LogLine::Level::warn, "magic_link: mail for " + id_text(queued.link_id) +
                                                    " not sent (" + *mail_down + "), retry in " +
                                                    std::to_string(delay.count()) + "ms"});
    ++report.retrying;
    metrics::count(metrics::Mail::retried);
  }
}

}  // namespace magic_link
