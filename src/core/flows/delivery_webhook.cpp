#include "core/flows/delivery_webhook.h"

#include <charconv>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "core/crypto/token.h"
#include "core/flows/request_link.h"
#include "core/metrics/metrics.h"

namespace magic_link {
namespace {

using Json = nlohmann::json;

// Mailgun's advice: refuse old signatures, so a captured event cannot be replayed later.
constexpr long long kSignatureLifetime = 15 * 60;

Outcome answer(int status, std::string_view said, LogLine::Level level, std::string log) {
  Outcome outcome;
  outcome.response =
      status == 200
          ? Response{200, "application/json", Json{{"success", true}, {"result", said}}.dump(), {}}
          : json_failure(status, said);
  outcome.log.push_back({level, "magic_link: mailgun webhook " + log});
  return outcome;
}

std::string text_at(const Json& object, const char* key) {
  const auto found = object.find(key);
  return found != object.end() && found->is_string() ? found->get<std::string>() : std::string();
}

// The user variable the mailer set: a string (as Mailgun hands variables back) or a number.
std::optional<int> link_id_of(const Json& data) {
  const auto variables = data.find("user-variables");
  if (variables == data.end() || !variables->is_object()) return std::nullopt;
  const auto id = variables->find("magic_link_id");
  if (id == variables->end()) return std::nullopt;
  if (id->is_number_integer()) return id->get<int>();
  if (!id->is_string()) return std::nullopt;
  const std::string text = id->get<std::string>();
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value <= 0) return std::nullopt;
  return value;
}

// delivered, a permanent failure (a bounce, or Mailgun suppressing a known bad address) and a
// spam complaint; nothing else says what became of the mail for good.
std::optional<DeliveryEvent::Kind> kind_of(const Json& data) {
  const std::string event = text_at(data, "event");
  if (event == "delivered") return DeliveryEvent::Kind::delivered;
  if (event == "complained") return DeliveryEvent::Kind::complained;
  if (event == "failed" && text_at(data, "severity") == "permanent") {
    return DeliveryEvent::Kind::bounced;
  }
  return std::nullopt;
}

std::string bounce_detail(const Json& data) {
  const auto status = data.find("delivery-status");
  if (status == data.end() || !status->is_object()) return text_at(data, "reason");
  std::string detail;
  if (const auto code = status->find("code"); code != status->end() && code->is_number()) {
    detail = std::to_string(code->get<long long>());
  }
  std::string said = text_at(*status, "description");
  if (said.empty()) said = text_at(*status, "message");
  if (!said.empty()) detail += (detail.empty() ? "" : " ") + said;
  return detail.empty() ? text_at(data, "reason") : detail;
}

constexpr metrics::Mail kMetricOf[] = {metrics::Mail::delivered, metrics::Mail::bounced,
                                       metrics::Mail::complained};

}  // namespace

std::variant<Outcome, MailgunEvent> read_mailgun_event(const Settings& shared, BodyFormat format,
                                                       std::string_view body, std::time_t now) {
  if (format != BodyFormat::json) {
    return answer(415, "Send the JSON events of Mailgun's current webhooks", LogLine::Level::info,
                  "refused: a form body (legacy webhooks)");
  }
  const Json json = Json::parse(body, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return answer(400, "Expected a Mailgun webhook event (JSON)", LogLine::Level::info,
                  "refused: not a JSON event");
  }
  static const Json kUnsigned = Json::object();
  const auto signed_part = json.find("signature");
  const Json& signature =
      signed_part != json.end() && signed_part->is_object() ? *signed_part : kUnsigned;
  const std::string timestamp = text_at(signature, "timestamp");
  const std::string token = text_at(signature, "token");
  const std::string expected = keyed_hash(shared.mailgun.webhook_signing_key, timestamp + token);
  if (timestamp.empty() || token.empty() ||
      !same_secret(text_at(signature, "signature"), expected)) {
    return answer(401, "Invalid signature", LogLine::Level::warn, "refused: bad signature");
  }
  const long long signed_at = std::strtoll(timestamp.c_str(), nullptr, 10);
  if (std::llabs(static_cast<long long>(now) - signed_at) > kSignatureLifetime) {
    return answer(401, "Stale signature", LogLine::Level::warn,
                  "refused: signature older than 15 minutes (or a clock is wrong)");
  }
  const auto data = json.find("event-data");
  if (data == json.end() || !data->is_object()) {
    return answer(400, "Expected event-data", LogLine::Level::info, "refused: no event-data");
  }
  const auto kind = kind_of(*data);
  const auto link_id = link_id_of(*data);
  if (!kind || !link_id) {
    return answer(200, "ignored", LogLine::Level::info,
                  "ignored: \"" + text_at(*data, "event").substr(0, 32) +
                      "\" event, or mail not sent by this module");
  }
  MailgunEvent event{token, *link_id, {*kind, 0, {}}};
  const auto at = data->find("timestamp");
  event.event.at =
      at != data->end() && at->is_number() ? at->get<double>() : static_cast<double>(signed_at);
  if (*kind == DeliveryEvent::Kind::bounced) event.event.detail = bounce_detail(*data);
  return event;
}

Outcome record_mailgun_event(const Settings& shared, const MailgunEvent& event,
                             Backends backends) try {
  const bool changed = backends.store.record_delivery_event(event.link_id, event.event);
  if (!backends.limiter.first_use(limit_key(shared, "mailgun-token", event.token),
                                  std::chrono::seconds(2 * kSignatureLifetime))) {
    return answer(406, "Replayed event", LogLine::Level::warn,
                  "refused: token seen before (a replay)");
  }
  metrics::count(kMetricOf[static_cast<int>(event.event.kind)]);
  return answer(200, changed ? "recorded" : "superseded", LogLine::Level::info,
                std::string(delivery_status_name(event.event.kind)) + " for link " +
                    std::to_string(event.link_id) +
                    (changed ? "" : ": not recorded (link gone, or a later event is)"));
} catch (const BackendError& error) {
  return unavailable(error.failure(), "mailgun webhook", ", Mailgun will retry");
}

}  // namespace magic_link
