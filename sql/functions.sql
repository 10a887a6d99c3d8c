-- Every function the module calls, each replaced as a whole: applied after the numbered
-- migrations whenever this file's text changes (its SHA-256 is recorded in
-- extension_magic_link_functions), so a change is made here once instead of copied into a new
-- migration. A function whose result type changes is dropped first.
DROP FUNCTION IF EXISTS extension_magic_link_preview(text);
DROP FUNCTION IF EXISTS extension_magic_link_issue(extension_magic_link_pending);
DROP FUNCTION IF EXISTS extension_magic_link_second_factor(uuid, text, uuid);

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

-- What became of an accepted request is reported by name (RequestOutcome in
-- src/core/ports/link_store.h); the extension's email_error text of each refusal, which
-- operators' queries read in the audit row, is defined once, here.
CREATE OR REPLACE FUNCTION extension_magic_link_email_error(p_outcome text)
RETURNS text LANGUAGE sql IMMUTABLE AS $fn$
  SELECT CASE p_outcome
    WHEN 'rate_limited' THEN 'Rate limit exceeded'
    WHEN 'unknown_user' THEN 'User not found'
    WHEN 'inactive_user' THEN 'User not active'
    WHEN 'role_refused' THEN 'Role not allowed'
    WHEN 'admin_refused' THEN 'Admin not allowed'
    WHEN 'provider_refused' THEN 'Provider not allowed'
    WHEN 'superseded' THEN 'Superseded by new token'
  END
$fn$;

-- Stores a batch of accepted requests, one row per element of the parallel arrays (role lists
-- comma-joined: role ids hold no comma; the optional device fields '' for NULL). A function so
-- that the statement is planned once per connection: parsing and planning the INSERT anew for
-- every batch took a third of PostgreSQL's time under load.
CREATE OR REPLACE FUNCTION extension_magic_link_enqueue(
  p_emails text[], p_ips text[], p_user_agents text[], p_token_hashes text[], p_minutes integer[],
  p_rate_limited boolean[], p_allowed_roles text[], p_disallowed_roles text[],
  p_allow_admin boolean[], p_after_login_urls text[], p_sealed_mails text[],
  p_allow_sso_users boolean[], p_device_hashes text[], p_browsers text[], p_oses text[],
  p_languages text[], p_networks text[])
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO extension_magic_link_pending (email, ip_address, user_agent, token_hash, expires_at,
    rate_limited, allowed_roles, disallowed_roles, allow_admin, after_login_url, sealed_mail,
    created_at, allow_sso_users, device_hash, device_browser, device_os, device_language,
    device_network)
  SELECT r.email, r.ip, r.user_agent, r.token_hash,
         (now() AT TIME ZONE 'utc') + make_interval(mins => r.minutes), r.rate_limited,
         string_to_array(r.allowed, ','), string_to_array(r.disallowed, ','), r.allow_admin,
         r.after_login_url, r.sealed_mail, now() AT TIME ZONE 'utc', r.allow_sso,
         nullif(r.device_hash, ''), nullif(r.browser, ''), nullif(r.os, ''),
         nullif(r.language, ''), nullif(r.network, '')
    FROM unnest(p_emails, p_ips, p_user_agents, p_token_hashes, p_minutes, p_rate_limited,
                p_allowed_roles, p_disallowed_roles, p_allow_admin, p_after_login_urls,
                p_sealed_mails, p_allow_sso_users, p_device_hashes, p_browsers, p_oses,
                p_languages, p_networks)
      WITH ORDINALITY AS r(email, ip, user_agent, token_hash, minutes, rate_limited, allowed,
                           disallowed, allow_admin, after_login_url, sealed_mail, allow_sso,
                           device_hash, browser, os, language, network, n)
   ORDER BY r.n;
END
$fn$;

