#include "core/adapters/mail/mailgun_mailer.h"

#include <curl/curl.h>

#include <memory>

#include "core/adapters/curl_util.h"
#include "core/ports/backend_error.h"
#include "core/render/mime.h"

namespace magic_link {
namespace {

struct MimeDeleter {
  void operator()(curl_mime* mime) const { curl_mime_free(mime); }
};

// Mailgun's answer is not needed beyond its status; its text may echo the recipient.
size_t ignore_body(char*, size_t size, size_t count, void*) noexcept {
  return size * count;
}

void add_field(curl_mime* form, const char* name, const std::string& value) {
  curl_mimepart* field = curl_mime_addpart(form);
  curl_mime_name(field, name);
  curl_mime_data(field, value.data(), value.size());
}

// What Mailgun's documented statuses mean for the operator reading the log.
std::string refusal(long status) {
  switch (status) {
    case 400:
      return "Mailgun refused the message (400)";
    case 401:
    case 403:
      return "Mailgun refused the API key (" + std::to_string(status) + ")";
    case 404:
      return "Mailgun does not know the domain (404)";
    case 429:
      return "Mailgun's rate limit was reached (429)";
    default:
      return "Mailgun answered " + std::to_string(status);
  }
}

}  // namespace

MailgunMailer::MailgunMailer(MailgunSettings mailgun, Milliseconds timeout)
    : mailgun_(std::move(mailgun)), timeout_(timeout), curl_(new_curl_handle()) {}

void MailgunMailer::send(const MailMessage& mail, int link_id) {
  CURL* curl = curl_.get();
  const MimeMessage message = render_mime(mail, Newlines::crlf);
  const std::string url = mailgun_.base_url + "/v3/" + mailgun_.domain + "/messages.mime";

  curl_easy_reset(curl);
  std::unique_ptr<curl_mime, MimeDeleter> form(curl_mime_init(curl));
  add_field(form.get(), "to", mail.to);
  curl_mimepart* body = curl_mime_addpart(form.get());
  curl_mime_name(body, "message");
  curl_mime_data(body, message.text.data(), message.text.size());
  curl_mime_filename(body, "message.mime");
  curl_mime_type(body, "message/rfc822");
  add_field(form.get(), "v:magic_link_id", std::to_string(link_id));

  // No "Expect: 100-continue": a proxy that never answers it would cost a second per mail.
  CurlSlist headers(curl_slist_append(nullptr, "Expect:"));
  if (!headers) throw std::bad_alloc();
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_MIMEPOST, form.get());
  curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
  curl_easy_setopt(curl, CURLOPT_USERNAME, "api");
  curl_easy_setopt(curl, CURLOPT_PASSWORD, mailgun_.api_key.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, ignore_body);
  set_timeouts(curl, timeout_);
  const CURLcode result = curl_easy_perform(curl);
  if (result != CURLE_OK) {
    throw BackendError(Backend::mail, "mailgun",
                       std::string("request failed: ") + curl_easy_strerror(result),
                       result == CURLE_OPERATION_TIMEDOUT);
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) throw BackendError(Backend::mail, "mailgun", refusal(status));
}

}  // namespace magic_link
