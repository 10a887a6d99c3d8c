# The configuration interface: the `magic_link` endpoints, directive validation, thread pools.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';  # the count is printed at the end

no_shuffle();
run_tests();

__DATA__

=== TEST 1: GET on the api prefix answers the liveness text
--- http_config
magic_link_secret 0123456789abcdef0123456789abcdef;
--- config
location /magic-link-api/ { magic_link api; }
--- request
GET /magic-link-api/
--- error_code: 200
--- response_headers
Content-Type: text/plain; charset=utf-8
--- response_body chomp
Magic Link Authentication Endpoint
--- no_error_log
[error]



=== TEST 2: other methods on the api prefix get 405 with Allow
--- http_config
magic_link_secret 0123456789abcdef0123456789abcdef;
--- config
location /magic-link-api/ { magic_link api; }
--- request
DELETE /magic-link-api/
--- error_code: 405
--- response_headers
Allow: GET, HEAD
--- response_body chomp
{"success":false,"message":"Method not allowed"}



=== TEST 3: an unknown api action is a JSON 404
--- http_config
magic_link_secret 0123456789abcdef0123456789abcdef;
--- config
location /magic-link-api/ { magic_link api; }
--- request
GET /magic-link-api/nothing-here
--- error_code: 404
--- response_body chomp
{"success":false,"message":"Not found"}



=== TEST 4: an unknown endpoint kind fails the configuration
--- http_config
magic_link_secret 0123456789abcdef0123456789abcdef;
--- config
location /magic-link-api/ { magic_link bogus; }
--- must_die
--- error_log
invalid value "bogus" in "magic_link": expected api, verify, ui or mailgun_webhook



=== TEST 5: a missing secret fails the configuration with a clear message
--- config
location /magic-link-api/ { magic_link api; }
--- must_die
--- error_log
"magic_link_secret" is not set and MAGIC_LINK_SECRET is empty



=== TEST 6: a short secret is refused without being echoed
--- http_config
magic_link_secret tooshort;
--- config
location /magic-link-api/ { magic_link api; }
--- must_die
--- error_log
invalid value (value hidden) in "magic_link_secret": must be at least 32 characters



=== TEST 7: a bad number names the directive and the value
--- http_config
magic_link_secret 0123456789abcdef0123456789abcdef;
magic_link_expiration_minutes abc;
--- config
location /magic-link-api/ { magic_link api; }
--- must_die
--- error_log
invalid value "abc" in "magic_link_expiration_minutes": expected a whole number from 1 to 10080



=== TEST 8: backend directives belong in http{}, not in a location
--- http_config
magic_link_secret 0123456789abcdef0123456789abcdef;
--- config
location /magic-link-api/ {
    magic_link api;
    magic_link_redis redis://127.0.0.1:6379;
}
--- must_die
--- error_log
"magic_link_redis" directive is not allowed here



=== TEST 9: site settings may differ per location
The http{} site name holds where a location sets none; a location's own replaces it there only.
--- http_config
magic_link_secret 0123456789abcdef0123456789abcdef;
magic_link_site_name "Main site";
--- config
location /magic-link-ui { magic_link ui; }
location /other-ui {
    magic_link ui;
    magic_link_site_name "Other site";
    magic_link_expiration_minutes 5;
}
--- request eval
["GET /magic-link-ui", "GET /other-ui"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr{\A(?!.*Other site).*<p class="site">Main site</p>.*<h1>Sign in to Main site</h1>}s,
 qr{\A(?!.*Main site).*<p class="site">Other site</p>.*<h1>Sign in to Other site</h1>}s]



=== TEST 10: a declared thread pool can be chosen, and the module's work runs on it
Without the directive the tasks would go to the pool "default", which nginx then creates.
--- main_config
thread_pool magic threads=4 max_queue=128;
--- http_config
magic_link_secret 0123456789abcdef0123456789abcdef;
magic_link_thread_pool magic;
--- config
location /magic-link/verify { magic_link verify; }
--- request
GET /magic-link/verify?token=short
--- error_code: 401
--- response_body_like
<h1>This link cannot be used</h1>
--- error_log eval
[qr/task #\d+ added to thread pool "magic"/, qr/run task #\d+ in thread pool "magic"/,
 "magic_link: verify page: no usable link"]
--- no_error_log
thread pool "default"



=== TEST 11: an undeclared thread pool other than "default" is refused
--- http_config
magic_link_secret 0123456789abcdef0123456789abcdef;
magic_link_thread_pool nowhere;
--- config
location /magic-link-api/ { magic_link api; }
--- must_die
--- error_log
unknown thread pool "nowhere"



=== TEST 12: a duplicate directive is refused
--- http_config
magic_link_secret 0123456789abcdef0123456789abcdef;
magic_link_subject "One";
magic_link_subject "Two";
--- config
location /magic-link-api/ { magic_link api; }
--- must_die
--- error_log
"magic_link_subject" directive is duplicate



=== TEST 13: session mode without Directus' secret fails the configuration with a clear message
--- http_config
magic_link_secret 0123456789abcdef0123456789abcdef;
--- config
location /magic-link/verify { magic_link verify; magic_link_session_mode session; }
--- must_die
--- error_log
"magic_link_session_mode session" needs Directus' SECRET: set "magic_link_directus_secret" or SECRET in the environment



=== TEST 14: an unknown session mode is named
--- http_config
magic_link_secret 0123456789abcdef0123456789abcdef;
--- config
location /magic-link/verify { magic_link verify; magic_link_session_mode jwt; }
--- must_die
--- error_log
invalid value "jwt" in "magic_link_session_mode": expected cookie or session



=== TEST 15: a mail transport the module does not support fails the configuration, named
--- http_config
magic_link_secret 0123456789abcdef0123456789abcdef;
magic_link_email_transport ses;
--- config
location /magic-link-api/ { magic_link api; }
--- must_die
--- error_log
invalid value "ses" in "magic_link_email_transport": the mail transport "ses" is not supported; use smtp, sendmail or mailgun



=== TEST 16: the Mailgun transport without its API key fails the configuration
--- http_config
magic_link_secret 0123456789abcdef0123456789abcdef;
magic_link_email_transport mailgun;
magic_link_mailgun_domain mg.example.com;
--- config
location /magic-link-api/ { magic_link api; }
--- must_die
--- error_log
mail goes through Mailgun but its API key or domain is not set



=== TEST 17: a chosen sendmail that is not an executable file fails the configuration
--- http_config
magic_link_secret 0123456789abcdef0123456789abcdef;
magic_link_email_transport sendmail;
magic_link_sendmail_path /nonexistent/sendmail;
--- config
location /magic-link-api/ { magic_link api; }
--- must_die
--- error_log
mail goes through sendmail but "/nonexistent/sendmail" is not an executable file



=== TEST 18: a Mailgun webhook location needs the webhook signing key
--- http_config
magic_link_secret 0123456789abcdef0123456789abcdef;
--- config
location = /mail-events { magic_link mailgun_webhook; }
--- must_die
--- error_log
"magic_link mailgun_webhook" needs Mailgun's webhook signing key



=== TEST 19: a webhook answers only POST, in JSON
--- http_config
magic_link_secret 0123456789abcdef0123456789abcdef;
magic_link_mailgun_webhook_signing_key a-signing-key;
--- config
location = /mail-events { magic_link mailgun_webhook; }
--- request
GET /mail-events
--- error_code: 405
--- response_headers
Allow: POST
Content-Type: application/json
