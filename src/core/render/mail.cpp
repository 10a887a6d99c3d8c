#include "core/render/mail.h"

#include <nlohmann/json.hpp>

#include <initializer_list>
#include <string>
#include <utility>

namespace magic_link {
namespace {

// Reads the named string fields of a JSON object; false when one is missing or not a string.
bool read_strings(const nlohmann::json& json,
                  std::initializer_list<std::pair<std::string*, const char*>> fields) {
  for (auto [field, name] : fields) {
    const auto found = json.find(name);
    if (found == json.end() || !found->is_string()) return false;
    *field = found->get<std::string>();
  }
  return true;
}

nlohmann::json parse_object(std::string_view text) {
  auto json = nlohmann::json::parse(text, nullptr, false);
  return json.is_object() ? json : nlohmann::json();
}

// A rendered mail, as earlier versions queued it.
std::optional<MailMessage> read_rendered_mail(const nlohmann::json& json) {
  MailMessage mail;
  if (!read_strings(json, {{&mail.to, "to"},
                           {&mail.from, "from"},
                           {&mail.subject, "subject"},
                           {&mail.text, "text"},
                           {&mail.html, "html"}})) {
    return std::nullopt;
  }
  return mail;
}

std::optional<MailOrder> read_order(const nlohmann::json& json) {
  MailOrder order;
  const auto minutes = json.find("minutes");
  if (minutes == json.end() || !minutes->is_number_integer()) return std::nullopt;
  order.minutes = minutes->get<int>();
  if (!read_strings(json, {{&order.to, "to"},
                           {&order.link, "link"},
                           {&order.from, "from"},
                           {&order.subject, "subject"},
                           {&order.site_name, "site_name"},
                           {&order.templates_dir, "templates"}})) {
    return std::nullopt;
  }
  return order;
}

}  // namespace

MailOrder link_mail_order(const Settings& settings, std::string_view to, std::string_view link) {
  return {std::string(to),    std::string(link),           settings.email_from,   settings.subject,
          settings.site_name, settings.expiration_minutes, settings.templates_dir};
}

MailMessage compose_link_mail(const MailOrder& order, const Templates& templates) {
  const TemplateValues values = {{"site_name", order.site_name},
                                 {"email", order.to},
                                 {"link", order.link},
                                 {"minutes", std::to_string(order.minutes)},
                                 {"subject", order.subject}};
  return {order.to, order.from, order.subject, templates.render("mail.txt", values),
          templates.render("mail.html", values)};
}

std::string serialize(const MailOrder& order) {
  return nlohmann::json{{"to", order.to},
                        {"link", order.link},
                        {"from", order.from},
                        {"subject", order.subject},
                        {"site_name", order.site_name},
                        {"minutes", order.minutes},
                        {"templates", order.templates_dir}}
      .dump();
}

std::optional<MailOrder> read_mail_order(std::string_view json) {
  return read_order(parse_object(json));
}

std::optional<MailMessage> queued_mail(std::string_view text, const TemplateSets& templates) {
  const nlohmann::json json = parse_object(text);
  if (json.contains("html")) return read_rendered_mail(json);
  const auto order = read_order(json);
  if (!order) return std::nullopt;
  const auto found = templates.find(order->templates_dir);
  if (found == templates.end()) return std::nullopt;
  return compose_link_mail(*order, *found->second);
}

}  // namespace magic_link
