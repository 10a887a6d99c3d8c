// Untrusted input of a link request: email addresses, redirect URLs, bodies, tokens.
#include "unit.h"

#include <set>

#include "core/input/body.h"
#include "core/input/email.h"
#include "core/crypto/encoding.h"
#include "core/input/redirect.h"
#include "core/crypto/token.h"

namespace {

using namespace magic_link;

void accepts_and_lowercases_ordinary_addresses(void**) {
  assert_string_equal(normalize_email("Jane.Doe+news@Example.COM")->c_str(),
                      "jane.doe+news@example.com");
  assert_true(normalize_email("a@b.co").has_value());
}

void refuses_malformed_addresses(void**) {
  const std::string too_long = std::string(250, 'a') + "@b.co";
  const std::string hostile[] = {"",
                                 "plain",
                                 "@example.com",
                                 "jane@",
                                 "jane@localhost",
                                 "jane doe@example.com",
                                 "jane@example.com\r\nBcc: x@evil.com",
                                 "jane@exa\tmple.com",
                                 std::string("jane\0@example.com", 17),
                                 "\"quoted\"@example.com",
                                 "<jane@example.com>",
                                 "jane..doe@example.com",
                                 ".jane@example.com",
                                 "jane@-example.com",
                                 "jane@example..com",
                                 "jäne@example.com",
                                 too_long};
  for (const auto& text : hostile) assert_false(normalize_email(text).has_value());
}

Settings redirect_settings() {
  Settings settings;
  settings.redirect_allow_list = {{"https://app.example.com", "/auth"},
                                  {"http://127.0.0.1:8080", "/"},
                                  {"http://host", "/app/"}};
  settings.module_locations = {{"/magic-link-api/", false}, {"/magic-link-ui", false}};
  return settings;
}
const Settings kAllow = redirect_settings();

void allows_urls_under_a_listed_prefix(void**) {
  assert_string_equal(allowed_redirect("https://app.example.com/auth/cb?x=1", kAllow)->c_str(),
                      "https://app.example.com/auth/cb?x=1");
  assert_true(allowed_redirect("https://APP.example.com:443/auth", kAllow).has_value());
  assert_true(allowed_redirect("http://127.0.0.1:8080/anything", kAllow).has_value());
  // The verify page is where mailed links belong; look-alike paths are not the API.
  assert_true(allowed_redirect("http://127.0.0.1:8080/magic-link/verify", kAllow).has_value());
  assert_true(allowed_redirect("http://127.0.0.1:8080/magic-link-apix", kAllow).has_value());
  assert_true(allowed_redirect("http://host/app/a%20b?tokens=1&my_token=2", kAllow).has_value());
}

void routes_paths_as_nginx_does(void**) {
  assert_string_equal(routed_path("/a//b/%41")->c_str(), "/a/b/A");
  assert_false(routed_path("/a/%2F").has_value());
  assert_false(routed_path("/a/%2e").has_value());
  assert_false(routed_path("/a/%5C").has_value());
}

void refuses_hostile_redirects(void**) {
  const char* hostile[] = {
      "https://evil.com/auth",
      "//evil.com/auth",
      "https://app.example.com//auth/x",  // an empty segment: merged by nginx, not by others
      "https://app.example.com.evil.com/auth",
      "https://app.example.com@evil.com/auth",
      "https://evil.com\\@app.example.com/auth",
      "https://app.example.com:8443/auth",
      "http://app.example.com/auth",
      "https://app.example.com/authority",
      "https://app.example.com/auth/../admin",
      "https://app.example.com/auth#frag",
      "javascript:alert(1)//https://app.example.com/auth",
      "data:text/html,<script>alert(1)</script>",
      "https:/evil.com/auth",
      "/auth/relative",
      "http://127.0.0.1:8081/",
      "https://app.example.com/auth/cb?token=attackers-own-token",
      "https://app.example.com/auth/cb?x=1&token=",
      "https://app.example.com/auth/%2e%2e/admin",
      "https://app.example.com/auth/.%2E/admin",
      // Into the module's own locations, whatever the allow-list says.
      "http://127.0.0.1:8080/magic-link-api/verify",
      "http://127.0.0.1:8080/magic-link-api/",
      "http://127.0.0.1:8080//magic-link-api/verify",
      "http://127.0.0.1:8080/magic-link-%61pi/verify",
      "http://127.0.0.1:8080/x/../magic-link-api/verify",
      "http://127.0.0.1:8080/magic-link-ui",
      "http://127.0.0.1:8080/magic-link-ui/success",
      // Encoded separators and dots, which nginx or a browser may resolve after the check.
      "http://host/app/..%2fmagic-link-api/verify",
      "http://host/app/..%2Fmagic-link-api/verify",
      "http://host/app/..%5cmagic-link-api/verify",
      "http://host/app/%2e%2e/magic-link-api/verify",
      "http://host/app/x%00",
      "http://host/app/x%0a",
      "http://host/app/%zz",
      "http://host/app/%2",
      // A token field in any spelling a frontend's parser may read.
      "http://host/app/?a=1;token=X",
      "http://host/app/?TOKEN=X",
      "http://host/app/?Token=X",
      "http://host/app/?token[]=X",
      "http://host/app/?token[0]=X",
      "http://host/app/?tok%65n=X",
      "http://host/app/?tok%2565n=X",
      "http://host/app/?%20token=X",
      "http://host/app/?token%00x=X",
      "http://host/app/?token",
      "http://host/app/?a=1&amp;token=X",
  };
  for (const char* text : hostile) {
    if (allowed_redirect(text, kAllow).has_value()) fail_msg("allowed: %s", text);
  }
}

void pkce_challenges_are_rfc_7636_s256_and_bind_the_link(void**) {
  // RFC 7636, appendix B.
  assert_string_equal(pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").c_str(),
                      "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  assert_true(looks_like_code_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
  assert_false(looks_like_code_verifier("too-short"));
  assert_false(looks_like_code_verifier(std::string(129, 'a')));
  assert_false(looks_like_code_verifier(std::string(43, '/')));
  assert_true(looks_like_code_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
  assert_false(looks_like_code_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"));
  const std::string secret = "0123456789abcdef0123456789abcdef", token = new_token();
  assert_string_equal(link_hash(secret, token, "").c_str(), keyed_hash(secret, token).c_str());
  assert_string_not_equal(
      link_hash(secret, token, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").c_str(),
      keyed_hash(secret, token).c_str());
}

void return_targets_are_paths_on_this_site_only(void**) {
  for (const char* good :
       {"/", "/admin/content", "/a/b?x=1&y=%20two", "/%C3%A9t%C3%A9", "/a/../b"}) {
    assert_true(return_target(good).has_value());
    assert_string_equal(return_target(good)->c_str(), good);
  }
  const std::string too_long = "/" + std::string(2048, 'a');
  for (const std::string& bad :
       {std::string(), std::string("admin"), std::string("//evil.example.com"),
        std::string("/\\evil.example.com"), std::string("https://evil.example.com/"),
        std::string("/a\\b"), std::string("/%2fevil"), std::string("/%2Fevil"),
        std::string("/%5cevil"), std::string("/a%0d%0aSet-Cookie:x"), std::string("/a%7f"),
        std::string("/a b"), std::string("/a\tb"), std::string("/a#frag"), std::string("/\xc3\xa9"),
        std::string("/%zz"), std::string("/%2"), too_long}) {
    assert_false(return_target(bad).has_value());
  }
}

void appends_the_token_as_a_query_parameter(void**) {
  assert_string_equal(link_with_token("https://a.com/cb", "T").c_str(), "https://a.com/cb?token=T");
  assert_string_equal(link_with_token("https://a.com/cb?x=1", "T").c_str(),
                      "https://a.com/cb?x=1&token=T");
}

void reads_json_and_form_bodies(void**) {
  auto json =
      parse_link_request(BodyFormat::json, R"({"email":"a@b.co","redirectUrl":"https://x.co/"})");
  assert_true(json.has_value());
  assert_int_equal(static_cast<int>(json->email.state), static_cast<int>(Field::State::text));
  assert_string_equal(json->redirect_url.value.c_str(), "https://x.co/");

  auto form =
      parse_link_request(BodyFormat::form, "email=a%40b.co&redirectUrl=https%3A%2F%2Fx.co%2F");
  assert_string_equal(form->email.value.c_str(), "a@b.co");
  assert_string_equal(form->redirect_url.value.c_str(), "https://x.co/");
}

void flags_broken_and_ambiguous_bodies(void**) {
  assert_false(parse_link_request(BodyFormat::json, "{\"email\":").has_value());
  assert_false(parse_link_request(BodyFormat::json, "[\"a@b.co\"]").has_value());
  const auto number = parse_link_request(BodyFormat::json, R"({"email":42})");
  assert_int_equal(static_cast<int>(number->email.state), static_cast<int>(Field::State::invalid));
  const auto missing = parse_link_request(BodyFormat::json, R"({"mail":"a@b.co"})");
  assert_int_equal(static_cast<int>(missing->email.state), static_cast<int>(Field::State::absent));
  const auto twice = parse_link_request(BodyFormat::form, "email=a%40b.co&email=c%40d.co");
  assert_int_equal(static_cast<int>(twice->email.state), static_cast<int>(Field::State::invalid));
  const auto nul = parse_link_request(BodyFormat::form, "email=a%00%40b.co");
  assert_int_equal(static_cast<int>(nul->email.state), static_cast<int>(Field::State::invalid));
  const auto json_nul = parse_link_request(BodyFormat::json, R"({"email":"a\u0000@b.co"})");
  assert_int_equal(static_cast<int>(json_nul->email.state),
                   static_cast<int>(Field::State::invalid));
}

void tokens_are_random_and_well_formed(void**) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string token = new_token();
    assert_int_equal(token.size(), 43);
    assert_true(looks_like_token(token));
    assert_true(seen.insert(token).second);
  }
  assert_false(looks_like_token("short"));
  assert_false(looks_like_token(std::string(43, '=')));
}

void keyed_hash_matches_rfc4231(void**) {
  // RFC 4231 test case 2, again after another key and another text: the keyed state a thread
  // keeps per secret starts every hash afresh.
  constexpr const char* kCase2 = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
  assert_string_equal(keyed_hash("Jefe", "what do ya want for nothing?").c_str(), kCase2);
  assert_string_not_equal(keyed_hash("Jeff", "what do ya want for nothing?").c_str(), kCase2);
  assert_string_not_equal(keyed_hash("Jefe", "what do ya want").c_str(), kCase2);
  assert_string_equal(keyed_hash("Jefe", "what do ya want for nothing?").c_str(), kCase2);
  // RFC 4231 test case 6: a key longer than the block.
  assert_string_equal(
      keyed_hash(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First")
          .c_str(),
      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  assert_true(same_secret("abc", "abc"));
  assert_false(same_secret("abc", "abd"));
  assert_false(same_secret("abc", "abcd"));
}

void base64_round_trips(void**) {
  for (const std::string& raw :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\xfe", 3)}) {
    assert_true(unbase64(base64(raw)) == raw);
  }
  assert_string_equal(base64("hi?>").c_str(), "aGk/Pg==");
  assert_string_equal(base64url("hi?>").c_str(), "aGk_Pg");
  assert_false(unbase64("abc").has_value());
}

}  // namespace

GroupResult run_link_input_tests() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(accepts_and_lowercases_ordinary_addresses),
      cmocka_unit_test(refuses_malformed_addresses),
      cmocka_unit_test(allows_urls_under_a_listed_prefix),
      cmocka_unit_test(refuses_hostile_redirects),
      cmocka_unit_test(routes_paths_as_nginx_does),
      cmocka_unit_test(return_targets_are_paths_on_this_site_only),
      cmocka_unit_test(pkce_challenges_are_rfc_7636_s256_and_bind_the_link),
      cmocka_unit_test(appends_the_token_as_a_query_parameter),
      cmocka_unit_test(reads_json_and_form_bodies),
      cmocka_unit_test(flags_broken_and_ambiguous_bodies),
      cmocka_unit_test(tokens_are_random_and_well_formed),
      cmocka_unit_test(keyed_hash_matches_rfc4231),
      cmocka_unit_test(base64_round_trips),
  };
  return run_group("link input", tests);
}