-- Takes up to p_limit accepted requests (SKIP LOCKED: workers and hosts share the queue) and
-- looks at them together, in a few set-based statements instead of a loop of them per request
-- (the work after the answer shares the machine with the next answers). A request leaves the
-- queue in the transaction that records its outcome; one outcome is returned per request. As
-- the extension did, superseded links and refusal rows are `used = true`, so queries on `used`
-- keep meaning "no longer redeemable".
CREATE OR REPLACE FUNCTION extension_magic_link_process(p_limit integer)
RETURNS SETOF text LANGUAGE plpgsql AS $fn$
DECLARE
  now_utc timestamp := now() AT TIME ZONE 'utc';
  batch extension_magic_link_pending[];
BEGIN
  -- Whole rows of the table's own type, so they reach `batch` without a round trip through text.
  WITH taken AS (
    DELETE FROM extension_magic_link_pending AS p
     WHERE id IN (SELECT id FROM extension_magic_link_pending ORDER BY id LIMIT p_limit
                     FOR UPDATE SKIP LOCKED)
    RETURNING p)
  SELECT array_agg(t.p ORDER BY (t.p).id) INTO batch FROM taken AS t;
  IF batch IS NULL THEN RETURN; END IF;
  -- Serialises issuing per email across workers and hosts, so at most one link per email is
  -- valid at any time; taken in one order everywhere, so two batches never deadlock.
  PERFORM pg_advisory_xact_lock(k)
     FROM (SELECT DISTINCT hashtextextended('extension_magic_link:' || email, 0) AS k
             FROM unnest(batch) WHERE NOT rate_limited ORDER BY 1) AS keys;
  RETURN QUERY
  WITH request AS (SELECT * FROM unnest(batch)),
  -- Each address once (a flood asks for one address many times). Over its limit, an address
  -- gets the same row whoever it belongs to, and nobody is looked up.
  person AS (
    SELECT a.email, u.id AS user_id, u.status, u.provider, c.chain,
           u.id IS NOT NULL AND (extension_magic_link_access(u.id, c.chain)).admin AS admin
      FROM (SELECT DISTINCT email FROM request WHERE NOT rate_limited) AS a
      LEFT JOIN LATERAL (
        SELECT u.id, u.status, u.role, u.provider FROM directus_users AS u
         WHERE lower(u.email) = a.email ORDER BY (u.status = 'active') DESC LIMIT 1) AS u ON true
      CROSS JOIN LATERAL (SELECT extension_magic_link_role_chain(u.role) AS chain) AS c),
  judged AS (
    SELECT r.*, p.user_id, CASE
      WHEN r.rate_limited THEN 'rate_limited'
      WHEN p.user_id IS NULL THEN 'unknown_user'
      WHEN p.status <> 'active' THEN 'inactive_user'
      WHEN NOT extension_magic_link_role_allowed(p.chain, r.allowed_roles, r.disallowed_roles)
        THEN 'role_refused'
      WHEN p.admin AND NOT r.allow_admin THEN 'admin_refused'
      WHEN coalesce(p.provider, 'default') <> 'default' AND NOT r.allow_sso_users
        THEN 'provider_refused'
      END AS refusal
      FROM request AS r LEFT JOIN person AS p ON p.email = r.email AND NOT r.rate_limited),
  -- An audit row per refusal that no token can match; it never touches the user's valid link.
  refused AS (
    INSERT INTO extension_magic_link (email, token, expires_at, ip_address, user_agent, used,
                                      created_at, email_sent, email_error, user_id, device_hash,
                                      device_browser, device_os, device_language, device_network)
    SELECT j.email, '', j.created_at, j.ip_address, j.user_agent, true, j.created_at, false,
           extension_magic_link_email_error(j.refusal), j.user_id, j.device_hash,
           j.device_browser, j.device_os, j.device_language, j.device_network
      FROM judged AS j WHERE j.refusal IS NOT NULL ORDER BY j.id),
  -- Each link's id is taken here, in request order, so its mail is queued without a join.
  issuing AS (
    SELECT j.*, nextval(pg_get_serial_sequence('extension_magic_link', 'id'))::integer AS link_id
      FROM (SELECT * FROM judged WHERE refusal IS NULL ORDER BY id) AS j),
  -- Per address, the newest request of the batch.
  newest AS (SELECT email, max(created_at) AS created_at FROM issuing GROUP BY email),
  -- A superseded link's mail, if not sent yet, never will be: it leaves the outbox now.
  superseded AS (
    UPDATE extension_magic_link AS l
       SET superseded_at = now_utc, used = true, email_sent = coalesce(l.email_sent, false),
           email_error = extension_magic_link_email_error('superseded')
      FROM newest AS n
     WHERE l.email = n.email AND l.token <> '' AND NOT l.used AND l.superseded_at IS NULL
       AND l.created_at <= n.created_at
    RETURNING l.id),
  unsent AS (
    DELETE FROM extension_magic_link_outbox WHERE link_id IN (SELECT id FROM superseded)),
  -- A valid link of a newer request (another worker took it first) stays valid.
  kept AS (
    SELECT DISTINCT l.email FROM extension_magic_link AS l JOIN newest AS n ON n.email = l.email
     WHERE l.token <> '' AND NOT l.used AND l.superseded_at IS NULL
       AND l.created_at > n.created_at),
  -- Only the newest request of an address gets a valid link; a batch's others are born
  -- superseded, like all of them when a newer request's link is kept.
  linked AS (
    SELECT i.*, (row_number() OVER (PARTITION BY i.email ORDER BY i.created_at DESC, i.id DESC) > 1
                 OR i.email IN (SELECT email FROM kept)) AS born_superseded
      FROM issuing AS i),
  links AS (
    INSERT INTO extension_magic_link (id, email, token, expires_at, ip_address, user_agent, used,
                                      created_at, user_id, after_login_url, superseded_at,
                                      email_sent, email_error, device_hash, device_browser,
                                      device_os, device_language, device_network)
    SELECT k.link_id, k.email, k.token_hash, k.expires_at, k.ip_address, k.user_agent,
           k.born_superseded, k.created_at, k.user_id, k.after_login_url,
           CASE WHEN k.born_superseded THEN now_utc END,
           CASE WHEN k.born_superseded THEN false END,
           CASE WHEN k.born_superseded THEN extension_magic_link_email_error('superseded') END,
           k.device_hash, k.device_browser, k.device_os, k.device_language, k.device_network
      FROM linked AS k ORDER BY k.link_id),
  queued AS (
    INSERT INTO extension_magic_link_outbox (link_id, sealed_mail, next_attempt_at, created_at)
    SELECT k.link_id, k.sealed_mail, now_utc, now_utc FROM linked AS k
     WHERE NOT k.born_superseded ORDER BY k.link_id)
  SELECT coalesce(j.refusal, 'issued') FROM judged AS j;
