# Load and leak test: a mixed load (bench/mixed.lua) on every endpoint for a while, sampling the
# nginx worker's RSS. Fails on a 5xx other than 503 + Retry-After, on socket errors, on a worker
# crash or restart, and on RSS growth after warm-up above both limits below. Run by bench/load.sh.
use strict;
use warnings;

# A port of its own, chosen before MagicLink::Harness reads it: a `make test` running beside
# this one uses the default. 30000-32767 is below the ephemeral range and above the range
# scripts/with-services.sh picks service ports from.
BEGIN {
    require IO::Socket::INET;
    unless ($ENV{TEST_NGINX_FLOW_PORT}) {
        for (1 .. 100) {
            my $port = 30000 + int rand 2768;
            next if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 1);
            $ENV{TEST_NGINX_FLOW_PORT} = $port;
            last;
        }
        die "no free port for nginx\n" unless $ENV{TEST_NGINX_FLOW_PORT};
    }
}

use Cwd qw(abs_path);
use File::Path qw(remove_tree);
use File::Temp qw(tempfile);
use List::Util qw(sum0);
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use MagicLink::Harness;

my $seconds = shift // 300;
die "usage: bench/load.sh [seconds >= 10]\n" unless $seconds =~ /^\d+$/ && $seconds >= 10;
my ($connections, $threads) = (64, 2);
my $max_growth_kib = 8 * 1024;   # fail only when growth exceeds both: small pools and caches
my $max_growth_percent = 10;     # settle in after warm-up, a leak keeps growing
my $sample_every = 10;
my $known_users = 8;
my $mails_per_user = 50;         # per hour: bounds the mail the run queues (8 x 50)
my $root = abs_path('t') . '/servroot-flow-' . nginx_port();

start_nginx(
    log_level => 'warn',
    # As recommended in the README: a small pool of its own, its queue well above 64 connections.
    main => 'thread_pool magic_link threads=4 max_queue=4096;',
    http => <<"HTTP",
    magic_link_thread_pool magic_link;
    magic_link_max_requests_per_hour $mails_per_user;
    magic_link_max_requests_per_ip_per_hour 1000000000;
    magic_link_max_failed_verifies_per_ip_per_hour 1000000000;
    # Echoes the kind mixed.lua sends, so it can count answers per kind.
    add_header X-Load-Kind \$http_x_load_kind always;
HTTP
    # One location keeps a low per-client limit, so 429s are part of the mix.
    server => <<'SERVER');
        location /limited/ {
            magic_link api;
            magic_link_max_requests_per_ip_per_hour 1;
        }
SERVER
reset_limits();

# The module creates its tables on first use; the links below go straight into one.
my $first = post_json('/magic-link-api/generate', '{"email":"load-first@example.com"}');
die "generate answered $first->{status}\n" unless $first->{status} == 200;

my $role = create_role('Load role');
my @known = map { "load-known-$_\@example.com" } 1 .. $known_users;
create_user(email => $_, role => $role) for @known;

# Unused links for a user nobody requests links for (issuing would supersede them), more than
# Directus can redeem in the run (some 350/s at most).
my $links = unused_links(email => 'load-links@example.com', count => 400 * $seconds,
                         seconds => $seconds + 3600,
                         user => create_user(email => 'load-links@example.com', role => $role));

sub rss_kib {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return;
    while (<$fh>) { return $1 if /^VmRSS:\s+(\d+) kB/ }
    return;
}

sub fd_count {
    my ($pid) = @_;
    opendir my $dir, "/proc/$pid/fd" or return;
    return scalar grep { !/^\./ } readdir $dir;
}

my @workers = nginx_workers();
die "expected 1 worker, found: @workers\n" unless @workers == 1;
my $worker = $workers[0];

my @samples;
sub sample {
    my ($label, $offset) = @_;
    my @now = nginx_workers();
    # scalar: a gone worker gives undef, not an empty list that would shift the pairs.
    push @samples, { label => $label, t => $offset, rss => scalar rss_kib($worker),
                     fds => scalar fd_count($worker), workers => "@now" };
}

# wrk in the background, its output to a file; this process samples meanwhile.
my ($wrk_out, $wrk_file) = tempfile(UNLINK => 1);
my @wrk = ('wrk', "-t$threads", "-c$connections", "-d${seconds}s", '--timeout', '10s',
           '-s', 'bench/mixed.lua', 'http://127.0.0.1:' . nginx_port() . '/');
local $ENV{TOKENS_FILE} = $links;
local $ENV{KNOWN_EMAILS} = join ',', @known;
local $ENV{WRK_THREADS} = $threads;
sample('start', 0);
my $start = time;
my $pid = fork // die "fork: $!";
if (!$pid) {
    # _exit, never die or exit: END blocks here would stop the parent's nginx.
    open STDOUT, '>&', $wrk_out and open STDERR, '>&', $wrk_out or POSIX::_exit(126);
    exec @wrk or print STDERR "exec wrk: $!\n";
    POSIX::_exit(127);
}
# Warm-up ends after the first 20% of the run; then a sample every 10 s.
my $warmup_at = $seconds * 0.2;
my @plan = sort { $a->[1] <=> $b->[1] }
    ['warm-up', $warmup_at], map { ['', $_] } grep { $_ != $warmup_at }
    map { $_ * $sample_every } 1 .. int(($seconds - 1) / $sample_every);
while (waitpid($pid, WNOHANG) == 0) {
    if (@plan && time - $start >= $plan[0][1]) {
        my $next = shift @plan;
        sample($next->[0], $next->[1]);
    }
    sleep 0.1;
}
my $wrk_status = $?;
sample('end', time - $start);
my $output = do { local (@ARGV, $/) = $wrk_file; <> } // '';

