// The request, redeem and outbox flows with fake backends injected: what each decides, and
// what it asks of the stores, limits, mailer and Directus.
#include "unit.h"

#include <ctime>
#include <set>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <zlib.h>

#include "core/ports/backend_error.h"
#include "core/flows/outbox.h"
#include "core/flows/delivery_webhook.h"
#include "core/render/pages.h"
#include "core/crypto/binding.h"
#include "core/crypto/encoding.h"
#include "core/flows/redeem_link.h"
#include "core/input/fingerprint.h"
#include "core/flows/request_link.h"
#include "core/crypto/token.h"
#include "core/render/mail.h"
#include "core/crypto/jwt.h"
#include "core/crypto/totp.h"

namespace {

using namespace magic_link;

Client test_client(std::optional<Binding> binding = std::nullopt) {
  Client client;
  client.ip = "1.2.3.4";
  client.user_agent = "ua";
  client.binding = std::move(binding);
  return client;
}

struct FakeLimiter : RateLimiter {
  LinkRequestVerdict link_verdict;
  std::vector<std::string> counted_keys;
  LimitVerdict redemption_verdict;
  int failures_counted = 0;
  bool down = false;
  int round_trips = 0;
  std::vector<LinkRequestVerdict> count_link_requests(
      const std::vector<LinkRequestLimits>& requests) override {
    if (down) throw BackendError(Backend::redis, "count_link_request", "no answer in time", true);
    ++round_trips;
    std::vector<LinkRequestVerdict> verdicts;
    for (const LinkRequestLimits& each : requests) {
      counted_keys = {each.client_key, each.email_key};
      verdicts.push_back(link_verdict);
    }
    return verdicts;
  }
  LimitVerdict check_redemptions(std::string_view, int) override { return redemption_verdict; }
  void count_failed_redemption(std::string_view) override { ++failures_counted; }
  std::set<std::string> used;
  bool first_use(std::string_view key, std::chrono::seconds) override {
    return used.insert(std::string(key)).second;
  }
};

struct FakeStore : LinkStore {
  std::vector<RequestOutcome> outcomes;
  std::vector<LinkRequestRecord> requests;
  std::optional<ClaimedLink> claimable;
  std::optional<std::string> tfa_secret;  // the user's 2FA secret, if any
  std::vector<LinkClaim> claims_made;
  int claims = 0, released = 0;
  std::vector<QueuedMail> queue;
  std::vector<std::pair<int, DeliveryEvent>> delivery_events;
  std::vector<std::pair<int, std::optional<Milliseconds>>> failures;
  std::vector<int> sent;

  int transactions = 0;
  bool enqueue_fails = false;
  void enqueue_link_requests(const std::vector<LinkRequestRecord>& batch) override {
    if (enqueue_fails) throw BackendError(Backend::postgres, "enqueue", "connection lost");
    ++transactions;
    requests.insert(requests.end(), batch.begin(), batch.end());
  }
  std::vector<RequestOutcome> process_link_requests(int) override { return std::move(outcomes); }
  std::vector<int> passed_over, released_mail;
  std::vector<QueuedMail> claim_due_mail(int, Milliseconds, const std::vector<int>& skip) override {
    passed_over = skip;
    return std::move(queue);
  }
  void release_mail(int id) override { released_mail.push_back(id); }
  bool recording_fails = false;  // the database goes away after SMTP accepted
  void mail_sent(int id) override {
    if (recording_fails) throw BackendError(Backend::postgres, "mail_sent", "connection lost");
    sent.push_back(id);
  }
  void mail_failed(int id, const std::string&, std::optional<Milliseconds> retry) override {
    failures.emplace_back(id, retry);
  }
  void delete_old_rows(int) override {}
  bool record_delivery_event(int link_id, const DeliveryEvent& event) override {
    delivery_events.emplace_back(link_id, event);
    return true;
  }
  std::int64_t outbox_depth() override { return static_cast<std::int64_t>(queue.size()); }
  // Like the database: a user with 2FA is claimed only with their secret's hash.
  std::optional<ClaimedLink> claim_link(const LinkClaim& claim) override {
    ++claims;
    claims_made.push_back(claim);
    if (!claimable || !tfa_secret) return claimable;
    ClaimedLink link = *claimable;
    if (claim.verified_tfa_secret_sha256 != sha256_hex(*tfa_secret)) {
      link.state = ClaimedLink::State::otp_required;
      link.tfa_secret = *tfa_secret;
    }
    return link;
  }
  void release_claim(int, const std::string&) override { ++released; }
  std::optional<LinkPreview> preview_link(const std::vector<std::string>&) override {
    return std::nullopt;
  }
  std::optional<std::string> user_email(const std::string&) override { return std::nullopt; }
  std::optional<SessionOwner> find_session(const std::string&) override { return std::nullopt; }
};

struct FakeMailer : Mailer {
  int sent = 0;
  bool down = false;
  std::vector<MailMessage> mails;
  void send(const MailMessage& mail, int) override {
    if (down) throw BackendError(Backend::mail, "send", "connection refused");
    ++sent;
    mails.push_back(mail);
  }
};

struct FakeDirectus : SessionIssuer {
  enum class Mode { ok, refuse, down } mode = Mode::ok;
  std::string refusal_code;  // Directus' error code when it refuses
  DirectusSession refresh(const SessionRow&, SessionMode) override {
    if (mode == Mode::refuse) throw DirectusRefused("answered 401", refusal_code);
    if (mode == Mode::down) throw BackendError(Backend::directus, "refresh", "connection refused");
    return {"access", "refresh", 900000, {}};
  }
  std::string current_user_id(const std::string&) override { return "u"; }
  void logout(const std::string&, SessionMode) override {}
};

struct World {
  Settings settings;
  Templates templates;
  TemplateSets template_sets;
  Sealer sealer{"0123456789abcdef0123456789abcdef"};
  FakeLimiter limiter;
  FakeStore store;
  FakeMailer mailer;
  FakeDirectus directus;

