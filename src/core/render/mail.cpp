#include "core/render/mail.h"

#include <nlohmann/json.hpp>

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

}  // namespace magic_link
