# The whole login in a real browser: Debian's chromium, driven by tests/browser/login.mjs
# (playwright-core), asks for a link on /magic-link-ui, opens the mailed link, presses "Sign in"
# and must end up on /magic-link-ui/success with a Directus session (HttpOnly refresh cookie that
# refreshes through nginx). Each step the script reports is one assertion here; screenshots of
# every step are kept in t/artifacts/browser/.
use strict;
use warnings;
use lib 't/lib';
use Cwd qw(abs_path);
use File::Path qw(make_path);
use MagicLink::Browser qw(browser_ready run_browser_script);
use MagicLink::Harness;
use Test::More;

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

my $SCREENSHOTS = abs_path('t') . '/artifacts/browser';
my $EMAIL = 'browser@example.com';
my $port = nginx_port();
my $base = "http://127.0.0.1:$port";

unless (browser_ready()) {
    done_testing();
    exit;
}

# What reached nginx, with each request's Referer: no token may leave in one.
my $access_log = server_root() . '/logs/browser-access.log';
unlink $access_log;
start_nginx(
    http   => "magic_link_after_login_url /magic-link-ui/success;
               log_format referers '\$magic_link_request|\$http_referer';",
    server => <<"SERVER",
        access_log $access_log referers;
        location /magic-link-ui { magic_link ui; }
        location / {
            proxy_pass http://127.0.0.1:$ENV{TEST_NGINX_DIRECTUS_PORT};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
        }
SERVER
);
reset_limits();
clear_mail();
my $role = create_role('Browser test role');
my $user_id = create_user(email => $EMAIL, role => $role, first_name => 'Grace', last_name => 'Hopper');

make_path($SCREENSHOTS);
unlink glob("$SCREENSHOTS/*.png");

# Runs login.mjs for `email` with `env` added; each step it reports is one assertion.
sub sign_in_in_browser {
    my ($name, %extra) = @_;
    my @steps = run_browser_script('login.mjs', $name,
        BASE_URL           => $base,
        TEST_NGINX_MAILDIR => $ENV{TEST_NGINX_MAILDIR},
        DIRECTUS_URL       => "http://127.0.0.1:$ENV{TEST_NGINX_DIRECTUS_PORT}",
        %extra);
    cmp_ok(scalar @steps, '>=', 11, "$name: every step was reported");
}

sign_in_in_browser('email only', EMAIL => $EMAIL, USER_ID => $user_id, SCREENSHOT_DIR => $SCREENSHOTS);

# A user with 2FA (enabled through Directus' own API) types the code on the confirm page.
my ($tfa_id, $tfa_secret) = tfa_user('browser-tfa@example.com');
sign_in_in_browser('with 2FA', EMAIL => 'browser-tfa@example.com', USER_ID => $tfa_id,
                   TFA_SECRET => $tfa_secret, SCREENSHOT_DIR => "$SCREENSHOTS/tfa");
# Server side, since browsers fetch a favicon outside the page's own requests.
my @seen = do { open my $log, '<', $access_log or die "$access_log: $!"; <$log> };
ok(scalar @seen, 'the access log recorded the browser');
is_deeply([grep { m{\|.*token=} } @seen], [], 'no request carried a token in its Referer');
is_deeply([grep { m{^GET /favicon\.ico} } @seen], [], 'no favicon was fetched');
is_deeply([grep { /token=(?!\[masked\])/ } @seen], [], '$magic_link_request masked every token');
ok((grep { m{^GET /magic-link/verify\?token=\[masked\] } } @seen), 'the verify GET is logged, masked');

note("screenshots: $SCREENSHOTS");

no_worker_crashed();
is_deeply([log_leaks()], [], 'no token in the error log');
done_testing();