  World() {
    DirectiveValues values;
    values.set("magic_link_secret", {"0123456789abcdef0123456789abcdef"});
    values.set("magic_link_public_url", {"https://cms.example.com"});
    settings = *resolve_settings(
                    values, [](std::string_view) { return std::nullopt; }, "")
                    .settings;
    std::string error;
    templates = *Templates::load(MAGIC_LINK_TEMPLATES, error);
    template_sets = {{settings.templates_dir, &templates}};
  }
  Backends backends() { return {limiter, store, mailer, directus}; }
  MailMaker maker() const { return {sealer, template_sets}; }
  Outcome request(const std::string& email, Client client = test_client()) {
    LinkRequest request;
    request.email = email;
    request.link_base = "https://cms.example.com/v";
    request.client = std::move(client);
    request.after_login_url = settings.after_login_url;
    if (request.client.binding) request.binding_id = request.client.binding->id;
    return request_links(sealer, {{&settings, std::move(request)}}, backends()).at(0);
  }
};

void client_over_its_limit_gets_429_and_nothing_is_stored(void**) {
  World world;
  world.limiter.link_verdict.client = {false, std::chrono::seconds(1200)};
  const Outcome outcome = world.request("jane@example.com");
  assert_int_equal(outcome.response.status, 429);
  assert_string_equal(outcome.response.headers.at(0).first.c_str(), "Retry-After");
  assert_string_equal(outcome.response.headers.at(0).second.c_str(), "1200");
  assert_true(world.store.requests.empty());
}

void every_address_gets_the_same_answer_and_one_stored_request(void**) {
  std::string first;
  for (const char* email : {"jane@example.com", "nobody@example.com"}) {
    World world;
    const Outcome answer = world.request(email);
    assert_int_equal(answer.response.status, 200);
    if (first.empty()) first = answer.response.body;
    assert_string_equal(answer.response.body.c_str(), first.c_str());
    assert_true(answer.work_queued);
    assert_int_equal(world.store.requests.size(), 1);
  }
}

void processing_logs_each_outcome(void**) {
  World world;
  world.store.outcomes = {RequestOutcome::issued, RequestOutcome::admin_refused};
  DeliveryReport report;
  process_link_requests(world.backends(), report);
  assert_int_equal(report.requests, 2);
  assert_non_null(strstr(report.log.at(0).text.c_str(), "link issued"));
  assert_non_null(strstr(report.log.at(1).text.c_str(), "admin access"));
}

void email_over_its_limit_is_recorded_as_such(void**) {
  World world;
  world.limiter.link_verdict.email = {false, std::chrono::seconds(10)};
  world.request("jane@example.com");
  assert_true(world.store.requests.at(0).email_rate_limited);
}

// Requests that arrive together share one Redis round trip and one transaction; each gets its
// own answer, and a failure of the store answers only the requests it would have stored.
void a_batch_of_requests_shares_its_round_trips(void**) {
  World world;
  std::vector<LinkRequestJob> jobs;
  for (const char* email : {"jane@example.com", "nobody@example.com", "joe@example.com"}) {
    LinkRequest request;
    request.email = email;
    request.link_base = "https://cms.example.com/v";
    request.client = test_client();
    jobs.push_back({&world.settings, request});
  }
  std::vector<Outcome> outcomes = request_links(world.sealer, jobs, world.backends());
  assert_int_equal(outcomes.size(), 3);
  for (const Outcome& outcome : outcomes) assert_int_equal(outcome.response.status, 200);
  assert_int_equal(world.limiter.round_trips, 1);
  assert_int_equal(world.store.transactions, 1);
  assert_int_equal(world.store.requests.size(), 3);
  assert_string_equal(world.store.requests.at(1).email.c_str(), "nobody@example.com");
  assert_true(world.store.requests.at(0).token_hash != world.store.requests.at(2).token_hash);

  world.limiter.link_verdict.client = {false, std::chrono::seconds(60)};
  world.store.enqueue_fails = true;
  outcomes = request_links(world.sealer, jobs, world.backends());
  for (const Outcome& outcome : outcomes) assert_int_equal(outcome.response.status, 429);

  world.limiter.link_verdict.client = {true, std::chrono::seconds(0)};
  outcomes = request_links(world.sealer, jobs, world.backends());
  for (const Outcome& outcome : outcomes) assert_true(outcome.failure.has_value());
}

// What earlier versions sealed: `plaintext` under AES-256-GCM with a zero nonce.
std::string sealed_by_earlier_version(const std::string& secret, const std::string& plaintext) {
  const std::string key = hmac_sha256(secret, "magic-link outbox key v1");
  std::string raw(12 + plaintext.size() + 16, '\0');  // nonce, ciphertext, tag
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int length = 0;
  EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr,
                     reinterpret_cast<const unsigned char*>(key.data()), out);
  EVP_EncryptUpdate(ctx, out + 12, &length,
                    reinterpret_cast<const unsigned char*>(plaintext.data()),
                    static_cast<int>(plaintext.size()));
  EVP_EncryptFinal_ex(ctx, out + 12 + length, &length);
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, out + 12 + plaintext.size());
  EVP_CIPHER_CTX_free(ctx);
  return base64(raw);
}