END
$fn$;

-- Whether the user of a link must give a one-time password ('otp'), must first set up 2FA in
-- Directus ('setup'), or neither (''), from their 2FA secret and their access' enforce_tfa.
CREATE OR REPLACE FUNCTION extension_magic_link_second_factor(p_tfa_secret text,
                                                              p_enforce_tfa boolean)
RETURNS text LANGUAGE sql IMMUTABLE AS $fn$
  SELECT CASE WHEN p_tfa_secret IS NOT NULL THEN 'otp' WHEN p_enforce_tfa THEN 'setup' ELSE '' END
$fn$;

-- One round trip per redemption: find the link, check its user again, then (p_action)
--   'sign_in'      spend it and open a session row, from any browser;
--   'same_device'  the same, but a link bound to another browser answers 'other_device';
--   'approve'      record another device's approval of a bound link, spending nothing;
--   'approved'     (no token) spend the approved link bound to p_device_hashes: the waiting
--                  browser signs in; its second factor was checked at the approval.
-- A user with 2FA needs p_tfa_secret_sha256 to match their secret (the caller checked the
-- one-time password against it); until then the answer is 'otp' and nothing is spent.
-- Takes the token's hash under each accepted secret (magic_link_secret NEW OLDER...), and the
-- claiming browser's binding likewise (none: '{}').
CREATE OR REPLACE FUNCTION extension_magic_link_claim(
  p_action text, p_token_hashes text[], p_device_hashes text[], p_allowed_roles text[],
  p_disallowed_roles text[], p_allow_admin boolean, p_tfa_secret_sha256 text,
  p_session_token text, p_ip text, p_user_agent text, p_origin text)
