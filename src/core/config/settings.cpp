#include "core/config/settings.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>

#include <unistd.h>

namespace magic_link {
namespace {

using Problem = std::optional<std::string>;

std::string trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t");
  return std::string(text.substr(first, last - first + 1));
}

// Every argument may itself be a comma-separated list, as the extension's env vars are.
std::vector<std::string> list_items(const Args& args) {
  std::vector<std::string> items;
  for (const auto& arg : args) {
    std::string_view rest = arg;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      std::string item = trim(rest.substr(0, comma));
      if (!item.empty()) items.push_back(std::move(item));
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
  }
  return items;
}

const std::string& single(const Args& args) {
  static const std::string empty;
  return args.empty() ? empty : args.front();
}

bool has_control_characters(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}

Problem read_int(const Args& args, int min, int max, int& out) {
  const std::string& text = single(args);
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || value < min ||
      value > max) {
    return "expected a whole number from " + std::to_string(min) + " to " + std::to_string(max);
  }
  out = value;
  return std::nullopt;
}

Problem read_bool(const Args& args, bool& out) {
  std::string text = single(args);
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (text == "on" || text == "true" || text == "1" || text == "yes") {
    out = true;
  } else if (text == "off" || text == "false" || text == "0" || text == "no") {
    out = false;
  } else {
    return std::string("expected on or off (true or false)");
  }
  return std::nullopt;
}

// nginx's time syntax for the units that make sense here: "250ms", "5s", "1m"; bare = seconds.
Problem read_duration(const Args& args, Milliseconds max, Milliseconds& out) {
  const std::string& text = single(args);
  long long amount = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), amount);
  const std::string_view unit(end, text.data() + text.size() - end);
  long long factor = 0;
  if (unit == "ms") {
    factor = 1;
  } else if (unit == "s" || unit.empty()) {
    factor = 1000;
  } else if (unit == "m") {
    factor = 60 * 1000;
  }
  if (ec != std::errc() || text.empty() || factor == 0 || amount <= 0 ||
      amount > max.count() / factor) {
    return "expected a time such as 500ms, 5s or 1m, at most " +
           std::to_string(max.count() / 1000) + "s";
  }
  out = Milliseconds(amount * factor);
  return std::nullopt;
}

Problem read_text(const Args& args, std::string& out) {
  if (has_control_characters(single(args)))
    return std::string("control characters are not allowed");
  out = single(args);
  return std::nullopt;
}

Problem read_http_url(const Args& args, Url& out) {
  const std::string& text = single(args);
  if (text.empty()) return std::nullopt;  // derived later
  auto url = parse_url(text);
  if (!url || (url->scheme != "http" && url->scheme != "https") || !url->user.empty() ||
      !url->query.empty()) {
    return std::string("expected an http:// or https:// URL without user or query");
  }
  while (url->path.size() > 1 && url->path.back() == '/') url->path.pop_back();
  out = *url;
  return std::nullopt;
}

// The public URL has nothing to fall back on, unlike the Directus URL.
Problem read_required_http_url(const Args& args, Url& out) {
  if (single(args).empty()) return std::string("expected an http:// or https:// URL, not nothing");
  return read_http_url(args, out);
}

// Where a browser is sent after signing in: an http(s) URL or a path on the public site.
Problem read_target(const Args& args, std::string& out) {
  const std::string& text = single(args);
  const bool path = !text.empty() && text.front() == '/' && text.rfind("//", 0) != 0;
  if (!text.empty() && !path) {
    Url url;
    if (read_http_url(args, url))
      return std::string("expected an http(s) URL or a path starting with /");
  }
  if (has_control_characters(text) || text.find_first_of(" \\") != std::string::npos) {
    return std::string("expected an http(s) URL or a path starting with /");
  }
  out = text;
  return std::nullopt;
}

Problem read_path(const Args& args, std::string& out) {
  const std::string& text = single(args);
  if (text.empty() || text.front() != '/' || has_control_characters(text) ||
      text.find_first_of(" \\?#") != std::string::npos) {
    return std::string("expected a path starting with /");
  }
  out = text;
  return std::nullopt;
}

