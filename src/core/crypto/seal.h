// Queued mail holds the link, so it is stored sealed: deflated (zlib), then AES-256-GCM under a
// key derived from the module's secret. The raw token never sits in a database column in the
// clear. After a rotation, mail sealed under an older secret still opens. Deflating keeps a
// rendered mail (a few KB of HTML) small enough that PostgreSQL stores it inline, without
// trying to compress it or moving it out of line.
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
  // base64 of nonce, ciphertext and tag.
  std::string seal(std::string_view plaintext) const;
  // Nothing when the text was sealed under none of the secrets, or was altered.
  std::optional<std::string> open(std::string_view sealed) const;

 private:
  std::vector<std::string> keys_;
};

}  // namespace magic_link
