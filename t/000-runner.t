# Self-test of the local Test::Nginx::Socket runner (t/lib). Needs only a
# stock nginx (TEST_NGINX_BINARY, default nginx on PATH or /usr/sbin/nginx),
# no project module.  Every block is also a valid block for the real CPAN
# Test::Nginx::Socket.

use lib 't/lib';
use Test::Nginx::Socket;

# $TEST_NGINX_PORT is only expanded when it is set (as in the real module).
$ENV{TEST_NGINX_PORT} ||= server_port();

repeat_each(1);

# Per-block counts are noted in each block's title comment below; 5 more
# tests check, in child processes, how a file declares its plan.
plan tests => repeat_each() * 51 + 5;

# A child test file run by this runner (its own server root, so it cannot
# touch ours); returns (exit status, stdout, stderr).
sub run_child {
    my ($code) = @_;
    require File::Temp;
    require IPC::Run;
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    open my $out, '>', "$dir/child.t" or die "cannot write $dir/child.t: $!";
    print {$out} "use lib 't/lib';\n", $code;
    close $out;
    local $ENV{TEST_NGINX_SERVROOT} = "$dir/servroot";
    my ($stdout, $stderr) = ('', '');
    IPC::Run::run([$^X, "$dir/child.t"], \undef, \$stdout, \$stderr);
    return ($? >> 8, $stdout, $stderr);
}

my $block = <<'BLOCK';
__DATA__

=== TEST 1: skipped, so no nginx is needed
--- config
    location = /child { return 204; }
--- request
GET /child
--- error_code: 204
--- skip_nginx: 1: > 0.0.1: counted without running
BLOCK

