#include "core/render/mime.h"

#include <gmime/gmime.h>

#include <memory>
#include <mutex>

#include "core/crypto/token.h"
#include "core/ports/backend_error.h"

namespace magic_link {
namespace {

struct Unref {
  void operator()(void* object) const { g_object_unref(object); }
};
template <typename T>
using Owned = std::unique_ptr<T, Unref>;

[[noreturn]] void refuse(const std::string& why) {
  throw BackendError(Backend::mail, "compose", why, false, false);
}

void add_text_part(GMimeMultipart* alternatives, const std::string& body, const char* subtype) {
  Owned<GMimePart> part(g_mime_part_new_with_type("text", subtype));
  g_mime_object_set_content_type_parameter(GMIME_OBJECT(part.get()), "charset", "utf-8");
  Owned<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(body.data(), body.size()));
  Owned<GMimeDataWrapper> content(
      g_mime_data_wrapper_new_with_stream(stream.get(), GMIME_CONTENT_ENCODING_DEFAULT));
  g_mime_part_set_content(part.get(), content.get());
  g_mime_part_set_content_encoding(part.get(), GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
  g_mime_multipart_add(alternatives, GMIME_OBJECT(part.get()));
}

}  // namespace

MimeMessage render_mime(const MailMessage& mail, Newlines newlines) {
  static std::once_flag initialised;
  std::call_once(initialised, [] { g_mime_init(); });
  for (const std::string* header : {&mail.to, &mail.from, &mail.subject}) {
    if (header->find_first_of("\r\n") != std::string::npos) {
      refuse("refusing a header with a line break");
    }
  }
  Owned<InternetAddressList> from(internet_address_list_parse(nullptr, mail.from.c_str()));
  InternetAddress* sender = from && internet_address_list_length(from.get()) == 1
                                ? internet_address_list_get_address(from.get(), 0)
                                : nullptr;
  if (sender == nullptr || !INTERNET_ADDRESS_IS_MAILBOX(sender)) refuse("the From has no address");
  internet_address_set_charset(sender, "utf-8");
  const std::string sender_address =
      internet_address_mailbox_get_idn_addr(INTERNET_ADDRESS_MAILBOX(sender));

  Owned<GMimeMessage> message(g_mime_message_new(TRUE));
  internet_address_list_append(g_mime_message_get_from(message.get()), from.get());
  g_mime_message_add_mailbox(message.get(), GMIME_ADDRESS_TYPE_TO, nullptr, mail.to.c_str());
  g_mime_message_set_subject(message.get(), mail.subject.c_str(), "utf-8");
  GDateTime* now = g_date_time_new_now_utc();
  g_mime_message_set_date(message.get(), now);
  g_date_time_unref(now);
  const std::string domain = sender_address.substr(sender_address.find('@') + 1);
  g_mime_message_set_message_id(message.get(), (random_text(18) + "@" + domain).c_str());
  g_mime_object_set_header(GMIME_OBJECT(message.get()), "Auto-Submitted", "auto-generated",
                           nullptr);

  // Text first, HTML preferred: the order multipart/alternative wants.
  Owned<GMimeMultipart> alternatives(g_mime_multipart_new_with_subtype("alternative"));
  add_text_part(alternatives.get(), mail.text, "plain");
  add_text_part(alternatives.get(), mail.html, "html");
  g_mime_message_set_mime_part(message.get(), GMIME_OBJECT(alternatives.get()));

  std::unique_ptr<GMimeFormatOptions, void (*)(GMimeFormatOptions*)> options(
      g_mime_format_options_clone(nullptr), g_mime_format_options_free);
  g_mime_format_options_set_newline_format(options.get(), newlines == Newlines::crlf
                                                              ? GMIME_NEWLINE_FORMAT_DOS
                                                              : GMIME_NEWLINE_FORMAT_UNIX);
  Owned<GMimeStream> out(g_mime_stream_mem_new());
  g_mime_object_write_to_stream(GMIME_OBJECT(message.get()), options.get(), out.get());
  const GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out.get()));
  return {sender_address, std::string(reinterpret_cast<const char*>(bytes->data), bytes->len)};
}

}  // namespace magic_link
