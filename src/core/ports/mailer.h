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
  // Throws BackendError(Backend::smtp, ...) when the server refuses, fails or is slow.
  virtual void send(const MailMessage& mail) = 0;
};

}  // namespace magic_link
