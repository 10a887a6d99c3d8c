# PostgreSQL stuck or stopped during traffic: the documented 503 within the configured timeout,
# the event loop stays free for other locations, no crash, and recovery once it is back.
use strict;
use warnings;
use lib 't/lib';
use MagicLink::Harness;
use Test::More;

my $email = 'faults@example.com';
# One worker, so the static location shares the event loop with the stuck requests.
start_nginx(http => 'magic_link_postgres_timeout 1s;',
            server => 'location /magic-link-ui { magic_link ui; }
        location /private/ { magic_link_require on; root /nonexistent; }');
reset_limits();
create_user(email => $email);

subtest 'PostgreSQL stuck on a lock: 503 within the timeout, the event loop stays free' => sub {
    is generate($email)->{status}, 200, 'a first request (it also creates the tables)';
    my $locker = lock_table('extension_magic_link_pending');
    my @traffic = in_background(4, sub { generate($email)->{status} == 503 });  # pool threads wait meanwhile
    my $static = static_median(21);
    my ($stuck, $took) = timed(sub { generate($email) });
    is $stuck->{status}, 503, 'a request during the lock: 503';
    cmp_ok $took, '<', within(2.5), 'within the 1 s timeout and some margin';
    cmp_ok $static, '<', within(0.05), 'static answers stay fast (median < 50 ms) meanwhile';
    is passed(@traffic), 4, 'the waiting requests got 503 too';
    $locker->rollback;
    recovers_ok sub { generate($email)->{status} == 200 }, 'service resumes';
    like error_log_since(0), qr/magic_link: generate failed: postgres unavailable: (prepare )?enqueue: /, 'a greppable line';
};

subtest 'PostgreSQL stopped: fast 503, recovery within 2 s of its return' => sub {
    reset_limits();
    services('stop', 'postgres');
    my ($down, $took) = timed(sub { generate($email) });
    is $down->{status}, 503, 'answers 503';
    cmp_ok $took, '<', within(1.5), 'fast';
    services('start', 'postgres');
    recovers_ok sub { generate($email)->{status} == 200 }, 'service resumes';
};

subtest 'browser locations answer pages, the API JSON, while PostgreSQL is stuck or stopped' => sub {
    reset_limits();
    my %browser = browser_requests(random_token());
    my $locker = lock_table('extension_magic_link');
    $locker->do('LOCK TABLE extension_magic_link_pending IN ACCESS EXCLUSIVE MODE');
    page_ok($browser{$_}->(), 503, "stuck: $_") for qw(verify_get verify_post ui_post);
    json_ok(generate('faults@example.com'), 503, 'stuck: the API');
    $locker->rollback;
    services('stop', 'postgres');
    page_ok($browser{$_}->(), 503, "stopped: $_") for qw(verify_get verify_post ui_post);
    json_ok(generate('faults@example.com'), 503, 'stopped: the API');
    services('start', 'postgres');
    recovers_ok sub { generate('faults@example.com')->{status} == 200 }, 'service resumes';
};

subtest 'the gate fails closed: 503, a page for browsers and JSON for the rest' => sub {
    # A cookie the gate has not seen: it must look at Directus' sessions.
    my $gated = sub {
        my ($accept) = @_;
        request('GET', '/private/x', headers => { Accept => $accept,
                                                  Cookie => 'directus_refresh_token=' . ('r' x 64) });
    };
    my $locker = lock_table('directus_sessions');
    page_ok($gated->('text/html'), 503, 'stuck: a browser');
    json_ok($gated->('application/json'), 503, 'stuck: an API client');
    $locker->rollback;
    services('stop', 'postgres');
    page_ok($gated->('text/html'), 503, 'stopped: a browser');
    json_ok($gated->('application/json'), 503, 'stopped: an API client');
    services('start', 'postgres');
    recovers_ok sub { $gated->('text/html')->{status} == 302 }, 'once back: sent to sign in';
    like error_log_since(0), qr/magic_link: gate failed: postgres unavailable: (prepare )?find_session: /,
        'a greppable line';
};

no_worker_crashed();
is_deeply [log_leaks()], [], 'no token in the error log';
done_testing();
