#include "core/adapters/postgres/pg_link_store.h"

#include <atomic>
#include <mutex>

#include "core/ports/backend_error.h"

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

-- Link requests accepted but not yet looked at: the one durable write an answer waits for, the
-- same for every address, so answer times tell nothing about who has an account.
CREATE TABLE IF NOT EXISTS extension_magic_link_pending (
  id bigserial PRIMARY KEY,
  email varchar(255) NOT NULL,
  ip_address varchar(255) NOT NULL,
  user_agent text,
  token_hash varchar(255) NOT NULL,
  expires_at timestamp NOT NULL,
  rate_limited boolean NOT NULL,
  allowed_roles text[] NOT NULL,
  disallowed_roles text[] NOT NULL,
  allow_admin boolean NOT NULL,
  after_login_url text,
  sealed_mail text NOT NULL,
  created_at timestamp NOT NULL
);
-- Live links only, so superseding costs the same however long an address's history is.
CREATE INDEX IF NOT EXISTS idx_magic_link_live ON extension_magic_link(email)
  WHERE token <> '' AND NOT used AND superseded_at IS NULL;

DROP FUNCTION IF EXISTS extension_magic_link_request(text, text, text, text, integer, text[],
  text[], boolean, text, text);
DROP FUNCTION IF EXISTS extension_magic_link_claim(text, text[], text[], text, text, text, text);
DROP FUNCTION IF EXISTS extension_magic_link_role_allowed(uuid, text[], text[]);

-- A role and its ancestors: Directus 11 nests roles (directus_roles.parent), Directus 10 not.
CREATE OR REPLACE FUNCTION extension_magic_link_role_chain(p_role uuid)
RETURNS uuid[] LANGUAGE plpgsql STABLE AS $fn$
BEGIN
  IF p_role IS NULL THEN RETURN '{}'; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'directus_roles'::regclass
                  AND attname = 'parent' AND NOT attisdropped) THEN
    RETURN ARRAY[p_role];
  END IF;
  RETURN ARRAY(
    WITH RECURSIVE chain(id, parent, depth) AS (
      SELECT p_role, (SELECT r.parent FROM directus_roles AS r WHERE r.id = p_role), 1
      UNION ALL
      SELECT r.id, r.parent, c.depth + 1 FROM directus_roles AS r JOIN chain AS c ON r.id = c.parent
       WHERE c.depth < 64)
    SELECT id FROM chain);
END
$fn$;

-- The extension's role rules, applied to the role and its ancestors: allowed list set -> one of
-- them must be on it; disallowed list -> none of them may be on it.
CREATE OR REPLACE FUNCTION extension_magic_link_role_allowed(
  p_chain uuid[], p_allowed_roles text[], p_disallowed_roles text[])
RETURNS boolean LANGUAGE sql IMMUTABLE AS $fn$
  SELECT (cardinality(p_allowed_roles) = 0 OR p_chain::text[] && p_allowed_roles)
     AND NOT (p_chain::text[] && p_disallowed_roles)
$fn$;

-- Admin access and enforced 2FA as Directus decides them: policies attached to the user, its
-- role or the role's ancestors (Directus 11+), or the role's own flags (Directus 10).
CREATE OR REPLACE FUNCTION extension_magic_link_access(
  p_user uuid, p_chain uuid[], OUT admin boolean, OUT enforce_tfa boolean)
LANGUAGE plpgsql STABLE AS $fn$
BEGIN
  IF to_regclass('directus_policies') IS NOT NULL THEN
    SELECT coalesce(bool_or(p.admin_access), false), coalesce(bool_or(p.enforce_tfa), false)
      INTO admin, enforce_tfa
      FROM directus_access AS a JOIN directus_policies AS p ON p.id = a.policy
     WHERE a."user" = p_user OR a.role = ANY(p_chain);
  ELSE
    SELECT coalesce(bool_or(r.admin_access), false), coalesce(bool_or(r.enforce_tfa), false)
      INTO admin, enforce_tfa
      FROM directus_roles AS r WHERE r.id = ANY(p_chain);
  END IF;
