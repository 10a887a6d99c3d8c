#include "core/adapters/postgres/pg_link_store.h"

#include <cstdio>
#include <atomic>
#include <mutex>
#include <set>

#include "core/crypto/token.h"
#include "core/input/text_list.h"
#include "core/ports/backend_error.h"

namespace magic_link {
namespace {

// The schema as numbered migrations (sql/NNN_name.sql, embedded at build time by
// scripts/embed-sql.sh): each applied once, recorded in extension_magic_link_migrations; then
// the functions (sql/functions.sql), applied again whenever their text changes.
struct Migration {
  int version;
  const char* name;
  const char* sql;
};
#include "migrations.inc"

// One row per element of the parallel arrays (sql/functions.sql says how each travels).
constexpr const char* kEnqueue = R"sql(
SELECT extension_magic_link_enqueue($1::text[], $2::text[], $3::text[], $4::text[],
  $5::integer[], $6::boolean[], $7::text[], $8::text[], $9::boolean[], $10::text[], $11::text[],
  $12::boolean[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[])
)sql";

constexpr const char* kProcess = "SELECT extension_magic_link_process($1::integer)";

constexpr const char* kClaimMail = R"sql(
UPDATE extension_magic_link_outbox AS o
   SET lease_until = (now() AT TIME ZONE 'utc') + make_interval(secs => $2::integer / 1000.0),
       attempts = o.attempts + 1
  FROM extension_magic_link AS l
 WHERE l.id = o.link_id
   AND o.link_id IN (SELECT link_id FROM extension_magic_link_outbox
                      WHERE next_attempt_at <= (now() AT TIME ZONE 'utc')
                        AND (lease_until IS NULL OR lease_until < (now() AT TIME ZONE 'utc'))
                        AND link_id <> ALL($3::integer[])
                      ORDER BY next_attempt_at, link_id LIMIT $1::integer
                      FOR UPDATE SKIP LOCKED)
RETURNING o.link_id, o.sealed_mail, o.attempts,
          (NOT l.used AND l.expires_at > (now() AT TIME ZONE 'utc')) AS still_usable
)sql";

// Events may arrive out of order (Mailgun retries): the one that happened last stays.
constexpr const char* kDeliveryEvent = R"sql(
WITH event AS (SELECT to_timestamp($3::double precision) AT TIME ZONE 'utc' AS at)
UPDATE extension_magic_link
   SET delivery_status = $2, delivery_status_at = event.at,
       delivery_detail = left(nullif($4, ''), 255)
  FROM event
 WHERE id = $1::integer AND (delivery_status_at IS NULL OR delivery_status_at <= event.at)
RETURNING id
)sql";

constexpr const char* kOutboxDepth = "SELECT count(*)::integer FROM extension_magic_link_outbox";

// The lease's attempt is not counted: the mail was not tried.
constexpr const char* kReleaseMail = R"sql(
UPDATE extension_magic_link_outbox SET lease_until = NULL, attempts = attempts - 1
 WHERE link_id = $1::integer
)sql";

// A link superseded meanwhile keeps its audit text (`Superseded by new token`) whatever its
// mail did.
constexpr const char* kMailSent = R"sql(
WITH sent AS (DELETE FROM extension_magic_link_outbox WHERE link_id = $1::integer)
UPDATE extension_magic_link
   SET email_sent = true, email_error = CASE WHEN superseded_at IS NULL THEN NULL ELSE email_error END
 WHERE id = $1::integer
)sql";

constexpr const char* kMailRetry = R"sql(
WITH later AS (
  UPDATE extension_magic_link_outbox
     SET next_attempt_at = (now() AT TIME ZONE 'utc') + make_interval(secs => $3::integer / 1000.0),
         lease_until = NULL
   WHERE link_id = $1::integer)
UPDATE extension_magic_link
   SET email_error = CASE WHEN superseded_at IS NULL THEN left($2, 255) ELSE email_error END
 WHERE id = $1::integer
)sql";

constexpr const char* kMailGiveUp = R"sql(
WITH dropped AS (DELETE FROM extension_magic_link_outbox WHERE link_id = $1::integer)
UPDATE extension_magic_link
   SET email_sent = false,
       email_error = CASE WHEN superseded_at IS NULL THEN left($2, 255) ELSE email_error END
 WHERE id = $1::integer
)sql";

// Two deletes, each through an index (an OR of the two would read the whole table): expired
// links never used, among the live ones (idx_magic_link_live), and rows past the retention
// (idx_magic_link_created_at).
constexpr const char* kDeleteOld = R"sql(
WITH expired AS (
  DELETE FROM extension_magic_link
   WHERE token <> '' AND NOT used AND superseded_at IS NULL
     AND expires_at < (now() AT TIME ZONE 'utc') - interval '1 hour')
