# How well answer times of POST <api>/generate tell an address with an account from one without:
# a distinguisher learns a threshold from 200 + 200 answers, then guesses for fresh ones by the
# median of k answers (MagicLink::Timing). 50 % is a coin toss. Run by bench/timing.sh.
#
# nginx as operators run it: 2 workers, the default configuration but for the limits named in
# each row, error_log at warn; PostgreSQL with its defaults (fsync and synchronous_commit on).
# 20,000 rows of audit history on the known address is what a 3,000-request flood leaves.
use strict;
use warnings;
use MagicLink::Harness;
use MagicLink::Timing qw(distinguisher);

my %opts = (training => $ENV{TIMING_TRAINING} // 200, fresh => $ENV{TIMING_FRESH} // 600,
            ks => [1, 5, 20]);
my @rows;

sub measure {
    my ($label, %extra) = @_;
    reset_limits();
    my $result = distinguisher(%opts, port => nginx_port(), path => '/magic-link-api/generate',
                               known => 'known@example.com', unknown => 'nobody@example.com', %extra);
    push @rows, [$label, @{ $result->{accuracy} }{1, 5, 20}, $result->{known_median}, $result->{unknown_median}];
    printf STDERR "%-48s done\n", $label;
}

# The per-client limit raised (one client could not send enough requests otherwise), and the
# per-email limit too: every request for the known address then issues a link and sends mail.
my $raised = "magic_link_max_requests_per_ip_per_hour 1000000000;\n"
           . "    magic_link_max_requests_per_hour 1000000;";
start_nginx(workers => 2, log_level => 'warn', http => $raised);
create_user(email => 'known@example.com', role => create_role('Timing role'));
post_json('/magic-link-api/generate', '{"email":"warm@example.com"}');  # creates the tables
wait_for_requests();
sql_do(q{DELETE FROM extension_magic_link WHERE email IN ('known@example.com', 'nobody@example.com')});

measure('every request mailed, no history');
ok_or_die(wait_for_requests(30));
sql_do(q{INSERT INTO extension_magic_link (email, token, expires_at, ip_address, used, created_at, email_error)
         SELECT 'known@example.com', '', now() AT TIME ZONE 'utc', '127.0.0.1', false,
                now() AT TIME ZONE 'utc', 'Rate limit exceeded' FROM generate_series(1, 20000)});
sql_do('ANALYZE extension_magic_link');
measure('every request mailed, 20,000 rows of history');

start_nginx(workers => 2, log_level => 'warn',
            http => 'magic_link_max_requests_per_ip_per_hour 1000000000;');
measure('default per-email limit (5 mails/hour)');

sub ok_or_die { $_[0] or die "the requests were not looked at in time\n" }

printf "\n%-48s %7s %7s %7s %11s %11s\n", 'Distinguisher accuracy', 'k=1', 'k=5', 'k=20',
       'known ms', 'unknown ms';
printf "%-48s %6.1f%% %6.1f%% %6.1f%% %11.3f %11.3f\n", $_->[0], map({ 100 * $_ } @$_[1 .. 3]), @$_[4, 5]
    for @rows;
printf "(%d training and %d fresh answers per address and row; 2,000 guesses per k)\n",
       $opts{training}, $opts{fresh};
