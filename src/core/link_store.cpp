#include "core/link_store.h"

#include <atomic>
#include <mutex>

#include "core/backend_error.h"

namespace magic_link {
namespace {

// The extension's table and indexes as its README creates them, then what this module adds.
// Idempotent, serialised by an advisory lock so workers and nodes starting together agree.
constexpr const char* kSchema = R"sql(
BEGIN;
SELECT pg_advisory_xact_lock(hashtext('extension_magic_link schema'));
CREATE TABLE IF NOT EXISTS extension_magic_link (
  id serial PRIMARY KEY,
  email varchar(255) NOT NULL,
  token varchar(255) NOT NULL,
  expires_at timestamp NOT NULL,
  ip_address varchar(255) NOT NULL,
  user_agent text,
  used boolean NOT NULL DEFAULT false,
  created_at timestamp NOT NULL,
  email_sent boolean DEFAULT NULL,
  email_error varchar(255)
);
CREATE INDEX IF NOT EXISTS idx_magic_link_token ON extension_magic_link(token);
CREATE INDEX IF NOT EXISTS idx_magic_link_email ON extension_magic_link(email);
CREATE INDEX IF NOT EXISTS idx_magic_link_created_at ON extension_magic_link(created_at);
ALTER TABLE extension_magic_link
  ADD COLUMN IF NOT EXISTS user_id uuid,
  ADD COLUMN IF NOT EXISTS superseded_at timestamp,
  ADD COLUMN IF NOT EXISTS used_at timestamp,
  ADD COLUMN IF NOT EXISTS used_ip varchar(255),
  ADD COLUMN IF NOT EXISTS used_user_agent text,
  ADD COLUMN IF NOT EXISTS after_login_url text;
CREATE TABLE IF NOT EXISTS extension_magic_link_outbox (
  link_id integer PRIMARY KEY REFERENCES extension_magic_link(id) ON DELETE CASCADE,
  sealed_mail text NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamp NOT NULL,
  lease_until timestamp,
  created_at timestamp NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_magic_link_outbox_due ON extension_magic_link_outbox(next_attempt_at);

-- The extension's role rules: allowed list set -> only those; disallowed list -> all but those.
CREATE OR REPLACE FUNCTION extension_magic_link_role_allowed(
  p_role uuid, p_allowed_roles text[], p_disallowed_roles text[])
RETURNS boolean LANGUAGE sql IMMUTABLE AS $fn$
  SELECT (cardinality(p_allowed_roles) = 0 OR coalesce(p_role::text = ANY(p_allowed_roles), false))
     AND NOT coalesce(p_role::text = ANY(p_disallowed_roles), false)
$fn$;

-- One round trip per link request, doing the same work whether or not the user exists.
CREATE OR REPLACE FUNCTION extension_magic_link_request(
  p_email text, p_ip text, p_user_agent text, p_token_hash text, p_minutes integer,
  p_allowed_roles text[], p_disallowed_roles text[], p_rate_limited boolean,
  p_after_login_url text, p_sealed_mail text)
RETURNS text LANGUAGE plpgsql AS $fn$
DECLARE
  now_utc timestamp := now() AT TIME ZONE 'utc';
  found_user record;
  refusal text;
  link_id integer;
BEGIN
  SELECT id, status, role INTO found_user FROM directus_users
   WHERE lower(email) = p_email ORDER BY (status = 'active') DESC LIMIT 1;
  refusal := CASE
    WHEN p_rate_limited THEN 'Rate limit exceeded'
    WHEN found_user.id IS NULL THEN 'User not found'
    WHEN found_user.status <> 'active' THEN 'User not active'
    WHEN NOT extension_magic_link_role_allowed(found_user.role, p_allowed_roles,
                                               p_disallowed_roles) THEN 'Role not allowed'
  END;
  IF refusal IS NOT NULL THEN
    -- An audit row that no token can match; it never touches the user's valid link.
    INSERT INTO extension_magic_link (email, token, expires_at, ip_address, user_agent, used,
                                      created_at, email_sent, email_error, user_id)
    VALUES (p_email, '', now_utc, p_ip, p_user_agent, false, now_utc, false, refusal,
            found_user.id);
    RETURN refusal;
  END IF;
  -- Serialises issuing per email, so at most one link per email is valid at any time.
  PERFORM pg_advisory_xact_lock(hashtextextended('extension_magic_link:' || p_email, 0));
  UPDATE extension_magic_link SET superseded_at = now_utc
   WHERE email = p_email AND token <> '' AND NOT used AND superseded_at IS NULL
     AND expires_at > now_utc;
  INSERT INTO extension_magic_link (email, token, expires_at, ip_address, user_agent, used,
                                    created_at, user_id, after_login_url)
  VALUES (p_email, p_token_hash, now_utc + make_interval(mins => p_minutes), p_ip, p_user_agent,
          false, now_utc, found_user.id, p_after_login_url)
  RETURNING id INTO link_id;
  INSERT INTO extension_magic_link_outbox (link_id, sealed_mail, next_attempt_at, created_at)
  VALUES (link_id, p_sealed_mail, now_utc, now_utc);
  RETURN 'issued';
END
$fn$;

-- One round trip per redemption: spend the link, check its user again, open a session row.
CREATE OR REPLACE FUNCTION extension_magic_link_claim(
  p_token_hash text, p_allowed_roles text[], p_disallowed_roles text[], p_session_token text,
  p_ip text, p_user_agent text, p_origin text)
RETURNS TABLE (link_id integer, stored_hash text, user_id uuid, email text, first_name text,
               last_name text, after_login_url text)
LANGUAGE plpgsql AS $fn$
DECLARE
  now_utc timestamp := now() AT TIME ZONE 'utc';
  link record;
  person record;
BEGIN
  -- Concurrent claims queue on the row lock; once the first commits, the row no longer matches
  -- for the others (PostgreSQL re-checks it), so exactly one wins.
  SELECT l.id, l.token, l.user_id, l.after_login_url INTO link FROM extension_magic_link AS l
   WHERE l.token = p_token_hash AND l.token <> '' AND NOT l.used AND l.superseded_at IS NULL
     AND l.expires_at > now_utc
     FOR UPDATE;
  IF link.id IS NULL THEN RETURN; END IF;
  SELECT u.id, u.email, u.first_name, u.last_name, u.status, u.role INTO person
    FROM directus_users AS u WHERE u.id = link.user_id;
  IF person.id IS NULL OR person.status <> 'active'
     OR NOT extension_magic_link_role_allowed(person.role, p_allowed_roles, p_disallowed_roles) THEN
    RETURN;
  END IF;
  UPDATE extension_magic_link
     SET used = true, used_at = now_utc, used_ip = p_ip, used_user_agent = p_user_agent
   WHERE id = link.id;
  -- Directus turns this row into a real session on /auth/refresh, within the minute.
  INSERT INTO directus_sessions (token, "user", expires, ip, user_agent, origin)
  VALUES (p_session_token, person.id, now() + interval '1 minute', p_ip, p_user_agent, p_origin);
  RETURN QUERY SELECT link.id, link.token::text, person.id, person.email::text,
                      person.first_name::text, person.last_name::text, link.after_login_url;
END
$fn$;
COMMIT;
)sql";

constexpr const char* kRequest =
    "SELECT extension_magic_link_request($1, $2, $3, $4, $5::integer, $6::text[], $7::text[], "
    "$8::boolean, $9, $10)";

constexpr const char* kClaimMail = R"sql(
UPDATE extension_magic_link_outbox AS o
   SET lease_until = (now() AT TIME ZONE 'utc') + make_interval(secs => $2::integer / 1000.0),
       attempts = o.attempts + 1
  FROM extension_magic_link AS l
 WHERE l.id = o.link_id
   AND o.link_id IN (SELECT link_id FROM extension_magic_link_outbox
                      WHERE next_attempt_at <= (now() AT TIME ZONE 'utc')
                        AND (lease_until IS NULL OR lease_until < (now() AT TIME ZONE 'utc'))
                      ORDER BY next_attempt_at LIMIT $1::integer
                      FOR UPDATE SKIP LOCKED)
RETURNING o.link_id, o.sealed_mail, o.attempts,
          (NOT l.used AND l.expires_at > (now() AT TIME ZONE 'utc')) AS still_usable
)sql";

constexpr const char* kMailSent = R"sql(
WITH sent AS (DELETE FROM extension_magic_link_outbox WHERE link_id = $1::integer)
UPDATE extension_magic_link SET email_sent = true, email_error = NULL WHERE id = $1::integer
)sql";