std::string zlib_deflated(const std::string& text) {
  uLongf size = compressBound(text.size());
  std::string out(size, '\0');
  compress2(reinterpret_cast<Bytef*>(out.data()), &size,
            reinterpret_cast<const Bytef*>(text.data()), text.size(), Z_BEST_SPEED);
  out.resize(size);
  return out;
}

// Mail that earlier versions rendered on request and queued (as JSON, later deflated) still
// goes out after an upgrade, as it was rendered.
void mail_queued_by_earlier_versions_still_goes_out(void**) {
  World world;
  const std::string rendered = nlohmann::json{
      {"to", "jane@example.com"},
      {"from", "a@b.co"},
      {"subject", "Old subject"},
      {"text", "old text"},
      {"html", "<p>old html</p>"}}.dump();
  const std::string secret = world.settings.secret;
  world.store.queue = {{1, sealed_by_earlier_version(secret, rendered), 1, true},
                       {2, sealed_by_earlier_version(secret, zlib_deflated(rendered)), 1, true}};
  DeliveryReport report;
  OutboxMemory memory;
  deliver_due_mail(world.settings, world.maker(), world.backends(), report, memory);
  assert_int_equal(report.sent, 2);
  for (const MailMessage& mail : world.mailer.mails) {
    assert_string_equal(mail.subject.c_str(), "Old subject");
    assert_string_equal(mail.html.c_str(), "<p>old html</p>");
  }
}

void only_the_hash_is_stored_and_the_mail_is_sealed(void**) {
  World world;
  world.request("jane@example.com");
  const LinkRequestRecord& record = world.store.requests.at(0);
  const auto order = read_mail_order(*world.sealer.open(record.sealed_mail));
  assert_true(order.has_value());
  const auto at = order->link.find("token=");
  assert_true(at != std::string::npos);
  const std::string token = order->link.substr(at + 6, 43);
  assert_true(looks_like_token(token));
  assert_string_equal(record.token_hash.c_str(), keyed_hash(world.settings.secret, token).c_str());
  assert_true(record.sealed_mail.find(token) == std::string::npos);
}

void a_failed_backend_is_a_value_naming_backend_and_step(void**) {
  World world;
  world.limiter.down = true;
  const Outcome outcome = world.request("jane@example.com");
  assert_true(outcome.failure.has_value());
  assert_int_equal(outcome.failure->http_status(), 503);
  assert_string_equal(outcome.log.at(0).text.c_str(),
                      "magic_link: generate failed: redis unavailable: count_link_request: no "
                      "answer in time");
  // The one place that answers it speaks each audience's language.
  const Response api =
      unavailable_response(503, Audience::api, world.settings, world.templates, "/x");
  assert_string_equal(api.content_type.c_str(), "application/json");
  const Response page =
      unavailable_response(503, Audience::browser, world.settings, world.templates, "/x");
  assert_int_equal(page.status, 503);
  assert_non_null(strstr(page.content_type.c_str(), "text/html"));
  assert_non_null(strstr(page.body.c_str(), "action=\"/x\""));
}

const std::string kToken = "abcdefghijabcdefghijabcdefghijabcdefghij123";

void redeem(World& world, Redemption& out, const std::string& otp = "") {
  out = redeem_link(world.settings, {kToken, otp, "", test_client(), "", false}, SessionMode::json,
                    world.backends());
}

// RFC 6238's SHA-1 test key, "12345678901234567890", in base32.
const std::string kTfaSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