Problem read_roles(const Args& args, std::vector<std::string>& out) {
  out = list_items(args);
  for (const auto& role : out) {
    const bool plain = std::all_of(role.begin(), role.end(), [](unsigned char c) {
      return std::isalnum(c) || c == '-' || c == '_';
    });
    if (!plain) return "role ids are letters, digits and dashes, not \"" + role + "\"";
  }
  return std::nullopt;
}

Problem read_redirect_allow_list(const Args& args, std::vector<UrlPrefix>& out) {
  out.clear();
  for (const auto& item : list_items(args)) {
    auto url = parse_url(item);
    if (!url || (url->scheme != "http" && url->scheme != "https") || !url->user.empty() ||
        !url->query.empty()) {
      return "expected http(s) URL prefixes, not \"" + item + "\"";
    }
    out.push_back({url->origin(), url->path});
  }
  return std::nullopt;
}

Problem read_redis(const Args& args, RedisAddress& out) {
  auto url = parse_url(single(args), /*allow_any_scheme=*/true);
  if (!url || url->scheme != "redis") {
    return std::string("expected redis://[:password@]host[:port][/database]");
  }
  RedisAddress address;
  address.host = url->host;
  address.password = url->password;
  if (url->port != 0) address.port = url->port;
  const std::string_view path = std::string_view(url->path).substr(1);
  if (!path.empty()) {
    const auto [end, ec] =
        std::from_chars(path.data(), path.data() + path.size(), address.database);
    if (ec != std::errc() || end != path.data() + path.size() || address.database < 0) {
      return std::string("expected a database number after the host, as in redis://host:6379/0");
    }
  }
  out = address;
  return std::nullopt;
}

// The same text libpq will read; it is checked for real when the first connection is made.
Problem read_conninfo(const Args& args, std::string& out) {
  const std::string& text = single(args);
  if (text.empty() || has_control_characters(text)) {
    return std::string("expected a libpq connection string or postgresql:// URI");
  }
  out = text;
  return std::nullopt;
}

// `magic_link_secret NEW [OLDER ...]`: each argument one secret, taken whole (no comma split).
Problem read_secrets(const Args& args, std::string& current, std::vector<std::string>& older) {
  for (const auto& text : args) {
    if (args.size() > 1 && text.empty()) return std::string("a secret is empty");
    if (!text.empty() && text.size() < 32) {
      return std::string("must be at least 32 characters (use e.g. `openssl rand -hex 32`)");
    }
    if (std::count(args.begin(), args.end(), text) > 1) {
      return std::string("the same secret is listed twice");
    }
  }
  current = single(args);
  older.assign(args.empty() ? args.end() : args.begin() + 1, args.end());
  return std::nullopt;
}

// One of a directive's words, each naming a value: "expected a, b or c" otherwise.
template <typename Value, size_t N>
Problem read_choice(const Args& args, Value& out,
                    const std::pair<const char*, Value> (&choices)[N]) {
  const std::string& text = single(args);
  std::string expected;
  for (size_t i = 0; i < N; ++i) {
    if (text == choices[i].first) {
      out = choices[i].second;
      return std::nullopt;
    }
    expected += (i == 0 ? "" : i + 1 == N ? " or " : ", ") + std::string(choices[i].first);
  }
  return "expected " + expected;
}

constexpr std::pair<const char*, BrowserSession> kBrowserSessions[] = {
    {"cookie", BrowserSession::cookie}, {"session", BrowserSession::session}};
constexpr std::pair<const char*, DeviceBinding> kDeviceBindings[] = {
    {"off", DeviceBinding::off},
    {"prompt", DeviceBinding::prompt},
    {"strict", DeviceBinding::strict}};

constexpr std::pair<const char*, MailTransport> kMailTransports[] = {
    {"smtp", MailTransport::smtp},
    {"sendmail", MailTransport::sendmail},
    {"mailgun", MailTransport::mailgun}};

// Nothing: automatic, decided once the SMTP host is known.
Problem read_transport(const Args& args, MailTransport& out) {
  out = MailTransport::automatic;
  if (single(args).empty()) return std::nullopt;
  if (read_choice(args, out, kMailTransports)) {
    return "the mail transport \"" + single(args) +
           "\" is not supported; use smtp, sendmail or mailgun";
  }
  return std::nullopt;
}

