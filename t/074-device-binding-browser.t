# Device binding in two Chromium profiles (tests/browser/device-binding.mjs): a link asked for on
# the "laptop" and opened on the "phone" shows where it was asked for; the phone's approval signs
# the laptop's waiting page in; with prompt the laptop's own click and the phone's "Sign in here"
# work too, with strict the phone may only approve. Screenshots: t/artifacts/device-binding/.
use strict;
use warnings;
use lib 't/lib';
use Cwd qw(abs_path);
use File::Path qw(make_path remove_tree);
use MagicLink::Browser qw(browser_ready run_browser_script);
use MagicLink::Harness;
use Test::More;

my $SCREENSHOTS = abs_path('t') . '/artifacts/device-binding';
my $EMAIL = 'device@example.com';

unless (browser_ready()) {
    done_testing();
    exit;
}

create_user(email => $EMAIL);
remove_tree($SCREENSHOTS);
for my $mode (qw(prompt strict)) {
    start_nginx(http => "magic_link_after_login_url /magic-link-ui/success;\n"
                      . "magic_link_device_binding $mode;",
                server => 'location /magic-link-ui { magic_link ui; }');
    reset_limits();
    make_path("$SCREENSHOTS/$mode");
    my @steps = run_browser_script('device-binding.mjs', "device binding, $mode",
        BASE_URL => 'http://127.0.0.1:' . nginx_port(), TEST_NGINX_MAILDIR => $ENV{TEST_NGINX_MAILDIR},
        EMAIL => $EMAIL, MODE => $mode, SCREENSHOT_DIR => "$SCREENSHOTS/$mode");
    cmp_ok(scalar @steps, '>=', 5, "$mode: every step was reported");
}
note("screenshots: $SCREENSHOTS");

no_worker_crashed();
is_deeply([log_leaks()], [], 'no token in the error log');
done_testing();
