# Redeeming links: the API (JSON tokens) and the browser page (Directus' cookie), against a real
# Directus, PostgreSQL, Redis and SMTP sink.
use strict;
use warnings;
use lib 't/lib';
use JSON::PP qw(decode_json encode_json);
use MagicLink::Harness;
use Test::More;

my $INVALID = '{"success":false,"message":"Invalid or expired link. Please request a new one."}';
my $port = nginx_port();
my $origin = "http://127.0.0.1:$port";

sub verify_api { request('GET', "/magic-link-api/verify?token=$_[0]") }

sub users_me {
    my ($access_token) = @_;
    my $response = directus('GET', '/users/me', headers => { Authorization => "Bearer $access_token" });
    return $response->{status} == 200 ? decode_json($response->{content})->{data} : undef;
}

sub link_row {
    my ($token) = @_;
    my ($row) = @{ sql('SELECT * FROM extension_magic_link WHERE token = ?', token_hash($token)) };
    return $row;
}

clear_mail();
my $role = create_role('Verify test role');
my $refused_role = create_role('Verify refused role');
my $user_id = create_user(email => 'ada@example.com', role => $role, first_name => 'Ada',
                          last_name => 'Lovelace');

subtest 'the API answers the extension contract and the tokens work on Directus' => sub {
    start_nginx();
    reset_limits();
    my $token = issue_link('ada@example.com');
    my $response = verify_api($token);
    is $response->{status}, 200, 'status 200';
    my $body = decode_json($response->{content});
    is $body->{success}, JSON::PP::true, 'success';
    is $body->{message}, 'Authentication successful', 'message';
    is_deeply $body->{data}{user},
        { id => $user_id, email => 'ada@example.com', first_name => 'Ada', last_name => 'Lovelace' },
        'the user';
    like $body->{data}{refresh_token}, qr/\S{20,}/, 'a refresh token';
    ok $body->{data}{expires} > 0, 'expires';
    my $me = users_me($body->{data}{access_token});
    is $me && $me->{id}, $user_id, '/users/me answers that user';
    my $refreshed = directus('POST', '/auth/refresh', headers => { 'Content-Type' => 'application/json' },
                             body => encode_json({ refresh_token => $body->{data}{refresh_token}, mode => 'json' }));
    is $refreshed->{status}, 200, 'the refresh token refreshes in Directus';
    my $row = link_row($token);
    is $row->{used}, 1, 'the link is spent';
    ok $row->{used_at}, 'when';
    is $row->{used_ip}, '127.0.0.1', 'from where';

    my $again = verify_api($token);
    is $again->{status}, 401, 'a second use: 401';
    is $again->{content}, $INVALID, 'with the extension\'s message';
};

subtest 'unknown and malformed tokens: 401' => sub {
    start_nginx();
    reset_limits();
    is verify_api('A' x 43)->{status}, 401, 'unknown';
    is verify_api('short')->{status}, 401, 'malformed';
    is verify_api('')->{status}, 401, 'empty';
    is request('GET', '/magic-link-api/verify')->{content}, $INVALID, 'missing';
};

subtest '20 concurrent redemptions of one link: exactly one 200' => sub {
    start_nginx();
    reset_limits();
    my $token = issue_link('ada@example.com');
    is passed(in_background(20, sub { verify_api($token)->{status} == 200 })), 1, 'exactly one succeeded';
};

