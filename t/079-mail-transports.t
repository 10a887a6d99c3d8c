# Directus' mail transports besides SMTP, and a transactional mail service's delivery events:
# sendmail (a real one, msmtp's, relaying to the test SMTP sink), run off the event loop with a
# timeout; Mailgun's HTTP API (tests/mail/mailgun_api.py speaks the documented part of it); and
# Mailgun's signed delivery webhooks recorded on the link's audit row.
use strict;
use warnings;
use lib 't/lib';
use Digest::SHA qw(hmac_sha256_hex);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP qw(encode_json decode_json);
use MagicLink::Harness;
use Test::More;

my $dir = tempdir(CLEANUP => 1);
my $smtp_port = $ENV{TEST_NGINX_SMTP_PORT};

sub free_port {
    while (1) {
        my $port = 20000 + int rand 10000;
        return $port unless IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
    }
}

sub write_script {
    my ($path, $body) = @_;
    open my $out, '>', "$path.new" or die $!;
    print $out "#!/bin/sh\n$body\n";
    close $out;
    chmod 0755, "$path.new";
    rename "$path.new", $path or die $!;  # never a half-written script
}

# The sendmail nginx runs: records its arguments, then hands the message to msmtp's sendmail.
my $sendmail = "$dir/sendmail";
my $relay = qq{echo "\$@" >> $dir/arguments\nexec /usr/bin/msmtp --host=127.0.0.1 --port=$smtp_port --auth=off --tls=off "\$@"};

sub latest_link_id {
    my ($address) = @_;
    my $rows = sql(q{SELECT id FROM extension_magic_link WHERE email = ? AND token <> ''
                     ORDER BY id DESC LIMIT 1}, $address);
    return @$rows ? $rows->[0]{id} : undef;
}

sub redeems {
    my ($token) = @_;
    return post_json('/magic-link-api/verify', encode_json({ token => $token }))->{status} == 200;
}

subtest 'sendmail: the message goes to the program, the link in it signs in' => sub {
    write_script($sendmail, $relay);
    start_nginx(smtp => "magic_link_email_transport sendmail; magic_link_sendmail_path $sendmail;",
                log_level => 'info');
    reset_limits();
    my $address = 'sendmail-user@example.com';
    create_user(email => $address);
    my $token = issue_link($address);
    ok $token, 'the mail reached the SMTP server through sendmail';
    # Earlier suites may have left mail queued, which this sendmail sends too: one line each.
    my @runs = do { local @ARGV = "$dir/arguments"; <> };
    is scalar(grep { $_ eq "-i -f no-reply\@example.com -- $address\n" } @runs), 1,
       'run once, as `sendmail -i -f FROM -- TO`';
    my ($mail) = mails_to($address);
    like $mail, qr/^Subject: Your Magic Login Link\r?$/mi, 'with its subject';
    like $mail, qr{^Content-Type: multipart/alternative}mi, 'text and HTML alternatives';
    ok redeems($token), 'the mailed link signs in';
    my $log = error_log_since(0);
    unlike $log, qr/exited with code|exited on signal/, 'nginx did not reap the child itself';
    my $workers = join ',', split ' ', `pgrep -P ${\ nginx_pid()}`;
    my @zombies = grep { /Z/ } `ps -o stat= --ppid $workers`;
    is scalar @zombies, 0, 'no zombie left behind';
};

