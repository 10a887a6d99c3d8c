# The SMTP server stuck (SIGSTOP: connections accepted, no greeting), slow and stopped: requests
# are still accepted at once (mail goes through the outbox), and every accepted mail arrives
# exactly once when SMTP answers again.
use strict;
use warnings;
use lib 't/lib';
use MagicLink::Harness;
use Test::More;
use Time::HiRes qw(sleep);

my $email = 'smtp-faults@example.com';
start_nginx(http => 'magic_link_smtp_timeout 1s;');
reset_limits();
clear_mail();
create_user(email => $email);

sub latest_link {
    my ($row) = @{ sql('SELECT email_sent, email_error FROM extension_magic_link WHERE email = ?
                        ORDER BY id DESC LIMIT 1', $email) };
    return $row // {};
}

# Requests a link after `fault` hit SMTP; after `recover`, exactly one mail arrives, and its link works.
sub mail_survives {
    my ($fault, $recover) = @_;
    reset_limits();
    ok wait_for_outbox(10, $email), 'mail of earlier subtests is out';
    clear_mail();
    $fault->();
    my ($response, $took) = timed(sub { generate($email) });
    is $response->{status}, 200, 'the request is accepted';
    cmp_ok $took, '<', within(0.5), 'at once: delivery does not hold the request';
    $recover->();
    my @mails = wait_for_mails($email, 1, 10);
    is scalar @mails, 1, 'the mail arrives once SMTP answers';
    ok wait_for_outbox(10, $email), 'the outbox is empty';
    sleep 1.5;  # a second delivery would come within the 1 s retry delay
    is scalar mails_to($email), 1, 'exactly once';
    is latest_link()->{email_sent}, 1, 'email_sent recorded';
    is latest_link()->{email_error}, undef, 'no error left';
    is request('GET', '/magic-link-api/verify?token=' . token_in($mails[0]))->{status}, 200,
        'the mailed link works';
}

subtest 'SMTP stuck past the timeout: the failure is recorded, the mail arrives after' => sub {
    mail_survives(sub { services('pause', 'smtp') }, sub {
        ok wait_until(sub { (latest_link()->{email_error} // '') =~ /delivery failed/ }, 5),
            'the timed-out attempt is recorded';
        cmp_ok static_median(21), '<', within(0.05), 'static answers stay fast meanwhile';
        # Written when the whole batch is back on the event loop, a little after the row.
        ok wait_until(sub { error_log_since(0) =~
            /magic_link: mail for link \d+ not sent \(delivery failed: Timeout was reached\), retry in/ }, 5),
            'a greppable line';
        services('resume', 'smtp');
    });
};

subtest 'SMTP slow but within the timeout: one delivery, no error' => sub {
    mail_survives(sub { services('pause', 'smtp') }, sub { sleep 0.4; services('resume', 'smtp') });
};

subtest 'SMTP stopped: accepted, the failure recorded, the mail arrives when SMTP returns' => sub {
    mail_survives(sub { services('stop', 'smtp') }, sub {
        ok wait_until(sub { (latest_link()->{email_error} // '') =~ /delivery failed/ }, 5),
            'the failed attempt is recorded';
        services('start', 'smtp');
    });
};

no_worker_crashed();
is_deeply [log_leaks()], [], 'no token in the error log';
done_testing();
