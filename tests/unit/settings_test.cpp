// Settings: directive values, environment fallbacks, defaults and the errors nginx -t prints.
#include "unit.h"

#include <map>

#include "core/config/settings.h"

namespace {

using magic_link::Args;
using magic_link::DirectiveValues;
using magic_link::resolve_settings;
using magic_link::SettingsOrError;

constexpr const char* kSecret = "0123456789abcdef0123456789abcdef";

struct FakeEnv {
  std::map<std::string, std::string, std::less<>> vars;
  magic_link::Environment lookup() const {
    return [this](std::string_view name) -> std::optional<std::string> {
      const auto found = vars.find(name);
      if (found == vars.end()) return std::nullopt;
      return found->second;
    };
  }
};

SettingsOrError resolve(const DirectiveValues& values, const FakeEnv& env = {}) {
  return resolve_settings(values, env.lookup(), "/shipped/templates");
}

DirectiveValues with_secret() {
  DirectiveValues values;
  values.set("magic_link_secret", {kSecret});
  return values;
}

void extension_defaults_apply(void**) {
  const auto resolved = resolve(with_secret());
  assert_true(resolved.settings.has_value());
  const auto& s = *resolved.settings;
  assert_int_equal(s.expiration_minutes, 15);
  assert_int_equal(s.max_requests_per_email_per_hour, 5);
  assert_int_equal(s.max_requests_per_ip_per_hour, 60);
  assert_string_equal(s.subject.c_str(), "Your Magic Login Link");
  assert_string_equal(s.verify_endpoint.c_str(), "/magic-link/verify");
  assert_string_equal(s.site_name.c_str(), "Magic Link Demo");
  assert_string_equal(s.public_url.origin().c_str(), "http://localhost:8055");
  assert_int_equal(s.smtp.port, 587);
  assert_false(s.smtp.implicit_tls);
  assert_int_equal(s.redis.port, 6379);
  assert_int_equal(s.redis_timeout.count(), 500);
  assert_string_equal(s.templates_dir.c_str(), "/shipped/templates");
}

void missing_secret_is_refused(void**) {
  const auto resolved = resolve(DirectiveValues{});
  assert_false(resolved.settings.has_value());
  assert_non_null(strstr(resolved.error.c_str(), "\"magic_link_secret\" is not set"));
}

void short_secret_is_refused_without_echoing_it(void**) {
  const auto problem =
      magic_link::check_directive(magic_link::setting_specs()[0], Args{"short-secret-value"});
  assert_true(problem.has_value());
  assert_non_null(strstr(problem->c_str(), "at least 32 characters"));
  assert_null(strstr(problem->c_str(), "short-secret-value"));
}

// `magic_link_secret NEW OLDER...` and its environment form: the first signs, all are accepted.
void older_secrets_are_accepted(void**) {
  const std::string current(32, 'n'), older(40, 'o');
  DirectiveValues values;
  values.set("magic_link_secret", {current, older});
  auto resolved = resolve(values);
  assert_string_equal(resolved.settings->secret.c_str(), current.c_str());
  const auto accepted = magic_link::accepted_secrets(*resolved.settings);
  assert_int_equal(accepted.size(), 2);
  assert_true(accepted[1] == older);

  FakeEnv env;
  env.vars = {{"MAGIC_LINK_SECRET", current},
              {"MAGIC_LINK_OLDER_SECRETS", older + "," + older + "x"}};
  resolved = resolve(DirectiveValues{}, env);
  assert_int_equal(resolved.settings->older_secrets.size(), 2);

  const auto& spec = magic_link::setting_specs()[0];
  assert_non_null(
      strstr(magic_link::check_directive(spec, Args{current, current})->c_str(), "listed twice"));
  const auto short_older = magic_link::check_directive(spec, Args{current, "short-older-one"});
  assert_non_null(strstr(short_older->c_str(), "at least 32 characters"));
  assert_null(strstr(short_older->c_str(), "short-older-one"));
}

void environment_is_the_default(void**) {
  FakeEnv env;
  env.vars = {{"MAGIC_LINK_EXPIRATION_MINUTES", "30"},
              {"PUBLIC_URL", "https://cms.example.com/"},
              {"EMAIL_SMTP_SECURE", "true"},
              {"MAGIC_LINK_ALLOWED_ROLES", "role-a, role-b"},
              {"REDIS", "redis://:pw@cache.internal:6380/2"}};
  const auto resolved = resolve(with_secret(), env);
  assert_true(resolved.settings.has_value());
  const auto& s = *resolved.settings;
  assert_int_equal(s.expiration_minutes, 30);
  assert_true(s.smtp.implicit_tls);
  assert_string_equal(s.public_url.origin().c_str(), "https://cms.example.com");
  assert_int_equal(s.allowed_roles.size(), 2);
  assert_string_equal(s.allowed_roles[1].c_str(), "role-b");
  assert_string_equal(s.redis.host.c_str(), "cache.internal");
  assert_int_equal(s.redis.port, 6380);
  assert_int_equal(s.redis.database, 2);
  assert_string_equal(s.redis.password.c_str(), "pw");
}

void directive_wins_over_environment(void**) {
  FakeEnv env;
  env.vars = {{"MAGIC_LINK_EXPIRATION_MINUTES", "30"}};
  auto values = with_secret();
  values.set("magic_link_expiration_minutes", {"5"});
  const auto resolved = resolve(values, env);
  assert_int_equal(resolved.settings->expiration_minutes, 5);
}

void empty_environment_variable_means_unset(void**) {
  FakeEnv env;
  env.vars = {{"MAGIC_LINK_EXPIRATION_MINUTES", ""}};
  const auto resolved = resolve(with_secret(), env);
  assert_int_equal(resolved.settings->expiration_minutes, 15);
}

void bad_environment_value_names_variable_and_directive(void**) {
  FakeEnv env;
  env.vars = {{"MAGIC_LINK_EXPIRATION_MINUTES", "abc"}};
  const auto resolved = resolve(with_secret(), env);
  assert_false(resolved.settings.has_value());
  assert_non_null(strstr(resolved.error.c_str(), "\"abc\""));
  assert_non_null(strstr(resolved.error.c_str(), "MAGIC_LINK_EXPIRATION_MINUTES"));
  assert_non_null(strstr(resolved.error.c_str(), "magic_link_expiration_minutes"));
}

void postgres_is_composed_from_directus_variables(void**) {
  FakeEnv env;
  env.vars = {{"DB_HOST", "db"},
              {"DB_PORT", "5433"},
              {"DB_DATABASE", "cms"},
              {"DB_USER", "directus"},
              {"DB_PASSWORD", "it's"}};
  const auto resolved = resolve(with_secret(), env);
  assert_string_equal(resolved.settings->postgres_conninfo.c_str(),
                      "host='db' port='5433' dbname='cms' user='directus' password='it\\'s'");
}

void derived_defaults_follow_public_url(void**) {
  auto values = with_secret();
  values.set("magic_link_public_url", {"https://cms.example.com:8443/base/"});
  values.set("magic_link_smtp_user", {"mailer@example.com"});
  const auto resolved = resolve(values);
  const auto& s = *resolved.settings;
  assert_string_equal(s.directus_url.origin().c_str(), "https://cms.example.com:8443");
  assert_string_equal(s.email_from.c_str(), "mailer@example.com");
  assert_int_equal(s.redirect_allow_list.size(), 1);
  assert_string_equal(s.redirect_allow_list[0].origin.c_str(), "https://cms.example.com:8443");
  assert_string_equal(s.after_login_url.c_str(), "https://cms.example.com:8443/base");
}

void bad_directive_values_are_named(void**) {
  struct Case {
    const char* directive;
    Args args;
    const char* expected;
  } cases[] = {
      {"magic_link_expiration_minutes", {"0"}, "from 1 to 10080"},
      {"magic_link_smtp_port", {"70000"}, "from 1 to 65535"},
      {"magic_link_smtp_secure", {"maybe"}, "on or off"},
      {"magic_link_redis_timeout", {"fast"}, "500ms"},
      {"magic_link_redis", {"http://cache"}, "redis://"},
      {"magic_link_public_url", {"ftp://example.com"}, "http://"},
      {"magic_link_public_url", {""}, "not nothing"},
      {"magic_link_after_login_url", {"javascript:alert(1)"}, "path starting with /"},
      {"magic_link_after_login_url", {"//evil.example.com/"}, "path starting with /"},
      {"magic_link_verify_endpoint", {"verify"}, "starting with /"},
      {"magic_link_allowed_roles", {"ok-role", "bad role!"}, "bad role!"},
      {"magic_link_redirect_allow", {"javascript:alert(1)"}, "URL prefixes"},
  };
  for (const auto& c : cases) {
    const auto& specs = magic_link::setting_specs();
    const auto spec = std::find_if(specs.begin(), specs.end(),
                                   [&](const auto& s) { return s.directive == c.directive; });
    assert_true(spec != specs.end());
    const auto problem = magic_link::check_directive(*spec, c.args);
    assert_true(problem.has_value());
    assert_non_null(strstr(problem->c_str(), c.directive));
    assert_non_null(strstr(problem->c_str(), c.expected));
  }
}

void every_setting_has_a_distinct_directive(void**) {
  std::map<std::string_view, int> seen;
  for (const auto& spec : magic_link::setting_specs()) {
    assert_int_equal(seen[spec.directive]++, 0);
    assert_true(spec.directive.substr(0, 11) == "magic_link_");
    assert_false(spec.meaning.empty());
  }
}

std::string file_text(const char* path) {
  std::ifstream file(path);
  assert_true(file.good());
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// The README's configuration reference and conf-examples/full.conf name every directive (run
// from the repository root).
void every_directive_is_documented(void**) {
  const std::string readme = file_text("README.md");
  const std::string full = file_text("conf-examples/full.conf");
  for (const auto& spec : magic_link::setting_specs()) {
    const std::string cell = "| `" + std::string(spec.directive) + "` |";
    if (readme.find(cell) == std::string::npos) fail_msg("not in README: %s", cell.c_str());
    const std::string line = "    " + std::string(spec.directive) + " ";
    if (full.find(line) == std::string::npos) fail_msg("not in full.conf: %s", line.c_str());
  }
}

void inherited_values_do_not_override_own(void**) {
  DirectiveValues parent;
  parent.set("magic_link_site_name", {"Parent"});
  parent.set("magic_link_subject", {"Parent subject"});
  DirectiveValues child;
  child.set("magic_link_site_name", {"Child"});
  child.inherit(parent);
  assert_string_equal(child.find("magic_link_site_name")->front().c_str(), "Child");
  assert_string_equal(child.find("magic_link_subject")->front().c_str(), "Parent subject");
}

}  // namespace

// EMAIL_TRANSPORT unset: SMTP when a host is set (as before), else Directus' sendmail.
void the_mail_transport_follows_directus(void**) {
  using magic_link::MailTransport;
  assert_true(resolve(with_secret()).settings->mail_transport == MailTransport::sendmail);
  DirectiveValues with_host = with_secret();
  with_host.set("magic_link_smtp_host", {"mail.example.com"});
  assert_true(resolve(with_host).settings->mail_transport == MailTransport::smtp);

  FakeEnv mailgun{{{"EMAIL_TRANSPORT", "mailgun"},
                   {"EMAIL_MAILGUN_API_KEY", "key-1"},
                   {"EMAIL_MAILGUN_DOMAIN", "mg.example.com"},
                   {"EMAIL_MAILGUN_HOST", "api.eu.mailgun.net"}}};
  const auto resolved = resolve(with_secret(), mailgun);
  assert_true(resolved.settings.has_value());
  assert_true(resolved.settings->mail_transport == MailTransport::mailgun);
  assert_string_equal(resolved.settings->mailgun.base_url.c_str(), "https://api.eu.mailgun.net");
  assert_string_equal(resolved.settings->mailgun.domain.c_str(), "mg.example.com");

  mailgun.vars["EMAIL_MAILGUN_HOST"] = "http://127.0.0.1:8025";
  assert_string_equal(resolve(with_secret(), mailgun).settings->mailgun.base_url.c_str(),
                      "http://127.0.0.1:8025");
  mailgun.vars["EMAIL_MAILGUN_HOST"] = "api.mailgun.net/v3";
  assert_false(resolve(with_secret(), mailgun).settings.has_value());
  mailgun.vars.erase("EMAIL_MAILGUN_HOST");
  mailgun.vars.erase("EMAIL_MAILGUN_API_KEY");
  const auto keyless = resolve(with_secret(), mailgun);
  assert_false(keyless.settings.has_value());
  assert_non_null(strstr(keyless.error.c_str(), "API key or domain is not set"));

  const auto ses = resolve(with_secret(), FakeEnv{{{"EMAIL_TRANSPORT", "ses"}}});
  assert_false(ses.settings.has_value());
  assert_non_null(strstr(ses.error.c_str(), "the mail transport \"ses\" is not supported"));
  assert_non_null(strstr(ses.error.c_str(), "EMAIL_TRANSPORT"));
}

GroupResult run_settings_tests() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(extension_defaults_apply),
      cmocka_unit_test(missing_secret_is_refused),
      cmocka_unit_test(short_secret_is_refused_without_echoing_it),
      cmocka_unit_test(older_secrets_are_accepted),
      cmocka_unit_test(environment_is_the_default),
      cmocka_unit_test(directive_wins_over_environment),
      cmocka_unit_test(empty_environment_variable_means_unset),
      cmocka_unit_test(bad_environment_value_names_variable_and_directive),
      cmocka_unit_test(postgres_is_composed_from_directus_variables),
      cmocka_unit_test(derived_defaults_follow_public_url),
      cmocka_unit_test(bad_directive_values_are_named),
      cmocka_unit_test(every_setting_has_a_distinct_directive),
      cmocka_unit_test(every_directive_is_documented),
      cmocka_unit_test(inherited_values_do_not_override_own),
      cmocka_unit_test(the_mail_transport_follows_directus),
  };
  return run_group("settings", tests);
}