END
$fn$;

-- Looks at one accepted request: who it is for, and whether a link is issued (superseding the
-- address's older links and queueing the mail) or only an audit row is written.
CREATE OR REPLACE FUNCTION extension_magic_link_issue(p extension_magic_link_pending)
RETURNS text LANGUAGE plpgsql AS $fn$
DECLARE
  now_utc timestamp := now() AT TIME ZONE 'utc';
  found_id uuid;
  found_status text;
  found_role uuid;
  chain uuid[];
  is_admin boolean;
  refusal text;
  link_id integer;
BEGIN
  -- Over its limit, an address gets the same row whoever it belongs to, and nobody is looked
  -- up: the work after the answer (which shares the machine with the next answers) is the same.
  IF NOT p.rate_limited THEN
    SELECT u.id, u.status, u.role INTO found_id, found_status, found_role FROM directus_users AS u
     WHERE lower(u.email) = p.email ORDER BY (u.status = 'active') DESC LIMIT 1;
    chain := extension_magic_link_role_chain(found_role);
    is_admin := (extension_magic_link_access(found_id, chain)).admin;
  END IF;
  refusal := CASE
    WHEN p.rate_limited THEN 'Rate limit exceeded'
    WHEN found_id IS NULL THEN 'User not found'
    WHEN found_status <> 'active' THEN 'User not active'
    WHEN NOT extension_magic_link_role_allowed(chain, p.allowed_roles, p.disallowed_roles)
      THEN 'Role not allowed'
    WHEN is_admin AND NOT p.allow_admin THEN 'Admin not allowed'
  END;
  IF refusal IS NOT NULL THEN
    -- An audit row that no token can match; it never touches the user's valid link.
    INSERT INTO extension_magic_link (email, token, expires_at, ip_address, user_agent, used,
                                      created_at, email_sent, email_error, user_id)
    VALUES (p.email, '', p.created_at, p.ip_address, p.user_agent, false, p.created_at, false,
            refusal, found_id);
    RETURN refusal;
  END IF;
  -- Serialises issuing per email, so at most one link per email is valid at any time. Workers
  -- may take an address's requests out of order: the newest request's link is the valid one.
  PERFORM pg_advisory_xact_lock(hashtextextended('extension_magic_link:' || p.email, 0));
  UPDATE extension_magic_link SET superseded_at = now_utc
   WHERE email = p.email AND token <> '' AND NOT used AND superseded_at IS NULL
     AND created_at <= p.created_at;
  INSERT INTO extension_magic_link (email, token, expires_at, ip_address, user_agent, used,
                                    created_at, user_id, after_login_url, superseded_at)
  SELECT p.email, p.token_hash, p.expires_at, p.ip_address, p.user_agent, false, p.created_at,
         found_id, p.after_login_url,
         CASE WHEN EXISTS (SELECT 1 FROM extension_magic_link AS l
                            WHERE l.email = p.email AND l.token <> '' AND NOT l.used
                              AND l.superseded_at IS NULL) THEN now_utc END
  RETURNING id INTO link_id;
  INSERT INTO extension_magic_link_outbox (link_id, sealed_mail, next_attempt_at, created_at)
  VALUES (link_id, p.sealed_mail, now_utc, now_utc);
  RETURN 'issued';
END
$fn$;

-- Takes up to p_limit accepted requests (SKIP LOCKED: workers and hosts share the queue) and
-- looks at each; a request leaves the queue in the transaction that records its outcome.
CREATE OR REPLACE FUNCTION extension_magic_link_process(p_limit integer)
RETURNS SETOF text LANGUAGE plpgsql AS $fn$
DECLARE
  p extension_magic_link_pending;
BEGIN
  FOR p IN DELETE FROM extension_magic_link_pending
            WHERE id IN (SELECT id FROM extension_magic_link_pending ORDER BY id
                          LIMIT p_limit FOR UPDATE SKIP LOCKED)
           RETURNING * LOOP
    RETURN NEXT extension_magic_link_issue(p);
  END LOOP;
END
$fn$;

-- Whether the user of a link must give a one-time password ('otp'), must first set up 2FA in
-- Directus ('setup'), or neither ('').
CREATE OR REPLACE FUNCTION extension_magic_link_second_factor(p_user uuid, p_tfa_secret text,
                                                              p_role uuid)
RETURNS text LANGUAGE sql STABLE AS $fn$
  SELECT CASE
    WHEN p_tfa_secret IS NOT NULL THEN 'otp'
    WHEN (extension_magic_link_access(p_user, extension_magic_link_role_chain(p_role))).enforce_tfa
      THEN 'setup'
    ELSE '' END
$fn$;

-- One round trip per redemption: spend the link, check its user again, open a session row.
-- A user with 2FA needs p_tfa_secret_sha256 to match their secret (the caller checked the
-- one-time password against it); until then the answer is 'otp' and nothing is spent.
CREATE OR REPLACE FUNCTION extension_magic_link_claim(
  p_token_hash text, p_allowed_roles text[], p_disallowed_roles text[], p_allow_admin boolean,
  p_tfa_secret_sha256 text, p_session_token text, p_ip text, p_user_agent text, p_origin text)
RETURNS TABLE (outcome text, link_id integer, stored_hash text, user_id uuid, email text,
               first_name text, last_name text, after_login_url text, tfa_secret text)
LANGUAGE plpgsql AS $fn$
DECLARE
  now_utc timestamp := now() AT TIME ZONE 'utc';
  link record;
  person record;
  chain uuid[];
  second_factor text;
BEGIN
  -- Concurrent claims queue on the row lock; once the first commits, the row no longer matches
  -- for the others (PostgreSQL re-checks it), so exactly one wins.
  SELECT l.id, l.token, l.user_id, l.after_login_url INTO link FROM extension_magic_link AS l
   WHERE l.token = p_token_hash AND l.token <> '' AND NOT l.used AND l.superseded_at IS NULL
     AND l.expires_at > now_utc
     FOR UPDATE;
  IF link.id IS NULL THEN RETURN; END IF;
  SELECT u.id, u.email, u.first_name, u.last_name, u.status, u.role, u.tfa_secret INTO person
    FROM directus_users AS u WHERE u.id = link.user_id;
  IF person.id IS NULL OR person.status <> 'active' THEN RETURN; END IF;
  chain := extension_magic_link_role_chain(person.role);
  IF NOT extension_magic_link_role_allowed(chain, p_allowed_roles, p_disallowed_roles)
     OR ((extension_magic_link_access(person.id, chain)).admin AND NOT p_allow_admin) THEN
    RETURN;
  END IF;
  second_factor := extension_magic_link_second_factor(person.id, person.tfa_secret, person.role);
  IF second_factor = 'otp' AND p_tfa_secret_sha256 IS NOT DISTINCT FROM
                               encode(sha256(convert_to(person.tfa_secret, 'UTF8')), 'hex') THEN
    second_factor := '';
  END IF;
  IF second_factor = '' THEN
    UPDATE extension_magic_link
       SET used = true, used_at = now_utc, used_ip = p_ip, used_user_agent = p_user_agent
     WHERE id = link.id;
    -- Directus turns this row into a real session on /auth/refresh, within the minute.
    INSERT INTO directus_sessions (token, "user", expires, ip, user_agent, origin)
    VALUES (p_session_token, person.id, now() + interval '1 minute', p_ip, p_user_agent, p_origin);
  END IF;
  RETURN QUERY SELECT coalesce(nullif(second_factor, ''), 'claimed'), link.id, link.token::text,
                      person.id, person.email::text, person.first_name::text,
                      person.last_name::text, link.after_login_url,
                      CASE WHEN second_factor = 'otp' THEN person.tfa_secret::text END;
END
$fn$;

-- What the confirm page shows, read only: whose link, how long it lasts, which second factor.
CREATE OR REPLACE FUNCTION extension_magic_link_preview(p_token_hash text)
RETURNS TABLE (email text, minutes_left integer, second_factor text)
LANGUAGE sql STABLE AS $fn$
  SELECT l.email::text,
         ceil(extract(epoch FROM l.expires_at - (now() AT TIME ZONE 'utc')) / 60)::integer,
         coalesce(extension_magic_link_second_factor(u.id, u.tfa_secret, u.role), '')
    FROM extension_magic_link AS l LEFT JOIN directus_users AS u ON u.id = l.user_id
   WHERE l.token = p_token_hash AND l.token <> '' AND NOT l.used AND l.superseded_at IS NULL
     AND l.expires_at > (now() AT TIME ZONE 'utc')
$fn$;
COMMIT;
)sql";

