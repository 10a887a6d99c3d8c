-- What became of an accepted request is reported by name (RequestOutcome in
-- src/core/ports/link_store.h); the extension's email_error text of each refusal, which
-- operators' queries read in the audit row, is defined once, here. As the extension did,
-- superseded links and refusal rows are `used = true`, so queries on `used` keep meaning "no
-- longer redeemable" (rows written before are left as they are: a migration runs under the
-- module's statement timeout; the README shows the UPDATE for them). Users of an SSO provider
-- get links only with magic_link_allow_sso_users on (refusal `Provider not allowed`).
ALTER TABLE extension_magic_link_pending
  ADD COLUMN IF NOT EXISTS allow_sso_users boolean NOT NULL DEFAULT false;

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

-- Looks at one accepted request: who it is for, and whether a link is issued (superseding the
-- address's older links and queueing the mail) or only an audit row is written.
CREATE OR REPLACE FUNCTION extension_magic_link_issue(p extension_magic_link_pending)
RETURNS text LANGUAGE plpgsql AS $fn$
DECLARE
  now_utc timestamp := now() AT TIME ZONE 'utc';
  found_id uuid;
  found_status text;
  found_role uuid;
  found_provider text;
  chain uuid[];
  is_admin boolean;
  refusal text;
  link_id integer;
  born_superseded boolean;
BEGIN
  -- Over its limit, an address gets the same row whoever it belongs to, and nobody is looked
  -- up: the work after the answer (which shares the machine with the next answers) is the same.
  IF NOT p.rate_limited THEN
    SELECT u.id, u.status, u.role, u.provider INTO found_id, found_status, found_role, found_provider
      FROM directus_users AS u
     WHERE lower(u.email) = p.email ORDER BY (u.status = 'active') DESC LIMIT 1;
    chain := extension_magic_link_role_chain(found_role);
    is_admin := (extension_magic_link_access(found_id, chain)).admin;
  END IF;
  refusal := CASE
    WHEN p.rate_limited THEN 'rate_limited'
    WHEN found_id IS NULL THEN 'unknown_user'
    WHEN found_status <> 'active' THEN 'inactive_user'
    WHEN NOT extension_magic_link_role_allowed(chain, p.allowed_roles, p.disallowed_roles)
      THEN 'role_refused'
    WHEN is_admin AND NOT p.allow_admin THEN 'admin_refused'
    WHEN coalesce(found_provider, 'default') <> 'default' AND NOT p.allow_sso_users
      THEN 'provider_refused'
  END;
  IF refusal IS NOT NULL THEN
    -- An audit row that no token can match; it never touches the user's valid link.
    INSERT INTO extension_magic_link (email, token, expires_at, ip_address, user_agent, used,
                                      created_at, email_sent, email_error, user_id)
    VALUES (p.email, '', p.created_at, p.ip_address, p.user_agent, true, p.created_at, false,
            extension_magic_link_email_error(refusal), found_id);
    RETURN refusal;
  END IF;
  -- Serialises issuing per email, so at most one link per email is valid at any time. Workers
  -- may take an address's requests out of order: the newest request's link is the valid one.
  PERFORM pg_advisory_xact_lock(hashtextextended('extension_magic_link:' || p.email, 0));
  UPDATE extension_magic_link
     SET superseded_at = now_utc, used = true,
         email_error = extension_magic_link_email_error('superseded')
   WHERE email = p.email AND token <> '' AND NOT used AND superseded_at IS NULL
     AND created_at <= p.created_at;
  -- A link left valid here belongs to a newer request (workers may take requests out of
  -- order): this one is born superseded, marked so the way the extension marks it.
  born_superseded := EXISTS (SELECT 1 FROM extension_magic_link AS l
                              WHERE l.email = p.email AND l.token <> '' AND NOT l.used
                                AND l.superseded_at IS NULL);
  INSERT INTO extension_magic_link (email, token, expires_at, ip_address, user_agent, used,
                                    created_at, user_id, after_login_url, superseded_at,
                                    email_error)
  VALUES (p.email, p.token_hash, p.expires_at, p.ip_address, p.user_agent, born_superseded,
          p.created_at, found_id, p.after_login_url,
          CASE WHEN born_superseded THEN now_utc END,
          CASE WHEN born_superseded THEN extension_magic_link_email_error('superseded') END)
  RETURNING id INTO link_id;
  INSERT INTO extension_magic_link_outbox (link_id, sealed_mail, next_attempt_at, created_at)
  VALUES (link_id, p.sealed_mail, now_utc, now_utc);
  RETURN 'issued';
END
$fn$;
