// Delivers queued login mail in the background, so an answer never waits on the mail transport and
// a mail accepted while it is down goes out when it returns.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <vector>

#include "core/ports/backends.h"
#include "core/flows/outcome.h"
#include "core/crypto/seal.h"
#include "core/config/settings.h"
#include "core/render/templates.h"

namespace magic_link {

struct DeliveryReport {
  int requests = 0;  // link requests looked at
  int sent = 0;
  int retrying = 0;
  int dropped = 0;
  std::vector<LogLine> log;
  std::optional<BackendFailure> failure;  // the backend that stopped this run
};

// What each worker remembers of the outbox from one run to the next.
struct OutboxMemory {
  // Links whose mail the transport accepted but whose `mail_sent` record failed (the database
  // went away): recorded at the next run before anything else, while their lease still holds,
  // so no one sends them again.
  std::vector<int> unrecorded;
  // Mail this host cannot make: sealed under a secret it does not hold (another host's, during a
  // rotation) or with templates its configuration does not load: given back for the others and
  // not leased here again for an hour, by when its link expired.
  std::map<int, std::chrono::steady_clock::time_point> passed_over;
};

// What turns an outbox entry into a mail: the secrets that open it, the templates that render it.
struct MailMaker {
  const Sealer& sealer;
  const TemplateSets& templates;
};

// Everything after the answers, once: the accepted link requests, the due mail and, when
// `cleanup_due`, old rows. A backend failure ends the run and is reported, not thrown.
DeliveryReport run_background_work(const Settings& shared, const MailMaker& maker,
                                   Backends backends, bool cleanup_due, OutboxMemory& memory);

// Looks at the link requests accepted since the last run (see request_link): issues links and
// queues their mail, or records why not, with a log line for each.
void process_link_requests(Backends backends, DeliveryReport& report);

// Leases the due mails (SKIP LOCKED, so workers and nodes share the queue without sending one
// twice) and sends each. A failure waits 1s, 2s, 4s ... up to `mail_retry_max_delay`; a link that
// expired, was used or was superseded meanwhile is not mailed. Every result lands in the link's
// email_sent / email_error. The lease is short (mail_lease), so the mail of a host that died
// goes out from another within it; a batch stops sending while another delivery timeout would
// still fit in what is left of it. Mail this host cannot make is given back, never dropped.
void deliver_due_mail(const Settings& shared, const MailMaker& maker, Backends backends,
                      DeliveryReport& report, OutboxMemory& memory);

// How long a batch of mail is leased: 20 s, or the delivery timeout (magic_link_smtp_timeout) and 5
// s when that is longer.
Milliseconds mail_lease(const Settings& shared);

}  // namespace magic_link
