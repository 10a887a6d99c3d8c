#include "core/adapters/mail/smtp_mailer.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>

#include "core/adapters/curl_util.h"
#include "core/ports/backend_error.h"
#include "core/render/mime.h"

namespace magic_link {
namespace {

struct Upload {
  std::string_view rest;
};

size_t read_upload(char* buffer, size_t size, size_t count, void* user) {
  auto& upload = *static_cast<Upload*>(user);
  const size_t n = std::min(size * count, upload.rest.size());
  std::memcpy(buffer, upload.rest.data(), n);
  upload.rest.remove_prefix(n);
  return n;
}

}  // namespace

SmtpMailer::SmtpMailer(SmtpSettings smtp, Milliseconds timeout)
    : smtp_(std::move(smtp)), timeout_(timeout), curl_(new_curl_handle()) {}

void SmtpMailer::send(const MailMessage& mail, int /*link_id: SMTP has no place for it*/) {
  CURL* curl = curl_.get();
  const MimeMessage message = render_mime(mail, Newlines::crlf);
  const std::string url = std::string(smtp_.implicit_tls ? "smtps://" : "smtp://") + smtp_.host +
                          ":" + std::to_string(smtp_.port);
  CurlSlist recipients(curl_slist_append(nullptr, ("<" + mail.to + ">").c_str()));
  if (!recipients) throw std::bad_alloc();
  Upload upload{message.text};

  curl_easy_reset(curl);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_MAIL_FROM, ("<" + message.sender + ">").c_str());
  curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, recipients.get());
  curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_upload);
  curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
  curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.text.size()));
  // STARTTLS when offered; demanded when a password would otherwise go in clear, unless TLS is
  // switched off. Certificates are verified (libcurl's default): the system's CAs and ca_file.
  curl_easy_setopt(curl, CURLOPT_USE_SSL,
                   smtp_.implicit_tls    ? CURLUSESSL_ALL
                   : smtp_.ignore_tls    ? CURLUSESSL_NONE
                   : !smtp_.user.empty() ? CURLUSESSL_ALL
                                         : CURLUSESSL_TRY);
  if (!smtp_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, smtp_.ca_file.c_str());
  if (!smtp_.user.empty()) {
    curl_easy_setopt(curl, CURLOPT_USERNAME, smtp_.user.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, smtp_.password.c_str());
  }
  set_timeouts(curl, timeout_);
  const CURLcode result = curl_easy_perform(curl);
  if (result != CURLE_OK) {
    throw BackendError(Backend::mail, "send",
                       std::string("delivery failed: ") + curl_easy_strerror(result),
                       result == CURLE_OPERATION_TIMEDOUT);
  }
}

}  // namespace magic_link
