// POST to a `magic_link mailgun_webhook` location: Mailgun's delivery events (delivered, failed,
// complained) for the mail it sent, recorded on the link's audit row.
#pragma once

#include <ctime>
#include <string>
#include <string_view>
#include <variant>

#include "core/config/settings.h"
#include "core/flows/outcome.h"
#include "core/input/body.h"
#include "core/ports/backends.h"

namespace magic_link {

// A signed event of a mail the module sent (its `magic_link_id` user variable).
struct MailgunEvent {
  std::string token;  // Mailgun's once-only token, for replay detection
  int link_id = 0;
  DeliveryEvent event;
};

// Checks the body on the event loop, without a backend: the signature as Mailgun documents it
// (HMAC-SHA-256 of timestamp + token under the webhook signing key, hex), a timestamp within
// 15 minutes of `now`, and the event's shape. Anything else is answered at once: 401 for a bad
// or stale signature, 415 for a form (Mailgun's legacy webhooks), 400 for a body that is not an
// event, 200 for an event that records
// nothing (opened, clicked, a temporary failure Mailgun retries, mail not from this module).
std::variant<Outcome, MailgunEvent> read_mailgun_event(const Settings& shared, BodyFormat format,
                                                       std::string_view body, std::time_t now);

// Records the event (the latest by its own time wins), then refuses a replayed token with 406
// (Mailgun does not retry a 406; recording is idempotent, so a replay changed nothing).
Outcome record_mailgun_event(const Settings& shared, const MailgunEvent& event, Backends backends);

}  // namespace magic_link
