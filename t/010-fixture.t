# The test fixture is real: nginx with the module loaded in front of a running Directus.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';  # the count is printed at the end

no_root_location();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: nginx with the module proxies GET /server/ping to Directus
--- http_config
magic_link_secret 0123456789abcdef0123456789abcdef;
upstream directus { server 127.0.0.1:$TEST_NGINX_DIRECTUS_PORT; }
--- config
location /magic-link-api/ { magic_link api; }
location / { proxy_pass http://directus; }
--- request
GET /server/ping
--- error_code: 200
--- response_body chomp
pong
--- no_error_log
[error]



=== TEST 2: the module answers beside the proxied Directus
--- http_config
magic_link_secret 0123456789abcdef0123456789abcdef;
upstream directus { server 127.0.0.1:$TEST_NGINX_DIRECTUS_PORT; }
--- config
location /magic-link-api/ { magic_link api; }
location / { proxy_pass http://directus; }
--- request
GET /magic-link-api/
--- response_body chomp
Magic Link Authentication Endpoint