# Answers per kind and status, from mixed.lua's done().
my %counts;
$counts{$1}{$2} = $3 while $output =~ /^count (\S+) (\S+) (\d+)$/mg;
my ($requests, $duration_us, @socket_errors) = $output =~ /^summary (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)$/m;
my ($p50, $p99, $latency_max) = $output =~ /^latency (\d+) (\d+) (\d+)$/m;
die "wrk failed (status $wrk_status):\n$output" if $wrk_status || !defined $requests;

# The error log, read once: crashes, and the kinds of entries at error level and above.
my ($crashes, %severe) = (0);
open my $log, '<', "$root/logs/error.log" or die "error log: $!";
while (<$log>) {
    $crashes++ if /exited on signal/;
    next unless /\[(error|crit|alert|emerg)\]/;
    chomp;
    # Without time, pids and request details, so repeats of one message count together.
    my $message = $_ =~ s/^\S+ \S+ //r =~ s/\d+#\d+: (\*\d+ )?//r =~ s/, client: .*//r;
    $severe{$message}++;
}
close $log;

my $mail_files = () = glob "$ENV{TEST_NGINX_MAILDIR}/new/*";
my $outbox = sql('SELECT count(*) AS n FROM extension_magic_link_outbox')->[0]{n};

printf "\nwrk -t%d -c%d -d%ds, bench/mixed.lua; nginx 1 worker, error_log warn, "
    . "thread_pool magic_link threads=4 max_queue=4096\n\n", $threads, $connections, $seconds;
print "Worker (pid $worker) over time:\n\n  time s  label      RSS KiB    fds  workers\n";
printf "  %6.0f  %-8s %9s %6s  %s\n", $_->{t}, $_->{label}, $_->{rss} // '-', $_->{fds} // '-',
    $_->{workers} for @samples;

my %class_total;
print "\n| Kind | Requests | 2xx | 4xx | 5xx | Statuses |\n|---|---:|---:|---:|---:|---|\n";
for my $kind (sort keys %counts) {
    my %class;
    $class{substr($_, 0, 1) . 'xx'} += $counts{$kind}{$_} for keys %{ $counts{$kind} };
    $class_total{$_} += $class{$_} for keys %class;
    printf "| %s | %d | %d | %d | %d | %s |\n", $kind, sum0(values %{ $counts{$kind} }),
        map({ $class{$_} // 0 } qw(2xx 4xx 5xx)),
        join ' ', map { "$_: $counts{$kind}{$_}" } sort keys %{ $counts{$kind} };
}
my $seconds_run = $duration_us / 1e6;
printf "\nTotal: %d requests in %.1f s, %.0f req/s; 2xx %d, 4xx %d, 5xx %d; "
    . "latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    $requests, $seconds_run, $requests / $seconds_run, map({ $class_total{$_} // 0 } qw(2xx 4xx 5xx)),
    $p50 / 1000, $p99 / 1000, $latency_max / 1000;
print "Note: kind \"unknown\" counts answers without the echoed X-Load-Kind header\n" if $counts{unknown};
printf "Socket errors: connect %d, read %d, write %d, timeout %d\n", @socket_errors;
printf "Mail: %d delivered to the sink, %d still in the outbox (at most %d x %d per hour queued)\n",
    $mail_files, $outbox, $known_users, $mails_per_user;

my ($warm) = grep { $_->{label} eq 'warm-up' } @samples;
my $final = $samples[-1];
my @failures;
my ($growth, $percent) = (0, 0);
if (defined $warm->{rss} && defined $final->{rss}) {
    $growth = $final->{rss} - $warm->{rss};
    $percent = 100 * $growth / $warm->{rss};
    printf "RSS: warm-up (%.0f s) %d KiB, final %d KiB, growth %+d KiB (%+.1f %%); "
        . "limit: more than %d KiB and %d %%\n",
        $warm->{t}, $warm->{rss}, $final->{rss}, $growth, $percent, $max_growth_kib, $max_growth_percent;
} else {
    push @failures, 'the worker is gone: no RSS to compare';
}
my $same_worker = !grep { $_->{workers} ne "$worker" } @samples;
printf "Worker pid %s; error log: %d \"exited on signal\"\n",
    $same_worker ? "$worker unchanged" : 'CHANGED (' . join(', ', map { $_->{workers} } @samples) . ')',
    $crashes;
if (%severe) {
    print "Error log entries at error level and above (count: message):\n";
    printf "  %d: %s\n", $severe{$_}, $_ for sort { $severe{$b} <=> $severe{$a} } keys %severe;
}

# 503 with Retry-After is documented (queue full, backend down): reported, not failed.
my %unexpected;
for my $kind (keys %counts) {
    for my $status (grep { /^5/ && $_ ne '503' } keys %{ $counts{$kind} }) {
        $unexpected{"$kind $status"} = $counts{$kind}{$status};
    }
}
push @failures, 'unexpected 5xx: ' . join(', ', map { "$_ x $unexpected{$_}" } sort keys %unexpected)
    if %unexpected;
push @failures, 'socket errors (resets or hangs)' if sum0(@socket_errors);
push @failures, 'the worker changed (crash or restart)' unless $same_worker;
push @failures, "$crashes \"exited on signal\" in the error log" if $crashes;
push @failures, 'RSS grew after warm-up beyond the limit'
    if $growth > $max_growth_kib && $percent > $max_growth_percent;

stop_nginx();
if (@failures) {
    print "\nFAIL: $_\n" for @failures;
    print "nginx logs kept in $root/logs\n";
    exit 1;
}
remove_tree($root);  # a new port each run: keep t/ from filling with old server roots
print "\nPASS\n";
