# Malformed link requests are refused before any backend is asked.
use lib 't/lib';
use Test::Nginx::Socket;

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value(http_config => 'magic_link_secret 0123456789abcdef0123456789abcdef;')
        unless defined $block->http_config;
    $block->set_value(config => 'location /magic-link-api/ { magic_link api; }')
        unless defined $block->config;
    $block->set_value(more_headers => 'Content-Type: application/json')
        unless defined $block->more_headers;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: missing email
--- request
POST /magic-link-api/generate
{"redirectUrl":"http://localhost:8055/"}
--- error_code: 400
--- response_body chomp
{"success":false,"message":"Please provide a valid email address"}
--- error_log
magic_link: generate refused: no email string



=== TEST 2: email that is not a string
--- request
POST /magic-link-api/generate
{"email":["jane@example.com"]}
--- error_code: 400
--- response_body chomp
{"success":false,"message":"Please provide a valid email address"}



=== TEST 3: email without @
--- request
POST /magic-link-api/generate
{"email":"jane.example.com"}
--- error_code: 400
--- response_body chomp
{"success":false,"message":"Please provide a valid email address"}
--- error_log
magic_link: generate refused: malformed email



=== TEST 4: email with a control character
--- request
POST /magic-link-api/generate
{"email":"jane\u0007@example.com"}
--- error_code: 400
--- response_body chomp
{"success":false,"message":"Please provide a valid email address"}



=== TEST 5: email with CR/LF
--- request
POST /magic-link-api/generate
{"email":"jane@example.com\r\nBcc: victim@evil.com"}
--- error_code: 400
--- response_body chomp
{"success":false,"message":"Please provide a valid email address"}



=== TEST 6: email over 254 characters
--- request eval
"POST /magic-link-api/generate\n" . '{"email":"' . ('a' x 64) . '@' . CORE::join('.', ('b' x 60) x 4) . '.com"}'
--- error_code: 400
--- response_body chomp
{"success":false,"message":"Please provide a valid email address"}



=== TEST 7: invalid JSON
--- request
POST /magic-link-api/generate
{"email": "jane@example.com"
--- error_code: 400
--- response_body chomp
{"success":false,"message":"The request body is not valid JSON"}



=== TEST 8: a JSON array instead of an object
--- request
POST /magic-link-api/generate
["jane@example.com"]
--- error_code: 400
--- response_body chomp
{"success":false,"message":"The request body is not valid JSON"}



=== TEST 9: oversized body
--- request eval
"POST /magic-link-api/generate\n" . '{"email":"jane@example.com","pad":"' . ('x' x 9000) . '"}'
--- error_code: 413
--- response_body chomp
{"success":false,"message":"Request body too large"}
--- error_log
magic_link: request refused: body too large



=== TEST 10: wrong method
--- request
GET /magic-link-api/generate
--- error_code: 405
--- response_headers
Allow: POST
--- response_body chomp
{"success":false,"message":"Method not allowed"}



=== TEST 11: unsupported content type
--- more_headers
Content-Type: text/plain
--- request
POST /magic-link-api/generate
jane@example.com
--- error_code: 415



=== TEST 12: a form body with a repeated email field
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request
POST /magic-link-api/generate
email=jane%40example.com&email=other%40example.com
--- error_code: 400
--- response_body chomp
{"success":false,"message":"Please provide a valid email address"}



=== TEST 13: a redirectUrl off the allow-list
--- request
POST /magic-link-api/generate
{"email":"jane@example.com","redirectUrl":"https://evil.example.com/"}
--- error_code: 400
--- response_body chomp
{"success":false,"message":"The redirectUrl is not allowed"}
--- error_log
magic_link: generate refused: redirectUrl not on the allow-list



=== TEST 14: a redirectUrl that is not a string
--- request
POST /magic-link-api/generate
{"email":"jane@example.com","redirectUrl":{"href":"http://localhost:8055/"}}
--- error_code: 400
--- response_body chomp
{"success":false,"message":"The redirectUrl is not allowed"}
