// Sending one mail: the port the outbox flow uses, so tests can inject a fake and operators a
// transport of their choice.
#pragma once

#include <string>

namespace magic_link {

struct MailMessage {
  std::string to;
  std::string from;
  std::string subject;
  std::string text;
  std::string html;
};

class Mailer {
 public:
  virtual ~Mailer() = default;
  // `link_id` travels with the mail where the transport can carry it (Mailgun's user variables),
  // so delivery events find their link. Throws BackendError(Backend::mail, ...) when the
  // transport refuses, fails or is slow.
  virtual void send(const MailMessage& mail, int link_id) = 0;
};

}  // namespace magic_link
