// The Mailer through Mailgun's HTTP API.
#pragma once

#include "core/adapters/curl_util.h"
#include "core/config/settings.h"
#include "core/ports/mailer.h"

namespace magic_link {

// POSTs render_mime's message to /v3/DOMAIN/messages.mime (HTTP Basic `api`:KEY, certificates
// verified), with the link's id as the user variable `magic_link_id`, which Mailgun hands back in
// every delivery event of the mail (see delivery_events.h). One handle per pooled connection.
class MailgunMailer final : public Mailer {
 public:
  MailgunMailer(MailgunSettings mailgun, Milliseconds timeout);

  void send(const MailMessage& mail, int link_id) override;

 private:
  MailgunSettings mailgun_;
  Milliseconds timeout_;
  CurlEasy curl_;
};

}  // namespace magic_link
