// The module's settings: one table row per directive, naming the environment variable of the
// Directus extension's deployment that serves as its default, and how its text is read.
// Knows nothing of nginx: the nginx layer hands in directive arguments and an environment.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/input/url.h"

namespace magic_link {

using Milliseconds = std::chrono::milliseconds;

struct RedisAddress {
  std::string host;
  int port = 6379;
  int database = 0;
  std::string password;
};

struct SmtpSettings {
  std::string host;
  int port = 587;
  bool implicit_tls = false;  // EMAIL_SMTP_SECURE: TLS from the first byte (port 465 style)
  bool ignore_tls = false;    // EMAIL_SMTP_IGNORE_TLS: never STARTTLS
  std::string user;
  std::string password;
  std::string ca_file;  // trusted besides the system's CAs (a private CA), PEM
};

// How mail leaves (EMAIL_TRANSPORT, as Directus names them). `automatic` (not chosen) lasts only
// until resolve_settings: smtp when an SMTP host is set, else sendmail.
enum class MailTransport { automatic, smtp, sendmail, mailgun };

struct MailgunSettings {
  std::string api_key;   // EMAIL_MAILGUN_API_KEY
  std::string domain;    // EMAIL_MAILGUN_DOMAIN
  std::string base_url;  // from EMAIL_MAILGUN_HOST: https://api.mailgun.net, or an http(s) URL
  std::string webhook_signing_key;  // checks the delivery webhooks' signatures
};

// Where a redirect may point: exact scheme, host and port, and a path prefix.
struct UrlPrefix {
  std::string origin;
  std::string path_prefix;
};

// A location with `magic_link api` or `ui`, as nginx matches it: a mailed link must never lead
// into one (the API redeems on GET).
struct ModuleLocation {
  std::string path;
  bool exact = false;    // `location = /path`
  bool sign_in = false;  // `magic_link ui`: a page where people ask for a link
};

// The Directus cookie a browser's sign-in sets: `directus_refresh_token` (Directus' cookie mode),
// or the Data Studio's `directus_session_token` (session mode, Directus 10.10+).
enum class BrowserSession { cookie, session };

// What a link asked for by one browser does when another opens it (magic_link_device_binding):
// nothing special (off); a page showing where it was asked for, offering to sign in here or to
// approve the asking browser (prompt); or only the approval (strict).
enum class DeviceBinding { off, prompt, strict };

// The indexes the module adds to Directus' tables when the database has none
// (magic_link_user_email_index, magic_link_session_user_index).
struct DirectusIndexes {
  bool user_emails = true;    // directus_users (lower(email))
  bool session_users = true;  // directus_sessions ("user", expires)
};

struct Settings {
  // Shared backends: set in http{} only, so every location talks to the same stores.
  std::string secret;                      // signs new links, mail, cookies and limit keys
  std::vector<std::string> older_secrets;  // still accepted: what was made before a rotation
  std::string postgres_conninfo;
  RedisAddress redis;
  MailTransport mail_transport = MailTransport::automatic;
  SmtpSettings smtp;
  std::string sendmail_path;
  MailgunSettings mailgun;
  Url directus_url;
  Milliseconds redis_timeout{0};
  Milliseconds postgres_timeout{0};
  Milliseconds smtp_timeout{0};  // one delivery, whatever the transport
  Milliseconds directus_timeout{0};
  Milliseconds mail_retry_max_delay{0};
  int audit_retention_days = 0;
  int backend_connections = 0;  // per backend and worker process
  Milliseconds backend_idle_timeout{0};
  std::string directus_secret;    // Directus' SECRET: signs and checks session cookies
  Milliseconds session_cache{0};  // how long a checked session is trusted without a look
  DirectusIndexes directus_indexes;

  // Per site: may differ per server or location.
  Url public_url;
  std::string site_name;
  std::string email_from;
  std::string subject;
  std::string verify_endpoint;
  int expiration_minutes = 0;
  int max_requests_per_email_per_hour = 0;
  int max_requests_per_ip_per_hour = 0;
  int max_failed_verifies_per_ip_per_hour = 0;
  std::vector<std::string> allowed_roles;
  std::vector<std::string> disallowed_roles;
  std::vector<UrlPrefix> redirect_allow_list;
  std::string after_login_url;
  bool api_get_redeems = true;
  bool allow_admin = false;
  bool allow_sso_users = false;  // users whose Directus provider is not `default`
  std::string templates_dir;
  BrowserSession browser_session = BrowserSession::cookie;
  DeviceBinding device_binding = DeviceBinding::prompt;
  bool require_session = false;  // the location gate
  std::vector<std::string> require_roles;
  std::string sign_in_url;  // where the gate sends people who are not signed in

  // Not a directive: filled in by the server from its configuration.
  std::vector<ModuleLocation> module_locations;
};

// The secrets a stored link, queued mail or cookie may have been made under, the current first.
std::vector<std::string_view> accepted_secrets(const Settings& settings);

// `keyed(secret)` under each accepted secret, the current one first.
template <typename Keyed>
std::vector<std::string> under_each_secret(const Settings& settings, Keyed keyed) {
  std::vector<std::string> results;
  for (const auto secret : accepted_secrets(settings)) results.push_back(keyed(secret));
  return results;
}

enum class Scope { Http, Any };  // Http: only in http{}; Any: http, server or location

using Args = std::vector<std::string>;
using Environment = std::function<std::optional<std::string>(std::string_view name)>;

struct SettingSpec {
  std::string_view directive;
  std::string_view env;       // variable(s) read when the directive is absent, for the docs
  std::string_view fallback;  // used when neither is set; read like any value ("" = empty)
  std::string_view meaning;
  Scope scope;
  bool takes_list;  // several arguments, each may hold comma-separated items
  bool sensitive;   // never echo the value in messages
  // Reads the text into `out`; returns what is wrong with it, or nothing.
  std::optional<std::string> (*apply)(Settings& out, const Args& args);
  // Reads the environment; null means "the single variable named in `env`".
  std::optional<Args> (*read_env)(const Environment& env);
};

const std::vector<SettingSpec>& setting_specs();

// Checks one directive's arguments; the error names the directive and the value.
std::optional<std::string> check_directive(const SettingSpec& spec, const Args& args);

// Directive values given at one configuration level, keyed by directive name.
class DirectiveValues {
 public:
  bool has(std::string_view directive) const { return values_.count(std::string(directive)); }
  void set(std::string_view directive, Args args) {
    values_[std::string(directive)] = std::move(args);
  }
  // Takes the parent level's values for every directive not set at this level.
  void inherit(const DirectiveValues& parent);
  const Args* find(std::string_view directive) const;

 private:
  std::map<std::string, Args, std::less<>> values_;
};

struct SettingsOrError {
  std::optional<Settings> settings;
  std::string error;
};

// Builds the settings: directive, else environment, else the built-in default; derived defaults
// (DIRECTUS_INTERNAL_URL from PUBLIC_URL, the redirect allow-list from PUBLIC_URL's origin, ...)
// follow. `default_templates_dir` is where the shipped templates were installed.
SettingsOrError resolve_settings(const DirectiveValues& values, const Environment& env,
                                 std::string_view default_templates_dir);

}  // namespace magic_link
