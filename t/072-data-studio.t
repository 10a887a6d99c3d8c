# Sign in to the real Data Studio by email link (tests/browser/data-studio.mjs in Debian's
# chromium): nginx gates /admin with magic_link_require, the sign-in page returns to
# /admin/content, and the verify page starts Directus' own session (session mode). The user has
# app access (one of the unlicensed Directus 12's three seats, given back at the end). A
# screenshot of the content module is kept in t/artifacts/data-studio/.
use strict;
use warnings;
use lib 't/lib';
use Cwd qw(abs_path);
use File::Path qw(make_path);
use MagicLink::Browser qw(browser_ready run_browser_script);
use MagicLink::Harness;
use Test::More;

my $SCREENSHOTS = abs_path('t') . '/artifacts/data-studio';
my $EMAIL = 'studio@example.com';
my $directus = "http://127.0.0.1:$ENV{TEST_NGINX_DIRECTUS_PORT}";

unless (browser_ready()) {
    done_testing();
    exit;
}

my $proxy = <<"PROXY";
            proxy_pass $directus;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
PROXY
start_nginx(
    http   => 'magic_link_session_mode session;',
    server => <<"SERVER");
        location /magic-link-ui { magic_link ui; magic_link_after_login_url /admin/content; }
        location /admin {
            magic_link_require on;
$proxy        }
        location / {
$proxy        }
SERVER
reset_limits();

my $role = create_role('Data Studio role');
attach_policy(create_policy(name => 'Data Studio access', app_access => 1), role => $role);
my $user_id = create_user(email => $EMAIL, role => $role, first_name => 'Ada', last_name => 'Studio');

make_path($SCREENSHOTS);
unlink glob("$SCREENSHOTS/*.png");
my @steps = run_browser_script('data-studio.mjs', 'Data Studio',
    BASE_URL => 'http://127.0.0.1:' . nginx_port(), TEST_NGINX_MAILDIR => $ENV{TEST_NGINX_MAILDIR},
    EMAIL => $EMAIL, USER_ID => $user_id, SCREENSHOT_DIR => $SCREENSHOTS);
cmp_ok(scalar @steps, '>=', 8, 'every step was reported');
ok(-s (glob("$SCREENSHOTS/*data-studio-content.png"))[0] // '', 'the content module\'s screenshot is kept');
note("screenshots: $SCREENSHOTS");

# The seat goes back: an unlicensed Directus 12 allows three.
sql_do(q{UPDATE directus_users SET status = 'suspended' WHERE id = ?}, $user_id);

no_worker_crashed();
is_deeply([log_leaks()], [], 'no token in the error log');
done_testing();
