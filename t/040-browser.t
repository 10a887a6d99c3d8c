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
use JSON::PP qw(decode_json);
use MagicLink::Harness;
use Test::More;

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

my $CHROMIUM = $ENV{CHROMIUM} // '/usr/bin/chromium';
my $BROWSER_DIR = abs_path('tests/browser');
my $SCREENSHOTS = abs_path('t') . '/artifacts/browser';
my $EMAIL = 'browser@example.com';
my $port = nginx_port();
my $base = "http://127.0.0.1:$port";

# A missing browser is a failure with a message, never a silent skip: CI installs it.
unless (-x $CHROMIUM) {
    fail("$CHROMIUM is installed");
    diag("The browser test needs Debian's chromium: apt-get install chromium (scripts/deps.sh test)");
    done_testing();
    exit;
}

# Node for the script: the Node 22 installed with Directus (the fixture always has it), else the
# machine's if it is new enough for playwright-core (>= 20).
sub find_node {
    chomp(my $directus = `scripts/directus.sh path 2>/dev/null` // '');
    return "$directus/node_modules/.bin/node" if $directus && -x "$directus/node_modules/.bin/node";
    chomp(my $version = `node --version 2>/dev/null` // '');
    return 'node' if $version =~ /^v(\d+)\./ && $1 >= 20;
    return;
}
my $node = find_node();
unless ($node) {
    fail('Node.js >= 20 is available');
    diag('Neither the Directus install (scripts/directus.sh) nor PATH has Node.js >= 20');
    done_testing();
    exit;
}

# playwright-core from npm, pinned by tests/browser/package-lock.json; installed on first use.
unless (-f "$BROWSER_DIR/node_modules/playwright-core/package.json") {
    diag('installing playwright-core into tests/browser/node_modules (npm)');
    my $output = `cd '$BROWSER_DIR' && flock /tmp/ngx-magic-link-browser-npm.lock npm install --no-audit --no-fund 2>&1`;
    unless ($? == 0 && -f "$BROWSER_DIR/node_modules/playwright-core/package.json") {
        fail('npm install in tests/browser');
        diag($output);
        done_testing();
        exit;
    }
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
    my %env = (
        BASE_URL           => $base,
        TEST_NGINX_MAILDIR => $ENV{TEST_NGINX_MAILDIR},
        DIRECTUS_URL       => "http://127.0.0.1:$ENV{TEST_NGINX_DIRECTUS_PORT}",
        CHROMIUM           => $CHROMIUM,
        %extra,
    );
    my ($done, @steps);
    {
        local @ENV{ keys %env } = values %env;
        delete local @ENV{ grep { !exists $env{$_} } qw(MAILDEV_URL LOGIN_PATH SUCCESS_PATH TFA_SECRET) };
        # A hung browser must not hang the suite: timeout(1) ends it.
        open my $out, '-|', 'timeout', '-k', '10', '180', $node, "$BROWSER_DIR/login.mjs"
            or die "cannot run $node: $!";
        while (my $line = <$out>) {
            my $event = eval { decode_json($line) };
            if (!$event) { diag("login.mjs: $line"); next; }
            if ($event->{done}) { $done = $event; next; }
            push @steps, $event->{step};
            ok($event->{ok}, "browser ($name): $event->{step}") or diag("  $event->{detail}");
            note("  $event->{detail}") if $event->{ok} && $event->{detail} ne '';
        }
        close $out;
    }
    my $status = $? >> 8;
    ok($done, "$name: the browser script ran to its end") or diag("login.mjs exit status $status (124: timed out)");
    is($status, 0, "$name: login.mjs exit status 0");
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

unlike(error_log_since(0), qr/exited on signal/, 'no worker crashed');
is_deeply([log_leaks()], [], 'no token in the error log');
done_testing();
