package MagicLink::Browser;

# Runs a script of tests/browser (login.mjs, data-studio.mjs) in Debian's chromium through
# playwright-core and turns each step it reports into one assertion. A missing browser, Node.js
# or playwright-core is a failure with a message, never a silent skip: CI installs them.

use strict;
use warnings;
use Cwd qw(abs_path);
use Exporter qw(import);
use JSON::PP qw(decode_json);
use Test::More;

our @EXPORT_OK = qw(browser_ready run_browser_script);

my $CHROMIUM = $ENV{CHROMIUM} // '/usr/bin/chromium';
my $DIR = abs_path('tests/browser');
my $node;

# Node for the scripts: the Node 22 installed with Directus (the fixture always has it), else the
# machine's if it is new enough for playwright-core (>= 20).
sub find_node {
    chomp(my $directus = `scripts/directus.sh path 2>/dev/null` // '');
    return "$directus/node_modules/.bin/node" if $directus && -x "$directus/node_modules/.bin/node";
    chomp(my $version = `node --version 2>/dev/null` // '');
    return 'node' if $version =~ /^v(\d+)\./ && $1 >= 20;
    return;
}

# Whether chromium, Node and playwright-core (from npm, pinned by tests/browser/package-lock.json,
# installed on first use) are there; fails with the reason when not.
sub browser_ready {
    unless (-x $CHROMIUM) {
        fail("$CHROMIUM is installed");
        diag('The browser tests need Debian\'s chromium: apt-get install chromium (scripts/deps.sh test)');
        return;
    }
    unless ($node = find_node()) {
        fail('Node.js >= 20 is available');
        diag('Neither the Directus install (scripts/directus.sh) nor PATH has Node.js >= 20');
        return;
    }
    unless (-f "$DIR/node_modules/playwright-core/package.json") {
        diag('installing playwright-core into tests/browser/node_modules (npm)');
        my $output = `cd '$DIR' && flock /tmp/ngx-magic-link-browser-npm.lock npm install --no-audit --no-fund 2>&1`;
        unless ($? == 0 && -f "$DIR/node_modules/playwright-core/package.json") {
            fail('npm install in tests/browser');
            diag($output);
            return;
        }
    }
    return 1;
}

# Runs `script` with `env` added (and only the listed optional variables); each step it reports
# is one assertion named "browser (name): step". Returns the steps reported.
sub run_browser_script {
    my ($script, $name, %env) = @_;
    $env{CHROMIUM} //= $CHROMIUM;
    my ($done, @steps);
    {
        local @ENV{ keys %env } = values %env;
        delete local @ENV{ grep { !exists $env{$_} } qw(MAILDEV_URL LOGIN_PATH SUCCESS_PATH TFA_SECRET) };
        # A hung browser must not hang the suite: timeout(1) ends it.
        open my $out, '-|', 'timeout', '-k', '10', '180', $node, "$DIR/$script"
            or die "cannot run $node: $!";
        while (my $line = <$out>) {
            my $event = eval { decode_json($line) };
            if (!$event) { diag("$script: $line"); next; }
            if ($event->{done}) { $done = $event; next; }
            push @steps, $event->{step};
            ok($event->{ok}, "browser ($name): $event->{step}") or diag("  $event->{detail}");
            note("  $event->{detail}") if $event->{ok} && $event->{detail} ne '';
        }
        close $out;
    }
    my $status = $? >> 8;
    ok($done, "$name: the browser script ran to its end") or diag("$script exit status $status (124: timed out)");
    is($status, 0, "$name: $script exit status 0");
    return @steps;
}

1;
