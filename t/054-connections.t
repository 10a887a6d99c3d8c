# Bounded backend connections: each worker keeps at most magic_link_backend_connections to
# PostgreSQL (Directus' own database, whose max_connections everyone shares), however many pool
# threads run requests, and an idle worker closes them all after the idle timeout.
use strict;
use warnings;
use lib 't/lib';
use MagicLink::Harness;
use Test::More;
use File::Temp ();
use Time::HiRes qw(sleep time);

my $COUNT = q{SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ngx_http_magic_link_module'};

sub module_connections { return (MagicLink::Harness::db()->selectrow_array($COUNT))[0] }

create_user(email => 'connections@example.com');

subtest '64 concurrent requests never open more than N connections per worker' => sub {
    reset_limits();
    # The default pool has 32 threads: without the bound, each would open its own connection.
    start_nginx(http => "magic_link_backend_connections 2;\n"
                      . "    magic_link_max_requests_per_ip_per_hour 100000;\n"
                      . "    magic_link_max_requests_per_hour 100000;");
    ok wait_until(sub { module_connections() == 0 }, 15), 'no connection left by earlier nginx';
    # A sampler beside the requests (reaping them here would take them from passed()).
    my ($fh, $samples) = File::Temp::tempfile(UNLINK => 1);
    my ($sampler) = in_background(1, sub {
        my $own = MagicLink::Harness::connect_db();  # not the parent's connection
        my $most = 0;
        for (1 .. 150) {
            my ($now) = $own->selectrow_array($COUNT);
            $most = $now if $now > $most;
            sleep 0.02;
        }
        open my $out, '>', $samples or return 0;
        print $out $most;
        return 1;
    });
    my @requests = in_background(64, sub {
        my $ok = 1;
        $ok &&= generate('connections@example.com')->{status} == 200 for 1 .. 5;
        return $ok;
    });
    is passed(@requests), 64, 'every request answered 200';
    ok passed($sampler), 'the sampler ran';
    my $most = do { local (@ARGV, $/) = $samples; <> } // 0;
    cmp_ok $most, '<=', 2, "at most 2 PostgreSQL connections at a time (saw $most)";
    cmp_ok $most, '>=', 1, 'the sampling saw the connections';
};

subtest 'an idle worker holds no connection after the idle period' => sub {
    reset_limits();
    start_nginx(http => 'magic_link_backend_idle_timeout 1s;');
    is generate('connections@example.com')->{status}, 200, 'a request opens connections';
    ok wait_until(sub { module_connections() > 0 }, 2), 'PostgreSQL sees them, named after the module';
    my ($none, $took) = timed(sub { wait_until(sub { module_connections() == 0 }, 10) });
    ok $none, 'all closed once idle';
    diag sprintf 'no connection %.1f s after the request', $took;
    ok wait_until(sub { generate('connections@example.com')->{status} == 200 }, 2),
        'and opened again on demand';
};

no_worker_crashed();
done_testing();