void totp_matches_rfc_6238_within_one_step(void**) {
  assert_string_equal(totp_code(kTfaSecret, 59).c_str(), "287082");
  assert_string_equal(totp_code(kTfaSecret, 1111111109).c_str(), "081804");
  assert_true(totp_matches(kTfaSecret, "081804", 1111111109));
  assert_true(totp_matches(kTfaSecret, "081804", 1111111109 + 30));
  assert_true(totp_matches(kTfaSecret, "081804", 1111111109 - 30));
  assert_false(totp_matches(kTfaSecret, "081804", 1111111109 + 60));
  assert_false(totp_matches(kTfaSecret, "081805", 1111111109));
  assert_false(totp_matches(kTfaSecret, "81804", 1111111109));
  assert_false(totp_matches(kTfaSecret, "08180a", 1111111109));
  assert_false(totp_matches("not base32!", "081804", 1111111109));
  assert_false(totp_matches("", "", 1111111109));
}

void session_jwts_are_checked_for_key_algorithm_issuer_and_expiry(void**) {
  const std::string secret = "directus-secret";
  const std::time_t now = 1700000000;
  const std::string jwt = bootstrap_session_jwt(secret, "user-1", "row-token", now);
  const auto claims = verify_session_jwt(secret, jwt, now + 29);
  assert_true(claims.has_value());
  assert_string_equal(claims->user_id.c_str(), "user-1");
  assert_string_equal(claims->session_token.c_str(), "row-token");
  assert_int_equal(claims->expires_at, now + 30);
  assert_false(verify_session_jwt(secret, jwt, now + 30).has_value());       // expired
  assert_false(verify_session_jwt("another-secret", jwt, now).has_value());  // foreign key
  assert_false(verify_session_jwt(secret, jwt + "x", now).has_value());      // altered signature
  assert_false(verify_session_jwt("", jwt, now).has_value());  // no key: never trusted
  // The same claims unsigned (alg none), and signed then stripped of the signature.
  const std::string unsigned_jwt =
      "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." +
      jwt.substr(jwt.find('.') + 1, jwt.rfind('.') - jwt.find('.') - 1) + ".";
  assert_false(verify_session_jwt(secret, unsigned_jwt, now).has_value());
  assert_false(verify_session_jwt(secret, jwt.substr(0, jwt.rfind('.') + 1), now).has_value());
}

ClaimedLink claimed(const World& world) {
  ClaimedLink link;
  link.link_id = 7;
  link.stored_hash = keyed_hash(world.settings.secret, kToken);
  link.user_id = "u";
  link.email = "jane@example.com";
  return link;
}

// After `magic_link_secret NEW OLD`, a link made under OLD is still found and redeemed.
void a_link_made_before_a_rotation_still_redeems(void**) {
  World world;
  const std::string older = world.settings.secret;
  world.store.claimable = claimed(world);  // stored under the older secret
  world.settings.secret = std::string(32, 'n');
  world.settings.older_secrets = {older};
  Redemption redemption;
  redeem(world, redemption);
  assert_int_equal(static_cast<int>(redemption.status),
                   static_cast<int>(Redemption::Status::redeemed));
  const auto& hashes = world.store.claims_made.at(0).token_hashes;
  assert_int_equal(hashes.size(), 2);
  assert_string_equal(hashes.at(0).c_str(), keyed_hash(world.settings.secret, kToken).c_str());
  assert_string_equal(hashes.at(1).c_str(), keyed_hash(older, kToken).c_str());
}

void redeeming_keeps_the_claim_once_directus_made_the_session(void**) {
  World world;
  world.store.claimable = claimed(world);
  Redemption redemption;
  redeem(world, redemption);
  assert_int_equal(static_cast<int>(redemption.status),
                   static_cast<int>(Redemption::Status::redeemed));
  assert_int_equal(world.store.claims, 1);
  assert_int_equal(world.store.released, 0);
  const Outcome answer = api_answer(world.settings, redemption);
  assert_int_equal(answer.response.status, 200);
  const auto body = nlohmann::json::parse(answer.response.body);
  assert_string_equal(body["data"]["access_token"].get<std::string>().c_str(), "access");
  assert_true(body["data"]["user"]["first_name"].is_null());
}

