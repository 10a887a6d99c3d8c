# Session mode: the verify page signs a browser in with Directus' own directus_session_token
# (the Data Studio's cookie), started through a 30-second bootstrap signed with Directus'
# SECRET, against a real Directus, PostgreSQL, Redis and SMTP sink.
use strict;
use warnings;
use lib 't/lib';
use JSON::PP qw(decode_json);
use MIME::Base64 qw(decode_base64url);
use MagicLink::Harness;
use Test::More;

my $origin = 'http://127.0.0.1:' . nginx_port();
my $role = create_role('Session mode role');
my $user_id = create_user(email => 'grace@example.com', role => $role);

sub users_me_with_cookie {
    my ($cookie) = @_;
    my $me = directus('GET', '/users/me?fields=id', headers => { Cookie => $cookie });
    return $me->{status} == 200 ? decode_json($me->{content})->{data}{id} : undef;
}

subtest 'the verify page hands over Directus\' session cookie' => sub {
    start_nginx(http => 'magic_link_session_mode session;');
    reset_limits();
    my $token = issue_link('grace@example.com');
    my $post = post_form('/magic-link/verify', "token=$token", headers => { Origin => $origin });
    is $post->{status}, 303, 'POST: 303';
    my $line = set_cookie($post, 'directus_session_token');
    ok $line, 'Directus\' directus_session_token is relayed';
    like $line // '', qr/HttpOnly/i, 'HttpOnly';
    ok !set_cookie($post, 'directus_refresh_token'), 'no refresh cookie in session mode';
    my $cookie = cookie_of($post, 'directus_session_token');
    is users_me_with_cookie($cookie), $user_id, '/users/me with that cookie answers the user';
    my ($jwt) = $cookie =~ /=(.*)/;
    my ($payload) = $jwt =~ /^[^.]+\.([^.]+)\./;
    my $claims = decode_json(decode_base64url($payload));
    cmp_ok $claims->{exp} - $claims->{iat}, '>', 60,
        'the cookie is Directus\' own session, not the 30-second bootstrap';
    my $refreshed = directus('POST', '/auth/refresh',
                             headers => { 'Content-Type' => 'application/json', Cookie => $cookie },
                             body => '{"mode":"session"}');
    is $refreshed->{status}, 200, 'Directus refreshes it as its own';
    is sql('SELECT used FROM extension_magic_link WHERE token = ?', token_hash($token))->[0]{used}, 1,
        'the link is spent';
};

subtest 'a location may keep cookie mode while another uses session mode' => sub {
    start_nginx(server => 'location /classic/verify { magic_link verify; '
                        . 'magic_link_session_mode cookie; }',
                http => 'magic_link_session_mode session;');
    reset_limits();
    my $token = issue_link('grace@example.com');
    my $post = post_form('/classic/verify', "token=$token", headers => { Origin => $origin });
    is $post->{status}, 303, 'POST: 303';
    ok set_cookie($post, 'directus_refresh_token'), 'cookie mode: the refresh cookie';
    ok !set_cookie($post, 'directus_session_token'), 'and no session cookie';
};

subtest 'a wrong Directus secret: Directus refuses, the link is not spent' => sub {
    start_nginx(http => 'magic_link_session_mode session;',
                directus_secret => 'not-the-directus-secret');
    reset_limits();
    my $token = issue_link('grace@example.com');
    my $post = post_form('/magic-link/verify', "token=$token", headers => { Origin => $origin });
    isnt $post->{status}, 303, 'no sign-in';
    ok !set_cookie($post, 'directus_session_token'), 'no session cookie';
    is sql('SELECT used FROM extension_magic_link WHERE token = ?', token_hash($token))->[0]{used}, 0,
        'the link is still usable';
};

subtest 'a Directus before 10.10 (no session mode): the link is not spent, the log says why' => sub {
    # Directus 10.9 and older read only a refresh token on /auth/refresh: without one they answer
    # 400 INVALID_PAYLOAD (their text below, less its quotes), whatever the mode.
    my $old = '{"errors":[{"message":"Invalid payload. refresh_token is required in either '
            . 'the JSON payload or Cookie.","extensions":{"code":"INVALID_PAYLOAD"}}]}';
    start_nginx(http => 'magic_link_session_mode session;',
                directus_url => "http://127.0.0.1:@{[ nginx_port() ]}/directus-10.9",
                server => "location = /directus-10.9/auth/refresh { default_type application/json; "
                        . "return 400 '$old'; }");
    reset_limits();
    my $since = -s server_root() . '/logs/error.log';
    my $token = issue_link('grace@example.com');
    my $post = post_form('/magic-link/verify', "token=$token", headers => { Origin => $origin });
    isnt $post->{status}, 303, 'no sign-in';
    is sql('SELECT used FROM extension_magic_link WHERE token = ?', token_hash($token))->[0]{used}, 0,
        'the link is still usable';
    like error_log_since($since), qr/session mode needs Directus 10\.10 or later/,
        'the error log names the cause';
};

no_worker_crashed();
is_deeply [log_leaks()], [], "no token in the error log";
done_testing();