// A host[:port] reached over HTTPS, or a whole http(s) URL (a local relay, a test server).
Problem read_api_host(const Args& args, std::string& out) {
  const std::string& text = single(args);
  const bool url = text.find("://") != std::string::npos;
  Url parsed;
  if (text.empty() || read_http_url(Args{url ? text : "https://" + text}, parsed) ||
      (!url && text.find('/') != std::string::npos)) {
    return std::string("expected a host such as api.mailgun.net, or an http(s):// URL");
  }
  out = parsed.base();
  return std::nullopt;
}

Problem read_absolute_path(const Args& args, std::string& out) {
  const std::string& text = single(args);
  if (!text.empty() && (text.front() != '/' || has_control_characters(text))) {
    return std::string("expected an absolute path");
  }
  out = text;
  return std::nullopt;
}

// An absolute path of a file nginx can read now, or nothing.
Problem read_readable_file(const Args& args, std::string& out) {
  if (auto problem = read_absolute_path(args, out)) return problem;
  if (!out.empty() && !std::ifstream(out)) return std::string("cannot be read");
  return std::nullopt;
}

// libpq keyword values go in single quotes with \ and ' escaped.
std::string conninfo_value(std::string_view value) {
  std::string quoted = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "'";
}

// MAGIC_LINK_SECRET, then the comma-separated MAGIC_LINK_OLDER_SECRETS.
std::optional<Args> secrets_from_env(const Environment& env) {
  auto current = env("MAGIC_LINK_SECRET");
  if (!current) return std::nullopt;
  Args secrets{*current};
  if (auto older = env("MAGIC_LINK_OLDER_SECRETS")) {
    for (auto& item : list_items(Args{*older})) secrets.push_back(std::move(item));
  }
  return secrets;
}

// Directus' own database settings: DB_CONNECTION_STRING, else DB_HOST, DB_PORT, ...
std::optional<Args> postgres_from_env(const Environment& env) {
  if (auto whole = env("DB_CONNECTION_STRING")) return Args{*whole};
  static const std::pair<const char*, const char*> parts[] = {
      {"DB_HOST", "host"}, {"DB_PORT", "port"},         {"DB_DATABASE", "dbname"},
      {"DB_USER", "user"}, {"DB_PASSWORD", "password"},
  };
  std::string conninfo;
  for (const auto& [variable, keyword] : parts) {
    if (auto value = env(variable)) {
      if (!conninfo.empty()) conninfo += ' ';
      conninfo += std::string(keyword) + "=" + conninfo_value(*value);
    }
  }
  if (conninfo.empty()) return std::nullopt;
  return Args{conninfo};
}

// Directus' REDIS URL, else its REDIS_HOST / REDIS_PORT / REDIS_PASSWORD / REDIS_DB.
std::optional<Args> redis_from_env(const Environment& env) {
  if (auto whole = env("REDIS")) return Args{*whole};
  auto host = env("REDIS_HOST");
  if (!host) return std::nullopt;
  std::string url = "redis://";
  if (auto password = env("REDIS_PASSWORD")) url += ":" + *password + "@";
  url += *host;
  if (auto port = env("REDIS_PORT")) url += ":" + *port;
  if (auto db = env("REDIS_DB")) url += "/" + *db;
  return Args{url};
}

constexpr Milliseconds kMaxTimeout = std::chrono::minutes(10);

#define FIELD_READER(expr) [](Settings& s, const Args& a) -> Problem { return expr; }

