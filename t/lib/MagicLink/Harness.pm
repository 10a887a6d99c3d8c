package MagicLink::Harness;

# Helpers for the flow suites (Test::More files): nginx with the module in front of the real
# services that scripts/with-services.sh started, plus direct looks at what the flow left behind
# in PostgreSQL, Redis and the SMTP sink's maildir. Request/response behaviour that needs no such
# looks lives in Test::Nginx blocks instead.

use strict;
use warnings;
use Cwd qw(abs_path);
use DBI;
use Digest::SHA qw(hmac_sha1 hmac_sha256_hex);
use Exporter qw(import);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempfile);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP ();
use MIME::Base64 qw(encode_base64url);
use MIME::QuotedPrint qw(decode_qp);
use POSIX ();
use Time::HiRes qw(sleep time);

our @EXPORT = qw(start_nginx stop_nginx nginx_port request issue_link directus log_leaks post_json post_form
                 generate sql sql_do lock_table create_user create_role mails_to wait_for_mails wait_for_outbox
                 clear_mail decoded token_in token_hash set_cookie cookie_of reset_limits redis_cli
                 error_log_since services wait_until within timed static_median
                 in_background passed recovers_ok random_token unused_links wait_for_requests
                 create_policy attach_policy directus_admin_token set_password enable_tfa totp
                 fresh_totp directus_api tfa_user server_root page_ok json_ok browser_requests
                 sign_in host_port nginx_pid nginx_workers reload_nginx has_policies has_nested_roles
                 no_worker_crashed);

our $SECRET = '0123456789abcdef0123456789abcdef';

my $port = $ENV{TEST_NGINX_FLOW_PORT} // 1985;
my $root = abs_path('t') . "/servroot-flow-$port";  # per port, so parallel runs keep apart
my $nginx = $ENV{TEST_NGINX_BINARY} // 'nginx';
my $start_timeout = $ENV{TEST_NGINX_START_TIMEOUT} || 10;  # also for stopping: valgrind is slow
# How much slower nginx runs than natively (make test-valgrind sets it): scales time limits.
my $slowdown = $ENV{TEST_NGINX_SLOWDOWN} || 1;

sub within { return $_[0] * $slowdown }

for my $name (qw(TEST_NGINX_LOAD_MODULES TEST_NGINX_PG_PORT TEST_NGINX_REDIS_PORT
                 TEST_NGINX_SMTP_PORT TEST_NGINX_MAILDIR TEST_NGINX_DIRECTUS_PORT
                 TEST_NGINX_DIRECTUS_SECRET)) {
    die "$name is not set: run this suite under scripts/with-services.sh (make test)\n"
        unless $ENV{$name};
}

sub nginx_port { $port }

# The flow suites' nginx prefix (its logs/ holds error.log and any access log a suite adds).
sub server_root { $root }

# The module's PostgreSQL: TEST_NGINX_MODULE_PG_PORT runs the suites through PgBouncer (make t
# does, once); the harness itself always talks to PostgreSQL directly.
my $module_pg_port = $ENV{TEST_NGINX_MODULE_PG_PORT} || $ENV{TEST_NGINX_PG_PORT};

# The module's settings for the test services; `main`, `http` and `server` add directives,
# `log_level` sets the error log's (default debug), `workers` the worker processes (default 1),
# `directus_secret` replaces Directus' SECRET, `secret` the module's (all of magic_link_secret's
# arguments), `smtp` the SMTP directives (default: the test sink's host and port),
# `directus_url` the Directus the module calls.

