// URL parsing: what the redirect allow-list and the backend settings rely on.
#include "unit.h"

#include "core/input/url.h"

namespace {

using magic_link::parse_url;

void parses_parts_and_default_port(void**) {
  const auto url = parse_url("HTTPS://Example.COM/a/b?x=1");
  assert_true(url.has_value());
  assert_string_equal(url->scheme.c_str(), "https");
  assert_string_equal(url->host.c_str(), "example.com");
  assert_int_equal(url->port, 443);
  assert_string_equal(url->path.c_str(), "/a/b");
  assert_string_equal(url->query.c_str(), "x=1");
  assert_string_equal(url->origin().c_str(), "https://example.com");
}

void origin_keeps_a_non_default_port(void**) {
  assert_string_equal(parse_url("http://127.0.0.1:8080")->origin().c_str(),
                      "http://127.0.0.1:8080");
}

void refuses_ambiguous_text(void**) {
  const char* hostile[] = {"",
                           "https://good.com\\@evil.com",
                           "https://good.com /x",
                           "https://good.com\r\nX: y",
                           "//evil.com/x",
                           "/relative/path",
                           "https://"};
  for (const char* text : hostile) assert_false(parse_url(text).has_value());
}

void unknown_schemes_only_when_allowed(void**) {
  assert_false(parse_url("redis://cache:6379/1").has_value());
  const auto url = parse_url("redis://:secret@cache:6379/1", true);
  assert_true(url.has_value());
  assert_string_equal(url->password.c_str(), "secret");
  assert_int_equal(url->port, 6379);
}

}  // namespace

GroupResult run_url_tests() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(parses_parts_and_default_port),
      cmocka_unit_test(origin_keeps_a_non_default_port),
      cmocka_unit_test(refuses_ambiguous_text),
      cmocka_unit_test(unknown_schemes_only_when_allowed),
  };
  return run_group("url", tests);
}
