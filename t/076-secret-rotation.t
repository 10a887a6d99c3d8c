# Rotating magic_link_secret on two hosts that share Redis and PostgreSQL, as the README's
# procedure does it: every host first accepts the new secret, then signs with it, then drops the
# old one. Links, bindings and queued mail made under either secret keep working throughout; a
# host that cannot open a queued mail leaves it for one that can.
use strict;
use warnings;
use lib 't/lib';
use JSON::PP qw(decode_json);
use MagicLink::Harness;
use Test::More;

my $OLD = $MagicLink::Harness::SECRET;
my $NEW = 'a-new-secret-of-more-than-32-characters-' . ('7' x 8);
my $DEVICE = 'magic_link_device=Rotation-device-id_012';  # a binding cookie's 22-character id

sub start_host {
    my ($host, $secrets) = @_;
    start_nginx(host => $host, secret => $secrets, workers => 2,
                http => 'magic_link_max_requests_per_ip_per_hour 1000;');
}

sub redeem {
    my ($token, $host, %headers) = @_;
    return request('GET', "/magic-link-api/verify?token=$token", host => $host,
                   headers => \%headers)->{status};
}

sub bound_link {
    my ($email, $host) = @_;
    clear_mail();
    my $asked = post_json('/magic-link-api/generate', qq({"email":"$email"}), host => $host,
                          headers => { Cookie => $DEVICE });
    die "generate answered $asked->{status}" unless $asked->{status} == 200;
    my @mails = wait_for_mails($email, 1);
    return token_in($mails[0]);
}

my @users = map { "rotate$_\@example.com" } 1 .. 8;
my @queued = map { "queued$_\@example.com" } 1 .. 20;
create_user(email => $_) for @users, @queued;

subtest 'nginx -t names what is wrong with a secret list' => sub {
    my $short = eval { start_host(undef, "$NEW too-short-to-be-a-secret"); 1 } ? '' : $@;
    like $short, qr/magic_link_secret.*at least 32 characters/, 'an older secret that is too short';
    unlike $short, qr/too-short-to-be-a-secret/, 'without echoing it';
    my $twice = eval { start_host(undef, "$NEW $NEW"); 1 } ? '' : $@;
    like $twice, qr/listed twice/, 'the same secret twice';
};

# Rows written by this run only (a rerun finds the earlier ones).
sub newest_id { sql('SELECT coalesce(max(id), 0) AS id FROM extension_magic_link')->[0]{id} }

subtest 'a rolling change on two hosts loses no link' => sub {
    reset_limits();
    my $first = newest_id();
    start_host(undef, $OLD);
    start_host('b', $OLD);
    my @before = map { issue_link($users[$_]) } 0, 1;
    my $bound_before = bound_link($users[2], undef);

    # Step 1: A accepts the new secret, still signing with the old one; B not yet changed.
    start_host(undef, "$OLD $NEW");
    my $step1 = issue_link($users[3]);
    is redeem($step1, 'b'), 200, 'step 1: a link from A redeems on B, which knows only the old';

    # Step 2: A signs with the new secret; B accepts it.
    start_host('b', "$OLD $NEW");
    start_host(undef, "$NEW $OLD");
    my $new_on_a = issue_link($users[4]);
    is redeem($new_on_a, 'b'), 200, 'step 2: a link signed with the new secret redeems on B';
    is redeem($before[0], undef), 200, 'a link made before the change redeems on A';
    is redeem($bound_before, undef), 403, 'a bound link still refuses another browser';
    is redeem($bound_before, undef, Cookie => $DEVICE), 200,
       'and still knows its own browser, whose binding was hashed under the old secret';

    # Step 3: B signs with the new secret too; then both drop the old one.
    start_host('b', "$NEW $OLD");
    my $new_on_b = issue_link($users[5], host => 'b');
    is redeem($new_on_b, undef), 200, 'step 3: a link from B redeems on A';
    start_host(undef, $NEW);
    start_host('b', $NEW);
    is redeem($before[1], undef), 401, 'once the old secret is dropped, its links no longer open';
    is redeem(issue_link($users[6]), 'b'), 200, 'new links work on both';
    is sql(q{SELECT count(*) AS n FROM extension_magic_link WHERE email LIKE 'rotate%' AND id > ?
             AND email_error IS NOT NULL AND email_error <> 'Superseded by new token'}, $first)
       ->[0]{n}, 0, 'no mail failed on the way';
};

subtest 'a host without the secret leaves queued mail for one that has it' => sub {
    reset_limits();
    clear_mail();
    my $first = newest_id();
    stop_nginx(host => 'b');
    start_host(undef, $OLD);
    services('stop', 'smtp');
    is scalar(grep { generate($_)->{status} == 200 } @queued), scalar @queued, 'requests accepted';
    ok wait_for_requests(10), 'looked at';
    stop_nginx();

    # A host started with another secret only, on the same database, with SMTP back.
    my (undef, $offset) = error_log_since(0, host => 'b');
    start_host('b', $NEW);
    services('start', 'smtp');
    ok wait_until(sub { error_log_since($offset, host => 'b') =~ /left for a host that does/ }, 15),
       'it logs that it cannot open them';
    sleep 2;
    is sql(q{SELECT count(*) AS n FROM extension_magic_link_outbox o JOIN extension_magic_link l
             ON l.id = o.link_id WHERE l.email LIKE 'queued%' AND l.id > ?}, $first)->[0]{n},
       scalar @queued,
       'every mail is still queued';
    is scalar(grep { mails_to($_) } @queued), 0, 'none sent';
    is sql(q{SELECT count(*) AS n FROM extension_magic_link WHERE email LIKE 'queued%' AND id > ?
             AND (email_error LIKE '%open%' OR email_sent)}, $first)->[0]{n}, 0,
       'their links record no result (only the earlier SMTP outage)';

    start_host(undef, "$OLD $NEW");  # a host that holds the secret they were sealed under
    ok wait_for_outbox(30), 'it sends them';
    sleep 1;
    is scalar(grep { mails_to($_) == 1 } @queued), scalar @queued, 'each exactly once';
    is sql(q{SELECT count(*) AS n FROM extension_magic_link WHERE email LIKE 'queued%' AND id > ?
             AND email_sent AND email_error IS NULL}, $first)->[0]{n}, scalar @queued,
       'recorded as sent';
    is redeem(token_in((mails_to($queued[0]))[0]), 'b'), 401,
       'B, without the old secret, still cannot redeem them';
    is redeem(token_in((mails_to($queued[1]))[0]), undef), 200, 'A can';
};

done_testing();