sub config {
    my (%opts) = @_;
    my $modules = join '', map { "load_module $_;\n" } split ' ', $ENV{TEST_NGINX_LOAD_MODULES};
    my $user = $> == 0 ? "user root;\n" : '';
    return <<"CONF";
$modules${user}worker_processes @{[ $opts{workers} // 1 ]};
daemon on;
master_process on;
worker_rlimit_core 1g;
working_directory @{[ $opts{root} // $root ]}/cores;
error_log logs/error.log @{[ $opts{log_level} // 'debug' ]};
pid logs/nginx.pid;
@{[ $opts{main} // '' ]}
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path @{[ $opts{root} // $root ]}/tmp/body;
    proxy_temp_path @{[ $opts{root} // $root ]}/tmp/proxy;
    magic_link_secret @{[ $opts{secret} // $SECRET ]};
    magic_link_postgres "host=127.0.0.1 port=$module_pg_port dbname=directus user=postgres";
    magic_link_redis redis://127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};
@{[ $opts{smtp} // "    magic_link_smtp_host 127.0.0.1;\n    magic_link_smtp_port $ENV{TEST_NGINX_SMTP_PORT};" ]}
    magic_link_email_from "Test Site <no-reply\@example.com>";
    magic_link_public_url http://127.0.0.1:$port;
    magic_link_directus_url @{[ $opts{directus_url} // "http://127.0.0.1:$ENV{TEST_NGINX_DIRECTUS_PORT}" ]};
    magic_link_mail_retry_max_delay 1s;
    magic_link_directus_secret "@{[ $opts{directus_secret} // $ENV{TEST_NGINX_DIRECTUS_SECRET} ]}";
@{[ $opts{http} // '' ]}
    server {
        listen 127.0.0.1:@{[ $opts{listen} // $port ]};
        location /magic-link-api/ { magic_link api; }
        location /magic-link/verify { magic_link verify; }
        location /static { return 200 "static"; }
@{[ $opts{server} // '' ]}
    }
}
CONF
}

# Other nginx hosts on the same services (`host => 'b'` in start_nginx, stop_nginx, request,
# ...): each its own port ($port + 1, + 2, ...) and prefix ($root-b); all share the public URL
# and the secret, as hosts behind one load balancer do.
my %host_ports;
sub host_port {
    my ($host) = @_;
    return $port unless $host;
    return $host_ports{$host} if $host_ports{$host};
    my $next = $port + 1 + keys %host_ports;
    return $host_ports{$host} = $next;
}
sub host_root { my ($host) = @_; return $host ? "$root-$host" : $root }

# The master's pid of a running host, or undef.
sub nginx_pid {
    my ($host) = @_;
    my $pid_file = host_root($host) . '/logs/nginx.pid';
    return unless -f $pid_file;
    chomp(my $pid = do { local (@ARGV, $/) = $pid_file; <> } // '');
    return $pid && kill(0, $pid) ? $pid : undef;
}

# The worker processes of a running host (its master's children), or none.
sub nginx_workers {
    my $pid = nginx_pid(@_) or return;
    return split ' ', `pgrep -P $pid`;
}

sub stop_nginx {
    my (%opts) = @_;
    my $root = host_root($opts{host});
    my $pid_file = "$root/logs/nginx.pid";
    return unless -f $pid_file;
    chomp(my $pid = do { local (@ARGV, $/) = $pid_file; <> } // '');
    if ($pid && kill 0, $pid) {
        kill 'QUIT', $pid;
        wait_until(sub { !kill 0, $pid }, $start_timeout) or kill 'KILL', $pid;
    }
    unlink $pid_file;
}

# Writes config(%opts) as the host's nginx.conf.
sub write_config {
    my (%opts) = @_;
    my $root = host_root($opts{host});
    open my $out, '>', "$root/conf/nginx.conf" or die $!;
    print $out config(%opts, root => $root, listen => host_port($opts{host}));
    close $out;
}

# Starts nginx with config(%opts), replacing a running one; dies with the log when it fails.
# The error log runs on across restarts, so a suite can check everything it caused.
my %fresh;
sub start_nginx {
    my (%opts) = @_;
    my $root = host_root($opts{host});
    my $listen = host_port($opts{host});
    stop_nginx(host => $opts{host});
    remove_tree($root) unless $fresh{$root}++;
    make_path("$root/conf", "$root/logs", "$root/tmp", "$root/cores");
    chmod 0777, "$root/cores";  # workers run as nobody unless the suite runs as root
    write_config(%opts);
    my $output = `$nginx -p $root/ -c conf/nginx.conf -e logs/error.log 2>&1`;
    die "nginx failed to start:\n$output" if $?;
    wait_until(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$listen") }, $start_timeout)
        or die "nginx does not listen on $listen";
}

# Writes config(%opts) and reloads the running nginx with it (SIGHUP: new workers, the master
# and its shared memory zones stay); returns once the old workers are gone.
sub reload_nginx {
    my (%opts) = @_;
    my $pid = nginx_pid($opts{host}) or die "nginx is not running";
    my @old = nginx_workers($opts{host});
    write_config(%opts);
    kill 'HUP', $pid;
    wait_until(sub { !grep { kill 0, $_ } @old }, $start_timeout) or die "the old workers stay";
}

END { stop_nginx(host => $_) for keys %host_ports; stop_nginx() unless $ENV{TEST_NGINX_NO_CLEAN} }

sub wait_until {
    my ($ready, $seconds) = @_;
    my $deadline = time + within($seconds);
    while (time < $deadline) {
        my $result = $ready->();
        return $result if $result;
        sleep 0.05;
    }
    return;
}

sub request {
    my ($method, $path, %opts) = @_;
    my $http = HTTP::Tiny->new(timeout => $opts{timeout} // 10, max_redirect => 0);
    return $http->request($method, "http://127.0.0.1:" . host_port($opts{host}) . $path,
                          { headers => $opts{headers} // {},
                            defined $opts{body} ? (content => $opts{body}) : () });
}

sub post_json {
    my ($path, $json, %opts) = @_;
    return request('POST', $path, %opts, body => $json,
                   headers => { 'Content-Type' => 'application/json', %{ $opts{headers} // {} } });
}

sub post_form {
    my ($path, $form, %opts) = @_;
    return request('POST', $path, %opts, body => $form,
                   headers => { 'Content-Type' => 'application/x-www-form-urlencoded',
                                %{ $opts{headers} // {} } });
}

# Asks for a link: POST /magic-link-api/generate with {"email": email, extra...} as JSON;
# returns HTTP::Tiny's response. generate('a@b.c', redirectUrl => 'https://...').
sub generate {
    my ($email, %extra) = @_;
    my $host = delete $extra{host};
    return post_json('/magic-link-api/generate', JSON::PP::encode_json({ email => $email, %extra }),
                     host => $host);
}

# The Set-Cookie header line of `response` that sets the cookie `name` (default Directus'
# directus_refresh_token), attributes included; undef without one.
sub set_cookie {
    my ($response, $name) = @_;
    $name //= 'directus_refresh_token';
    my $lines = $response->{headers}{'set-cookie'} // [];
    my ($line) = grep { /^\Q$name\E=/ } ref $lines ? @$lines : ($lines);
    return $line;
}

# `name=value` of that cookie (a non-empty value), as a Cookie request header sends it back.
sub cookie_of {
    my ($response, $name) = @_;
    $name //= 'directus_refresh_token';
    my $line = set_cookie($response, $name) // '';
    return $line =~ /^(\Q$name\E=[^;]+)/ ? $1 : undef;
}

sub connect_db {
    my (%attributes) = @_;
    return DBI->connect("dbi:Pg:host=127.0.0.1;port=$ENV{TEST_NGINX_PG_PORT};dbname=directus",
                        'postgres', '', { RaiseError => 1, AutoCommit => 1, PrintWarn => 0, %attributes });
}

my $dbh;
sub db {
    $dbh //= connect_db();
    return $dbh;
}

# Rows as hashes.
sub sql { my ($query, @binds) = @_; return db()->selectall_arrayref($query, { Slice => {} }, @binds) }
sub sql_do { my ($query, @binds) = @_; return db()->do($query, undef, @binds) }

# Holds `table` (it must exist) with an ACCESS EXCLUSIVE lock from a connection of its own, so
# the module's queries on it wait; returns that connection, whose ->rollback releases the lock.
sub lock_table {
    my ($table) = @_;
    my $locker = connect_db(AutoCommit => 0);
    $locker->do("LOCK TABLE $table IN ACCESS EXCLUSIVE MODE");
    return $locker;
}

# What the Directus under test has, read from its schema as the module does (sql/functions.sql):
# Directus 11+ grants access by policies (directus_policies, attached through directus_access)
# and nests roles (directus_roles.parent); Directus 10 keeps the access flags on the role.
my %schema;
sub has_policies {
    $schema{policies} //= db()->selectrow_array(q{SELECT to_regclass('directus_policies') IS NOT NULL});
    return $schema{policies};
}
sub has_nested_roles {
    $schema{nested} //= db()->selectrow_array(q{SELECT count(*) FROM information_schema.columns
        WHERE table_name = 'directus_roles' AND column_name = 'parent'});
    return $schema{nested};
}

# A role with no policy (under `parent`, if given: Directus 11+): its users are API users, like the frontends magic links serve. (Roles
# with app access would take Directus seats, and an unlicensed Directus 12 locks logins of
# non-admins once its few core seats are taken.)
sub create_role {
    my ($name, %opts) = @_;
    if (!defined $opts{parent}) {
        return db()->selectrow_array(
            'INSERT INTO directus_roles (id, name) VALUES (gen_random_uuid(), ?) RETURNING id', undef, $name);
    }
    die "Directus $ENV{TEST_NGINX_DIRECTUS_VERSION} has no nested roles\n" unless has_nested_roles();
    return db()->selectrow_array(
        'INSERT INTO directus_roles (id, name, parent) VALUES (gen_random_uuid(), ?, ?) RETURNING id',
        undef, $name, $opts{parent});
}

# A Directus 11+ policy (no app or admin access unless told, so no seat is taken) with
# `permissions` rows ({collection, action, permissions, fields}); returns its id. Directus 10
# has no policies: there the policy is kept here and attach_policy gives its flags and
# permissions to the role it is attached to, Directus 10's equivalent.
sub create_policy {
    my (%policy) = @_;
    return {%policy} unless has_policies();
    my ($id) = db()->selectrow_array(
        'INSERT INTO directus_policies (id, name, icon, app_access, admin_access, enforce_tfa)
         VALUES (gen_random_uuid(), ?, ?, ?, ?, ?) RETURNING id', undef, $policy{name}, 'badge',
        $policy{app_access} ? 1 : 0, $policy{admin_access} ? 1 : 0, $policy{enforce_tfa} ? 1 : 0);
    for my $permission (@{ $policy{permissions} // [] }) {
        sql_do('INSERT INTO directus_permissions (collection, action, permissions, fields, policy)
                VALUES (?, ?, ?, ?, ?)', @$permission{qw(collection action permissions fields)}, $id);
    }
    return $id;
}

# Attaches a policy to a role or a user, as Directus' directus_access does (Directus 10: to a
# role only, as its flags and permissions).
sub attach_policy {
    my ($policy, %to) = @_;
    if (!has_policies()) {
        die "Directus $ENV{TEST_NGINX_DIRECTUS_VERSION} has no policies of users\n" unless $to{role};
        sql_do("UPDATE directus_roles SET $_ = true WHERE id = ?", $to{role})
            for grep { $policy->{$_} } qw(app_access admin_access enforce_tfa);
        for my $permission (@{ $policy->{permissions} // [] }) {
            sql_do('INSERT INTO directus_permissions (collection, action, permissions, fields, role)
                    VALUES (?, ?, ?, ?, ?)', @$permission{qw(collection action permissions fields)},
                   $to{role});
        }
        return;
    }
    sql_do('INSERT INTO directus_access (id, role, "user", policy) VALUES (gen_random_uuid(), ?, ?, ?)',
           $to{role}, $to{user}, $policy);
}

# A Directus user (status 'active' unless told), by plain SQL as Directus itself stores it.
sub create_user {
    my (%user) = @_;
    sql_do('DELETE FROM directus_users WHERE lower(email) = lower(?)', $user{email});
    return db()->selectrow_array(
        "INSERT INTO directus_users (id, email, status, role, first_name, last_name)
         VALUES (gen_random_uuid(), ?, ?, ?, ?, ?) RETURNING id", undef,
        $user{email}, $user{status} // 'active', $user{role}, $user{first_name} // 'Test',
        $user{last_name} // 'User');
}

sub maildir { "$ENV{TEST_NGINX_MAILDIR}/new" }

sub clear_mail { unlink glob(maildir() . '/*') }

# Raw messages delivered to `address`, oldest first.
sub mails_to {
    my ($address) = @_;
    my @mails;
    my %mtime = map { $_ => (Time::HiRes::stat($_))[9] } glob(maildir() . '/*');
    for my $file (sort { $mtime{$a} <=> $mtime{$b} } keys %mtime) {
        my $raw = do { local (@ARGV, $/) = $file; <> };
        push @mails, $raw if $raw =~ /^X-RcptTo: \Q$address\E\s*$/mi;
    }
    return @mails;
}

# Waits until every accepted link request was looked at (its audit row or link is written).
sub wait_for_requests {
    my ($seconds) = @_;
    return 1 unless sql(q{SELECT to_regclass('extension_magic_link_pending') AS t})->[0]{t};
    return wait_until(sub {
        sql('SELECT count(*) AS n FROM extension_magic_link_pending')->[0]{n} == 0;
    }, $seconds // 5);
}

# Waits until every queued mail (for `email`, if given) was sent or given up.
sub wait_for_outbox {
    my ($seconds, $email) = @_;
    return 1 unless sql(q{SELECT to_regclass('extension_magic_link_outbox') AS t})->[0]{t};  # none yet
    return wait_until(sub {
        sql(q{SELECT count(*) AS n FROM extension_magic_link_outbox o JOIN extension_magic_link l
              ON l.id = o.link_id WHERE ?::text IS NULL OR l.email = ?}, $email, $email)->[0]{n} == 0;
    }, $seconds // 10);
}

# Waits until `count` mails reached `address` (or the timeout passed) and returns them.
sub wait_for_mails {
    my ($address, $count, $seconds) = @_;
    wait_until(sub { mails_to($address) >= $count }, $seconds // 5);
    return mails_to($address);
}

# What the module stores for a token: its HMAC-SHA-256 under magic_link_secret, in hex.
sub token_hash { my ($token) = @_; return hmac_sha256_hex($token, $SECRET) }

# A token as the module makes them: 32 random bytes, base64url (not for security here).
sub random_token { encode_base64url(join '', map { chr int rand 256 } 1 .. 32) }

# `count` unused links of the user `email` (id `user`), valid for `seconds`, written straight
# into the module's table (it must exist) in batches; returns a temp file of their tokens, one per
# line. For the benchmarks, which need more links than mail could bring.
sub unused_links {
    my (%opts) = @_;
    my ($fh, $file) = tempfile(UNLINK => 1);
    my $insert = db()->prepare(
        q{INSERT INTO extension_magic_link (email, token, expires_at, ip_address, used, created_at, user_id)
          SELECT ?, hash, now() AT TIME ZONE 'utc' + make_interval(secs => ?), '127.0.0.1', false,
                 now() AT TIME ZONE 'utc', ?
            FROM unnest(?::text[]) AS hash});
    for (my $left = $opts{count}; $left > 0; $left -= 5000) {
        my @tokens = map { random_token() } 1 .. ($left < 5000 ? $left : 5000);
        $insert->execute($opts{email}, $opts{seconds}, $opts{user},
                         [map { token_hash($_) } @tokens]);
        print $fh "$_\n" for @tokens;
    }
    close $fh;
    return $file;
}

# A raw mail with its quoted-printable parts decoded (headers are unaffected).
sub decoded { decode_qp($_[0]) }

# The token of the first link in a mail's text part.
sub token_in { return decoded($_[0]) =~ m{token=([A-Za-z0-9_-]{43})\b} ? $1 : undef }

# Requests a link for `email` through the module and returns the token from the mail that
# arrives for it (the one new file: several mails can share a second of mtime).
sub issue_link {
    my ($email, %extra) = @_;
    my %seen = map { $_ => 1 } glob(maildir() . '/*');
    my $response = generate($email, %extra);
    die "generate answered $response->{status}" unless $response->{status} == 200;
    my $new = wait_until(sub {
        for my $file (grep { !$seen{$_} } glob(maildir() . '/*')) {
            my $raw = do { local (@ARGV, $/) = $file; <> };
            return $raw if $raw =~ /^X-RcptTo: \Q$email\E\s*$/mi;
        }
        return;
    }, 5) or die "no mail reached $email";
    return token_in($new);
}

# Signs `email` in through the verify page (`verify`, default /magic-link/verify) and returns
# the Cookie header value Directus set: directus_session_token in session mode, else
# directus_refresh_token.
sub sign_in {
    my ($email, %opts) = @_;
    my $token = issue_link($email);
    my $post = post_form($opts{verify} // '/magic-link/verify', "token=$token",
                         headers => { Origin => "http://127.0.0.1:$port" });
    die "verify answered $post->{status}\n" unless $post->{status} == 303;
    return cookie_of($post, 'directus_session_token') // cookie_of($post);
}

# A request straight to Directus (not through nginx).
sub directus {
    my ($method, $path, %opts) = @_;
    return HTTP::Tiny->new(timeout => 10)->request(
        $method, "http://127.0.0.1:$ENV{TEST_NGINX_DIRECTUS_PORT}$path",
        { headers => $opts{headers} // {}, defined $opts{body} ? (content => $opts{body}) : () });
}

# Calls Directus' API straight (JSON in and out); returns (status, decoded body).
sub directus_api {
    my ($method, $path, $body, $token) = @_;
    my $response = directus($method, $path,
        headers => { 'Content-Type' => 'application/json',
                     $token ? (Authorization => "Bearer $token") : () },
        defined $body ? (body => JSON::PP::encode_json($body)) : ());
    my $json = eval { JSON::PP::decode_json($response->{content}) };
    return ($response->{status}, $json, $response->{content});
}

sub directus_admin_token {
    my ($status, $json, $raw) = directus_api(POST => '/auth/login',
        { email => $ENV{TEST_NGINX_DIRECTUS_ADMIN_EMAIL}, password => $ENV{TEST_NGINX_DIRECTUS_ADMIN_PASSWORD} });
    die "admin login: $status $raw" unless $status == 200;
    return $json->{data}{access_token};
}

# Sets a user's password through Directus (it stores its own argon2 hash).
sub set_password {
    my ($user, $password) = @_;
    my ($status, undef, $raw) = directus_api(PATCH => "/users/$user", { password => $password },
                                             directus_admin_token());
    die "set password: $status $raw" unless $status == 200;
}

# RFC 6238 TOTP (SHA-1, 6 digits, 30 s) of a base32 secret at `time` (default now).
sub totp {
    my ($secret, $time) = @_;
    my $bits = join '', map { sprintf '%05b', index('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', $_) }
                        split //, uc($secret) =~ tr/=//dr;
    my $key = pack 'B*', substr($bits, 0, int(length($bits) / 8) * 8);
    my $counter = int(($time // time) / 30);
    my $hash = hmac_sha1(pack('NN', int($counter / 2**32), $counter % 2**32), $key);
    my $offset = ord(substr $hash, -1) & 0x0f;
    return sprintf '%06d', (unpack('N', substr $hash, $offset, 4) & 0x7fffffff) % 1_000_000;
}

# A code with a few seconds of its step left (Directus' own login accepts only the current step).
sub fresh_totp {
    my ($secret) = @_;
    my $left = 30 - time % 30;
    sleep $left + 0.2 if $left < 4;
    return totp($secret);
}

# Turns on 2FA for a user with a password through Directus' own API (/users/me/tfa/generate and
# /enable, as the Data Studio does); returns the secret. The user needs update permission on
# their own tfa_secret (see t/032-second-factor.t).
sub enable_tfa {
    my ($email, $password) = @_;
    my ($status, $json, $raw) = directus_api(POST => '/auth/login', { email => $email, password => $password });
    die "login $email: $status $raw" unless $status == 200;
    my $token = $json->{data}{access_token};
    ($status, $json, $raw) = directus_api(POST => '/users/me/tfa/generate', { password => $password }, $token);
    die "tfa/generate: $status $raw" unless $status == 200;
    my $secret = $json->{data}{secret};
    ($status, undef, $raw) = directus_api(POST => '/users/me/tfa/enable',
                                          { secret => $secret, otp => fresh_totp($secret) }, $token);
    die "tfa/enable: $status $raw" unless $status == 204 || $status == 200;
    return $secret;
}

# A user with a password and 2FA turned on through Directus' API, in `role` (default: a role of
# their own); returns (user id, 2FA secret). Directus lets a user turn on their own 2FA only with
# update permission on their tfa_secret, and an unlicensed Directus honours exactly its
# recommended self-service permission; such a policy takes no seat.
sub tfa_user {
    my ($email, %opts) = @_;
    my $role = $opts{role} // create_role("2FA role of $email");
    attach_policy(create_policy(name => "Own profile and 2FA of $email", permissions => [{
        collection => 'directus_users', action => 'update',
        permissions => '{"id":{"_eq":"$CURRENT_USER"}}',
        fields => join(',', qw(first_name last_name email password location title description avatar
                               language appearance theme_light theme_dark theme_light_overrides
                               theme_dark_overrides tfa_secret)) }]), role => $role);
    my $user = create_user(email => $email, role => $role);
    set_password($user, 'password-of-' . $email);
    return ($user, enable_tfa($email, 'password-of-' . $email));
}

sub redis_cli {
    my ($command) = @_;
    system("redis-cli -p $ENV{TEST_NGINX_REDIS_PORT} $command > /dev/null") == 0
        or die "redis-cli $command failed";
}

sub reset_limits { redis_cli('FLUSHDB') }

# Runs `code` and returns (its result, the seconds it took).
sub timed {
    my ($code) = @_;
    my $started = time;
    my $result = $code->();
    return ($result, time - $started);
}

# The median seconds of `count` GETs of the static location, which the same worker serves.
sub static_median {
    my ($count) = @_;
    my @seconds = sort { $a <=> $b } map { (timed(sub { request('GET', '/static') }))[1] } 1 .. $count // 21;
    return $seconds[@seconds / 2];
}

# Runs `code` in `count` child processes (traffic during a fault) and returns their pids;
# passed(@pids) waits for them and counts those whose code returned true.
sub in_background {
    my ($count, $code) = @_;
    my @pids;
    for (1 .. $count) {
        my $pid = fork // die "fork: $!";
        POSIX::_exit($code->() ? 0 : 1) if $pid == 0;  # _exit: no END block (it stops nginx)
        push @pids, $pid;
    }
    return @pids;
}

sub passed { return scalar grep { waitpid($_, 0) == $_ && $? == 0 } @_ }

# A test that `ready` (e.g. a request succeeding) comes true within 2 s: a backend is back.
sub recovers_ok {
    my ($ready, $name) = @_;
    my ($ok, $took) = timed(sub { wait_until($ready, 5) });
    return Test::More::ok($ok && $took < within(2), "$name within 2 s")
        || Test::More::diag(sprintf '%s after %.2f s', $ok ? 'recovered' : 'still failing', $took);
}

# A browser location's answer while a backend fails: an HTML page (never JSON) with `status`
# and Retry-After.
sub page_ok {
    my ($response, $status, $name) = @_;
    Test::More::subtest($name => sub {
        Test::More::is($response->{status}, $status, "status $status");
        Test::More::like($response->{headers}{'content-type'} // '', qr{^text/html}, 'an HTML page');
        Test::More::ok($response->{headers}{'retry-after'}, 'with Retry-After');
    });
}

# An API location's answer while a backend fails: JSON {"success":false,...} with `status`.
sub json_ok {
    my ($response, $status, $name) = @_;
    Test::More::subtest($name => sub {
        Test::More::is($response->{status}, $status, "status $status");
        Test::More::like($response->{headers}{'content-type'} // '', qr{^application/json}, 'JSON');
        my $body = eval { JSON::PP::decode_json($response->{content}) } // {};
        Test::More::ok(exists $body->{success} && !$body->{success}, '{"success":false,...}');
        Test::More::ok($response->{headers}{'retry-after'}, 'with Retry-After');
    });
}

# What browsers send: the mailed link's GET and its form POST (with `token`), the UI's form.
# Needs `location /magic-link-ui { magic_link ui; }` in the server.
sub browser_requests {
    my ($token) = @_;
    my %origin = (headers => { Origin => "http://127.0.0.1:$port" });
    return (
        verify_get  => sub { request('GET', "/magic-link/verify?token=$token") },
        verify_post => sub { post_form('/magic-link/verify', "token=$token", %origin) },
        ui_post     => sub { post_form('/magic-link-ui', 'email=someone%40example.com', %origin) },
    );
}

# Error-log text written after `offset` (a byte offset from an earlier call, or 0).
sub error_log_since {
    my ($offset, %opts) = @_;
    open my $log, '<', host_root($opts{host}) . '/logs/error.log' or return ('', 0);
    seek $log, $offset // 0, 0;
    my $text = do { local $/; <$log> } // '';
    return wantarray ? ($text, ($offset // 0) + length $text) : $text;
}

# The suite's error-log entries, each with its continuation lines (an entry runs until the next
# timestamp).
sub log_entries {
    my (%opts) = @_;
    return split /\n(?=\d{4}\/\d\d\/\d\d )/, scalar error_log_since(0, %opts);
}

# Passes when no worker died of a signal during the suite; otherwise shows each such line with the
# worker's last entries before it (not the whole log), so a crash in CI can be read from its output.
sub no_worker_crashed {
    my (%opts) = @_;
    my @entries = grep { !/^\S+ \S+ \[debug\]/ } log_entries(%opts);
    my @crashes = grep { $entries[$_] =~ /exited on signal/ } 0 .. $#entries;
    my $ok = Test::More::ok(!@crashes, 'no worker crashed');
    for my $at (@crashes) {
        my ($pid) = $entries[$at] =~ /process (\d+) exited on signal/;
        my @before = grep { $entries[$_] =~ /#\Q$pid\E: / } 0 .. $at - 1;
        splice @before, 0, -20 if @before > 20;
        Test::More::diag(join "\n", map({ $entries[$_] } @before), $entries[$at]);
    }
    backtraces(%opts) if @crashes;
    return $ok;
}

# The stacks of every core a crashed worker left (kernel.core_pattern "core", the default), when
# gdb is there: every thread but those idle in the thread pool (gdb names the one that crashed).
sub backtraces {
    my (%opts) = @_;
    chomp(my $binary = `sh -c "command -v $nginx"`);
    return unless -x '/usr/bin/gdb' && $binary;
    for my $core (glob host_root($opts{host}) . '/cores/core*') {
        my $stacks = `/usr/bin/gdb -batch -nx -ex 'thread apply all bt 25' $binary $core 2>&1`;
        my @threads = grep { !/ngx_thread_cond_wait/ } split /\n(?=Thread \d+ )/, $stacks;
        Test::More::diag("$core:\n" . join "\n", grep { !/^(warning:|\[New LWP|$)/ }
                         map { split /\n/ } @threads);
    }
}

# Error-log entries that show a token (43+ URL-safe characters): any entry of the module, at any
# level, and any entry at info level or above. nginx's own debug entries print request lines and
# response headers (a multi-line entry runs until the next timestamp), which no module can change.
sub log_leaks {
    return grep { /[A-Za-z0-9_-]{43}/ && (/magic_link:/ || !/^\S+ \S+ \[debug\]/) } log_entries();
}

# Stops or starts test services: services('stop', 'redis').
sub services {
    my (@words) = @_;
    system("$ENV{ML_SERVICES} @words > /dev/null") == 0 or die "services @words failed";
}

1;