constexpr const char* kEnqueue = R"sql(
INSERT INTO extension_magic_link_pending (email, ip_address, user_agent, token_hash, expires_at,
  rate_limited, allowed_roles, disallowed_roles, allow_admin, after_login_url, sealed_mail,
  created_at)
VALUES ($1, $2, $3, $4, (now() AT TIME ZONE 'utc') + make_interval(mins => $5::integer),
        $6::boolean, $7::text[], $8::text[], $9::boolean, $10, $11, now() AT TIME ZONE 'utc')
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
    "SELECT * FROM extension_magic_link_claim($1, $2::text[], $3::text[], $4::boolean, $5, $6, $7, "
    "$8, $9)";

constexpr const char* kRelease = R"sql(
WITH session AS (DELETE FROM directus_sessions WHERE token = $2)
UPDATE extension_magic_link SET used = false, used_at = NULL, used_ip = NULL, used_user_agent = NULL
 WHERE id = $1::integer
)sql";

constexpr const char* kPreview = "SELECT * FROM extension_magic_link_preview($1)";

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
  if (text == "Admin not allowed") return RequestOutcome::admin_refused;
  throw BackendError(Backend::postgres, "process", "unexpected request outcome " + text, false,
                     false);
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

void PgLinkStore::enqueue_link_request(const LinkRequestRecord& r) {
  ready().run("enqueue", kEnqueue,
              {r.email, r.client_ip, r.user_agent, r.token_hash,
               std::to_string(r.expiration_minutes), r.email_rate_limited ? "true" : "false",
               text_array(r.allowed_roles), text_array(r.disallowed_roles),
               r.allow_admin ? "true" : "false", r.after_login_url, r.sealed_mail});
}