{
    my ($status, $stdout, $stderr) = run_child("use Test::Nginx::Socket;\nrun_tests();\n$block");
    isnt($status, 0, 'no plan: the file fails');
    like($stderr, qr/no plan declared: use Test::Nginx::Socket 'no_plan' or plan tests => /,
         'no plan: run_tests says how to declare one');
    unlike($stdout, qr/^(?:not )?ok\b/m, 'no plan: no block runs');

    ($status, $stdout, $stderr) = run_child("use Test::Nginx::Socket 'no_plan';\nrun_tests();\n$block");
    is($status, 0, "use Test::Nginx::Socket 'no_plan': the file passes") or diag($stdout . $stderr);
    like($stdout, qr/\Aok 1 # skip [^\n]*counted without running\n1\.\.1\n\z/,
         "use Test::Nginx::Socket 'no_plan': the count is printed at the end");
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: status, exact body, headers and an absent header
# 1 status + 3 headers + 1 body = 5
--- config
    location = /hi {
        add_header X-Test "yes";
        return 200 "hi";
    }
--- request
GET /hi
--- error_code: 200
--- response_headers
X-Test: yes
Content-Type: text/plain
!X-Absent
--- response_body chomp
hi



=== TEST 2: no --- config reuses the previous nginx
# 1 status + 1 body = 2
--- request
GET /hi
--- response_body chomp
hi



=== TEST 3: 404 from the default root location is logged
# 1 status + 1 body_like + 2 error_log + 1 no_error_log = 5
--- config
--- request
GET /nope.html
--- wait: 0.1
--- error_code: 404
--- response_body_like: 404 Not Found
--- error_log
open() "
nope.html" failed (2: No such file or directory)
--- no_error_log
[crit]



=== TEST 4: same config, nginx kept: the error-log window excludes TEST 3
# 1 status + 1 body_like + 1 no_error_log = 3
--- config
--- request
GET /index.html
--- response_body_like: It works!
--- no_error_log eval
qr/No such file or directory/



=== TEST 5: more_headers
# 1 status + 1 body = 2
--- config
    location = /echo-header {
        return 200 "foo=$http_x_foo";
    }
--- more_headers
X-Foo: bar
--- request
GET /echo-header
--- response_body chomp
foo=bar



=== TEST 6: POST body is trimmed and gets a Content-Length
# 1 status + 1 body = 2
--- config
    location = /len {
        return 200 "len=$content_length method=$request_method";
    }
--- request
POST /len
  hello world  
--- response_body chomp
len=11 method=POST



=== TEST 7: chunked request body is sent verbatim, without Content-Length
# 1 status + 1 body = 2
--- config
    location = /len {
        return 200 "cl=$http_content_length te=$http_transfer_encoding";
    }
--- more_headers
Transfer-Encoding: chunked
--- request eval
"POST /len
5\r
hello\r
0\r
\r
"
--- response_body chomp
cl= te=chunked



=== TEST 8: $TEST_NGINX_* expansion in config, $ServerPort in expectations
# 1 status + 1 header + 1 body = 3
--- config
    location = /port {
        add_header X-Port $TEST_NGINX_SERVER_PORT;
        return 200 "server_port=$TEST_NGINX_SERVER_PORT port=$TEST_NGINX_PORT";
    }
--- request
GET /port
--- response_headers
X-Port: $ServerPort
--- response_body eval
"server_port=$ENV{TEST_NGINX_SERVER_PORT} port=$ENV{TEST_NGINX_PORT}"



=== TEST 9: request eval with two requests, expectations matched pairwise
# 2 requests x (1 status + 1 header + 1 body + 1 no_error_log) = 8
--- config
    location = /a {
        add_header X-Which a;
        return 200 "A";
    }
    location = /b {
        add_header X-Which b;
        return 201 "B";
    }
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[200, 201]
--- response_headers eval
["X-Which: a", "X-Which: b"]
--- response_body eval
["A", "B"]
--- no_error_log
[error]



=== TEST 10: init runs after nginx is (re)started, before the request
# 1 status + 1 body = 2
# (a restart empties html/, so the file only survives if init ran after it)
--- config
    location = /init-marker {
        return 204;
    }
--- init
my $file = html_dir() . "/init.txt";
open my $fh, '>', $file or die "cannot write $file: $!";
print {$fh} "written by init\n";
close $fh;
--- request
GET /init.txt
--- response_body
written by init



=== TEST 11: user_files and a chunked response (SSI)
# 1 status + 1 header + 1 body = 3
--- config
    location = /ssi.html {
        root $TEST_NGINX_SERVER_ROOT/html;
        ssi on;
        ssi_types *;
    }
--- user_files
>>> ssi.html
before <!--# echo var="uri" --> after
--- request
GET /ssi.html
--- response_headers
Transfer-Encoding: chunked
--- response_body
before /ssi.html after



=== TEST 12: raw_request
# 1 status + 1 body = 2
--- config
    location = /raw {
        return 200 "raw ok";
    }
--- raw_request eval
"GET /raw HTTP/1.0\r\nHost: localhost\r\n\r\n"
--- response_body chomp
raw ok



=== TEST 13: response_headers_like and a non-200 status
# 1 status + 2 headers = 3
--- config
    location = /created {
        return 201 "created";
    }
--- request
GET /created
--- error_code: 201
--- response_headers_like
Server: nginx/[\d.]+
Content-Type: text/pl.*



=== TEST 14: skip_nginx skips the stated number of tests
# 3 skipped
--- config
    location = /skipped {
        return 200 "never";
    }
--- request
GET /skipped
--- response_body chomp
never
--- no_error_log
[error]
--- skip_nginx: 3: > 0.0.1: always skipped in this self-test



=== TEST 15: must_die with an unknown directive
# 1 died + 2 error_log + 1 no_error_log = 4
# (naming "[emerg]" in a pattern also silences the [emerg] warnings)
--- config
    no_such_directive_here on;
--- must_die
--- error_log
[emerg]
unknown directive "no_such_directive_here"
--- no_error_log
[crit]



=== TEST 16: a normal block after must_die starts nginx again
# 1 status + 1 body = 2
--- config
    location = /back {
        return 200 "back";
    }
--- request
GET /back
--- timeout: 500ms
--- response_body chomp
back
