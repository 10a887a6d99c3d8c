// The login mail. What it is made of (a MailOrder) is sealed into the outbox when a link is
// asked for; the mail is rendered from its templates when it is sent, so no answer spends time
// rendering, and nothing is rendered for an address that gets no link.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/config/settings.h"
#include "core/ports/mailer.h"
#include "core/render/templates.h"

namespace magic_link {

struct MailOrder {
  std::string to;
  std::string link;
  std::string from;
  std::string subject;
  std::string site_name;
  int minutes = 0;
  std::string templates_dir;  // the location's templates, found again by the sender
};

MailOrder link_mail_order(const Settings& settings, std::string_view to, std::string_view link);
MailMessage compose_link_mail(const MailOrder& order, const Templates& templates);

std::string serialize(const MailOrder& order);
std::optional<MailOrder> read_mail_order(std::string_view json);

// The mail to send for an outbox entry's opened JSON: an order rendered with the templates of its
// folder, or (queued by versions that rendered on request) the mail itself. Nothing when the
// folder is not in `templates` (another host's configuration) or the JSON is neither.
std::optional<MailMessage> queued_mail(std::string_view json, const TemplateSets& templates);

}  // namespace magic_link
