-- What the mail service reported of a sent mail (magic_link mailgun_webhook): delivered, bounced
-- or complained, when it happened, and a bounce's SMTP code and reason. The latest event wins.
ALTER TABLE extension_magic_link
  ADD COLUMN IF NOT EXISTS delivery_status varchar(16),
  ADD COLUMN IF NOT EXISTS delivery_status_at timestamp,
  ADD COLUMN IF NOT EXISTS delivery_detail varchar(255);