RETURNS TABLE (outcome text, link_id integer, stored_hash text, user_id uuid, email text,
               first_name text, last_name text, after_login_url text, tfa_secret text)
LANGUAGE plpgsql AS $fn$
DECLARE
  now_utc timestamp := now() AT TIME ZONE 'utc';
  link record;
  person record;
  chain uuid[];
  access record;
  second_factor text;
  result text;
BEGIN
  -- Concurrent claims queue on the row lock and get the row as the first left it, so exactly
  -- one wins. The lookups name only what their own index holds (the token; the binding): with
  -- the live conditions in the WHERE as well, PostgreSQL may read all of idx_magic_link_live
  -- instead, which it did whenever its statistics counted few live links (12 ms a redemption at
  -- 18,000 live links).
  IF p_action = 'approved' THEN
    SELECT l.id, l.token, l.user_id, l.after_login_url, l.device_hash, l.used,
           l.superseded_at, l.expires_at INTO link
      FROM extension_magic_link AS l
     WHERE l.device_hash = ANY(p_device_hashes) AND NOT l.used AND l.approved_at IS NOT NULL
       AND l.superseded_at IS NULL AND l.expires_at > now_utc
     ORDER BY l.id DESC LIMIT 1
       FOR UPDATE;
  ELSE
    SELECT l.id, l.token, l.user_id, l.after_login_url, l.device_hash, l.used,
           l.superseded_at, l.expires_at INTO link
      FROM extension_magic_link AS l
     WHERE l.token = ANY(p_token_hashes) AND l.token <> ''
       FOR UPDATE;
  END IF;
  IF link.id IS NULL OR link.used OR link.superseded_at IS NOT NULL OR link.expires_at <= now_utc
  THEN
    RETURN;
  END IF;
  SELECT u.id, u.email, u.first_name, u.last_name, u.status, u.role, u.tfa_secret INTO person
    FROM directus_users AS u WHERE u.id = link.user_id;
  IF person.id IS NULL OR person.status <> 'active' THEN RETURN; END IF;
  chain := extension_magic_link_role_chain(person.role);
  access := extension_magic_link_access(person.id, chain);
  IF NOT extension_magic_link_role_allowed(chain, p_allowed_roles, p_disallowed_roles)
     OR (access.admin AND NOT p_allow_admin) THEN
    RETURN;
  END IF;
  IF p_action = 'same_device' AND link.device_hash IS NOT NULL
     AND NOT link.device_hash = ANY(p_device_hashes) THEN
    result := 'other_device';
  ELSIF p_action = 'approve' AND link.device_hash IS NULL THEN
    RETURN;  -- nothing waits for an unbound link
  ELSE
    second_factor := CASE WHEN p_action = 'approved' THEN '' ELSE
      extension_magic_link_second_factor(person.tfa_secret, access.enforce_tfa) END;
    IF second_factor = 'otp' AND p_tfa_secret_sha256 IS NOT DISTINCT FROM
                                 encode(sha256(convert_to(person.tfa_secret, 'UTF8')), 'hex') THEN
      second_factor := '';
    END IF;
    result := coalesce(nullif(second_factor, ''),
                       CASE WHEN p_action = 'approve' THEN 'approved' ELSE 'claimed' END);
  END IF;
  IF result = 'approved' THEN
    UPDATE extension_magic_link
       SET approved_at = now_utc, approved_ip = p_ip, approved_user_agent = p_user_agent
     WHERE id = link.id;
  ELSIF result = 'claimed' THEN
    -- This commit need not wait for the disk: the caller next has Directus refresh the session
    -- row, and Directus' commit flushes the log up to and past this one. A crash in between
    -- loses only a sign-in that did not happen, and the link stays unspent.
    PERFORM set_config('synchronous_commit', 'off', true);
    UPDATE extension_magic_link
       SET used = true, used_at = now_utc, used_ip = p_ip, used_user_agent = p_user_agent
     WHERE id = link.id;
    -- Directus turns this row into a real session on /auth/refresh, within the minute.
    INSERT INTO directus_sessions (token, "user", expires, ip, user_agent, origin)
    VALUES (p_session_token, person.id, now() + interval '1 minute', p_ip, p_user_agent, p_origin);
  END IF;
  RETURN QUERY SELECT result, link.id, link.token::text, person.id, person.email::text,
                      person.first_name::text, person.last_name::text, link.after_login_url,
                      CASE WHEN result = 'otp' THEN person.tfa_secret::text END;
