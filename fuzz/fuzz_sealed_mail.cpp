// Fuzzes queued mail as read back from PostgreSQL: the outbox column holds
// base64(nonce | AES-256-GCM ciphertext | tag) of the mail order's JSON (or, queued by earlier
// versions, of the rendered mail's JSON, maybe deflated). Whoever can write that column controls
// these bytes, so the sender must survive anything in it.
//
// Feeds: Sealer::open on the input (the stored column); queued_mail and read_mail_order on the
// input (the JSON a column would open to) and on whatever open() returns; Sealer::seal of the
// input.
// Checks: no crash or sanitizer report; open(seal(x)) == x for any JSON-object text x (what is
// sealed), and a sealed text is valid base64 of 28 + |x| bytes; an order read back re-serializes
// to an order with the same fields; a mail made from the JSON renders as MIME or is refused.
// Tampered input never opens unless the fuzzer was handed a genuine sealed seed; either way an
// opened plaintext goes through the readers.
//
// The secret is fixed, so fuzz/corpus/fuzz_sealed_mail/ can carry seeds sealed under it.
#include "core/ports/backend_error.h"
#include "core/render/mail.h"
#include "core/render/mime.h"
#include "core/crypto/seal.h"
#include "fuzz_util.h"

using magic_link::MailOrder;

namespace {

constexpr std::string_view kSecret = "fuzz-secret-fuzz-secret-fuzz-secret-0001";

const magic_link::Sealer& sealer() {
  static const magic_link::Sealer instance(kSecret);
  return instance;
}

// The shipped templates, under the folder name orders of the corpus carry.
const magic_link::TemplateSets& templates() {
  static const auto loaded = [] {
    std::string error;
    return magic_link::Templates::load(MAGIC_LINK_TEMPLATES, error);
  }();
  static const magic_link::TemplateSets sets = {
      {"/usr/share/nginx-magic-link/templates", &*loaded}};
  return sets;
}

bool same(const MailOrder& a, const MailOrder& b) {
  return a.to == b.to && a.link == b.link && a.from == b.from && a.subject == b.subject &&
         a.site_name == b.site_name && a.minutes == b.minutes && a.templates_dir == b.templates_dir;
}

void check_mail(std::string_view json) {
  if (const auto order = magic_link::read_mail_order(json)) {
    // nlohmann refuses to dump invalid UTF-8, and the reader only yields strings it parsed.
    const auto again = magic_link::read_mail_order(magic_link::serialize(*order));
    FUZZ_CHECK(again.has_value() && same(*order, *again));
  }
  const auto mail = magic_link::queued_mail(json, templates());
  if (!mail) return;
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

  if (!input.empty() && input.front() == '{') {
    const std::string sealed = sealer().seal(input);
    // Nonce and tag (28 bytes) around the input, in base64.
    FUZZ_CHECK(sealed.size() == 4 * ((28 + input.size() + 2) / 3));
    FUZZ_CHECK(sealer().open(sealed) == std::optional<std::string>(input));
  }
  return 0;
}
