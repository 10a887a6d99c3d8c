-- Signatures of functions from before the schema was versioned, which the module no longer
-- calls. The functions themselves live in sql/functions.sql, applied after the migrations
-- whenever its text changes.
DROP FUNCTION IF EXISTS extension_magic_link_request(text, text, text, text, integer, text[],
  text[], boolean, text, text);
DROP FUNCTION IF EXISTS extension_magic_link_claim(text, text[], text[], text, text, text, text);
DROP FUNCTION IF EXISTS extension_magic_link_role_allowed(uuid, text[], text[]);
