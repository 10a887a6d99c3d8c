# Two nginx hosts on one Redis and one PostgreSQL, as behind a load balancer: limits exact, each
# mail sent once, each link redeemed once, superseding atomic, under concurrency across hosts; a
# host killed hard while it held leased mail; a mail SMTP accepted is never sent twice because
# recording it failed.
use strict;
use warnings;
use lib 't/lib';
use JSON::PP qw(decode_json);
use POSIX ();
use MagicLink::Harness;
use Test::More;

my @HOSTS = (undef, 'b');  # undef: the harness's first host
my $ACCEPTED = qr/"success":true/;

sub start_hosts {
    my (%opts) = @_;
    start_nginx(%opts, host => $_, workers => 2) for @HOSTS;
}

# Runs `count` requests in parallel, alternating hosts; returns their statuses.
sub across_hosts {
    my ($count, $make) = @_;
    my @pipes;
    for my $i (0 .. $count - 1) {
        pipe(my $read, my $write) or die $!;
        my $pid = fork // die $!;
        if (!$pid) {
            close $read;
            print $write $make->($HOSTS[$i % @HOSTS], $i)->{status};
            close $write;
            POSIX::_exit(0);
        }
        close $write;
        push @pipes, [$pid, $read];
    }
    return map { my ($pid, $read) = @$_; my $status = <$read>; waitpid $pid, 0; $status } @pipes;
}

sub valid_links {
    my ($email) = @_;
    return sql(q{SELECT count(*) AS n FROM extension_magic_link
                 WHERE email = ? AND token <> '' AND NOT used AND superseded_at IS NULL
                   AND expires_at > now() AT TIME ZONE 'utc'}, $email)->[0]{n};
}

my @users = map { "host$_\@example.com" } 1 .. 8;
create_user(email => $_) for @users, 'many@example.com', 'killed@example.com', 'locked@example.com';

subtest 'limits are exact across hosts' => sub {
    start_hosts(http => 'magic_link_max_requests_per_ip_per_hour 10;');
    reset_limits();
    my @statuses = across_hosts(16, sub { generate('many@example.com', host => $_[0]) });
    is scalar(grep { $_ == 200 } @statuses), 10, '10 of 16 accepted (the per-client limit)';
    is scalar(grep { $_ == 429 } @statuses), 6, 'the rest 429';
    wait_for_requests(10);
    is sql(q{SELECT count(*) AS n FROM extension_magic_link WHERE email = 'many@example.com'
             AND token <> '' AND created_at > now() AT TIME ZONE 'utc' - interval '1 minute'})
        ->[0]{n}, 5, 'links for exactly the per-email allowance (5)';
    is valid_links('many@example.com'), 1, 'one of them valid: superseding is atomic';
};

subtest 'each mail is sent once, each link redeemed once' => sub {
    start_hosts();
    reset_limits();
    clear_mail();
    my @statuses = across_hosts(scalar @users, sub { generate($users[$_[1]], host => $_[0]) });
    is scalar(grep { $_ == 200 } @statuses), scalar @users, 'every request accepted';
    wait_for_requests(10);
    wait_for_outbox(20);
    my @tokens;
    for my $user (@users) {
        my @mails = wait_for_mails($user, 1);
        is scalar @mails, 1, "$user: exactly one mail";
        push @tokens, token_in($mails[0]);
    }
    sleep 2;  # a second sender would have had time
    is scalar(grep { mails_to($_) != 1 } @users), 0, 'still one mail each';
    my $redeemed = 0;
    for my $token (@tokens) {
        reset_limits();  # three failures per token would soon hit the per-client limit
        my @answers = across_hosts(4, sub {
            post_json('/magic-link-api/verify', qq({"token":"$token"}), host => $_[0]) });
        $redeemed++ if (grep { $_ == 200 } @answers) == 1 && (grep { $_ == 401 } @answers) == 3;
    }
    is $redeemed, scalar @tokens, 'of 4 concurrent redemptions on both hosts, exactly one wins';
};

subtest 'a host killed hard with leased mail: another host sends it within 30 s' => sub {
    start_nginx(workers => 1);
    stop_nginx(host => 'b');
    reset_limits();
    clear_mail();
    services('pause', 'smtp');  # the first host leases the mail, then waits on SMTP
    is generate('killed@example.com')->{status}, 200, 'accepted by the first host';
    ok wait_until(sub {
        sql(q{SELECT count(*) AS n FROM extension_magic_link_outbox o JOIN extension_magic_link l
              ON l.id = o.link_id WHERE l.email = 'killed@example.com' AND o.lease_until IS NOT NULL})
            ->[0]{n} }, 10), 'which leased its mail';
    my $master = nginx_pid();
    my @workers = map { /(\d+)/ ? $1 : () } `pgrep -P $master`;
    kill 'KILL', $master, @workers;
    my $killed = time;
    services('resume', 'smtp');
    start_nginx(host => 'b', workers => 1);
    ok wait_until(sub { mails_to('killed@example.com') >= 1 }, 40), 'the other host sent it';
    my $took = time - $killed;
    cmp_ok $took, '<=', within(30), sprintf 'within 30 s of the kill (%.1f s)', $took;
    is scalar(mails_to('killed@example.com')), 1, 'once';
    start_hosts();
};

subtest 'a mail SMTP accepted is not sent again when recording it failed' => sub {
    start_nginx(workers => 1, http => 'magic_link_postgres_timeout 1s;');
    stop_nginx(host => 'b');
    reset_limits();
    clear_mail();
    # Holding the link's row lets the mail be leased and sent, but not recorded as sent. SMTP
    # holds the mail back until the row is held.
    my $locker;
    my $since = sql('SELECT coalesce(max(id), 0) AS id FROM extension_magic_link')->[0]{id};
    services('pause', 'smtp');
    is generate('locked@example.com')->{status}, 200, 'accepted';
    ok wait_until(sub {
        my $row = sql(q{SELECT id FROM extension_magic_link WHERE email = 'locked@example.com'
                        AND token <> '' AND id > ?}, $since)->[0] or return;
        $locker = MagicLink::Harness::connect_db(AutoCommit => 0);
        $locker->do('SELECT 1 FROM extension_magic_link WHERE id = ? FOR UPDATE', undef, $row->{id});
        return 1;
    }, 5), 'the link row is held';
    services('resume', 'smtp');
    ok wait_until(sub { mails_to('locked@example.com') >= 1 }, 10), 'the mail is sent';
    ok wait_until(sub { error_log_since(0) =~ /magic_link: background work failed: postgres unavailable: mail_sent/ }, 10),
        'recording it fails (logged)';
    $locker->rollback;
    my $recorded = wait_until(sub {
        sql(q{SELECT email_sent FROM extension_magic_link WHERE email = 'locked@example.com'
              AND token <> '' AND id > ?}, $since)->[0]{email_sent} }, 10);
    ok $recorded, 'recorded once the database answers';
    sleep 22;  # past the 20 s lease: a sender that forgot it sent would send it again
    is scalar(mails_to('locked@example.com')), 1, 'sent exactly once';
};

is_deeply [log_leaks()], [], 'no token in the error log';
done_testing();