subtest 'a redemption finds its link by token when the statistics miss the live links' => sub {
    # As after a burst of requests on a long history: many live links that PostgreSQL's
    # statistics do not know of. The redemption and the confirm page must look the token up,
    # not read every live link. All in one transaction, rolled back; auto_explain shows the
    # plans of the statements inside the functions.
    start_nginx();
    reset_limits();
    my $token = issue_link('ada@example.com');
    my $dbh = MagicLink::Harness::connect_db(PrintWarn => 1, AutoCommit => 0);
    my @plans;
    local $SIG{__WARN__} = sub { push @plans, $_[0] };
    $dbh->do('UPDATE extension_magic_link SET used = true WHERE NOT used AND token <> ?', undef,
             token_hash($token));
    $dbh->do('REINDEX INDEX idx_magic_link_live');  # its size as if the live links were few
    $dbh->do('ANALYZE extension_magic_link');
    $dbh->do(q{INSERT INTO extension_magic_link (email, token, expires_at, ip_address, created_at)
               SELECT 'crowd@example.com', md5(g::text), now() AT TIME ZONE 'utc' + interval '1 hour',
                      '127.0.0.1', now() AT TIME ZONE 'utc'
                 FROM generate_series(1, 3000) AS g});
    $dbh->do($_) for q{LOAD 'auto_explain'}, 'SET auto_explain.log_min_duration = 0',
        'SET auto_explain.log_nested_statements = on', 'SET auto_explain.log_level = notice',
        'SET client_min_messages = notice';
    my ($minutes) = $dbh->selectrow_array('SELECT minutes_left FROM extension_magic_link_preview(ARRAY[?])',
                                          undef, token_hash($token));
    my ($outcome) = $dbh->selectrow_array(
        q{SELECT outcome FROM extension_magic_link_claim('sign_in', ARRAY[?], '{}', '{}', '{}', true,
                                                          NULL, 'plan-test-session', '127.0.0.1', 'test', '')},
        undef, token_hash($token));
    my ($in_claim) = $dbh->selectrow_array('SHOW synchronous_commit');
    $dbh->rollback;
    my ($after) = $dbh->selectrow_array('SHOW synchronous_commit');
    $dbh->disconnect;
    ok $minutes, 'the confirm page found the link';
    is $outcome, 'claimed', 'the redemption found and spent it';
    is $in_claim, 'off', 'its transaction does not wait for the disk (Directus\' refresh will)';
    is $after, 'on', 'the connection\'s own setting is untouched (PgBouncer shares it)';
    my $plans = join '', @plans;
    like $plans, qr/idx_magic_link_token/, 'the token index was used';
    unlike $plans, qr/idx_magic_link_live\b/, 'the index of live links by email was not read'
        or diag $plans;
};

subtest 'an expired link: 401' => sub {
    start_nginx();
    reset_limits();
    my $token = issue_link('ada@example.com');
    sql_do(q{UPDATE extension_magic_link SET expires_at = now() AT TIME ZONE 'utc' - interval '1 second'
             WHERE token = ?}, token_hash($token));
    is verify_api($token)->{status}, 401, 'answers 401';
};

subtest 'a role changed to a refused one after the mail: 401' => sub {
    start_nginx(http => "magic_link_allowed_roles $role;");
    reset_limits();
    my $token = issue_link('ada@example.com');
    sql_do('UPDATE directus_users SET role = ? WHERE id = ?', $refused_role, $user_id);
    is verify_api($token)->{status}, 401, 'answers 401';
    sql_do('UPDATE directus_users SET role = ? WHERE id = ?', $role, $user_id);
    is verify_api($token)->{status}, 200, 'the same link works once the role is allowed again';
};

subtest 'a user suspended after the mail: 401' => sub {
    start_nginx();
    reset_limits();
    my $token = issue_link('ada@example.com');
    sql_do(q{UPDATE directus_users SET status = 'suspended' WHERE id = ?}, $user_id);
    is verify_api($token)->{status}, 401, 'answers 401';
    sql_do(q{UPDATE directus_users SET status = 'active' WHERE id = ?}, $user_id);
};

subtest 'the browser page: GET never spends the link, the POST signs in with a cookie' => sub {
    start_nginx();
    reset_limits();
    my $token = issue_link('ada@example.com');
    for my $try (1, 2) {
        my $page = request('GET', "/magic-link/verify?token=$token");
        is $page->{status}, 200, "GET $try: 200";
        like $page->{content}, qr/ada\@example\.com/, "GET $try: says who signs in";
        unlike $page->{content}, qr/<script/i, "GET $try: no JavaScript";
        like $page->{content}, qr/<form method="post"/, "GET $try: a POST form";
        is $page->{headers}{'cache-control'}, 'no-store', "GET $try: not cached";
        like $page->{headers}{'content-security-policy'}, qr/default-src 'none'/, "GET $try: strict CSP";
    }
    is link_row($token)->{used}, 0, 'two GETs leave the link valid';

    my $cross = post_form('/magic-link/verify', "token=$token",
                          headers => { Origin => 'https://evil.example.com' });
    is $cross->{status}, 403, 'a cross-origin POST: 403';
    is link_row($token)->{used}, 0, 'and spends nothing';

    my $post = post_form('/magic-link/verify', "token=$token", headers => { Origin => $origin });
    is $post->{status}, 303, 'POST: 303';
    is $post->{headers}{location}, "$origin/", 'to the after-login target';
    my $refresh = set_cookie($post);
    ok $refresh, 'Directus\' refresh cookie is relayed';
    like $refresh, qr/HttpOnly/i, 'HttpOnly';
    like $refresh, qr/SameSite=Lax/i, 'SameSite=Lax';
    my $value = cookie_of($post);
    my $refreshed = directus('POST', '/auth/refresh',
                             headers => { 'Content-Type' => 'application/json', Cookie => $value },
                             body => '{"mode":"cookie"}');
    is $refreshed->{status}, 200, 'the cookie refreshes in Directus';
    is link_row($token)->{used}, 1, 'the POST spent the link';

    my $again = post_form('/magic-link/verify', "token=$token", headers => { Origin => $origin });
    is $again->{status}, 401, 'a used link: 401 page';
    like $again->{content}, qr/name="email"/, 'with a form to request a new link';
};

