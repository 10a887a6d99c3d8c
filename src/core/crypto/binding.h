// A browser's device binding: a random id in an HttpOnly cookie, of which links store only a
// keyed hash. Once the browser has signed in, the cookie also carries an owner proof: a MAC
// over the id, the address it signed in as and an expiry, so a later request for that address
// from this browser is known to come from its owner without a lookup.
#pragma once

#include <chrono>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace magic_link {

inline constexpr std::string_view kBindingCookie = "magic_link_device";
// How long the cookie, and an owner proof in it, last.
inline constexpr std::chrono::seconds kBindingLifetime{30 * 24 * 3600};

struct Binding {
  std::string id;
  std::time_t owner_until = 0;  // with an owner proof
  std::string owner_mac;
};

// The cookie's value read back; nothing when it is not one this module wrote.
std::optional<Binding> read_binding(std::string_view cookie_value);

std::string new_binding_id();

// What a link stores instead of the id.
std::string binding_hash(std::string_view secret, std::string_view id);

// The cookie value: the id alone, or with an owner proof for `email` (normalised) when given.
std::string binding_value(std::string_view secret, std::string_view id, std::string_view email,
                          std::time_t now);

// Whether the binding proves that this browser signed in as `email` within kBindingLifetime.
bool proves_owner(std::string_view secret, const Binding& binding, std::string_view email,
                  std::time_t now);

}  // namespace magic_link