// Built on first use, so nginx's static initialisers can read it in any order.
const std::vector<SettingSpec>& spec_table() {
  static const std::vector<SettingSpec> specs = {
      // Shared backends.
      {"magic_link_secret", "MAGIC_LINK_SECRET, MAGIC_LINK_OLDER_SECRETS", "",
       "Key for HMAC-SHA-256 of stored tokens and for sealing queued mail, >= 32 chars; "
       "required. Further arguments: older secrets still accepted during a rotation.",
       Scope::Http, true, true, FIELD_READER(read_secrets(a, s.secret, s.older_secrets)),
       secrets_from_env},
      {"magic_link_postgres",
       "DB_CONNECTION_STRING or DB_HOST, DB_PORT, DB_DATABASE, DB_USER, DB_PASSWORD",
       "host=localhost dbname=directus",
       "PostgreSQL of the Directus deployment (libpq connection string or URI).", Scope::Http,
       false, true, FIELD_READER(read_conninfo(a, s.postgres_conninfo)), postgres_from_env},
      {"magic_link_redis", "REDIS or REDIS_HOST, REDIS_PORT, REDIS_PASSWORD, REDIS_DB",
       "redis://127.0.0.1:6379/0", "Redis holding the rate-limit counters.", Scope::Http, false,
       true, FIELD_READER(read_redis(a, s.redis)), redis_from_env},
      {"magic_link_directus_url", "DIRECTUS_INTERNAL_URL", "",
       "Directus as nginx reaches it, for /auth/refresh. Default: the public URL.", Scope::Http,
       false, false, FIELD_READER(read_http_url(a, s.directus_url)), nullptr},
      {"magic_link_email_transport", "EMAIL_TRANSPORT", "",
       "How mail leaves: smtp, sendmail or mailgun. Default: smtp when an SMTP host is set, "
       "else sendmail (Directus' default).",
       Scope::Http, false, false, FIELD_READER(read_transport(a, s.mail_transport)), nullptr},
      {"magic_link_sendmail_path", "EMAIL_SENDMAIL_PATH", "/usr/sbin/sendmail",
       "The sendmail program (sendmail transport); run as `sendmail -i -f FROM -- TO` with the "
       "message on its standard input, within magic_link_smtp_timeout.",
       Scope::Http, false, false, FIELD_READER(read_absolute_path(a, s.sendmail_path)), nullptr},
      {"magic_link_mailgun_api_key", "EMAIL_MAILGUN_API_KEY", "", "Mailgun API key.", Scope::Http,
       false, true, FIELD_READER(read_text(a, s.mailgun.api_key)), nullptr},
      {"magic_link_mailgun_domain", "EMAIL_MAILGUN_DOMAIN", "", "Mailgun sending domain.",
       Scope::Http, false, false, FIELD_READER(read_text(a, s.mailgun.domain)), nullptr},
      {"magic_link_mailgun_host", "EMAIL_MAILGUN_HOST", "api.mailgun.net",
       "Mailgun API host (api.eu.mailgun.net in the EU), reached over HTTPS; or an http(s):// "
       "URL.",
       Scope::Http, false, false, FIELD_READER(read_api_host(a, s.mailgun.base_url)), nullptr},
      {"magic_link_mailgun_webhook_signing_key", "MAGIC_LINK_MAILGUN_WEBHOOK_SIGNING_KEY", "",
       "Mailgun's HTTP webhook signing key: checks the signature of every delivery event posted "
       "to a `magic_link mailgun_webhook` location.",
       Scope::Http, false, true, FIELD_READER(read_text(a, s.mailgun.webhook_signing_key)),
       nullptr},
      {"magic_link_smtp_host", "EMAIL_SMTP_HOST", "", "SMTP server host.", Scope::Http, false,
       false, FIELD_READER(read_text(a, s.smtp.host)), nullptr},
      {"magic_link_smtp_port", "EMAIL_SMTP_PORT", "587", "SMTP server port.", Scope::Http, false,
       false, FIELD_READER(read_int(a, 1, 65535, s.smtp.port)), nullptr},
      {"magic_link_smtp_secure", "EMAIL_SMTP_SECURE", "off",
       "on: TLS from the start (port 465). off: STARTTLS when the server offers it.", Scope::Http,
       false, false, FIELD_READER(read_bool(a, s.smtp.implicit_tls)), nullptr},
      {"magic_link_smtp_user", "EMAIL_SMTP_USER", "", "SMTP AUTH user; empty: no AUTH.",
       Scope::Http, false, false, FIELD_READER(read_text(a, s.smtp.user)), nullptr},
      {"magic_link_smtp_password", "EMAIL_SMTP_PASSWORD", "", "SMTP AUTH password.", Scope::Http,
       false, true, FIELD_READER(read_text(a, s.smtp.password)), nullptr},
      {"magic_link_smtp_ignore_tls", "EMAIL_SMTP_IGNORE_TLS", "off",
       "on: never STARTTLS (plain SMTP, e.g. a local relay). off: STARTTLS when offered, and "
       "required whenever a user is set, so a password never travels in clear.",
       Scope::Http, false, false, FIELD_READER(read_bool(a, s.smtp.ignore_tls)), nullptr},
      {"magic_link_smtp_ca_file", "NODE_EXTRA_CA_CERTS", "",
       "PEM file of CAs trusted for the SMTP server's certificate besides the system's (a "
       "private CA). Certificates are always verified.",
       Scope::Http, false, false, FIELD_READER(read_readable_file(a, s.smtp.ca_file)), nullptr},
      {"magic_link_redis_timeout", "", "500ms",
       "Connect and command timeout for Redis; past it requests fail fast with 503.", Scope::Http,
       false, false, FIELD_READER(read_duration(a, kMaxTimeout, s.redis_timeout)), nullptr},
      {"magic_link_user_email_index", "", "on",
       "on: the module creates the index extension_magic_link_users_email on directus_users "
       "(lower(email)) once, so finding a user costs the same with 100 or 1,000,000 users. off: "
       "it does not (create it yourself, e.g. CONCURRENTLY).",
       Scope::Http, false, false, FIELD_READER(read_bool(a, s.directus_indexes.user_emails)),
       nullptr},
      {"magic_link_session_user_index", "", "on",
       "on: the module creates the index extension_magic_link_sessions_user on directus_sessions "
       "(\"user\", expires) once, so Directus' clean-up of a user's expired sessions on every "
       "refresh reads that user's expired sessions, not every session. off: it does not.",
       Scope::Http, false, false, FIELD_READER(read_bool(a, s.directus_indexes.session_users)),
       nullptr},
      {"magic_link_postgres_timeout", "", "3s", "Connect and statement timeout for PostgreSQL.",
       Scope::Http, false, false, FIELD_READER(read_duration(a, kMaxTimeout, s.postgres_timeout)),
       nullptr},
      {"magic_link_smtp_timeout", "", "15s",
       "Timeout of one mail delivery (SMTP, sendmail or the Mailgun API).", Scope::Http, false,
       false, FIELD_READER(read_duration(a, kMaxTimeout, s.smtp_timeout)), nullptr},
      {"magic_link_directus_timeout", "", "5s", "Timeout of one call to Directus.", Scope::Http,
       false, false, FIELD_READER(read_duration(a, kMaxTimeout, s.directus_timeout)), nullptr},
      {"magic_link_mail_retry_max_delay", "", "60s",
       "Longest wait between mail retries (the wait doubles from 1s); retries stop when the link "
       "expires.",
       Scope::Http, false, false,
       FIELD_READER(read_duration(a, kMaxTimeout, s.mail_retry_max_delay)), nullptr},
      {"magic_link_backend_connections", "", "4",
       "Most connections each worker opens to each backend (PostgreSQL, Redis, mail, Directus); a "
       "request finding all busy waits up to that backend's timeout, then gets 503.",
       Scope::Http, false, false, FIELD_READER(read_int(a, 1, 1024, s.backend_connections)),
       nullptr},
      {"magic_link_backend_idle_timeout", "", "10s",
       "A backend connection unused this long is closed, so an idle worker holds none.",
       Scope::Http, false, false,
       FIELD_READER(read_duration(a, kMaxTimeout, s.backend_idle_timeout)), nullptr},
      {"magic_link_directus_secret", "SECRET", "",
       "Directus' own SECRET: signs the 30-second bootstrap of a session-mode sign-in and checks "
       "Directus' session cookies at the gate. Needed by magic_link_session_mode session.",
       Scope::Http, false, true, FIELD_READER(read_text(a, s.directus_secret)), nullptr},
      {"magic_link_session_cache", "", "30s",
       "How long the gate trusts a session it has checked; after that it looks again (on the "
       "thread pool) whether Directus still has the session and the user is active.",
       Scope::Http, false, false, FIELD_READER(read_duration(a, kMaxTimeout, s.session_cache)),
       nullptr},
      {"magic_link_audit_retention_days", "MAGIC_LINK_AUDIT_RETENTION_DAYS", "30",
       "Days used and refused link rows are kept for audit; expired unused links go sooner.",
       Scope::Http, false, false, FIELD_READER(read_int(a, 1, 3650, s.audit_retention_days)),
       nullptr},

      // Per site.
      {"magic_link_public_url", "PUBLIC_URL", "http://localhost:8055",
       "Public URL of the site; base of mailed links and the default redirect allow-list.",
       Scope::Any, false, false, FIELD_READER(read_required_http_url(a, s.public_url)), nullptr},
      {"magic_link_site_name", "MAGIC_LINK_SITE_NAME", "Magic Link Demo",
       "Site name shown in mail and pages.", Scope::Any, false, false,
       FIELD_READER(read_text(a, s.site_name)), nullptr},
      {"magic_link_email_from", "EMAIL_FROM", "",
       "From header, e.g. \"Site <no-reply@example.com>\". Default: the SMTP user, else "
       "no-reply@<public host>.",
       Scope::Any, false, false, FIELD_READER(read_text(a, s.email_from)), nullptr},
      {"magic_link_subject", "MAGIC_LINK_SUBJECT", "Your Magic Login Link", "Mail subject.",
       Scope::Any, false, false, FIELD_READER(read_text(a, s.subject)), nullptr},
      {"magic_link_verify_endpoint", "MAGIC_LINK_VERIFY_ENDPOINT", "/magic-link/verify",
       "Path of the page the mailed link opens (a location with `magic_link verify;`).", Scope::Any,
       false, false, FIELD_READER(read_path(a, s.verify_endpoint)), nullptr},
      {"magic_link_expiration_minutes", "MAGIC_LINK_EXPIRATION_MINUTES", "15",
       "Minutes a link stays valid.", Scope::Any, false, false,
       FIELD_READER(read_int(a, 1, 10080, s.expiration_minutes)), nullptr},
      {"magic_link_max_requests_per_hour", "MAGIC_LINK_MAX_REQUESTS_PER_HOUR", "5",
       "Links mailed per email address per hour; more get the same answer and no mail.", Scope::Any,
       false, false, FIELD_READER(read_int(a, 1, 1000000, s.max_requests_per_email_per_hour)),
       nullptr},
      {"magic_link_max_requests_per_ip_per_hour", "MAGIC_LINK_MAX_REQUESTS_PER_IP_PER_HOUR", "60",
       "Link requests per client address ($remote_addr) per hour; more get 429.", Scope::Any, false,
       false, FIELD_READER(read_int(a, 1, 1000000000, s.max_requests_per_ip_per_hour)), nullptr},
      {"magic_link_max_failed_verifies_per_ip_per_hour",
       "MAGIC_LINK_MAX_FAILED_VERIFIES_PER_IP_PER_HOUR", "20",
       "Failed redemptions per client address per hour; more get 429.", Scope::Any, false, false,
       FIELD_READER(read_int(a, 1, 1000000000, s.max_failed_verifies_per_ip_per_hour)), nullptr},
      {"magic_link_allowed_roles", "MAGIC_LINK_ALLOWED_ROLES", "",
       "Role ids that may use magic links; empty: all roles.", Scope::Any, true, false,
       FIELD_READER(read_roles(a, s.allowed_roles)), nullptr},
      {"magic_link_disallowed_roles", "MAGIC_LINK_DISALLOWED_ROLES", "",
       "Role ids that may not use magic links.", Scope::Any, true, false,
       FIELD_READER(read_roles(a, s.disallowed_roles)), nullptr},
      {"magic_link_redirect_allow", "MAGIC_LINK_REDIRECT_ALLOW_LIST", "",
       "URL prefixes a redirectUrl may start with (scheme, host, port exact; path prefix). "
       "Default: the public URL's origin.",
       Scope::Any, true, false, FIELD_READER(read_redirect_allow_list(a, s.redirect_allow_list)),
       nullptr},
      {"magic_link_after_login_url", "MAGIC_LINK_AFTER_LOGIN_URL", "",
       "Where the browser goes after signing in, unless the link names an allowed target. "
       "Default: the public URL.",
       Scope::Any, false, false, FIELD_READER(read_target(a, s.after_login_url)), nullptr},
      {"magic_link_api_get_redeems", "MAGIC_LINK_API_GET_REDEEMS", "on",
       "on: GET <api>/verify redeems, as the extension did. off: only POST redeems, so link "
       "scanners cannot spend links.",
       Scope::Any, false, false, FIELD_READER(read_bool(a, s.api_get_redeems)), nullptr},
      {"magic_link_allow_admin", "MAGIC_LINK_ALLOW_ADMIN", "off",
       "on: accounts with admin access may sign in by link (still with their one-time password "
       "when they have 2FA). off: they get no link (audit reason `Admin not allowed`).",
       Scope::Any, false, false, FIELD_READER(read_bool(a, s.allow_admin)), nullptr},
      {"magic_link_session_mode", "MAGIC_LINK_SESSION_MODE", "cookie",
       "The Directus session a browser sign-in starts: cookie (directus_refresh_token) or "
       "session (directus_session_token, the Data Studio's; needs magic_link_directus_secret).",
       Scope::Any, false, false, FIELD_READER(read_choice(a, s.browser_session, kBrowserSessions)),
       nullptr},
      {"magic_link_require", "", "off",
       "on: the location answers only requests with a live Directus session (either cookie); "
       "others are sent to the sign-in page (browsers) or get 401 (API clients).",
       Scope::Any, false, false, FIELD_READER(read_bool(a, s.require_session)), nullptr},
      {"magic_link_require_roles", "", "",
       "Role ids the gate lets in (a user's role or any of its parents); empty: every role.",
       Scope::Any, true, false, FIELD_READER(read_roles(a, s.require_roles)), nullptr},
      {"magic_link_sign_in_url", "", "",
       "Where the gate sends a browser that is not signed in, with the original path as `return`. "
       "Default: the first `magic_link ui` location.",
       Scope::Any, false, false, FIELD_READER(read_target(a, s.sign_in_url)), nullptr},
      {"magic_link_allow_sso_users", "MAGIC_LINK_ALLOW_SSO_USERS", "off",
       "on: users who sign in to Directus through an SSO provider (provider not `default`) may "
       "also sign in by link. off: they get no link (audit reason `Provider not allowed`).",
       Scope::Any, false, false, FIELD_READER(read_bool(a, s.allow_sso_users)), nullptr},
      {"magic_link_device_binding", "MAGIC_LINK_DEVICE_BINDING", "prompt",
       "A link asked for from a browser is bound to it (an HttpOnly cookie). off: any browser "
       "signs in with it. prompt: another browser is shown where it was asked for and may sign "
       "in there or approve the asking browser. strict: another browser may only approve.",
       Scope::Any, false, false, FIELD_READER(read_choice(a, s.device_binding, kDeviceBindings)),
       nullptr},
      {"magic_link_templates", "MAGIC_LINK_TEMPLATES_DIR", "",
       "Folder of the mail and page templates. Default: the templates installed with the module.",
       Scope::Any, false, false, FIELD_READER(read_absolute_path(a, s.templates_dir)), nullptr},
  };
  return specs;
}

