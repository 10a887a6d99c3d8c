# The benchmark table: each endpoint of the module under wrk (16 connections), beside the
# references it should be compared with, all measured in this one run, the way operators run it:
# PostgreSQL with its defaults (fsync and synchronous_commit on; bench/run.sh), 10,000 Directus
# users, nginx with 2 workers, error_log warn and the default thread pool. Then redeeming once
# more with Directus on a core of its own (labelled), the same rows with 100 and with 100,000
# users and 1,000,000 rows of link history, redeeming once more beside 100,000 sessions of other
# users, and the generate rows once more with fsync off (labelled).
# Under the table: the machine's CPU time per request of generate and of the redemption rows.
# Run by bench/run.sh.
use strict;
use warnings;
use File::Path qw(make_path);
use File::Temp qw(tempfile);
use POSIX ();
use Time::HiRes qw(time);
use MagicLink::Harness;
use lib 'bench/lib';
use Wrk;

my $seconds = shift // 10;
my $directus = "http://127.0.0.1:$ENV{TEST_NGINX_DIRECTUS_PORT}";
my $nginx = 'http://127.0.0.1:' . nginx_port();

start_nginx(
    log_level => 'warn',
    workers => $ENV{BENCH_WORKERS} // 2,
    main => $ENV{BENCH_MAIN} // '',
    http => <<"HTTP",
    magic_link_max_requests_per_hour 1000000;
    magic_link_max_requests_per_ip_per_hour 1000000000;
    magic_link_max_failed_verifies_per_ip_per_hour 1000000000;
    magic_link_session_mode session;
    @{[ $ENV{BENCH_HTTP} // '' ]}
HTTP
    server => <<"SERVER");
        location = /ok { return 200 "ok"; }
        location /magic-link-ui { magic_link ui; }
        # The same small file open, behind the gate, and behind what operators do without the
        # module: auth_request to Directus' /users/me with the browser's cookies.
        location /open/ { alias @{[ server_root() ]}/html/; }
        location /gated/ { magic_link_require on; alias @{[ server_root() ]}/html/; }
        location /auth-request/ { auth_request /directus-users-me; alias @{[ server_root() ]}/html/; }
        location = /directus-users-me {
            internal;
            proxy_pass $directus/users/me;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }
        location /server/ { proxy_pass $directus; }
        location /limited/ {
            magic_link api;
            magic_link_max_requests_per_ip_per_hour 1;
        }
SERVER

make_path(server_root() . '/html');
open my $page, '>', server_root() . '/html/page.html' or die $!;
print $page "a small page\n";
close $page;

# Directus sessions nobody has refreshed yet, for Directus' own /auth/refresh.
sub prepare_sessions {
    my ($count, $user) = @_;
    my ($fh, $file) = tempfile();
    my $insert = MagicLink::Harness::db()->prepare(
        q{INSERT INTO directus_sessions (token, "user", expires) VALUES (?, ?, now() + interval '1 hour')});
    for (1 .. $count) {
        my $token = random_token() . random_token();
        $token = substr $token, 0, 64;
        $insert->execute($token, $user);
        print $fh "$token\n";
    }
    close $fh;
    return $file;
}

# The mean of wrk results: every field averaged (rates, latencies, CPU per request when
# measured) but the failures (index 3), added up.
sub mean_of {
    my @results = @_;
    return [map {
        my $i = $_;
        my $sum = 0;
        $sum += $_->[$i] for @results;
        $i == 3 ? $sum : $sum / @results
    } 0 .. $#{ $results[0] }];
}

chomp(my $cores = `nproc`);
my @rows;
sub row { my ($name, $result) = @_; push @rows, [$name, @$result] }

# A wrk run (wrk's arguments) with the machine's busy CPU time per request appended, in ms
# (every process, from /proc/stat): what a row costs the shared cores, beside what it achieves.
my $clock_ticks = POSIX::sysconf(POSIX::_SC_CLK_TCK());
sub busy_ticks {
    open my $stat, '<', '/proc/stat' or die "/proc/stat: $!";
    my (undef, $user, $nice, $system, undef, undef, $irq, $softirq) = split ' ', scalar <$stat>;
    return $user + $nice + $system + $irq + $softirq;
}
sub wrk_with_cpu {
    my (undef, $run_seconds) = @_;
    my $before = busy_ticks();
    my $result = wrk(@_);
    return [@$result, (busy_ticks() - $before) * 1000 / $clock_ticks / ($result->[0] * $run_seconds)];
}
my @cpu_lines;  # printed under the table

# wrk's options for a generate request for an address no user has.
my @unknown_email = (script => 'post.lua', env => { BODY => '{"email":"nobody@example.com"}' });

# Directus users and link history made straight in the database (Directus' tables as it keeps
# them; users without a role take no seat).
sub users_up_to {
    my ($count) = @_;
    my $have = sql('SELECT count(*) AS n FROM directus_users')->[0]{n};
    sql_do(q{INSERT INTO directus_users (id, email, status, provider)
             SELECT gen_random_uuid(), 'seed-' || g || '@bench.example', 'active', 'default'
               FROM generate_series(?::int + 1, ?::int) AS g}, $have, $count) if $count > $have;
    settle();
}
# What seeding leaves to do (autovacuum, dirty pages to write) is done before measuring.
sub settle { sql_do('VACUUM ANALYZE'); sql_do('CHECKPOINT') }
sub history_rows {
    my ($count, $own_email, $own) = @_;
    sql_do(q{INSERT INTO extension_magic_link (email, token, expires_at, ip_address, used,
                                               created_at, email_sent)
             SELECT CASE WHEN g <= ?::int THEN ?::text ELSE 'history-' || g % 50000 || '@bench.example' END,
                    md5(g::text) || md5((-g)::text), now() - interval '1 day', '127.0.0.1', true,
                    now() - interval '2 days', true
               FROM generate_series(1, ?::int) AS g}, $own, $own_email, $count);
    settle();
}

# Directus sessions of the seeded users, one each, half of them expired: Directus deletes a user's
# expired sessions on every refresh.
sub sessions_of_others {
    my ($count) = @_;
    sql_do(q{INSERT INTO directus_sessions (token, "user", expires)
             SELECT md5(u.id::text) || md5(u.email), u.id,
                    now() + CASE WHEN n % 2 = 0 THEN interval '1 day' ELSE interval '-1 day' END
               FROM (SELECT id, email, row_number() OVER () AS n FROM directus_users
                      WHERE email LIKE 'seed-%' LIMIT ?) AS u}, $count);
    settle();
}

# generate for an unknown address (the user lookup), verify of an unknown token (the link
# lookup), and generate for a known address with a long history, counted until the background
# has looked at every request (issuing: supersede, link, outbox row).
sub size_rows {
    my ($label) = @_;
    row("generate, unknown email, $label",
        wrk("$nginx/magic-link-api/generate", $seconds, @unknown_email));
    wait_for_requests(600);  # each row measured alone, not beside the last one's background work
    row("verify, invalid token (401), $label",
        wrk("$nginx/magic-link-api/verify?token=" . random_token(), $seconds));
    wait_for_requests(600);
    my $started = time;
    my $statuses = wrk("$nginx/magic-link-api/generate", $seconds, script => 'post.lua',
                       env => { BODY => '{"email":"bench-history@example.com"}' });
    my $accepted = $statuses->[0] * $seconds;
    wait_for_requests(600);
    my $took = time - $started;
    wait_for_outbox(600);  # its mail is out before the next row
    # Requests/s end to end (answered and looked at); latencies are the answers'.
    row("generate, known email with 20,000 links of history, answered and issued, $label",
        [$accepted / $took, @$statuses[1 .. 3]]);
}

reset_limits();
create_user(email => 'bench-history@example.com');
users_up_to(100);
# Warm-up, unmeasured: PostgreSQL's WAL grows to its working size. A new cluster creates and
# zero-fills each 16 MB segment inside whichever commit first needs it (p99 of generate went
# from 7 to 34 ms in runs that did); a server that has run a while recycles its segments at each
# checkpoint instead, as settle() lets this one do from here on.
wrk("$nginx/magic-link-api/generate", 3 * $seconds, @unknown_email);
wait_for_requests(600);
settle();
size_rows('100 users, no history');
users_up_to(10_000);
row('nginx `return 200` (reference)', wrk("$nginx/ok", $seconds));
row('Directus `GET /server/ping` (reference)', wrk("$directus/server/ping", $seconds));
row('nginx -> Directus `/server/ping` (proxy_pass)', wrk("$nginx/server/ping", $seconds));
my $generated = wrk_with_cpu("$nginx/magic-link-api/generate", $seconds, @unknown_email);
row('generate, unknown email (limits raised)', $generated);
push @cpu_lines, sprintf 'machine CPU per request: generate %.2f ms', $generated->[4];
wait_for_requests(600);
row('generate refused by the per-client limit (429)',
    wrk("$nginx/limited/generate", $seconds, @unknown_email));
row('verify, invalid token (401)',
    wrk("$nginx/magic-link-api/verify?token=" . random_token(), $seconds));

# The gate: a Directus session (session mode) signed in through the module, cached after its
# first check; a forged one (a JWT under another key) is refused on the event loop with 302.
my $gate_user = create_user(email => 'bench-gate@example.com', role => create_role('Bench gate role'));
my $session = sign_in('bench-gate@example.com');
my $forged = 'directus_session_token=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.'
           . 'eyJpZCI6ImEiLCJzZXNzaW9uIjoiYiIsImlzcyI6ImRpcmVjdHVzIiwiZXhwIjo0MTAyNDQ0ODAwfQ.'
           . 'c2lnbmVkLXdpdGgtYW5vdGhlci1rZXktYWJjZGVmZ2hpams';
row('nginx static file, no gate (reference)', wrk("$nginx/open/page.html", $seconds));
row('gate: valid session (cached), static file', wrk("$nginx/gated/page.html", $seconds, cookie => $session));
row('gate: forged session cookie (302)', wrk("$nginx/gated/page.html", $seconds, cookie => $forged));
row('auth_request to Directus `/users/me`, static file (what operators do today)',
    wrk("$nginx/auth-request/page.html", $seconds, cookie => $session));

# Redeeming and Directus' own /auth/refresh are both bound by Directus: they alternate, `rounds`
# runs each, averaged, so that a change of the machine's speed during the run weighs on both alike.
my $links_needed = 1000 * $seconds;  # well above Directus' rate
my $user = create_user(email => 'bench@example.com', role => create_role('Bench role'));
sub redemption_rows {
    my ($label, $rounds) = @_;
    my (@verify, @refresh);
    for (1 .. $rounds) {
        my $links = unused_links(email => 'bench@example.com', user => $user,
                                 count => $links_needed, seconds => 3600);
        push @verify, wrk_with_cpu("$nginx/magic-link-api/verify", $seconds, script => 'tokens.lua',
                                   env => { TOKENS_FILE => $links, REQUEST_KIND => 'verify' });
        my $sessions = prepare_sessions($links_needed, $user);
        push @refresh, wrk_with_cpu("$directus/auth/refresh", $seconds, script => 'tokens.lua',
                                    env => { TOKENS_FILE => $sessions, REQUEST_KIND => 'refresh' });
    }
    my ($verify, $refresh) = (mean_of(@verify), mean_of(@refresh));
    row("verify, valid links (session created)$label, mean of $rounds runs", $verify);
    row("Directus `POST /auth/refresh` (reference)$label, mean of $rounds runs", $refresh);
    push @cpu_lines, sprintf "machine CPU per request%s: verify %.2f ms, Directus `/auth/refresh` %.2f ms",
        $label, $verify->[4], $refresh->[4];
}
redemption_rows('', 3);

# The same rows once more with Directus on a core of its own and nginx's workers on the others
# (labelled: a placement operators choose, not a default): on shared cores, the threads serving
# a sign-in are woken onto the core of Directus' main thread and take from it.
sub pin {
    my ($cpus, @pids) = @_;
    for my $pid (@pids) {
        system("taskset -a -p -c $cpus $pid >/dev/null") == 0 or die "taskset -p $pid failed";
    }
}
my $last_cpu = $cores - 1;
if ($last_cpu > 0) {
    chomp(my $directus_pid = `head -1 $ENV{ML_RUN_DIR}/directus.pid`);
    my @workers = nginx_workers();
    pin($last_cpu, $directus_pid);
    pin("0-" . ($last_cpu - 1), @workers);
    redemption_rows(', Directus on a core of its own (labelled)', 2);
    pin("0-$last_cpu", $directus_pid, @workers);
}

users_up_to(100_000);
history_rows(1_000_000, 'bench-history@example.com', 20_000);
size_rows('100,000 users, 1,000,000 rows of history');
sessions_of_others(100_000);
redemption_rows(', 100,000 sessions of other users', 2);

# The generate rows once more on a database that does not wait for the disk: labelled, never
# the way to run Directus' database.
sql_do('ALTER SYSTEM SET fsync = off');
sql_do('ALTER SYSTEM SET synchronous_commit = off');
sql_do('SELECT pg_reload_conf()');
row('generate, unknown email (fsync and synchronous_commit off)',
    wrk("$nginx/magic-link-api/generate", $seconds, @unknown_email));
sql_do('ALTER SYSTEM RESET fsync');
sql_do('ALTER SYSTEM RESET synchronous_commit');
sql_do('SELECT pg_reload_conf()');

chomp(my $cpu = `grep -m1 'model name' /proc/cpuinfo | cut -d: -f2`);
my $fsync = sql('SHOW fsync')->[0]{fsync};
printf "\nwrk, %d connections, %d threads, %ds per row; %s cores (%s), all on 127.0.0.1;\n"
    . "nginx: %d workers, error_log warn%s; PostgreSQL fsync %s (except the labelled row);\n"
    . "10,000 Directus users except where a row says otherwise\n\n",
    $Wrk::connections, $Wrk::threads, $seconds, $cores, $cpu =~ s/^\s+//r, $ENV{BENCH_WORKERS} // 2,
    $ENV{BENCH_MAIN} ? ", $ENV{BENCH_MAIN}" : '', $fsync;
print "| What | Requests/s | p50 ms | p99 ms | non-2xx |\n|---|---:|---:|---:|---:|\n";
printf "| %s | %.0f | %.2f | %.2f | %d |\n", @$_[0 .. 4] for @rows;
print "\n", map { "$_\n" } @cpu_lines;
