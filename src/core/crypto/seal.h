// Queued mail holds the link, so it is stored sealed: AES-256-GCM under a key derived from the
// module's secret. The raw token never sits in a database column in the clear.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace magic_link {

class Sealer {
 public:
  explicit Sealer(std::string_view secret);
  // base64 of nonce, ciphertext and tag.
  std::string seal(std::string_view plaintext) const;
  // Nothing when the text was not sealed with this secret or was altered.
  std::optional<std::string> open(std::string_view sealed) const;

 private:
  std::string key_;
};

}  // namespace magic_link
