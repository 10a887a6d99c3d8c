// The login mail: composed from templates when a link is issued, and queued sealed.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/config/settings.h"
#include "core/ports/mailer.h"
#include "core/render/templates.h"

namespace magic_link {

MailMessage compose_link_mail(const Settings& settings, const Templates& templates,
                              std::string_view to, std::string_view link);

std::string serialize(const MailMessage& mail);
std::optional<MailMessage> deserialize(std::string_view text);

}  // namespace magic_link
