// The Mailer through a local sendmail program (Postfix', Exim's, msmtp's ...).
#pragma once

#include "core/config/settings.h"
#include "core/ports/mailer.h"

namespace magic_link {

// Runs `PATH -i -f SENDER -- RECIPIENT` with the message (LF lines) on its standard input, on the
// calling pool thread, and waits for its exit status within the timeout; past it the program and
// its process group are killed. Exit 0 is success; anything else, a failure to retry. Nothing
// the program prints is logged (it may name the recipient).
class SendmailMailer final : public Mailer {
 public:
  SendmailMailer(std::string path, Milliseconds timeout)
      : path_(std::move(path)), timeout_(timeout) {}

  void send(const MailMessage& mail, int link_id) override;

 private:
  std::string path_;
  Milliseconds timeout_;
};

// Worker processes reap their own sendmail children: nginx's SIGCHLD handler, inherited from the
// master, would take their exit status first. Call once, before any thread starts.
void reap_children_ourselves();

}  // namespace magic_link
