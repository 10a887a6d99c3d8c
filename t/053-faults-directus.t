# Directus stuck (SIGSTOP: connections accepted, nothing answers), slow and stopped while links are
# redeemed: the documented 504/502 within magic_link_directus_timeout, the event loop stays free,
# no crash, and the link whose redemption failed still works once Directus answers again.
use strict;
use warnings;
use lib 't/lib';
use JSON::PP qw(decode_json);
use MagicLink::Harness;
use Test::More;
use Time::HiRes qw(sleep);

my $email = 'directus-faults@example.com';
start_nginx(http => 'magic_link_directus_timeout 1s;',
            server => 'location /magic-link-ui { magic_link ui; }');
reset_limits();
clear_mail();
create_user(email => $email, role => create_role('Directus faults role'));

sub verify { request('GET', "/magic-link-api/verify?token=$_[0]") }

subtest 'Directus stuck: 504 within the timeout, the event loop stays free, the link survives' => sub {
    my $token = issue_link($email);
    services('pause', 'directus');
    my ($stuck, $took) = timed(sub { verify($token) });
    my @traffic = in_background(3, sub { verify('A' x 43)->{status} == 401 });
    my $static = static_median(21);
    is $stuck->{status}, 504, 'answers 504';
    ok $stuck->{headers}{'retry-after'}, 'with Retry-After';
    is decode_json($stuck->{content})->{success}, JSON::PP::false, 'a JSON failure';
    cmp_ok $took, '<', within(2), 'within the 1 s timeout and some margin';
    cmp_ok $static, '<', within(0.05), 'static answers stay fast meanwhile (median < 50 ms)';
    is passed(@traffic), 3, 'unknown tokens are still refused meanwhile (401: no Directus needed)';
    like error_log_since(0),
        qr/magic_link: verify failed: directus unavailable: .*(?i:timeout|timed out).*the link stays usable/,
        'a greppable line';
    services('resume', 'directus');
    recovers_ok sub { verify($token)->{status} == 200 }, 'the same link works once Directus answers';
};

subtest 'Directus slow but within the timeout: the redemption waits and succeeds' => sub {
    my $token = issue_link($email);
    services('pause', 'directus');
    my @resume = in_background(1, sub { sleep 0.4; services('resume', 'directus'); 1 });
    my ($slow, $took) = timed(sub { verify($token) });
    is $slow->{status}, 200, 'answers 200';
    cmp_ok $took, '>', 0.3, 'after waiting for Directus';
    is passed(@resume), 1, 'Directus resumed';
};

subtest 'Directus stopped: 502, and the same link works once Directus is back' => sub {
    my $token = issue_link($email);
    services('stop', 'directus');
    my ($down, $took) = timed(sub { verify($token) });
    is $down->{status}, 502, 'answers 502';
    cmp_ok $took, '<', within(1.5), 'fast';
    is decode_json($down->{content})->{success}, JSON::PP::false, 'a JSON failure';
    like error_log_since(0), qr/magic_link: verify failed: directus unavailable: .*the link stays usable/,
        'a greppable line';
    services('start', 'directus');
    recovers_ok sub { verify($token)->{status} == 200 }, 'the same link works';
};

subtest 'browser locations answer pages, the API JSON, while Directus is stuck or stopped' => sub {
    reset_limits();
    my $api_user = 'directus-faults-api@example.com';  # one valid link per address
    create_user(email => $api_user, role => create_role('Directus faults API role'));
    my $signed_in = { headers => { Cookie => 'directus_refresh_token=' . random_token() } };
    for my $fault (['stuck', 'pause', 'resume', 504], ['stopped', 'stop', 'start', 502]) {
        my ($name, $break, $mend, $status) = @$fault;
        my %browser = browser_requests(issue_link($email));
        my $api_token = issue_link($api_user);
        services($break, 'directus');
        page_ok($browser{verify_post}->(), $status, "$name: the verify page's POST");
        page_ok(request('GET', '/magic-link-ui/success', %$signed_in), $status, "$name: the UI's account page");
        json_ok(verify($api_token), $status, "$name: the API");
        services($mend, 'directus');
        recovers_ok sub { verify($api_token)->{status} == 200 }, "$name: the link works again";
    }
};

no_worker_crashed();
is_deeply [log_leaks()], [], 'no token in the error log';
done_testing();
