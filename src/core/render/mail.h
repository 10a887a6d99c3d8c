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

// The bare address of a From value such as "Site <no-reply@example.com>".
std::string envelope_address(std::string_view from);

// A header value as RFC 2047 wants it: as is when plain ASCII, else =?UTF-8?B?...?=.
std::string encode_header_word(std::string_view text);

}  // namespace magic_link