DELETE FROM extension_magic_link
 WHERE created_at < (now() AT TIME ZONE 'utc') - make_interval(days => $1::integer)
)sql";

constexpr const char* kClaim =
    "SELECT * FROM extension_magic_link_claim($1, $2::text[], $3::text[], $4::text[], $5::text[], "
    "$6::boolean, $7, $8, $9, $10, $11)";

constexpr const char* claim_action(LinkClaim::Action action) {
  switch (action) {
    case LinkClaim::Action::sign_in:
      return "sign_in";
    case LinkClaim::Action::same_device:
      return "same_device";
    case LinkClaim::Action::approve:
      return "approve";
    case LinkClaim::Action::approved:
      return "approved";
  }
  return "sign_in";
}

constexpr const char* kRelease = R"sql(
WITH session AS (DELETE FROM directus_sessions WHERE token = $2)
UPDATE extension_magic_link SET used = false, used_at = NULL, used_ip = NULL, used_user_agent = NULL
 WHERE id = $1::integer
)sql";

constexpr const char* kPreview = "SELECT * FROM extension_magic_link_preview($1::text[])";

constexpr const char* kUserEmail = "SELECT email FROM directus_users WHERE id = $1::uuid";
// By the primary key of directus_sessions: one index probe per check.
constexpr const char* kFindSession =
    "SELECT u.id::text, u.email::text, coalesce(u.role::text, ''), u.status = 'active', "
    "       array_to_string(extension_magic_link_role_chain(u.role), ',') "
    "FROM directus_sessions AS s JOIN directus_users AS u ON u.id = s.\"user\" "
    "WHERE s.token = $1 AND s.expires > now()";

// PostgreSQL's array literal, each element quoted.
std::string text_array(const std::vector<std::string>& items) {
  std::string literal = "{";
  for (const auto& item : items) {
    if (literal.size() > 1) literal += ',';
    literal += '"';
    for (char c : item) {
      if (c == '"' || c == '\\') literal += '\\';
      literal += c;
    }
    literal += '"';
  }
  return literal + "}";
}

RequestOutcome outcome_of(const std::string& name) {
  for (const RequestOutcome outcome : kRequestOutcomes) {
    if (name == outcome_name(outcome)) return outcome;
  }
  throw BackendError(Backend::postgres, "process", "unexpected request outcome " + name, false,
                     false);
}

// Indexes on Directus' tables, under the module's names: Directus' own indexes and migrations
// are left alone. Without them, a link request would scan every Directus user to find one by
// address, and every refresh (each sign-in through the module is one) would scan every session
// for the user's expired ones (Directus' clean-up; it has no index on "user").
struct DirectusIndex {
  const char* name;
  const char* create;
  bool DirectusIndexes::*wanted;
};
constexpr DirectusIndex kDirectusIndexes[] = {
    {"extension_magic_link_users_email",
     "CREATE INDEX IF NOT EXISTS extension_magic_link_users_email ON directus_users "
     "(lower(email))",
     &DirectusIndexes::user_emails},
    {"extension_magic_link_sessions_user",
     "CREATE INDEX IF NOT EXISTS extension_magic_link_sessions_user ON directus_sessions "
     "(\"user\", expires)",
     &DirectusIndexes::session_users},
};

// Builds an index on a Directus table in a savepoint, cancelled by PostgreSQL itself after two
// thirds of the call's deadline. A table too big to index in time, held by another transaction,
// or not the module's role's to index leaves the index to a later start of a worker (PostgreSQL
// logs the statement) instead of failing the schema, and with it every request; and Directus'
// own writes to that table wait behind the build no longer than that.
void create_within_budget(PgConnection& connection, const char* create) {
  const auto budget = connection.timeout() * 2 / 3;
  // One round trip: inside the open transaction the statements run in order, so a failed build
  // leaves the savepoint in place to roll back to.
  try {
    connection.run_script("SAVEPOINT directus_index; SET LOCAL statement_timeout = " +
                          std::to_string(budget.count()) + "; " + create +
                          "; RELEASE SAVEPOINT directus_index");
  } catch (const BackendError& error) {
    if (error.timed_out()) throw;  // the connection is gone, and the transaction with it
    connection.run_script("ROLLBACK TO SAVEPOINT directus_index");
  }
}

std::atomic<bool> schema_ready{false};
std::mutex schema_mutex;