constexpr const char* kMailRetry = R"sql(
WITH later AS (
  UPDATE extension_magic_link_outbox
     SET next_attempt_at = (now() AT TIME ZONE 'utc') + make_interval(secs => $3::integer / 1000.0),
         lease_until = NULL
   WHERE link_id = $1::integer)
UPDATE extension_magic_link SET email_error = left($2, 255) WHERE id = $1::integer
)sql";

constexpr const char* kMailGiveUp = R"sql(
WITH dropped AS (DELETE FROM extension_magic_link_outbox WHERE link_id = $1::integer)
UPDATE extension_magic_link SET email_sent = false, email_error = left($2, 255)
 WHERE id = $1::integer
)sql";

constexpr const char* kDeleteOld = R"sql(
DELETE FROM extension_magic_link
 WHERE (token <> '' AND NOT used AND expires_at < (now() AT TIME ZONE 'utc') - interval '1 hour')
    OR created_at < (now() AT TIME ZONE 'utc') - make_interval(days => $1::integer)
)sql";

constexpr const char* kClaim =
    "SELECT * FROM extension_magic_link_claim($1, $2::text[], $3::text[], $4, $5, $6, $7)";

constexpr const char* kRelease = R"sql(
WITH session AS (DELETE FROM directus_sessions WHERE token = $2)
UPDATE extension_magic_link SET used = false, used_at = NULL, used_ip = NULL, used_user_agent = NULL
 WHERE id = $1::integer
)sql";

