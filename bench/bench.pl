# The benchmark table: each endpoint of the module under wrk (16 connections), beside the
# references it should be compared with, all measured in this one run. Run by bench/run.sh.
use strict;
use warnings;
use File::Path qw(make_path);
use File::Temp qw(tempfile);
use MagicLink::Harness;

my $seconds = shift // 10;
my $connections = $ENV{BENCH_CONNECTIONS} // 16;
my $threads = $ENV{BENCH_THREADS} // 2;
my $directus = "http://127.0.0.1:$ENV{TEST_NGINX_DIRECTUS_PORT}";
my $nginx = 'http://127.0.0.1:' . nginx_port();

start_nginx(
    log_level => 'warn',
    # A pool of 4 threads: it also caps concurrent calls into single-threaded Directus.
    main => $ENV{BENCH_MAIN} // 'thread_pool magic_link threads=4 max_queue=4096;',
    http => <<"HTTP",
    magic_link_max_requests_per_hour 1000000;
    magic_link_max_requests_per_ip_per_hour 1000000000;
    magic_link_max_failed_verifies_per_ip_per_hour 1000000000;
    magic_link_session_mode session;
    @{[ $ENV{BENCH_HTTP} // 'magic_link_thread_pool magic_link;' ]}
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

# Runs wrk and returns [requests/s, p50 ms, p99 ms, non-2xx-or-3xx count].
sub wrk {
    my ($url, %opts) = @_;
    local @ENV{ keys %{ $opts{env} // {} } } = values %{ $opts{env} // {} };
    local $ENV{WRK_THREADS} = $threads;
    my $script = $opts{script} ? "-s bench/$opts{script}" : '';
    my $header = $opts{cookie} ? "-H 'Cookie: $opts{cookie}'" : '';
    my $output = `wrk -t$threads -c$connections -d${seconds}s --latency $script $header '$url' 2>&1`;
    my ($rate) = $output =~ /Requests\/sec:\s+([\d.]+)/ or die "wrk failed:\n$output";
    my %percentile = $output =~ /^\s+(50|99)%\s+([\d.]+\w+)/mg;
    my ($errors) = $output =~ /Non-2xx or 3xx responses:\s+(\d+)/;
    return [$rate, map({ milliseconds($percentile{$_}) } 50, 99), $errors // 0];
}

sub milliseconds {
    my ($text) = @_;
    my ($value, $unit) = $text =~ /([\d.]+)(\w+)/;
    return $value * { us => 0.001, ms => 1, s => 1000 }->{$unit};
}


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

my @rows;
sub row { my ($name, $result, $reference) = @_; push @rows, [$name, @$result, $reference // ''] }

reset_limits();
row('nginx `return 200` (reference)', wrk("$nginx/ok"));
row('Directus `GET /server/ping` (reference)', wrk("$directus/server/ping"));
row('nginx -> Directus `/server/ping` (proxy_pass)', wrk("$nginx/server/ping"));
row('generate, unknown email (limits raised)',
    wrk("$nginx/magic-link-api/generate", script => 'post.lua',
        env => { BODY => '{"email":"nobody@example.com"}' }));
row('generate refused by the per-client limit (429)',
    wrk("$nginx/limited/generate", script => 'post.lua',
        env => { BODY => '{"email":"nobody@example.com"}' }));
row('verify, invalid token (401)',
    wrk("$nginx/magic-link-api/verify?token=" . random_token()));

# The gate: a Directus session (session mode) signed in through the module, cached after its
# first check; a forged one (a JWT under another key) is refused on the event loop with 302.
my $gate_user = create_user(email => 'bench-gate@example.com', role => create_role('Bench gate role'));
my $session = sign_in('bench-gate@example.com');
my $forged = 'directus_session_token=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.'
           . 'eyJpZCI6ImEiLCJzZXNzaW9uIjoiYiIsImlzcyI6ImRpcmVjdHVzIiwiZXhwIjo0MTAyNDQ0ODAwfQ.'
           . 'c2lnbmVkLXdpdGgtYW5vdGhlci1rZXktYWJjZGVmZ2hpams';
row('nginx static file, no gate (reference)', wrk("$nginx/open/page.html"));
row('gate: valid session (cached), static file', wrk("$nginx/gated/page.html", cookie => $session));
row('gate: forged session cookie (302)', wrk("$nginx/gated/page.html", cookie => $forged));
row('auth_request to Directus `/users/me`, static file (what operators do today)',
    wrk("$nginx/auth-request/page.html", cookie => $session));

my $links_needed = 1000 * $seconds;  # well above Directus' rate
my $user = create_user(email => 'bench@example.com', role => create_role('Bench role'));
my $links = unused_links(email => 'bench@example.com', user => $user, count => $links_needed,
                         seconds => 3600);
row('verify, valid links (session created)',
    wrk("$nginx/magic-link-api/verify", script => 'tokens.lua',
        env => { TOKENS_FILE => $links, REQUEST_KIND => 'verify' }));
my $sessions = prepare_sessions($links_needed, $user);
row('Directus `POST /auth/refresh` (reference)',
    wrk("$directus/auth/refresh", script => 'tokens.lua',
        env => { TOKENS_FILE => $sessions, REQUEST_KIND => 'refresh' }));

chomp(my $cores = `nproc`);
chomp(my $cpu = `grep -m1 'model name' /proc/cpuinfo | cut -d: -f2`);
printf "\nwrk, %d connections, %d threads, %ds per row; %s cores (%s), all on 127.0.0.1;\n"
    . "nginx: 1 worker, error_log warn, %s\n\n",
    $connections, $threads, $seconds, $cores, $cpu =~ s/^\s+//r,
    $ENV{BENCH_MAIN} // 'thread_pool magic_link threads=4';
print "| What | Requests/s | p50 ms | p99 ms | non-2xx |\n|---|---:|---:|---:|---:|\n";
printf "| %s | %.0f | %.2f | %.2f | %d |\n", @$_[0 .. 4] for @rows;
