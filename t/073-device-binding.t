# Device binding (magic_link_device_binding) and the owner's own allowance, over HTTP with two
# "browsers" (cookie jars); t/074-device-binding-browser.t does it in two Chromium contexts.
use strict;
use warnings;
use lib 't/lib';
use Digest::SHA qw(hmac_sha256_hex);
use JSON::PP qw(decode_json);
use MagicLink::Harness;
use Test::More;

my $origin = 'http://127.0.0.1:' . nginx_port();
my $secret = $MagicLink::Harness::SECRET;
my $FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
my $PHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 '
          . '(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1';

sub start {
    my ($binding) = @_;
    start_nginx(http => "magic_link_after_login_url /magic-link-ui/success;\n"
                      . ($binding ? "magic_link_device_binding $binding;" : ''),
                server => 'location /magic-link-ui { magic_link ui; }');
    reset_limits();  # each part asks for several links for one address
}

# One browser: its cookies, sent back as a browser would.
sub browser { return { jar => {}, agent => $_[0] // $FIREFOX } }

sub send_as {
    my ($browser, $method, $path, %opts) = @_;
    my %headers = ('User-Agent' => $browser->{agent}, 'Accept-Language' => 'de-CH,de;q=0.9',
                   %{ $opts{headers} // {} });
    my $jar = join '; ', map { "$_=$browser->{jar}{$_}" } sort keys %{ $browser->{jar} };
    $headers{Cookie} = $jar if $jar;
    my $response = defined $opts{form}
        ? post_form($path, $opts{form}, headers => { Origin => $origin, %headers })
        : request($method, $path, headers => \%headers);
    my $lines = $response->{headers}{'set-cookie'} // [];
    for my $line (ref $lines ? @$lines : $lines) {
        my ($name, $value) = $line =~ /^([^=]+)=([^;]*)/ or next;
        if ($value eq '' || $line =~ /Max-Age=0\b/) { delete $browser->{jar}{$name} }
        else { $browser->{jar}{$name} = $value }
    }
    return $response;
}

# Asks for a link from `browser`'s sign-in form; returns the answer and the mailed token.
sub ask {
    my ($browser, $email) = @_;
    my $before = () = mails_to($email);
    my $asked = send_as($browser, 'POST', '/magic-link-ui', form => "email=$email");
    my @mails = wait_for_mails($email, $before + 1);
    return ($asked, @mails > $before ? token_in($mails[-1]) : undef);
}

sub link_row {
    my ($token) = @_;
    return sql('SELECT * FROM extension_magic_link WHERE token = ?', token_hash($token))->[0];
}

sub binding_id { my ($browser) = @_; return ($browser->{jar}{magic_link_device} // '') =~ s/\..*//r }

start();
reset_limits();
clear_mail();
create_user(email => 'ada@example.com');
create_user(email => 'lin@example.com');
create_user(email => 'owner@example.com');

subtest 'a page\'s request binds its link to the browser: a keyed hash and a coarse fingerprint' => sub {
    my $laptop = browser();
    my ($asked, $token) = ask($laptop, 'ada@example.com');
    is $asked->{status}, 200, 'the form is accepted';
    my $line = set_cookie($asked, 'magic_link_device');
    like $line, qr/^magic_link_device=[A-Za-z0-9_-]{22}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax$/,
        'an HttpOnly, SameSite=Lax binding cookie';
    like $asked->{content}, qr{<meta http-equiv="refresh" content="3;url=/magic-link-ui\?wait=\d+">},
        'the waiting page reloads itself (no script)';
    unlike $asked->{content}, qr/<script/i, 'no JavaScript';
    ok $token, 'the link is mailed';
    my $row = link_row($token);
    is $row->{device_hash}, hmac_sha256_hex('device:' . binding_id($laptop), $secret),
        'the link stores the keyed hash of the binding';
    is_deeply [@$row{qw(device_browser device_os device_language device_network)}],
        ['Firefox', 'Linux', 'de-CH', '127.0.0.0/24'], 'and the coarse fingerprint';
    is sql(q{SELECT count(*) AS n FROM extension_magic_link AS l WHERE strpos(l::text, ?) > 0},
           binding_id($laptop))->[0]{n}, 0, 'the binding itself is stored nowhere';
};

subtest 'the same browser signs in with one click, and gets an owner proof' => sub {
    my $laptop = browser();
    my (undef, $token) = ask($laptop, 'ada@example.com');
    my $page = send_as($laptop, 'GET', "/magic-link/verify?token=$token");
    is $page->{status}, 200, 'the confirm page';
    like $page->{content}, qr{<button type="submit" name="decision" value="sign_in" autofocus>Sign in</button>},
        'one "Sign in" button';
    unlike $page->{content}, qr/another browser|Approve/, 'no prompt';
    my $id = binding_id($laptop);
    my $signed = send_as($laptop, 'POST', '/magic-link/verify', form => "token=$token");
    is $signed->{status}, 303, 'signed in';
    ok $laptop->{jar}{directus_refresh_token}, 'with Directus\' cookie';
    like $laptop->{jar}{magic_link_device}, qr/^\Q$id\E\.\d+\.[0-9a-f]{32}$/,
        'the binding now carries an owner proof';
};

subtest 'another browser is told where the link was asked for; it may sign in there' => sub {
    my ($laptop, $phone) = (browser(), browser($PHONE));
    my (undef, $token) = ask($laptop, 'ada@example.com');
    my $page = send_as($phone, 'GET', "/magic-link/verify?token=$token");
    is $page->{status}, 200, 'a page, not a sign-in';
    like $page->{content}, qr/asked for in another browser/, 'says it was asked for elsewhere';
    like $page->{content}, qr{<strong>Firefox on Linux</strong>}, 'from which browser and OS';
    like $page->{content}, qr{network <strong>127\.0\.0\.0/24</strong>}, 'from which network';
    like $page->{content}, qr/(just now|minutes? ago)/, 'and when';
    like $page->{content}, qr{value="sign_in"[^>]*>Sign in here</button>}, '"Sign in here"';
    like $page->{content}, qr{value="approve"[^>]*>Approve the sign-in on the other device</button>},
        'and "Approve the sign-in on the other device"';
    ok !link_row($token)->{used}, 'nothing is spent by looking';
    my $here = send_as($phone, 'POST', '/magic-link/verify', form => "token=$token&decision=sign_in");
    is $here->{status}, 303, '"Sign in here" signs the other browser in';
    ok $phone->{jar}{directus_refresh_token}, 'with Directus\' cookie';
};

subtest 'approving from another browser signs the waiting browser in, once' => sub {
    my ($laptop, $phone) = (browser(), browser($PHONE));
    my ($asked, $token) = ask($laptop, 'lin@example.com');
    my ($poll) = $asked->{content} =~ m{url=(/magic-link-ui\?wait=\d+)};
    my $waiting = send_as($laptop, 'GET', $poll);
    is $waiting->{status}, 200, 'before the approval the waiting page waits';
    like $waiting->{content}, qr/http-equiv="refresh"/, 'and reloads itself';
    ok !$laptop->{jar}{directus_refresh_token}, 'not signed in';

    my $approved = send_as($phone, 'POST', '/magic-link/verify', form => "token=$token&decision=approve");
    is $approved->{status}, 200, 'the approval is accepted';
    like $approved->{content}, qr/Sign-in approved/, 'and says so';
    ok !$phone->{jar}{directus_refresh_token}, 'the approving browser is not signed in';
    my $row = link_row($token);
    ok $row->{approved_at} && !$row->{used}, 'the link is approved, not spent';

    my $signed = send_as($laptop, 'GET', $poll);
    is $signed->{status}, 303, 'the next reload signs the waiting browser in';
    is $signed->{headers}{location}, "$origin/magic-link-ui/success", 'and continues to its target';
    ok $laptop->{jar}{directus_refresh_token}, 'with Directus\' cookie';
    my $who = send_as($laptop, 'GET', '/magic-link-ui/success');
    like $who->{content}, qr{Signed in as <strong>lin\@example\.com</strong>}, 'as the link\'s user';

    $laptop->{jar} = { magic_link_device => $laptop->{jar}{magic_link_device} };
    is send_as($laptop, 'GET', $poll)->{status}, 200, 'the approval is single use';
    is send_as($phone, 'POST', '/magic-link/verify', form => "token=$token")->{status}, 401,
        'and the link is spent with it';
};

subtest 'an approval ends with its link' => sub {
    my ($laptop, $phone) = (browser(), browser($PHONE));
    my ($asked, $token) = ask($laptop, 'lin@example.com');
    my ($poll) = $asked->{content} =~ m{url=(/magic-link-ui\?wait=\d+)};
    send_as($phone, 'POST', '/magic-link/verify', form => "token=$token&decision=approve");
    ask($laptop, 'lin@example.com');  # a newer link supersedes the approved one
    my $waiting = send_as($laptop, 'GET', $poll);
    is $waiting->{status}, 200, 'the superseded approval signs nobody in';
    ok !$laptop->{jar}{directus_refresh_token}, 'no session';
    my $expired = send_as($laptop, 'GET', '/magic-link-ui?wait=' . (time - 1));
    like $expired->{content}, qr/This sign-in request has expired/, 'a past deadline says so';
};

subtest 'API: generate binds a browser that sends its binding; verify then needs it' => sub {
    reset_limits();
    my $plain = generate('ada@example.com');
    ok !set_cookie($plain, 'magic_link_device'), 'a client without Origin or cookies gets no cookie';
    my $fetch = post_json('/magic-link-api/generate', '{"email":"ada@example.com"}',
                          headers => { Origin => $origin });
    ok set_cookie($fetch, 'magic_link_device'), 'a browser\'s fetch gets a binding cookie';
    wait_for_requests();
    my $unbound = sql(q{SELECT device_hash FROM extension_magic_link WHERE email = 'ada@example.com'
                        ORDER BY id DESC LIMIT 1})->[0];
    ok !defined $unbound->{device_hash}, 'whose request is not bound (it did not send one)';

    my $cookie = cookie_of($fetch, 'magic_link_device');
    wait_for_outbox(10, 'ada@example.com');  # the mail of the unbound link is out first
    my %seen = map { $_ => 1 } mails_to('ada@example.com');
    my $bound = post_json('/magic-link-api/generate', '{"email":"ada@example.com"}',
                          headers => { Origin => $origin, Cookie => $cookie });
    is $bound->{status}, 200, 'a fetch with credentials';
    ok !set_cookie($bound, 'magic_link_device'), 'keeps its cookie';
    my ($mail) = grep { !$seen{$_} } wait_for_mails('ada@example.com', scalar(keys %seen) + 1);
    my $token = token_in($mail);
    ok link_row($token)->{device_hash}, 'its link is bound';
    my $elsewhere = post_json('/magic-link-api/verify', qq({"token":"$token"}));
    is $elsewhere->{status}, 403, 'verify without the binding: 403';
    is decode_json($elsewhere->{content})->{code}, 'DEVICE_MISMATCH', 'named DEVICE_MISMATCH';
    ok !link_row($token)->{used}, 'and nothing is spent';
    my $home = post_json('/magic-link-api/verify', qq({"token":"$token"}), headers => { Cookie => $cookie });
    is $home->{status}, 200, 'with it: the tokens';
    ok decode_json($home->{content})->{data}{access_token}, 'an access token';
};

subtest 'strict: another browser may only approve' => sub {
    start('strict');
    my ($laptop, $phone) = (browser(), browser($PHONE));
    my ($asked, $token) = ask($laptop, 'ada@example.com');
    my ($poll) = $asked->{content} =~ m{url=(/magic-link-ui\?wait=\d+)};
    my $page = send_as($phone, 'GET', "/magic-link/verify?token=$token");
    like $page->{content}, qr/value="approve"/, 'the approval is offered';
    unlike $page->{content}, qr/Sign in here|value="sign_in"/, 'signing in there is not';
    my $forced = send_as($phone, 'POST', '/magic-link/verify', form => "token=$token&decision=sign_in");
    isnt $forced->{status}, 303, 'a forced sign-in is refused';
    ok !$phone->{jar}{directus_refresh_token}, 'no session for the other browser';
    ok !link_row($token)->{used}, 'nothing spent';
    send_as($phone, 'POST', '/magic-link/verify', form => "token=$token&decision=approve");
    is send_as($laptop, 'GET', $poll)->{status}, 303, 'the approval signs the asking browser in';
    start();
};

subtest 'off: no cookie, no binding' => sub {
    start('off');
    my $laptop = browser();
    my ($asked, $token) = ask($laptop, 'ada@example.com');
    ok !set_cookie($asked, 'magic_link_device'), 'no binding cookie';
    unlike $asked->{content}, qr/http-equiv="refresh"/, 'no waiting page';
    ok !defined link_row($token)->{device_hash}, 'an unbound link';
    start();
};

subtest 'strangers spending an address\'s allowance do not lock its owner out' => sub {
    reset_limits();
    my $owner = browser();
    my (undef, $token) = ask($owner, 'owner@example.com');
    send_as($owner, 'POST', '/magic-link/verify', form => "token=$token");
    like $owner->{jar}{magic_link_device}, qr/\./, 'the owner signed in once from this browser';
    delete $owner->{jar}{directus_refresh_token};
    reset_limits();
    my $since = sql('SELECT max(id) AS id FROM extension_magic_link')->[0]{id};
    my $rows = sub {
        return sql(q{SELECT count(*) FILTER (WHERE token <> '') AS links,
                            count(*) FILTER (WHERE email_error = 'Rate limit exceeded') AS limited
                       FROM extension_magic_link WHERE email = 'owner@example.com' AND id > ?},
                   $since)->[0];
    };
    is generate('owner@example.com')->{status}, 200, 'a stranger asks' for 1 .. 12;
    wait_for_requests();
    is_deeply $rows->(), { links => 5, limited => 7 },
        'strangers get the per-email allowance of links, the rest is refused';
    my $stranger = browser($PHONE);
    send_as($stranger, 'POST', '/magic-link-ui', form => 'email=owner@example.com');
    wait_for_requests();
    is $rows->()->{limited}, 8, 'a stranger\'s browser too';
    my ($asked, $fresh) = ask($owner, 'owner@example.com');
    is $asked->{status}, 200, 'the owner\'s own request is accepted';
    ok $fresh, 'and mailed';
    my $row = link_row($fresh);
    ok $row && !$row->{used}, 'its link is the valid one';
    my $signed = send_as($owner, 'POST', '/magic-link/verify', form => "token=$fresh");
    is $signed->{status}, 303, 'the owner signs in';
    reset_limits();
};

subtest 'a live Directus session of the address (either cookie) counts as its owner too' => sub {
    start_nginx(http => 'magic_link_session_mode session;');
    reset_limits();
    my $session = sign_in('owner@example.com');
    like $session, qr/^directus_session_token=/, 'signed in with a Directus session cookie';
    reset_limits();
    generate('owner@example.com') for 1 .. 6;  # strangers spend the allowance
    wait_for_requests();
    wait_for_outbox();  # their mails are out before counting
    my $before = () = mails_to('owner@example.com');
    my $asked = post_json('/magic-link-api/generate', '{"email":"owner@example.com"}',
                          headers => { Cookie => $session });
    is $asked->{status}, 200, 'the session holder asks (no binding cookie)';
    is scalar(wait_for_mails('owner@example.com', $before + 1)), $before + 1, 'and is mailed';
    my $forged = post_json('/magic-link-api/generate', '{"email":"owner@example.com"}',
                           headers => { Cookie => 'directus_session_token=' . ('x' x 40) });
    wait_for_requests();
    is sql(q{SELECT email_error FROM extension_magic_link WHERE email = 'owner@example.com'
             ORDER BY id DESC LIMIT 1})->[0]{email_error}, 'Rate limit exceeded',
        'a forged session cookie is a stranger\'s';

    start();  # cookie mode: Directus' refresh cookie names the session row itself
    reset_limits();
    my $refresh = sign_in('owner@example.com');
    like $refresh, qr/^directus_refresh_token=/, 'signed in with a Directus refresh cookie';
    reset_limits();
    generate('owner@example.com') for 1 .. 6;
    wait_for_requests();
    wait_for_outbox();
    $before = () = mails_to('owner@example.com');
    post_json('/magic-link-api/generate', '{"email":"owner@example.com"}',
              headers => { Cookie => $refresh });
    is scalar(wait_for_mails('owner@example.com', $before + 1)), $before + 1,
        'its holder is mailed too';
};

is_deeply [log_leaks()], [], 'no token in the error log';
# nginx's own debug lines echo request headers; the module's lines never name a binding.
is scalar(grep { /magic_link:/ && /magic_link_device|[A-Za-z0-9_-]{22}\b/ }
          split /\n/, error_log_since(0)), 0, 'no binding cookie in the module\'s log lines';
done_testing();
