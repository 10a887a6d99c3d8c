# Generate for an unknown address at wrk's 16 connections with the module of
# TEST_NGINX_LOAD_MODULES, as bench.pl's generate row (2 workers, error_log warn, limits raised);
# prints the answered rate, its p99 and the rate end to end (until the background has looked at
# every request). Used by bench/ab.sh to compare two builds.
#   perl -It/lib bench/generate.pl [seconds, default 6]
use strict;
use warnings;
use lib 't/lib', 'bench/lib';
use MagicLink::Harness;
use Time::HiRes qw(time);
use Wrk;

my $seconds = shift // 6;
start_nginx(log_level => 'warn', workers => 2, http => <<'HTTP');
    magic_link_max_requests_per_hour 1000000;
    magic_link_max_requests_per_ip_per_hour 1000000000;
HTTP
reset_limits();
my $url = 'http://127.0.0.1:' . nginx_port() . '/magic-link-api/generate';
wait_for_requests(600);
my $started = time;
my ($rate, undef, $p99) = @{ wrk($url, $seconds, script => 'post.lua',
                                 env => { BODY => '{"email":"nobody@example.com"}' }) };
wait_for_requests(600);
printf "%.0f req/s answered, p99 %.2f ms, end to end %.0f req/s\n", $rate, $p99,
    $rate * $seconds / (time - $started);
