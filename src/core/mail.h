// The login mail: composed from templates when a link is issued, queued sealed, sent over SMTP.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/settings.h"
#include "core/templates.h"

typedef void CURL;

namespace magic_link {

struct MailMessage {
  std::string to;
  std::string from;
  std::string subject;
  std::string text;
  std::string html;
};

MailMessage compose_link_mail(const Settings& settings, const Templates& templates,
                              std::string_view to, std::string_view link);

std::string serialize(const MailMessage& mail);
std::optional<MailMessage> deserialize(std::string_view text);

class Mailer {
 public:
  virtual ~Mailer() = default;
  // Throws BackendError("smtp", ...) when the server refuses, fails or is slow.
  virtual void send(const MailMessage& mail) = 0;
};

// libcurl's SMTP: implicit TLS (smtps://) or STARTTLS when offered, AUTH when a user is set,
// a multipart/alternative text + HTML body built with curl_mime. One handle per thread, so the
// connection is reused between mails.
class SmtpMailer final : public Mailer {
 public:
  SmtpMailer(SmtpSettings smtp, Milliseconds timeout);
  ~SmtpMailer() override;
  SmtpMailer(const SmtpMailer&) = delete;
  SmtpMailer& operator=(const SmtpMailer&) = delete;

  void send(const MailMessage& mail) override;

 private:
  SmtpSettings smtp_;
  Milliseconds timeout_;
  CURL* curl_;
};

// The bare address of a From value such as "Site <no-reply@example.com>".
std::string envelope_address(std::string_view from);

// A header value as RFC 2047 wants it: as is when plain ASCII, else =?UTF-8?B?...?=.
std::string encode_header_word(std::string_view text);

}  // namespace magic_link