#undef FIELD_READER

std::string describe(const SettingSpec& spec, const Args& args) {
  if (spec.sensitive) return "(value hidden)";
  std::string joined;
  for (const auto& arg : args) joined += (joined.empty() ? "" : " ") + arg;
  return "\"" + joined + "\"";
}

std::optional<Args> env_value(const SettingSpec& spec, const Environment& env) {
  if (spec.read_env) return spec.read_env(env);
  if (spec.env.empty()) return std::nullopt;
  if (auto value = env(spec.env)) return Args{*value};
  return std::nullopt;
}

// Defaults that depend on other settings.
void derive_defaults(Settings& s, std::string_view default_templates_dir) {
  if (s.directus_url.host.empty()) s.directus_url = s.public_url;
  if (s.email_from.empty()) s.email_from = s.smtp.user;
  if (s.email_from.find('@') == std::string::npos) s.email_from = "no-reply@" + s.public_url.host;
  if (s.redirect_allow_list.empty()) {
    s.redirect_allow_list.push_back({s.public_url.origin(), "/"});
  }
  if (s.after_login_url.empty()) {
    s.after_login_url = s.public_url.origin() + s.public_url.path;
  } else if (s.after_login_url.front() == '/') {
    s.after_login_url = s.public_url.origin() + s.after_login_url;
  }
  if (s.templates_dir.empty()) s.templates_dir = default_templates_dir;
}

