#include "core/adapters/smtp/smtp_mailer.h"

#include <curl/curl.h>

#include <ctime>
#include <memory>

#include "core/adapters/curl_util.h"
#include "core/crypto/token.h"
#include "core/ports/backend_error.h"
#include "core/render/mail.h"

namespace magic_link {
namespace {

std::string rfc5322_date() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[64];
  std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S +0000", &utc);
  return text;
}

struct MimeDeleter {
  void operator()(curl_mime* mime) const { curl_mime_free(mime); }
};
void append(CurlSlist& list, const std::string& line) {
  curl_slist* grown = curl_slist_append(list.get(), line.c_str());
  if (grown == nullptr) throw std::bad_alloc();
  list.release();
  list.reset(grown);
}

// Mail lines end in CRLF; curl's quoted-printable encoder would escape a bare LF.
std::string crlf_lines(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out += '\r';
    out += text[i];
  }
  return out;
}

void add_text_part(curl_mime* mime, std::string_view body, const char* type) {
  const std::string lines = crlf_lines(body);
  curl_mimepart* part = curl_mime_addpart(mime);
  curl_mime_data(part, lines.data(), lines.size());
  curl_mime_type(part, type);
  curl_mime_encoder(part, "quoted-printable");
}

}  // namespace

SmtpMailer::SmtpMailer(SmtpSettings smtp, Milliseconds timeout)
    : smtp_(std::move(smtp)), timeout_(timeout), curl_(curl_easy_init()) {
  if (curl_ == nullptr) throw std::bad_alloc();
}

SmtpMailer::~SmtpMailer() {
  curl_easy_cleanup(curl_);
}

void SmtpMailer::send(const MailMessage& mail) {
  // Addresses were checked when the request came in; this is the last line of defence against
  // header injection, should a template or setting ever carry a line break.
  for (const std::string* header : {&mail.to, &mail.from, &mail.subject}) {
    if (header->find_first_of("\r\n") != std::string::npos) {
      throw BackendError(Backend::smtp, "send", "refusing a header with a line break", false,
                         false);
    }
  }
  const std::string url = std::string(smtp_.implicit_tls ? "smtps://" : "smtp://") + smtp_.host +
                          ":" + std::to_string(smtp_.port);
  const std::string sender = envelope_address(mail.from);
  const std::string domain = sender.substr(sender.find('@') + 1);

  CurlSlist recipients;
  append(recipients, "<" + mail.to + ">");
  CurlSlist headers;
  append(headers, "Date: " + rfc5322_date());
  append(headers, "From: " + mail.from);
  append(headers, "To: <" + mail.to + ">");
  append(headers, "Subject: " + encode_header_word(mail.subject));
  append(headers, "Message-ID: <" + random_text(18) + "@" + domain + ">");
  append(headers, "Auto-Submitted: auto-generated");

  // multipart/alternative inside the message: text first, HTML preferred.
  std::unique_ptr<curl_mime, MimeDeleter> message(curl_mime_init(curl_));
  std::unique_ptr<curl_mime, MimeDeleter> alternatives(curl_mime_init(curl_));
  add_text_part(alternatives.get(), mail.text, "text/plain; charset=utf-8");
  add_text_part(alternatives.get(), mail.html, "text/html; charset=utf-8");
  curl_mimepart* body = curl_mime_addpart(message.get());
  curl_mime_subparts(body, alternatives.release());
  curl_mime_type(body, "multipart/alternative");
  CurlSlist inline_disposition;
  append(inline_disposition, "Content-Disposition: inline");
  curl_mime_headers(body, inline_disposition.release(), /*take_ownership=*/1);

  curl_easy_reset(curl_);
  curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl_, CURLOPT_MAIL_FROM, ("<" + sender + ">").c_str());
  curl_easy_setopt(curl_, CURLOPT_MAIL_RCPT, recipients.get());
  curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl_, CURLOPT_MIMEPOST, message.get());
  // STARTTLS when offered; demanded when a password would otherwise go in clear, unless TLS is
  // switched off. Certificates are verified (libcurl's default): the system's CAs and ca_file.
  curl_easy_setopt(curl_, CURLOPT_USE_SSL,
                   smtp_.implicit_tls    ? CURLUSESSL_ALL
                   : smtp_.ignore_tls    ? CURLUSESSL_NONE
                   : !smtp_.user.empty() ? CURLUSESSL_ALL
                                         : CURLUSESSL_TRY);
  if (!smtp_.ca_file.empty()) curl_easy_setopt(curl_, CURLOPT_CAINFO, smtp_.ca_file.c_str());
  if (!smtp_.user.empty()) {
    curl_easy_setopt(curl_, CURLOPT_USERNAME, smtp_.user.c_str());
    curl_easy_setopt(curl_, CURLOPT_PASSWORD, smtp_.password.c_str());
  }
  set_timeouts(curl_, timeout_);
  const CURLcode result = curl_easy_perform(curl_);
  if (result != CURLE_OK) {
    throw BackendError(Backend::smtp, "send",
                       std::string("delivery failed: ") + curl_easy_strerror(result),
                       result == CURLE_OPERATION_TIMEDOUT);
  }
}

}  // namespace magic_link