// Applies the migrations this database has not seen, in order, and the functions if this text
// of them is new to it, in one transaction under an advisory lock, so workers and hosts starting
// together agree.
void apply_migrations(PgConnection& connection, const DirectusIndexes& indexes) {
  connection.run_script(
      "BEGIN; SELECT pg_advisory_xact_lock(hashtext('extension_magic_link schema'));"
      "CREATE TABLE IF NOT EXISTS extension_magic_link_migrations ("
      "  version integer PRIMARY KEY, name text NOT NULL,"
      "  applied_at timestamptz NOT NULL DEFAULT now());"
      "CREATE TABLE IF NOT EXISTS extension_magic_link_functions ("
      "  sha256 text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())");
  try {
    const PgResult applied = connection.run(
        "applied_migrations", "SELECT version FROM extension_magic_link_migrations", {});
    std::set<int> done;
    for (int row = 0; row < applied.rows(); ++row) done.insert(applied.integer(row, 0));
    for (const Migration& migration : kMigrations) {
      if (done.count(migration.version)) continue;
      connection.run_script(migration.sql);
      connection.run("record_migration",
                     "INSERT INTO extension_magic_link_migrations (version, name) "
                     "VALUES ($1::integer, $2)",
                     {std::to_string(migration.version), std::string(migration.name)});
    }
    const std::string functions_sha256 = sha256_hex(kFunctions);
    if (connection
            .run("functions_applied",
                 "SELECT 1 FROM extension_magic_link_functions WHERE sha256 = $1",
                 {functions_sha256})
            .rows() == 0) {
      connection.run_script(kFunctions);
      connection.run("record_functions",
                     "INSERT INTO extension_magic_link_functions (sha256) VALUES ($1)",
                     {functions_sha256});
    }
    for (const DirectusIndex& index : kDirectusIndexes) {
      if (indexes.*index.wanted &&
          connection.run("directus_index", "SELECT to_regclass($1) IS NULL", {index.name})
              .boolean(0, 0)) {
        create_within_budget(connection, index.create);
      }
    }
    connection.run_script("COMMIT");
  } catch (const BackendError&) {
    try {
      connection.run_script("ROLLBACK");
    } catch (const BackendError&) {  // the connection is gone: nothing is left open
    }
    throw;
  }
}
}  // namespace

PgLinkStore::PgLinkStore(std::string conninfo, Milliseconds timeout, DirectusIndexes indexes)
    : connection_(std::move(conninfo), timeout), indexes_(indexes) {}

// The first use in each process brings the schema up to date.
PgConnection& PgLinkStore::ready() {
  if (!schema_ready.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lock(schema_mutex);
    if (!schema_ready.load(std::memory_order_relaxed)) {
      apply_migrations(connection_, indexes_);
      schema_ready.store(true, std::memory_order_release);
    }
  }
  return connection_;
}

void PgLinkStore::enqueue_link_requests(const std::vector<LinkRequestRecord>& requests) {
  std::vector<const LinkRequestRecord*> each;
  for (const LinkRequestRecord& request : requests) each.push_back(&request);
  enqueue_link_requests(each);
}

void PgLinkStore::enqueue_link_requests(const std::vector<const LinkRequestRecord*>& requests) {
  const auto column = [&](auto field) {
    std::vector<std::string> values;
    for (const LinkRequestRecord* r : requests) values.push_back(field(*r));
    return text_array(values);
  };
  const auto flag = [](bool value) { return std::string(value ? "true" : "false"); };
  using R = const LinkRequestRecord&;
  ready().run(
      "enqueue", kEnqueue,
      {column([](R r) { return r.email; }), column([](R r) { return r.client_ip; }),
       column([](R r) { return r.user_agent; }), column([](R r) { return r.token_hash; }),
       column([](R r) { return std::to_string(r.expiration_minutes); }),
       column([&](R r) { return flag(r.email_rate_limited); }),
       column([&](R r) { return join_list(r.allowed_roles, ','); }),
       column([&](R r) { return join_list(r.disallowed_roles, ','); }),
       column([&](R r) { return flag(r.allow_admin); }),
       column([](R r) { return r.after_login_url; }), column([](R r) { return r.sealed_mail; }),
       column([&](R r) { return flag(r.allow_sso_users); }),
       column([](R r) { return r.device_hash; }), column([](R r) { return r.device.browser; }),
       column([](R r) { return r.device.os; }), column([](R r) { return r.device.language; }),
       column([](R r) { return r.device.network; })});
}

std::vector<RequestOutcome> PgLinkStore::process_link_requests(int limit) {
  const PgResult result = ready().run("process", kProcess, {std::to_string(limit)});
  std::vector<RequestOutcome> outcomes;
  for (int row = 0; row < result.rows(); ++row) outcomes.push_back(outcome_of(result.text(row, 0)));
  return outcomes;
}

