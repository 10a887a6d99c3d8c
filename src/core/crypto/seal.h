// Queued mail holds the link, so its order is stored sealed: AES-256-GCM under a key derived
// from the module's secret. The raw token never sits in a database column in the clear. After a
// rotation, mail sealed under an older secret still opens, and so does mail that earlier
// versions deflated (zlib) before sealing.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace magic_link {

class Sealer {
 public:
  // Seals under the first secret, opens under any.
  explicit Sealer(const std::vector<std::string_view>& secrets);
  explicit Sealer(std::string_view secret) : Sealer(std::vector<std::string_view>{secret}) {}
  // base64 of nonce, ciphertext and tag. The plaintext is a JSON object: open() tells it from
  // the deflated mail of earlier versions by its '{'.
  std::string seal(std::string_view plaintext) const;
  // Nothing when the text was sealed under none of the secrets, or was altered.
  std::optional<std::string> open(std::string_view sealed) const;

 private:
  std::vector<std::string> keys_;
};

}  // namespace magic_link
