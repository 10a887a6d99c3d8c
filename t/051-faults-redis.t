# Redis stuck (DEBUG SLEEP), slow and stopped during traffic: the documented 503 within
# magic_link_redis_timeout, the event loop stays free, no crash, recovery within 2 s, nothing lost.
use strict;
use warnings;
use lib 't/lib';
use JSON::PP qw(decode_json);
use MagicLink::Harness;
use Test::More;
use Time::HiRes qw(sleep);

my $email = 'redis-faults@example.com';
# One worker (the default), so the static location shares the event loop with the stuck requests.
start_nginx(http => 'magic_link_redis_timeout 500ms;',
            server => 'location /magic-link-ui { magic_link ui; }');
reset_limits();
clear_mail();
create_user(email => $email);
sub verify { request('GET', "/magic-link-api/verify?token=$_[0]") }

# DEBUG SLEEP blocks Redis' only thread: connections are accepted, nothing answers.
sub redis_sleep {
    my ($seconds) = @_;
    system("redis-cli -p $ENV{TEST_NGINX_REDIS_PORT} DEBUG SLEEP $seconds > /dev/null &");
    sleep 0.1;  # let it start
}

subtest 'Redis stuck: 503 within the timeout, the event loop stays free, nothing lost' => sub {
    my $token = issue_link($email);
    redis_sleep(4);
    my @traffic = in_background(4, sub { generate($email)->{status} == 503 });
    my $static = static_median(21);
    my ($stuck, $took) = timed(sub { generate($email) });
    is $stuck->{status}, 503, 'generate during the stall: 503';
    ok $stuck->{headers}{'retry-after'}, 'with Retry-After';
    is decode_json($stuck->{content})->{success}, JSON::PP::false, 'a JSON failure';
    cmp_ok $took, '<', within(1.5), 'within the 500 ms timeout and some margin';
    is verify($token)->{status}, 503, 'redeeming during the stall: 503';
    cmp_ok $static, '<', within(0.05), 'static answers stay fast meanwhile (median < 50 ms)';
    is passed(@traffic), 4, 'the concurrent requests got 503 too';
    like error_log_since(0), qr/magic_link: generate failed: redis unavailable: count_link_request: /, 'a greppable line';
    redis_cli('PING');  # answers when the sleep is over
    recovers_ok sub { generate($email)->{status} == 200 }, 'service resumes';
    is verify($token)->{status}, 200, 'the link issued before the stall still works';
};

subtest 'Redis slow but within the timeout: the request waits and succeeds' => sub {
    reset_limits();
    redis_sleep(0.4);
    my ($slow, $took) = timed(sub { generate($email) });
    is $slow->{status}, 200, 'answers 200';
    cmp_ok $took, '>', 0.15, 'after waiting for Redis';
};

subtest 'Redis stopped: fast 503, recovery within 2 s of its return' => sub {
    services('stop', 'redis');
    my ($down, $took) = timed(sub { generate($email) });
    is $down->{status}, 503, 'answers 503';
    cmp_ok $took, '<', within(1.5), 'fast';
    services('start', 'redis');
    recovers_ok sub { generate($email)->{status} == 200 }, 'service resumes';
};

subtest 'browser locations answer pages, the API JSON, while Redis is stuck or stopped' => sub {
    reset_limits();
    my %browser = browser_requests(random_token());  # the GET reads no limit: not asked here
    redis_sleep(3);
    page_ok($browser{$_}->(), 503, "stuck: $_") for qw(verify_post ui_post);
    json_ok(generate($email), 503, 'stuck: the API');
    redis_cli('PING');
    services('stop', 'redis');
    page_ok($browser{$_}->(), 503, "stopped: $_") for qw(verify_post ui_post);
    json_ok(generate($email), 503, 'stopped: the API');
    services('start', 'redis');
    recovers_ok sub { generate($email)->{status} == 200 }, 'service resumes';
};

no_worker_crashed();
is_deeply [log_leaks()], [], 'no token in the error log';
done_testing();
