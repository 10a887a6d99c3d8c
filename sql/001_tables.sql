-- The extension's table and indexes as its README creates them, then what this module adds: its
-- columns, the mail outbox, the accepted requests not yet looked at, and the index of live links.
-- Idempotent, so a database the module used before migrations were recorded takes it as well.
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