std::vector<RequestOutcome> PgLinkStore::process_link_requests(int limit) {
  const PgResult result = ready().run("process", kProcess, {std::to_string(limit)});
  std::vector<RequestOutcome> outcomes;
  for (int row = 0; row < result.rows(); ++row) outcomes.push_back(outcome_of(result.text(row, 0)));
  return outcomes;
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
                   c.allow_admin ? "true" : "false", c.verified_tfa_secret_sha256, c.session_token,
                   c.client_ip, c.user_agent, c.origin});
  if (result.rows() == 0) return std::nullopt;
  const std::string outcome = result.text(0, 0);
  ClaimedLink link;
  link.state = outcome == "claimed" ? ClaimedLink::State::claimed
               : outcome == "otp"   ? ClaimedLink::State::otp_required
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

std::optional<LinkPreview> PgLinkStore::preview_link(const std::string& token_hash) {
  const PgResult result = ready().run("preview", kPreview, {token_hash});
  if (result.rows() == 0) return std::nullopt;
  const std::string factor = result.text(0, 2);
  return LinkPreview{result.text(0, 0), result.integer(0, 1),
                     factor == "otp"     ? SecondFactor::otp
                     : factor == "setup" ? SecondFactor::setup_required
                                         : SecondFactor::none};
}

std::optional<std::string> PgLinkStore::user_email(const std::string& user_id) {
  const PgResult result = ready().run("user_email", kUserEmail, {user_id});
  if (result.rows() == 0) return std::nullopt;
  return result.text(0, 0);
}

}  // namespace magic_link
