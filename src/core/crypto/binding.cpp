#include "core/crypto/binding.h"

#include <algorithm>
#include <charconv>

#include "core/crypto/token.h"

namespace magic_link {
namespace {

constexpr size_t kIdBytes = 16;  // 128 random bits, 22 base64url characters
constexpr size_t kIdLength = 22;
constexpr size_t kMacLength = 32;  // hex: 128 bits of the HMAC

bool is_base64url(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

std::string owner_mac(std::string_view secret, std::string_view id, std::time_t until,
                      std::string_view email) {
  return keyed_hash(secret, "owner:" + std::string(id) + ":" + std::to_string(until) + ":" +
                                std::string(email))
      .substr(0, kMacLength);
}

}  // namespace

std::optional<Binding> read_binding(std::string_view value) {
  Binding binding;
  binding.id = std::string(value.substr(0, value.find('.')));
  if (binding.id.size() != kIdLength || !is_base64url(binding.id)) return std::nullopt;
  if (binding.id.size() == value.size()) return binding;
  const std::string_view proof = value.substr(kIdLength + 1);
  const size_t dot = proof.find('.');
  if (dot == std::string_view::npos) return binding;  // a proof it cannot read: the id alone
  const std::string_view until = proof.substr(0, dot);
  long long seconds = 0;
  if (std::from_chars(until.data(), until.data() + until.size(), seconds).ptr ==
      until.data() + until.size()) {
    binding.owner_until = static_cast<std::time_t>(seconds);
    binding.owner_mac = std::string(proof.substr(dot + 1));
  }
  return binding;
}

std::string new_binding_id() {
  return random_text(kIdBytes);
}

std::string binding_hash(std::string_view secret, std::string_view id) {
  return keyed_hash(secret, "device:" + std::string(id));
}

std::string binding_value(std::string_view secret, std::string_view id, std::string_view email,
                          std::time_t now) {
  if (email.empty()) return std::string(id);
  const std::time_t until = now + kBindingLifetime.count();
  return std::string(id) + "." + std::to_string(until) + "." + owner_mac(secret, id, until, email);
}

bool proves_owner(std::string_view secret, const Binding& binding, std::string_view email,
                  std::time_t now) {
  if (binding.owner_mac.empty() || binding.owner_until < now) return false;
  return same_secret(binding.owner_mac, owner_mac(secret, binding.id, binding.owner_until, email));
}

}  // namespace magic_link