constexpr const char* kPreview = R"sql(
SELECT email, ceil(extract(epoch FROM expires_at - (now() AT TIME ZONE 'utc')) / 60)::integer
  FROM extension_magic_link
 WHERE token = $1 AND token <> '' AND NOT used AND superseded_at IS NULL
   AND expires_at > (now() AT TIME ZONE 'utc')
)sql";

constexpr const char* kUserEmail = "SELECT email FROM directus_users WHERE id = $1::uuid";

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

RequestOutcome outcome_of(const std::string& text) {
  if (text == "issued") return RequestOutcome::issued;
  if (text == "Rate limit exceeded") return RequestOutcome::rate_limited;
  if (text == "User not found") return RequestOutcome::unknown_user;
  if (text == "User not active") return RequestOutcome::inactive_user;
  if (text == "Role not allowed") return RequestOutcome::role_refused;
  throw BackendError("postgres", "unexpected request outcome " + text);
}

std::atomic<bool> schema_ready{false};
std::mutex schema_mutex;

}  // namespace

PgLinkStore::PgLinkStore(std::string conninfo, Milliseconds timeout)
    : connection_(std::move(conninfo), timeout) {}

// The first use in each process makes sure the tables and the function exist.
PgConnection& PgLinkStore::ready() {
  if (!schema_ready.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lock(schema_mutex);
    if (!schema_ready.load(std::memory_order_relaxed)) {
      connection_.run_script(kSchema);
      schema_ready.store(true, std::memory_order_release);
    }
  }
  return connection_;
}

RequestOutcome PgLinkStore::record_link_request(const LinkRequestRecord& r) {
  const PgResult result = ready().run(
      "request", kRequest,
      {r.email, r.client_ip, r.user_agent, r.token_hash, std::to_string(r.expiration_minutes),
       text_array(r.allowed_roles), text_array(r.disallowed_roles),
       r.email_rate_limited ? "true" : "false", r.after_login_url, r.sealed_mail});
  return outcome_of(result.text(0, 0));
}

std::vector<QueuedMail> PgLinkStore::claim_due_mail(int limit, Milliseconds lease) {
  const PgResult result =
      ready().run("claim_mail", kClaimMail, {std::to_string(limit), std::to_string(lease.count())});
  std::vector<QueuedMail> mails;
  for (int row = 0; row < result.rows(); ++row) {
    mails.push_back({result.integer(row, 0), result.text(row, 1), result.integer(row, 2),
                     result.boolean(row, 3)});
  }
  return mails;
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
                  {c.token_hash, text_array(c.allowed_roles), text_array(c.disallowed_roles),
                   c.session_token, c.client_ip, c.user_agent, c.origin});
  if (result.rows() == 0) return std::nullopt;
  return ClaimedLink{result.integer(0, 0), result.text(0, 1), result.text(0, 2), result.text(0, 3),
                     result.text(0, 4),    result.text(0, 5), result.text(0, 6)};
}

void PgLinkStore::release_claim(int link_id, const std::string& session_token) {
  ready().run("release", kRelease, {std::to_string(link_id), session_token});
}

std::optional<LinkPreview> PgLinkStore::preview_link(const std::string& token_hash) {
  const PgResult result = ready().run("preview", kPreview, {token_hash});
  if (result.rows() == 0) return std::nullopt;
  return LinkPreview{result.text(0, 0), result.integer(0, 1)};
}

std::optional<std::string> PgLinkStore::user_email(const std::string& user_id) {
  const PgResult result = ready().run("user_email", kUserEmail, {user_id});
  if (result.rows() == 0) return std::nullopt;
  return result.text(0, 0);
}

}  // namespace magic_link
