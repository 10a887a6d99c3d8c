-- Users of an SSO provider get links only with magic_link_allow_sso_users on; each accepted
-- request carries that setting to the background that looks at it.
ALTER TABLE extension_magic_link_pending
  ADD COLUMN IF NOT EXISTS allow_sso_users boolean NOT NULL DEFAULT false;
