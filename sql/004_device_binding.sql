-- Device binding (magic_link_device_binding): the keyed hash of the binding cookie of the
-- browser that asked for a link, a coarse fingerprint of that browser for the audit and for the
-- page another device sees (browser family, OS, first language, /24 or /48 network), and the
-- approval another device may give. Links asked for without a binding keep device_hash NULL.
ALTER TABLE extension_magic_link_pending
  ADD COLUMN IF NOT EXISTS device_hash varchar(64),
  ADD COLUMN IF NOT EXISTS device_browser varchar(64),
  ADD COLUMN IF NOT EXISTS device_os varchar(64),
  ADD COLUMN IF NOT EXISTS device_language varchar(35),
  ADD COLUMN IF NOT EXISTS device_network varchar(64);
ALTER TABLE extension_magic_link
  ADD COLUMN IF NOT EXISTS device_hash varchar(64),
  ADD COLUMN IF NOT EXISTS device_browser varchar(64),
  ADD COLUMN IF NOT EXISTS device_os varchar(64),
  ADD COLUMN IF NOT EXISTS device_language varchar(35),
  ADD COLUMN IF NOT EXISTS device_network varchar(64),
  ADD COLUMN IF NOT EXISTS approved_at timestamp,
  ADD COLUMN IF NOT EXISTS approved_ip varchar(255),
  ADD COLUMN IF NOT EXISTS approved_user_agent text;
-- The waiting page finds its approved link by the browser's binding.
CREATE INDEX IF NOT EXISTS idx_magic_link_device ON extension_magic_link(device_hash)
  WHERE device_hash IS NOT NULL AND NOT used;