END
$fn$;

-- What the confirm page shows, read only: whose link, how long it lasts, which second factor,
-- and (for a bound link) the browser that asked for it: its binding's keyed hash, which the
-- caller compares with the visitor's, and its coarse fingerprint.
CREATE OR REPLACE FUNCTION extension_magic_link_preview(p_token_hashes text[])
RETURNS TABLE (email text, minutes_left integer, second_factor text, device_hash text,
               minutes_since_request integer, device_browser text, device_os text,
               device_language text, device_network text)
LANGUAGE sql STABLE AS $fn$
  SELECT l.email::text,
         ceil(extract(epoch FROM l.expires_at - (now() AT TIME ZONE 'utc')) / 60)::integer,
         CASE WHEN u.id IS NULL THEN '' ELSE extension_magic_link_second_factor(u.tfa_secret,
           (extension_magic_link_access(u.id, extension_magic_link_role_chain(u.role))).enforce_tfa)
         END,
         coalesce(l.device_hash, '')::text,
         floor(extract(epoch FROM (now() AT TIME ZONE 'utc') - l.created_at) / 60)::integer,
         coalesce(l.device_browser, '')::text, coalesce(l.device_os, '')::text,
         coalesce(l.device_language, '')::text, coalesce(l.device_network, '')::text
    FROM (SELECT * FROM extension_magic_link
           WHERE token = ANY(p_token_hashes) AND token <> '' OFFSET 0) AS l  -- by token (claim)
    LEFT JOIN directus_users AS u ON u.id = l.user_id
   WHERE NOT l.used AND l.superseded_at IS NULL AND l.expires_at > (now() AT TIME ZONE 'utc')
$fn$;

-- The single-hash forms that module versions before secret rotation call: hosts not yet
-- upgraded keep working against a database an upgraded host has migrated.
CREATE OR REPLACE FUNCTION extension_magic_link_claim(
  p_action text, p_token_hash text, p_device_hash text, p_allowed_roles text[],
  p_disallowed_roles text[], p_allow_admin boolean, p_tfa_secret_sha256 text,
  p_session_token text, p_ip text, p_user_agent text, p_origin text)
RETURNS TABLE (outcome text, link_id integer, stored_hash text, user_id uuid, email text,
               first_name text, last_name text, after_login_url text, tfa_secret text)
LANGUAGE sql AS $fn$
  SELECT * FROM extension_magic_link_claim(
    p_action, ARRAY[p_token_hash], CASE WHEN p_device_hash IS NULL THEN '{}' ELSE ARRAY[p_device_hash] END,
    p_allowed_roles, p_disallowed_roles, p_allow_admin, p_tfa_secret_sha256, p_session_token,
    p_ip, p_user_agent, p_origin)
$fn$;

CREATE OR REPLACE FUNCTION extension_magic_link_preview(p_token_hash text)
RETURNS TABLE (email text, minutes_left integer, second_factor text, device_hash text,
               minutes_since_request integer, device_browser text, device_os text,
               device_language text, device_network text)
LANGUAGE sql STABLE AS $fn$
  SELECT * FROM extension_magic_link_preview(ARRAY[p_token_hash])
$fn$;
