// The Mailer over SMTP.
#pragma once

#include "core/adapters/curl_util.h"
#include "core/config/settings.h"
#include "core/ports/mailer.h"

namespace magic_link {

// libcurl's SMTP: implicit TLS (smtps://) or STARTTLS (required with AUTH), AUTH when a user is
// set; the message is render_mime's. One handle per pooled connection, so the connection is
// reused between mails.
class SmtpMailer final : public Mailer {
 public:
  SmtpMailer(SmtpSettings smtp, Milliseconds timeout);

  void send(const MailMessage& mail, int link_id) override;

 private:
  SmtpSettings smtp_;
  Milliseconds timeout_;
  CurlEasy curl_;
};

}  // namespace magic_link
