# Hostile input and side channels: no enumeration by timing, inert SQL payloads, 4xx for
# oversized requests, and no secret or password in the error log even at debug level.
use strict;
use warnings;
use lib 't/lib';
use MagicLink::Harness;
use Test::More;
use Time::HiRes qw(time);

my $SMTP_PASSWORD = 'smtp-password-0f3c9a';
my $ACCEPTED = '{"success":true,"message":"If your email exists in our system, a magic link has been sent"}';
my $MALFORMED = '{"success":false,"message":"Please provide a valid email address"}';
start_nginx(http => <<"HTTP");
    magic_link_max_requests_per_hour 100000;
    magic_link_max_requests_per_ip_per_hour 100000;
    magic_link_smtp_user mailer;
    magic_link_smtp_password $SMTP_PASSWORD;
HTTP
reset_limits();
create_user(email => 'known@example.com');

sub median { my @sorted = sort { $a <=> $b } @_; return $sorted[@sorted / 2] }

subtest 'known and unknown addresses take the same time' => sub {
    generate($_) for ('known@example.com', 'unknown@example.com') x 20;  # warm connections
    my (@known, @unknown);
    for (1 .. 300) {  # alternate, so drift hits both alike
        for my $case ([\@known, 'known@example.com'], [\@unknown, 'unknown@example.com']) {
            my $started = time;
            my $response = generate($case->[1]);
            push @{ $case->[0] }, 1000 * (time - $started);
            die "generate answered $response->{status}" unless $response->{status} == 200;
        }
    }
    my ($k, $u) = (median(@known), median(@unknown));
    diag sprintf 'median known %.3f ms, unknown %.3f ms', $k, $u;
    cmp_ok abs($k - $u), '<', within(1), 'medians differ by less than 1 ms';
};

# The audit rows written after row `id`, oldest first, once every request was looked at.
sub rows_after {
    my ($id) = @_;
    ok wait_for_requests(), 'the request was looked at';
    return sql('SELECT email, email_error FROM extension_magic_link WHERE id > ? ORDER BY id', $id);
}

sub last_id { sql('SELECT coalesce(max(id), 0) AS id FROM extension_magic_link')->[0]{id} }

subtest 'SQL injection payloads are inert' => sub {
    reset_limits();
    ok wait_for_requests(), 'the requests of the timing subtest were looked at';
    my ($users_before) = @{ sql('SELECT count(*) AS n FROM directus_users') };
    # Well-formed addresses (quotes, dashes, slashes, stars, pipes and dollars are allowed in the
    # local part): accepted, and stored as data, byte for byte, in the audit row of an unknown user.
    for my $email (q{a'or'1'='1@example.com}, q{x'--@example.com}, q{a'/**/or/**/'1'='1@example.com},
                   q{a'||'b@example.com}, q{$$x$$@example.com}) {
        my $before = last_id();
        my $response = generate($email);
        is $response->{status}, 200, "accepted: $email";
        is $response->{content}, $ACCEPTED, "the uniform answer: $email";
        is_deeply rows_after($before), [{ email => $email, email_error => 'User not found' }],
            "one audit row holding the text as sent: $email";
    }
    # Malformed ones: refused before any query, nothing stored.
    for my $email (q{known@example.com'); DELETE FROM directus_users; --},
                   q{x@example.com' OR '1'='1}, q{x@example.com;DROP TABLE extension_magic_link}) {
        my $before = last_id();
        my $response = generate($email);
        is $response->{status}, 400, "refused: $email";
        is $response->{content}, $MALFORMED, "the malformed-address answer: $email";
        is_deeply rows_after($before), [], "nothing stored: $email";
    }
    my $redirect = generate('known@example.com',
                            redirectUrl => q{http://127.0.0.1/'; DROP TABLE extension_magic_link; --});
    is $redirect->{status}, 400, 'a SQL-ish redirectUrl is refused';
    my $verify = request('GET', q{/magic-link-api/verify?token=%27%20OR%20%271%27%3D%271});
    is $verify->{status}, 401, 'a SQL-ish token is an invalid link';
    my ($users_after) = @{ sql('SELECT count(*) AS n FROM directus_users') };
    is $users_after->{n}, $users_before->{n}, 'directus_users is intact';
    ok sql('SELECT count(*) AS n FROM extension_magic_link')->[0]{n} > 0, 'the link table is intact';
};

subtest 'oversized headers, bodies and query strings get 4xx' => sub {
    # Not token characters, so the leak check below does not mistake nginx's own 414 log line.
    my $query = request('GET', '/magic-link-api/verify?token=' . ('~' x 20000));
    like $query->{status}, qr/^4\d\d$/, "a 20 KB query string: $query->{status}";
    my $header = request('GET', '/magic-link-api/', headers => { 'X-Big' => '~' x 20000 });
    like $header->{status}, qr/^4\d\d$/, "a 20 KB header: $header->{status}";
    my $body = post_json('/magic-link-api/generate', '{"email":"' . ('a' x 100000) . '@example.com"}');
    is $body->{status}, 413, 'a 100 KB body: 413';
};

subtest 'the secret and the SMTP password appear in no log line at any level' => sub {
    my $log = error_log_since(0);
    ok length $log > 10000, 'the log holds debug-level lines to search';
    unlike $log, qr/\Q$MagicLink::Harness::SECRET\E/, 'no magic_link_secret';
    unlike $log, qr/\Q$SMTP_PASSWORD\E/, 'no SMTP password';
};

no_worker_crashed();
is_deeply [log_leaks()], [], 'no token in the error log';
done_testing();