void a_2fa_user_needs_a_fresh_right_code_and_nothing_is_spent_before(void**) {
  World world;
  world.store.claimable = claimed(world);
  world.store.tfa_secret = kTfaSecret;
  Redemption redemption;

  redeem(world, redemption);
  assert_int_equal(static_cast<int>(redemption.status),
                   static_cast<int>(Redemption::Status::otp_required));
  assert_int_equal(world.limiter.failures_counted, 0);
  assert_int_equal(api_answer(world.settings, redemption).response.status, 401);

  redeem(world, redemption,
         "000000" == totp_code(kTfaSecret, std::time(nullptr)) ? "111111" : "000000");
  assert_int_equal(static_cast<int>(redemption.status),
                   static_cast<int>(Redemption::Status::otp_invalid));
  assert_int_equal(world.limiter.failures_counted, 1);

  const std::string code = totp_code(kTfaSecret, std::time(nullptr));
  redeem(world, redemption, code);
  assert_int_equal(static_cast<int>(redemption.status),
                   static_cast<int>(Redemption::Status::redeemed));
  assert_string_equal(world.store.claims_made.back().verified_tfa_secret_sha256->c_str(),
                      sha256_hex(kTfaSecret).c_str());

  redeem(world, redemption, code);  // the same code again
  assert_int_equal(static_cast<int>(redemption.status),
                   static_cast<int>(Redemption::Status::otp_invalid));
  assert_int_equal(world.limiter.failures_counted, 2);
}

void directus_down_releases_the_link(void**) {
  World world;
  world.store.claimable = claimed(world);
  world.directus.mode = FakeDirectus::Mode::down;
  Redemption redemption;
  redeem(world, redemption);
  assert_int_equal(static_cast<int>(redemption.status),
                   static_cast<int>(Redemption::Status::unavailable));
  assert_int_equal(redemption.failure.http_status(), 502);
  assert_true(api_answer(world.settings, redemption).failure.has_value());
  assert_int_equal(world.store.released, 1);
  assert_int_equal(world.limiter.failures_counted, 0);
}

void directus_refusal_releases_and_counts_a_failure(void**) {
  World world;
  world.store.claimable = claimed(world);
  world.directus.mode = FakeDirectus::Mode::refuse;
  Redemption redemption;
  redeem(world, redemption);
  assert_int_equal(api_answer(world.settings, redemption).response.status, 401);
  assert_int_equal(world.store.released, 1);
  assert_int_equal(world.limiter.failures_counted, 1);
}

void a_locked_licence_or_a_suspended_user_is_named_and_spends_nothing(void**) {
  for (const auto& [code, status] : {std::pair<std::string, int>{"RESOURCE_RESTRICTED", 503},
                                     std::pair<std::string, int>{"USER_SUSPENDED", 403}}) {
    World world;
    world.store.claimable = claimed(world);
    world.directus.mode = FakeDirectus::Mode::refuse;
    world.directus.refusal_code = code;
    Redemption redemption;
    redeem(world, redemption);
    const Outcome answer = api_answer(world.settings, redemption);
    assert_int_equal(answer.response.status, status);
    assert_non_null(strstr(answer.response.body.c_str(), code.c_str()));
    assert_int_equal(world.store.released, 1);            // the link works again
    assert_int_equal(world.limiter.failures_counted, 0);  // not the person's fault
    const Response page =
        page_answer(world.settings, world.templates, redemption, kToken, "/v").response;
    assert_int_equal(page.status, status);
    assert_non_null(strstr(page.body.c_str(), code == "USER_SUSPENDED" ? "suspended" : "licence"));
  }
}

void unknown_links_count_as_failures_and_limits_answer_429(void**) {
  World world;
  Redemption redemption;
  redeem(world, redemption);
  assert_int_equal(api_answer(world.settings, redemption).response.status, 401);
  assert_int_equal(world.limiter.failures_counted, 1);

  world.limiter.redemption_verdict = {false, std::chrono::seconds(60)};
  redeem(world, redemption);
  const Outcome limited = api_answer(world.settings, redemption);
  assert_int_equal(limited.response.status, 429);
  assert_string_equal(limited.response.headers.at(0).second.c_str(), "60");
}

const char* const kLink = "https://cms.example.com/v?token=abc";

QueuedMail queued(const World& world, int id, int attempts, bool usable) {
  return {id,
          world.sealer.seal(serialize(link_mail_order(world.settings, "jane@example.com", kLink))),
          attempts, usable};
}

void outbox_sends_and_backs_off_when_smtp_fails(void**) {
  World world;
  world.store.queue = {queued(world, 1, 1, true), queued(world, 2, 1, false)};
  DeliveryReport report;
  OutboxMemory memory;
  deliver_due_mail(world.settings, world.maker(), world.backends(), report, memory);
  assert_int_equal(report.sent, 1);
  assert_int_equal(report.dropped, 1);
  assert_int_equal(world.store.sent.at(0), 1);
  assert_false(world.store.failures.at(0).second.has_value());  // not usable: given up

  world.store.failures.clear();
  world.mailer.down = true;
  world.mailer.sent = 0;
  world.store.queue = {queued(world, 3, 3, true), queued(world, 4, 1, true)};
  report = {};
  deliver_due_mail(world.settings, world.maker(), world.backends(), report, memory);
  assert_int_equal(report.retrying, 2);
  assert_int_equal(world.store.failures.at(0).second->count(), 4000);  // third attempt: 4s
  assert_int_equal(world.store.failures.at(1).second->count(), 1000);
}