subtest 'PKCE: a link asked for with a code_challenge redeems only with its code_verifier' => sub {
    start_nginx();
    reset_limits();
    my $verifier = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
    my $challenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';  # RFC 7636, appendix B
    my $token = issue_link('ada@example.com', code_challenge => $challenge, code_challenge_method => 'S256');
    my $verify = sub { post_json('/magic-link-api/verify', encode_json({ token => $token, @_ })) };
    is $verify->()->{status}, 401, 'the token alone: 401';
    is $verify->(code_verifier => 'x' x 43)->{status}, 401, 'a wrong verifier: 401';
    is request('GET', "/magic-link/verify?token=$token")->{status}, 401,
        'the browser page cannot redeem it either';
    my $good = $verify->(code_verifier => $verifier);
    is $good->{status}, 200, 'the token with its verifier: 200';
    is decode_json($good->{content})->{data}{user}{email}, 'ada@example.com', 'the user';
    is $verify->(code_verifier => $verifier)->{status}, 401, 'once only';

    my $plain = issue_link('ada@example.com');
    is request('GET', "/magic-link-api/verify?token=$plain")->{status}, 200,
        'without a challenge the contract is unchanged';
    for my $bad ([code_challenge => 'short'], [code_challenge => $challenge, code_challenge_method => 'plain'],
                 [code_challenge_method => 'S256'], [code_challenge => [$challenge]]) {
        my $response = generate('ada@example.com', @$bad);
        is $response->{status}, 400, "generate with @{[ encode_json({ @$bad }) ]}: 400";
    }
};

subtest 'hostile redirectUrl values are refused' => sub {
    start_nginx(http => 'magic_link_redirect_allow https://app.example.com/auth;');
    reset_limits();
    for my $url ('https://evil.com/auth', '//evil.com/auth', 'https://app.example.com.evil.com/auth',
                 'https://app.example.com@evil.com/auth', 'https://evil.com\\@app.example.com/auth',
                 'https://app.example.com\\evil.com/auth', 'https://app.example.com:8443/auth',
                 'http://app.example.com/auth', 'ftp://app.example.com/auth',
                 'javascript:alert(1)', 'data:text/html,<script>alert(1)</script>',
                 'https://app.example.com/authz', 'https://app.example.com/auth/../admin') {
        is generate('ada@example.com', redirectUrl => $url)->{status}, 400, "refused: $url";
    }
    my $token = issue_link('ada@example.com', redirectUrl => 'https://app.example.com/auth/done');
    ok $token, 'an allowed one is used';
};

subtest 'failed redemptions are limited per client: 429 with Retry-After' => sub {
    start_nginx(http => 'magic_link_max_failed_verifies_per_ip_per_hour 3;');
    reset_limits();
    is verify_api('B' x 43)->{status}, 401, "failure $_" for 1 .. 3;
    my $limited = verify_api('B' x 43);
    is $limited->{status}, 429, 'then 429';
    ok $limited->{headers}{'retry-after'} > 0, 'with Retry-After';
    my $page = request('GET', '/magic-link/verify?token=' . ('B' x 43));
    is $page->{status}, 401, 'the page only previews, so it is not counted';
    my $post = post_form('/magic-link/verify', 'token=' . ('B' x 43), headers => { Origin => $origin });
    is $post->{status}, 429, 'the page POST is limited too';
    like $post->{headers}{'content-type'}, qr{text/html}, 'as a page';
};

subtest 'with magic_link_api_get_redeems off only POST redeems' => sub {
    start_nginx(http => 'magic_link_api_get_redeems off;');
    reset_limits();
    my $token = issue_link('ada@example.com');
    my $get = verify_api($token);
    is $get->{status}, 405, 'GET: 405';
    is $get->{headers}{allow}, 'POST', 'Allow: POST';
    my $post = post_json('/magic-link-api/verify', encode_json({ token => $token }));
    is $post->{status}, 200, 'POST redeems';
};

no_worker_crashed();
is_deeply [log_leaks()], [], 'no token in the error log';
done_testing();
