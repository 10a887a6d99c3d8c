#include "core/render/mail.h"

#include <algorithm>
#include <ctime>
#include <memory>

#include <nlohmann/json.hpp>

#include "core/crypto/encoding.h"

namespace magic_link {

MailMessage compose_link_mail(const Settings& settings, const Templates& templates,
                              std::string_view to, std::string_view link) {
  const TemplateValues values = {{"site_name", settings.site_name},
                                 {"email", std::string(to)},
                                 {"link", std::string(link)},
                                 {"minutes", std::to_string(settings.expiration_minutes)},
                                 {"subject", settings.subject}};
  return {std::string(to), settings.email_from, settings.subject,
          templates.render("mail.txt", values), templates.render("mail.html", values)};
}

std::string serialize(const MailMessage& mail) {
  return nlohmann::json{{"to", mail.to},
                        {"from", mail.from},
                        {"subject", mail.subject},
                        {"text", mail.text},
                        {"html", mail.html}}
      .dump();
}

std::optional<MailMessage> deserialize(std::string_view text) {
  const auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) return std::nullopt;
  MailMessage mail;
  for (auto [field, name] : {std::pair{&mail.to, "to"},
                             {&mail.from, "from"},
                             {&mail.subject, "subject"},
                             {&mail.text, "text"},
                             {&mail.html, "html"}}) {
    const auto found = json.find(name);
    if (found == json.end() || !found->is_string()) return std::nullopt;
    *field = found->get<std::string>();
  }
  return mail;
}

std::string envelope_address(std::string_view from) {
  const auto open = from.rfind('<');
  const auto close = from.rfind('>');
  if (open != std::string_view::npos && close != std::string_view::npos && open < close) {
    return std::string(from.substr(open + 1, close - open - 1));
  }
  return std::string(from);
}

std::string encode_header_word(std::string_view text) {
  const bool plain =
      std::all_of(text.begin(), text.end(), [](unsigned char c) { return c >= 0x20 && c < 0x7f; });
  if (plain) return std::string(text);
  return "=?UTF-8?B?" + base64(text) + "?=";
}

}  // namespace magic_link