// The queued order is rendered when sent, with its location's templates and settings.
void a_queued_order_is_rendered_when_sent(void**) {
  World world;
  world.store.queue = {queued(world, 1, 1, true)};
  DeliveryReport report;
  OutboxMemory memory;
  deliver_due_mail(world.settings, world.maker(), world.backends(), report, memory);
  assert_int_equal(report.sent, 1);
  const MailMessage& mail = world.mailer.mails.at(0);
  assert_string_equal(mail.to.c_str(), "jane@example.com");
  assert_string_equal(mail.subject.c_str(), world.settings.subject.c_str());
  assert_string_equal(mail.from.c_str(), world.settings.email_from.c_str());
  assert_non_null(strstr(mail.text.c_str(), kLink));
  assert_non_null(strstr(mail.html.c_str(), kLink));
}

// An order naming templates this host's configuration does not load is left for a host that
// does, like mail sealed under another secret.
void mail_with_templates_elsewhere_is_left_for_another_host(void**) {
  World world;
  MailOrder order = link_mail_order(world.settings, "jane@example.com", kLink);
  order.templates_dir = "/etc/nginx/other-site-templates";
  world.store.queue = {{3, world.sealer.seal(serialize(order)), 1, true}};
  DeliveryReport report;
  OutboxMemory memory;
  deliver_due_mail(world.settings, world.maker(), world.backends(), report, memory);
  assert_int_equal(report.sent, 0);
  assert_true(world.store.failures.empty());
  assert_int_equal(world.store.released_mail.at(0), 3);
  assert_non_null(strstr(report.log.at(0).text.c_str(), "templates folder"));
}

// SMTP accepted, then recording it failed: the next run records it first and never resends it.
void a_sent_mail_is_recorded_later_not_sent_again(void**) {
  World world;
  world.store.queue = {queued(world, 7, 1, true), queued(world, 8, 1, true)};
  world.store.recording_fails = true;
  OutboxMemory memory;
  DeliveryReport report =
      run_background_work(world.settings, world.maker(), world.backends(), false, memory);
  assert_true(report.failure.has_value());
  assert_int_equal(world.mailer.sent, 1);  // the batch stopped at the failure
  assert_int_equal(memory.unrecorded.size(), 1);

  world.store.recording_fails = false;
  report = run_background_work(world.settings, world.maker(), world.backends(), false, memory);
  assert_false(report.failure.has_value());
  assert_int_equal(world.mailer.sent, 1);  // recorded, not sent again
  assert_int_equal(world.store.sent.at(0), 7);
  assert_true(memory.unrecorded.empty());
}

// Mail sealed under a secret this host lacks is given back, not dropped, and passed over later.
void mail_sealed_elsewhere_is_left_for_another_host(void**) {
  World world;
  const Sealer other{"another host's secret, at least 32 chars long"};
  QueuedMail foreign = queued(world, 5, 1, true);
  foreign.sealed_mail =
      other.seal(serialize(link_mail_order(world.settings, "jane@example.com", kLink)));
  world.store.queue = {foreign, queued(world, 6, 1, true)};
  OutboxMemory memory;
  DeliveryReport report;
  deliver_due_mail(world.settings, world.maker(), world.backends(), report, memory);
  assert_int_equal(report.sent, 1);
  assert_int_equal(report.dropped, 0);
  assert_true(world.store.failures.empty());  // nothing recorded against the link
  assert_int_equal(world.store.released_mail.size(), 1);
  assert_int_equal(world.store.released_mail.at(0), 5);
  assert_non_null(strstr(report.log.at(0).text.c_str(), "left for a host that does"));

  report = {};
  deliver_due_mail(world.settings, world.maker(), world.backends(), report, memory);
  assert_int_equal(world.store.passed_over.size(), 1);
  assert_int_equal(world.store.passed_over.at(0), 5);
}

// A Mailgun event signed with `key` at `timestamp`, for the module's mail of `link_id`.
std::string mailgun_event(const std::string& key, std::time_t timestamp, nlohmann::json data) {
  const std::string stamp = std::to_string(timestamp), token = "0123456789abcdef0123456789";
  return nlohmann::json{{"signature",
                         {{"timestamp", stamp},
                          {"token", token},
                          {"signature", magic_link::keyed_hash(key, stamp + token)}}},
                        {"event-data", std::move(data)}}
      .dump();
}