subtest 'sendmail failing or hanging: the mail waits and goes out once it works' => sub {
    write_script($sendmail, "cat > /dev/null\nexit 75");
    start_nginx(smtp => "magic_link_email_transport sendmail; magic_link_sendmail_path $sendmail;",
                http => 'magic_link_smtp_timeout 1s;', log_level => 'info');
    reset_limits();
    my (undef, $offset) = error_log_since(0);
    my $address = 'sendmail-fails@example.com';
    create_user(email => $address);
    clear_mail();
    is generate($address)->{status}, 200, 'the request is accepted';
    ok wait_until(sub { error_log_since($offset) =~ /not sent \(sendmail exited with status 75 \(temporary failure\)\)/ }, 10),
       'a failing sendmail is logged with its exit status';

    write_script($sendmail, "sleep 30 # hanging-sendmail-marker");
    (undef, $offset) = error_log_since(0);
    ok wait_until(sub { error_log_since($offset) =~ /not sent \(sendmail did not exit within 1000ms; killed\)/ }, 15),
       'a sendmail that hangs is killed at the timeout';
    ok wait_until(sub { !`pgrep -f hanging-sendmail-marker` }, 5), 'and nothing of it stays';
    is scalar(mails_to($address)), 0, 'nothing was delivered meanwhile';

    write_script($sendmail, $relay);
    ok wait_until(sub { mails_to($address) }, 15), 'delivered once sendmail works again';
    # Recorded once sendmail has exited, which can be a moment after the mail reached the sink.
    ok wait_for_outbox(5, $address), 'the delivery is recorded (the row leaves the outbox)';
    my $sent = sql(q{SELECT email_sent FROM extension_magic_link WHERE id = ?}, latest_link_id($address));
    ok $sent->[0]{email_sent}, 'and recorded as sent';
};

# Mailgun's API, as tests/mail/mailgun_api.py speaks it.
my ($api_port, $domain, $api_key) = (free_port(), 'mg.example.com', 'key-0123456789abcdef-test');
my $signing_key = 'webhook-signing-key-0123456789';
my $store = "$dir/mailgun";
my $api = fork // die "fork: $!";
if (!$api) {
    open STDOUT, '>', "$dir/mailgun.log" or die $!;
    open STDERR, '>&', \*STDOUT or die $!;
    exec '/usr/bin/python3', 'tests/mail/mailgun_api.py', $api_port, $domain, $api_key, $store
        or die "exec: $!";
}
END { local $?; if ($api) { kill 'TERM', $api; waitpid $api, 0 } }
wait_until(sub { -s "$dir/mailgun.log" && `cat $dir/mailgun.log` =~ /^ready$/m }, 10)
    or die 'mailgun_api.py did not start';

sub mailgun_messages {
    my $response = HTTP::Tiny->new->get("http://127.0.0.1:$api_port/_messages");
    return @{ decode_json($response->{content}) };
}
sub mailgun_fault { HTTP::Tiny->new->post("http://127.0.0.1:$api_port/_fail?$_[0]") }
sub mailgun_config {
    my ($key) = @_;
    return "magic_link_email_transport mailgun; magic_link_mailgun_api_key $key;
            magic_link_mailgun_domain $domain; magic_link_mailgun_host http://127.0.0.1:$api_port;
            magic_link_mailgun_webhook_signing_key $signing_key;";
}
my $events = 'location = /mail-events { magic_link mailgun_webhook; }';

my $address = 'mailgun-user@example.com';
create_user(email => $address);
my ($link_id, $token);

subtest 'Mailgun: the message goes through its API with the link id as a user variable' => sub {
    start_nginx(smtp => mailgun_config($api_key), server => $events, log_level => 'info');
    reset_limits();
    is generate($address)->{status}, 200, 'the request is accepted';
    ok wait_until(sub { grep { $_->{to}[0] eq $address } mailgun_messages() }, 10),
       'Mailgun received the mail';
    my ($message) = grep { $_->{to}[0] eq $address } mailgun_messages();
    $link_id = latest_link_id($address);
    is $message->{variables}{magic_link_id}, $link_id, 'v:magic_link_id names the link';
    like $message->{message}, qr/^From: Test Site <no-reply\@example.com>\r$/m, 'a whole MIME message';
    $token = token_in($message->{message});
    ok $token && redeems($token), 'its link signs in';
    ok wait_until(sub { sql(q{SELECT email_sent FROM extension_magic_link WHERE id = ?}, $link_id)->[0]{email_sent} }, 5),
       'recorded as sent';
};

subtest 'Mailgun refusing or failing: the mail waits, the key never shows' => sub {
    start_nginx(smtp => mailgun_config('key-wrong'), server => $events, log_level => 'info');
    reset_limits();
    my (undef, $offset) = error_log_since(0);
    my $other = 'mailgun-retry@example.com';
    create_user(email => $other);
    is generate($other)->{status}, 200, 'the request is accepted';
    ok wait_until(sub { error_log_since($offset) =~ /Mailgun refused the API key \(401\)/ }, 10),
       'a refused key is logged as such';
    start_nginx(smtp => mailgun_config($api_key), server => $events, log_level => 'info');
    mailgun_fault('status=500&count=1');
    ok wait_until(sub { grep { $_->{to}[0] eq $other } mailgun_messages() }, 15),
       'sent once the key is right, after a failing answer';
    unlike error_log_since(0), qr/\Q$api_key\E|key-wrong|\Q$signing_key\E/, 'no key in the log';
};

