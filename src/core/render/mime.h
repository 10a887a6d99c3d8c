// The login mail as the message every transport sends: RFC 5322 headers and a
// multipart/alternative text + HTML body, built with GMime.
#pragma once

#include <string>

#include "core/ports/mailer.h"

namespace magic_link {

// Lines end in CRLF on the wire (SMTP, HTTP APIs); a local sendmail reads LF, as Unix mail does.
enum class Newlines { crlf, lf };

struct MimeMessage {
  std::string sender;  // the From address alone: the envelope sender
  std::string text;
};

// Throws BackendError(Backend::mail, "compose", ...) for a header carrying a line break (the
// last line of defence against header injection) or a From without an address.
MimeMessage render_mime(const MailMessage& mail, Newlines newlines);

}  // namespace magic_link