// What a chosen transport cannot work without, told at `nginx -t` rather than at the first mail.
Problem check_mail_transport(const Settings& s) {
  switch (s.mail_transport) {
    case MailTransport::automatic:
      break;
    case MailTransport::smtp:
      if (s.smtp.host.empty()) {
        return std::string(
            "mail goes through SMTP but no SMTP host is set: set \"magic_link_smtp_host\" or "
            "EMAIL_SMTP_HOST (or choose another \"magic_link_email_transport\")");
      }
      break;
    case MailTransport::sendmail:
      if (access(s.sendmail_path.c_str(), X_OK) != 0) {
        return "mail goes through sendmail but \"" + s.sendmail_path +
               "\" is not an executable file: set \"magic_link_sendmail_path\", or "
               "\"magic_link_email_transport\" and its settings";
      }
      break;
    case MailTransport::mailgun:
      if (s.mailgun.api_key.empty() || s.mailgun.domain.empty()) {
        return std::string(
            "mail goes through Mailgun but its API key or domain is not set: set "
            "\"magic_link_mailgun_api_key\" and \"magic_link_mailgun_domain\" (or "
            "EMAIL_MAILGUN_API_KEY and EMAIL_MAILGUN_DOMAIN)");
      }
      break;
  }
  return std::nullopt;
}

}  // namespace