# A webhook event as Mailgun posts it, signed with `key` at `timestamp`.
sub event {
    my (%opts) = @_;
    my $timestamp = $opts{timestamp} // time;
    my $event_token = $opts{token} // join '', map { sprintf '%02x', rand 256 } 1 .. 25;
    my $data = { event => $opts{event}, timestamp => $opts{at} // time + 0.25, id => 'evt',
                 recipient => $address, 'user-variables' => { magic_link_id => "$link_id" },
                 %{ $opts{data} // {} } };
    my $body = encode_json({
        signature => { timestamp => "$timestamp", token => $event_token,
                       signature => hmac_sha256_hex("$timestamp$event_token", $opts{key} // $signing_key) },
        'event-data' => $data });
    my $response = post_json('/mail-events', $body);
    return wantarray ? ($response, $body) : $response;
}
sub delivery { sql(q{SELECT delivery_status, delivery_detail FROM extension_magic_link WHERE id = ?}, $link_id)->[0] }

subtest 'delivery webhooks: signed events land on the link\'s audit row' => sub {
    my ($delivered, $body) = event(event => 'delivered', at => time - 60);
    is $delivered->{status}, 200, 'delivered: 200';
    is delivery()->{delivery_status}, 'delivered', 'recorded as delivered';
    is post_json('/mail-events', $body)->{status}, 406, 'the same signed event again: 406 (a replay)';

    is event(event => 'failed', data => { severity => 'temporary' })->{status}, 200,
       'a temporary failure (Mailgun retries it): 200';
    is delivery()->{delivery_status}, 'delivered', 'and nothing recorded';

    is event(event => 'failed', at => time - 30, data => {
        severity => 'permanent', reason => 'bounce',
        'delivery-status' => { code => 550, description => 'No such mailbox' } })->{status}, 200,
       'a permanent failure: 200';
    is_deeply delivery(), { delivery_status => 'bounced', delivery_detail => '550 No such mailbox' },
              'recorded as bounced, with the code and reason';
    is event(event => 'complained')->{status}, 200, 'a complaint: 200';
    is delivery()->{delivery_status}, 'complained', 'recorded as complained';
    is event(event => 'delivered', at => time - 120)->{status}, 200, 'an older event arriving late';
    is delivery()->{delivery_status}, 'complained', 'does not overwrite the later one';
};

subtest 'delivery webhooks: forged, stale and malformed events change nothing' => sub {
    sql_do(q{UPDATE extension_magic_link SET delivery_status = NULL, delivery_status_at = NULL
             WHERE id = ?}, $link_id);
    my (undef, $offset) = error_log_since(0);
    is event(event => 'delivered', key => 'not-the-key')->{status}, 401, 'a wrong signature: 401';
    like error_log_since($offset), qr/magic_link: mailgun webhook refused: bad signature/,
         'logged';
    is event(event => 'delivered', timestamp => time - 3600)->{status}, 401,
       'a signature an hour old: 401';
    is post_json('/mail-events', '{"event-data":{}}')->{status}, 401, 'no signature: 401';
    is post_json('/mail-events', 'not json')->{status}, 400, 'not JSON: 400';
    is post_form('/mail-events', 'timestamp=1&token=2&signature=3')->{status}, 415,
       'a legacy form-encoded webhook: 415';
    is request('GET', '/mail-events')->{status}, 405, 'GET: 405';
    is delivery()->{delivery_status}, undef, 'nothing recorded';
    my $other = event(event => 'delivered', data => { 'user-variables' => {} });
    is $other->{status}, 200, 'an event of mail the module did not send: 200, ignored';
    is delivery()->{delivery_status}, undef, 'and nothing recorded';
    is_deeply [log_leaks()], [], 'no token in the error log';
};

done_testing();