void mailgun_events_are_believed_only_signed_and_fresh(void**) {
  World world;
  world.settings.mailgun.webhook_signing_key = "signing-key";
  const std::time_t now = 1800000000;
  const nlohmann::json bounce = {{"event", "failed"},
                                 {"severity", "permanent"},
                                 {"timestamp", 1799999990.5},
                                 {"delivery-status", {{"code", 550}, {"message", "gone"}}},
                                 {"user-variables", {{"magic_link_id", "42"}}}};
  auto read = [&](const std::string& body) {
    return read_mailgun_event(world.settings, BodyFormat::json, body, now);
  };
  auto status = [](const std::variant<Outcome, MailgunEvent>& read) {
    return std::get<Outcome>(read).response.status;
  };
  const auto event = read(mailgun_event("signing-key", now - 60, bounce));
  const auto& signed_event = std::get<MailgunEvent>(event);
  assert_int_equal(signed_event.link_id, 42);
  assert_true(signed_event.event.kind == DeliveryEvent::Kind::bounced);
  assert_string_equal(signed_event.event.detail.c_str(), "550 gone");
  assert_true(signed_event.event.at == 1799999990.5);

  assert_int_equal(status(read(mailgun_event("another-key", now, bounce))), 401);
  assert_int_equal(status(read(mailgun_event("signing-key", now - 16 * 60, bounce))), 401);
  assert_int_equal(status(read(mailgun_event("signing-key", now + 16 * 60, bounce))), 401);
  assert_int_equal(status(read("[1, 2]")), 400);
  for (const auto& id : {nlohmann::json("0"), nlohmann::json("4x"), nlohmann::json(nullptr)}) {
    nlohmann::json foreign = bounce;
    foreign["user-variables"]["magic_link_id"] = id;
    assert_int_equal(status(read(mailgun_event("signing-key", now, foreign))), 200);  // ignored
  }
  nlohmann::json numeric = bounce;
  numeric["user-variables"]["magic_link_id"] = 7;
  assert_int_equal(std::get<MailgunEvent>(read(mailgun_event("signing-key", now, numeric))).link_id,
                   7);

  // Recorded once; the same token again is a replay.
  assert_int_equal(
      record_mailgun_event(world.settings, signed_event, world.backends()).response.status, 200);
  assert_int_equal(world.store.delivery_events.size(), 1);
  assert_int_equal(
      record_mailgun_event(world.settings, signed_event, world.backends()).response.status, 406);
}

void relayed_cookies_are_secure_behind_https(void**) {
  World world;  // public URL https://cms.example.com
  assert_string_equal(relay_cookie(world.settings, "a=1; Path=/; HttpOnly").c_str(),
                      "a=1; Path=/; HttpOnly; Secure");
  assert_string_equal(relay_cookie(world.settings, "a=1; Path=/; HttpOnly; SecureX").c_str(),
                      "a=1; Path=/; HttpOnly; SecureX; Secure");
  assert_string_equal(relay_cookie(world.settings, "a=1; secure ; Path=/").c_str(),
                      "a=1; secure ; Path=/");
  world.settings.public_url.scheme = "http";
  assert_string_equal(relay_cookie(world.settings, "a=1").c_str(), "a=1");
}

}  // namespace

void a_binding_proves_its_owner_only_for_its_address_and_time(void**) {
  const std::string secret = "0123456789abcdef0123456789abcdef";
  const std::string id = new_binding_id();
  const auto plain = read_binding(binding_value(secret, id, "", 1000));
  assert_true(plain.has_value());
  assert_string_equal(plain->id.c_str(), id.c_str());
  assert_false(proves_owner(secret, *plain, "jane@example.com", 1000));

  const auto owner = read_binding(binding_value(secret, id, "jane@example.com", 1000));
  assert_true(owner.has_value());
  assert_true(proves_owner(secret, *owner, "jane@example.com", 2000));
  assert_false(proves_owner(secret, *owner, "john@example.com", 2000));
  assert_false(
      proves_owner("another secret, at least 32 chars!", *owner, "jane@example.com", 2000));
  assert_false(
      proves_owner(secret, *owner, "jane@example.com", 1000 + kBindingLifetime.count() + 1));
  Binding stretched = *owner;
  stretched.owner_until += 3600;  // a later expiry is not what was signed
  assert_false(proves_owner(secret, stretched, "jane@example.com", 2000));

  assert_false(read_binding("").has_value());
  assert_false(read_binding("short").has_value());
  assert_false(read_binding(std::string(22, '*')).has_value());
}

void the_fingerprint_is_coarse(void**) {
  struct Case {
    const char* user_agent;
    const char* accept_language;
    const char* ip;
    Fingerprint expected;
  };
  const Case cases[] = {
      {"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
       "de-CH,de;q=0.9,en;q=0.8",
       "203.0.113.77",
       {"Firefox", "Linux", "de-CH", "203.0.113.0/24"}},
      {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
       "Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
       "<script>",
       "2001:db8:abcd:12::1",
       {"Safari", "iOS", "", "2001:db8:abcd::/48"}},
      {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
       "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
       "",
       "unix:",
       {"Edge", "Windows", "", ""}},
  };
  for (const Case& c : cases) {
    const Fingerprint got = coarse_fingerprint(c.user_agent, c.accept_language, c.ip);
    assert_string_equal(got.browser.c_str(), c.expected.browser.c_str());
    assert_string_equal(got.os.c_str(), c.expected.os.c_str());
    assert_string_equal(got.language.c_str(), c.expected.language.c_str());
    assert_string_equal(got.network.c_str(), c.expected.network.c_str());
  }
}