std::vector<QueuedMail> PgLinkStore::claim_due_mail(int limit, Milliseconds lease,
                                                    const std::vector<int>& passed_over) {
  std::vector<std::string> ids;
  for (const int id : passed_over) ids.push_back(std::to_string(id));
  const PgResult result =
      ready().run("claim_mail", kClaimMail,
                  {std::to_string(limit), std::to_string(lease.count()), text_array(ids)});
  std::vector<QueuedMail> mails;
  for (int row = 0; row < result.rows(); ++row) {
    mails.push_back({result.integer(row, 0), result.text(row, 1), result.integer(row, 2),
                     result.boolean(row, 3)});
  }
  return mails;
}

bool PgLinkStore::record_delivery_event(int link_id, const DeliveryEvent& event) {
  char at[32];
  std::snprintf(at, sizeof at, "%.6f", event.at);
  return ready()
             .run("delivery_event", kDeliveryEvent,
                  {std::to_string(link_id), delivery_status_name(event.kind), at, event.detail})
             .rows() == 1;
}

std::int64_t PgLinkStore::outbox_depth() {
  return ready().run("outbox_depth", kOutboxDepth, {}).integer(0, 0);
}

void PgLinkStore::release_mail(int link_id) {
  ready().run("release_mail", kReleaseMail, {std::to_string(link_id)});
}

void PgLinkStore::mail_sent(int link_id) {
  ready().run("mail_sent", kMailSent, {std::to_string(link_id)});
}

void PgLinkStore::mail_failed(int link_id, const std::string& error,
                              std::optional<Milliseconds> retry_in) {
  if (retry_in) {
    ready().run("mail_retry", kMailRetry,
                {std::to_string(link_id), error, std::to_string(retry_in->count())});
  } else {
    ready().run("mail_give_up", kMailGiveUp, {std::to_string(link_id), error});
  }
}

void PgLinkStore::delete_old_rows(int retention_days) {
  ready().run("delete_old", kDeleteOld, {std::to_string(retention_days)});
}

std::optional<ClaimedLink> PgLinkStore::claim_link(const LinkClaim& c) {
  const PgResult result =
      ready().run("claim", kClaim,
                  {claim_action(c.action), text_array(c.token_hashes), text_array(c.device_hashes),
                   text_array(c.allowed_roles), text_array(c.disallowed_roles),
                   c.allow_admin ? "true" : "false", c.verified_tfa_secret_sha256, c.session_token,
                   c.client_ip, c.user_agent, c.origin});
  if (result.rows() == 0) return std::nullopt;
  const std::string outcome = result.text(0, 0);
  ClaimedLink link;
  link.state = outcome == "claimed"        ? ClaimedLink::State::claimed
               : outcome == "otp"          ? ClaimedLink::State::otp_required
               : outcome == "other_device" ? ClaimedLink::State::other_device
               : outcome == "approved"     ? ClaimedLink::State::approved
                                           : ClaimedLink::State::tfa_setup_required;
  link.link_id = result.integer(0, 1);
  link.stored_hash = result.text(0, 2);
  link.user_id = result.text(0, 3);
  link.email = result.text(0, 4);
  link.first_name = result.text(0, 5);
  link.last_name = result.text(0, 6);
  link.after_login_url = result.text(0, 7);
  link.tfa_secret = result.text(0, 8);
  return link;
}

void PgLinkStore::release_claim(int link_id, const std::string& session_token) {
  ready().run("release", kRelease, {std::to_string(link_id), session_token});
}

std::optional<LinkPreview> PgLinkStore::preview_link(const std::vector<std::string>& token_hashes) {
  const PgResult result = ready().run("preview", kPreview, {text_array(token_hashes)});
  if (result.rows() == 0) return std::nullopt;
  const std::string factor = result.text(0, 2);
  return LinkPreview{result.text(0, 0),
                     result.integer(0, 1),
                     factor == "otp"     ? SecondFactor::otp
                     : factor == "setup" ? SecondFactor::setup_required
                                         : SecondFactor::none,
                     result.text(0, 3),
                     result.integer(0, 4),
                     {result.text(0, 5), result.text(0, 6), result.text(0, 7), result.text(0, 8)}};
}

std::optional<std::string> PgLinkStore::user_email(const std::string& user_id) {
  const PgResult result = ready().run("user_email", kUserEmail, {user_id});
  if (result.rows() == 0) return std::nullopt;
  return result.text(0, 0);
}

std::optional<SessionOwner> PgLinkStore::find_session(const std::string& session_token) {
  const PgResult result = ready().run("find_session", kFindSession, {session_token});
  if (result.rows() == 0) return std::nullopt;
  SessionOwner owner{
      result.text(0, 0), result.text(0, 1), result.text(0, 2), {}, result.text(0, 3) == "t"};
  owner.role_chain = split_list(result.text(0, 4), ',');
  return owner;
}

}  // namespace magic_link
