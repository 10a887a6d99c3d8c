# Malformed link requests are refused before any backend is asked.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';  # the count is printed at the end

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



=== TEST 15: a redirectUrl into the module's own API or UI, whatever the allow-list says
A mail scanner's GET of such a link would spend the token (the API redeems on GET).
--- http_config
magic_link_secret 0123456789abcdef0123456789abcdef;
magic_link_redirect_allow http://localhost:8055/;
--- config
location /magic-link-api/ { magic_link api; }
location /magic-link/verify { magic_link verify; }
location = /sign-in { magic_link ui; }
--- request eval
[map { qq{POST /magic-link-api/generate\n{"email":"jane\@example.com","redirectUrl":"$_"}} }
 'http://localhost:8055/magic-link-api/verify', 'http://localhost:8055/magic-link-api/',
 'http://localhost:8055//magic-link-api/verify', 'http://localhost:8055/magic-link-%61pi/verify',
 'http://localhost:8055/x/../magic-link-api/verify', 'http://localhost:8055/sign-in']
--- error_code eval
[(400) x 6]
--- response_body eval
[('{"success":false,"message":"The redirectUrl is not allowed"}') x 6]



=== TEST 16: encoded separators and dots cannot leave the allowed path prefix
--- http_config
magic_link_secret 0123456789abcdef0123456789abcdef;
magic_link_redirect_allow http://localhost:8055/app/;
--- request eval
[map { qq{POST /magic-link-api/generate\n{"email":"jane\@example.com","redirectUrl":"http://localhost:8055/app/$_"}} }
 '..%2fmagic-link-api/verify', '..%2Fmagic-link-api/verify', '..%5cmagic-link-api/verify',
 '%2e%2e/magic-link-api/verify', '.%2E/magic-link-api/verify', 'x%00', 'x%2']
--- error_code eval
[(400) x 7]
--- response_body eval
[('{"success":false,"message":"The redirectUrl is not allowed"}') x 7]



=== TEST 17: a redirectUrl whose query names a token in any spelling
--- request eval
[map { qq{POST /magic-link-api/generate\n{"email":"jane\@example.com","redirectUrl":"http://localhost:8055/app?$_"}} }
 'a=1;token=X', 'TOKEN=X', 'Token=X', 'token[]=X', 'token[0]=X', 'tok%65n=X', 'tok%2565n=X',
 '%20token=X', 'a=1&amp;token=X']
--- error_code eval
[(400) x 9]
--- response_body eval
[('{"success":false,"message":"The redirectUrl is not allowed"}') x 9]
