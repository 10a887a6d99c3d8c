# magic_link_status: the module's counters for Prometheus, summed over worker processes, in the
# Prometheus text format and, when asked, OpenMetrics; checked by Debian's promtool and by
# prometheus_client's OpenMetrics parser. No address or user id in any label.
use strict;
use warnings;
use lib 't/lib';
use File::Temp qw(tempfile);
use MagicLink::Harness;
use Test::More;

my $user = 'metrics@example.com';
my $user_id = create_user(email => $user);

# The gate runs in the access phase, so the gated location serves files (a `return` would
# answer before it).
my $SERVER = '
        location = /metrics { magic_link_status; allow 127.0.0.1; deny all; }
        location /magic-link-ui { magic_link ui; }
        location /private/ { magic_link_require on; root /nonexistent; }';
start_nginx(workers => 2, http => 'magic_link_max_requests_per_ip_per_hour 1000;', server => $SERVER);

sub scrape {
    my (%headers) = @_;
    return request('GET', '/metrics', headers => \%headers);
}

# name{labels} => value, from the Prometheus text format.
sub samples {
    my ($text) = @_;
    my %samples;
    for (split /\n/, $text) {
        next if /^#/ || !/\S/;
        my ($key, $value) = /^(\S+(?:\{[^}]*\})?) (\S+)$/ or die "not a sample line: $_";
        $samples{$key} = $value;
    }
    return \%samples;
}

sub now_samples { samples(scrape()->{content}) }

sub delta {
    my ($before, $after, $key) = @_;
    return ($after->{$key} // 0) - ($before->{$key} // 0);
}

subtest 'the page' => sub {
    my $page = scrape();
    is $page->{status}, 200, 'answers 200';
    like $page->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4}, 'Prometheus text format';
    like $page->{content}, qr/^# TYPE magic_link_link_requests_total counter$/m, 'typed families';
    is request('POST', '/metrics')->{status}, 405, 'POST is refused';
    my ($fh, $file) = tempfile(UNLINK => 1);
    print $fh $page->{content};
    close $fh;
    my $lint = `promtool check metrics < $file 2>&1`;
    is $?, 0, 'promtool check metrics passes' or diag $lint;
};

subtest 'link requests, mail and redemptions are counted across workers' => sub {
    reset_limits();
    clear_mail();
    my $before = now_samples();
    my $token = issue_link($user);
    generate('nobody-here@example.com');
    post_json('/magic-link-api/generate', '{"email":"not an address"}') for 1 .. 7;
    wait_for_requests(10);
    wait_for_outbox(10);
    is request('GET', "/magic-link-api/verify?token=$token")->{status}, 200, 'redeemed';
    request('GET', '/magic-link-api/verify?token=' . random_token()) for 1 .. 3;
    my $after = now_samples();
    is delta($before, $after, 'magic_link_link_requests_total{outcome="issued"}'), 1, 'issued';
    is delta($before, $after, 'magic_link_link_requests_total{outcome="unknown"}'), 1, 'unknown';
    is delta($before, $after, 'magic_link_link_requests_total{outcome="invalid"}'), 7,
       'invalid: every one of 7, whichever worker answered';
    is delta($before, $after, 'magic_link_mail_total{result="sent"}'), 1, 'mail sent';
    is delta($before, $after, 'magic_link_redemptions_total{outcome="redeemed"}'), 1, 'redeemed';
    is delta($before, $after, 'magic_link_redemptions_total{outcome="invalid"}'), 3, 'invalid links';
    ok defined $after->{'magic_link_outbox_depth'}, 'outbox depth reported';
};

subtest 'backend calls, failures and latency' => sub {
    my $samples = now_samples();
    for my $backend (qw(redis postgres mail)) {
        my $calls = $samples->{qq(magic_link_backend_calls_total{backend="$backend"})};
        ok $calls > 0, "$backend: calls counted ($calls)";
        is $samples->{qq(magic_link_backend_call_duration_seconds_bucket{backend="$backend",le="+Inf"})},
           $calls, "$backend: the histogram holds every call";
        is $samples->{qq(magic_link_backend_call_duration_seconds_count{backend="$backend"})},
           $calls, "$backend: and counts them";
    }
    services('stop', 'redis');
    my $before = now_samples();
    generate('redis-down@example.com');
    my $after = now_samples();
    services('start', 'redis');
    ok delta($before, $after, 'magic_link_backend_failures_total{backend="redis"}') >= 1,
       'a failed Redis call is counted';
    is delta($before, $after, 'magic_link_link_requests_total{outcome="unavailable"}'), 1,
       'and the request as unavailable';
};

subtest 'client limit and the gate' => sub {
    my $before = now_samples();
    reload_nginx(workers => 2, http => 'magic_link_max_requests_per_ip_per_hour 2;', server => $SERVER);
    reset_limits();
    generate("limit$_\@example.com") for 1 .. 5;
    request('GET', '/private/page') for 1 .. 4;
    my $after = now_samples();
    is delta($before, $after, 'magic_link_link_requests_total{outcome="client_limited"}'), 3,
       '3 refused over the per-client limit of 2';
    is delta($before, $after, 'magic_link_gate_decisions_total{decision="sign_in"}'), 4,
       'the gate sent 4 to sign in';
    is $after->{'magic_link_link_requests_total{outcome="issued"}'},
       $before->{'magic_link_link_requests_total{outcome="issued"}'},
       'counters survive a reload of the configuration';
};

subtest 'no address, email or id in the output' => sub {
    my $text = scrape()->{content};
    unlike $text, qr/@/, 'no email';
    unlike $text, qr/\Q$user_id\E/, 'no user id';
    unlike $text, qr/127\.0\.0\.1/, 'no address';
};

subtest 'OpenMetrics when asked' => sub {
    my $page = scrape(Accept => 'application/openmetrics-text; version=1.0.0,text/plain;q=0.5');
    like $page->{headers}{'content-type'}, qr{^application/openmetrics-text; version=1\.0\.0},
         'its content type';
    like $page->{content}, qr/# EOF\n\z/, 'ends with # EOF';
    like $page->{content}, qr/^# TYPE magic_link_link_requests counter$/m,
         'counter families named without _total';
    my ($fh, $file) = tempfile(UNLINK => 1);
    print $fh $page->{content};
    close $fh;
    my $parsed = `/usr/bin/python3 -c '
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
families = list(text_string_to_metric_families(open(sys.argv[1]).read()))
print(len(families))' $file 2>&1`;
    is $?, 0, 'prometheus_client parses it as OpenMetrics' or diag $parsed;
    ok $parsed >= 8, "families: $parsed";
};

done_testing();