std::vector<std::string_view> accepted_secrets(const Settings& settings) {
  std::vector<std::string_view> secrets{settings.secret};
  secrets.insert(secrets.end(), settings.older_secrets.begin(), settings.older_secrets.end());
  return secrets;
}

const std::vector<SettingSpec>& setting_specs() {
  return spec_table();
}

std::optional<std::string> check_directive(const SettingSpec& spec, const Args& args) {
  Settings scratch;
  if (auto problem = spec.apply(scratch, args)) {
    return "invalid value " + describe(spec, args) + " in \"" + std::string(spec.directive) +
           "\": " + *problem;
  }
  return std::nullopt;
}

void DirectiveValues::inherit(const DirectiveValues& parent) {
  for (const auto& [directive, args] : parent.values_) values_.try_emplace(directive, args);
}

const Args* DirectiveValues::find(std::string_view directive) const {
  const auto found = values_.find(directive);
  return found == values_.end() ? nullptr : &found->second;
}

SettingsOrError resolve_settings(const DirectiveValues& values, const Environment& raw_env,
                                 std::string_view default_templates_dir) {
  // An env file line `NAME=` means "not set", as it does for Directus.
  const Environment env = [&raw_env](std::string_view name) -> std::optional<std::string> {
    auto value = raw_env(name);
    if (value && value->empty()) return std::nullopt;
    return value;
  };
  Settings settings;
  for (const auto& spec : spec_table()) {
    if (const Args* given = values.find(spec.directive)) {
      if (auto problem = check_directive(spec, *given)) return {std::nullopt, *problem};
      spec.apply(settings, *given);
    } else if (auto from_env = env_value(spec, env)) {
      if (auto problem = spec.apply(settings, *from_env)) {
        return {std::nullopt, "invalid value " + describe(spec, *from_env) + " in " +
                                  std::string(spec.env) + " (the default of \"" +
                                  std::string(spec.directive) + "\"): " + *problem};
      }
    } else {
      spec.apply(settings, Args{std::string(spec.fallback)});
    }
  }
  if (settings.secret.empty()) {
    return {std::nullopt,
            "\"magic_link_secret\" is not set and MAGIC_LINK_SECRET is empty: set a random "
            "secret of at least 32 characters (e.g. `openssl rand -hex 32`)"};
  }
  if (settings.browser_session == BrowserSession::session && settings.directus_secret.empty()) {
    return {std::nullopt,
            "\"magic_link_session_mode session\" needs Directus' SECRET: set "
            "\"magic_link_directus_secret\" or SECRET in the environment"};
  }
  if (settings.mail_transport == MailTransport::automatic) {
    // Not checked: a host that only gates locations sends no mail. sendmail: Directus' default.
    settings.mail_transport =
        settings.smtp.host.empty() ? MailTransport::sendmail : MailTransport::smtp;
  } else if (auto problem = check_mail_transport(settings)) {
    return {std::nullopt, *problem};
  }
  derive_defaults(settings, default_templates_dir);
  return {std::move(settings), {}};
}

}  // namespace magic_link
