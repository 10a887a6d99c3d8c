// Fuzzes queued mail as read back from PostgreSQL: the outbox column holds
// base64(nonce | AES-256-GCM ciphertext | tag) of the mail's JSON. Whoever can write that
// column controls these bytes, so the sender must survive anything in it.
//
// Feeds: Sealer::open on the input (the stored column); deserialize on the input (the JSON a
// column would open to) and on whatever open() returns; Sealer::seal of the input.
// Checks: no crash or sanitizer report; open(seal(x)) == x for any bytes x, and a sealed text
// is valid base64 of 28 + |x| bytes; a deserialized mail re-serializes to a mail with the same
// fields (serialize/deserialize round trip). Tampered input never opens unless the fuzzer was
// handed a genuine sealed seed; either way an opened plaintext goes through deserialize.
//
// The secret is fixed, so fuzz/corpus/fuzz_sealed_mail/ can carry seeds sealed under it.
#include "core/ports/backend_error.h"
#include "core/render/mail.h"
#include "core/render/mime.h"
#include "core/crypto/seal.h"
#include "fuzz_util.h"

#include <zlib.h>

using magic_link::MailMessage;

namespace {

constexpr std::string_view kSecret = "fuzz-secret-fuzz-secret-fuzz-secret-0001";

const magic_link::Sealer& sealer() {
  static const magic_link::Sealer instance(kSecret);
  return instance;
}

bool same(const MailMessage& a, const MailMessage& b) {
  return a.to == b.to && a.from == b.from && a.subject == b.subject && a.text == b.text &&
         a.html == b.html;
}

void check_mail(std::string_view json) {
  const auto mail = magic_link::deserialize(json);
  if (!mail) return;
  // nlohmann refuses to dump invalid UTF-8, and deserialize only yields strings it parsed.
  const auto again = magic_link::deserialize(magic_link::serialize(*mail));
  FUZZ_CHECK(again.has_value() && same(*mail, *again));
  try {  // a stored mail that GMime cannot render is refused, never a crash
    (void)magic_link::render_mime(*mail, magic_link::Newlines::crlf);
  } catch (const magic_link::BackendError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = fuzz::text(data, size);

  if (const auto opened = sealer().open(input)) check_mail(*opened);
  check_mail(input);

  const std::string sealed = sealer().seal(input);
  // Nonce and tag (28 bytes) around at most zlib's bound of the input, in base64.
  FUZZ_CHECK(sealed.size() <= 4 * ((28 + compressBound(input.size()) + 2) / 3));
  FUZZ_CHECK(sealer().open(sealed) == std::optional<std::string>(input));
  return 0;
}