// Strangers spend the address's allowance; its owner's browser counts against one of its own.
void the_owners_browser_has_an_allowance_of_its_own(void**) {
  World world;
  world.request("jane@example.com");
  const std::vector<std::string> stranger = world.limiter.counted_keys;
  world.request("jane@example.com",
                test_client(read_binding(binding_value(world.settings.secret, new_binding_id(),
                                                       "jane@example.com", std::time(nullptr)))));
  const std::vector<std::string> owner = world.limiter.counted_keys;
  assert_int_equal(owner.size(), 2);
  assert_string_not_equal(owner[0].c_str(), stranger[0].c_str());
  assert_string_not_equal(owner[1].c_str(), stranger[1].c_str());
  // A binding that signed in as someone else is a stranger's.
  world.request("jane@example.com",
                test_client(read_binding(binding_value(world.settings.secret, new_binding_id(),
                                                       "john@example.com", std::time(nullptr)))));
  assert_string_equal(world.limiter.counted_keys[1].c_str(), stranger[1].c_str());
  // A bound request stores the binding's keyed hash and the coarse fingerprint, not the id.
  const LinkRequestRecord& bound = world.store.requests.back();
  assert_int_equal(bound.device_hash.size(), 64);
  assert_string_equal(bound.device.network.c_str(), "1.2.3.0/24");
}

void the_api_never_spends_a_link_bound_to_another_browser(void**) {
  World world;
  world.store.claimable = claimed(world);
  world.store.claimable->state = ClaimedLink::State::other_device;
  Redemption redemption;
  redeem(world, redemption);
  assert_int_equal(static_cast<int>(redemption.status),
                   static_cast<int>(Redemption::Status::other_device));
  assert_int_equal(static_cast<int>(world.store.claims_made.back().action),
                   static_cast<int>(LinkClaim::Action::same_device));
  assert_int_equal(world.limiter.failures_counted, 0);
  const Outcome answer = api_answer(world.settings, redemption);
  assert_int_equal(answer.response.status, 403);
  assert_non_null(strstr(answer.response.body.c_str(), "DEVICE_MISMATCH"));
}

GroupResult run_flows_tests() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(client_over_its_limit_gets_429_and_nothing_is_stored),
      cmocka_unit_test(every_address_gets_the_same_answer_and_one_stored_request),
      cmocka_unit_test(processing_logs_each_outcome),
      cmocka_unit_test(email_over_its_limit_is_recorded_as_such),
      cmocka_unit_test(a_batch_of_requests_shares_its_round_trips),
      cmocka_unit_test(mail_queued_by_earlier_versions_still_goes_out),
      cmocka_unit_test(only_the_hash_is_stored_and_the_mail_is_sealed),
      cmocka_unit_test(a_failed_backend_is_a_value_naming_backend_and_step),
      cmocka_unit_test(a_link_made_before_a_rotation_still_redeems),
      cmocka_unit_test(redeeming_keeps_the_claim_once_directus_made_the_session),
      cmocka_unit_test(totp_matches_rfc_6238_within_one_step),
      cmocka_unit_test(session_jwts_are_checked_for_key_algorithm_issuer_and_expiry),
      cmocka_unit_test(a_2fa_user_needs_a_fresh_right_code_and_nothing_is_spent_before),
      cmocka_unit_test(directus_down_releases_the_link),
      cmocka_unit_test(directus_refusal_releases_and_counts_a_failure),
      cmocka_unit_test(a_locked_licence_or_a_suspended_user_is_named_and_spends_nothing),
      cmocka_unit_test(unknown_links_count_as_failures_and_limits_answer_429),
      cmocka_unit_test(outbox_sends_and_backs_off_when_smtp_fails),
      cmocka_unit_test(a_queued_order_is_rendered_when_sent),
      cmocka_unit_test(mail_with_templates_elsewhere_is_left_for_another_host),
      cmocka_unit_test(a_sent_mail_is_recorded_later_not_sent_again),
      cmocka_unit_test(mail_sealed_elsewhere_is_left_for_another_host),
      cmocka_unit_test(mailgun_events_are_believed_only_signed_and_fresh),
      cmocka_unit_test(relayed_cookies_are_secure_behind_https),
      cmocka_unit_test(a_binding_proves_its_owner_only_for_its_address_and_time),
      cmocka_unit_test(the_fingerprint_is_coarse),
      cmocka_unit_test(the_owners_browser_has_an_allowance_of_its_own),
      cmocka_unit_test(the_api_never_spends_a_link_bound_to_another_browser),
  };
  return run_group("flows", tests);
}
