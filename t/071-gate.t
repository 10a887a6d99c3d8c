# magic_link_require: a static and a proxied location open only to a live Directus session,
# against a real Directus, PostgreSQL and Redis; the proxied upstream (a second nginx server)
# echoes the identity headers it receives.
use strict;
use warnings;
use lib 't/lib';
use Digest::SHA qw(hmac_sha256);
use File::Path qw(make_path);
use JSON::PP qw(decode_json encode_json);
use MIME::Base64 qw(encode_base64url);
use MagicLink::Harness;
use Test::More;

my $port = nginx_port();
my $origin = "http://127.0.0.1:$port";
my $echo_port = $port + 1;
# Directus 11+ nests roles; Directus 10 has none, and there the role itself is the one allowed.
my $parent = has_nested_roles() ? create_role('Gate parent role') : undef;
my $role = create_role('Gate role', parent => $parent);
my $other_role = create_role('Gate other role');
my $user_id = create_user(email => 'gate@example.com', role => $role);
my $HTML = { Accept => 'text/html,application/xhtml+xml' };

# The upstream answers what it was told; the gated locations add who the gate let in.
sub start_gate {
    my (%opts) = @_;
    start_nginx(
        http => ($opts{http} // '') . "
    server {
        listen 127.0.0.1:$echo_port;
        location / {
            return 200 'user=\$http_x_auth_request_user email=\$http_x_auth_request_email role=\$http_x_auth_request_role';
        }
    }",
        server => "
        location /magic-link-ui { magic_link ui; }
        location /private/ {
            magic_link_require on;
            @{[ $opts{private} // '' ]}
            root @{[ server_root() ]}/html;
            add_header X-Gate-User \$magic_link_user_id always;
        }
        location /app/ {
            magic_link_require on;
            proxy_pass http://127.0.0.1:$echo_port;
        }");
    make_path(server_root() . '/html/private');
    open my $page, '>', server_root() . '/html/private/page.html' or die $!;
    print $page "the private page\n";
    close $page;
}

sub jwt {
    my ($secret, %claims) = @_;
    my $header = encode_base64url(encode_json({ alg => 'HS256', typ => 'JWT' }));
    my $body = encode_base64url(encode_json(\%claims));
    return "$header.$body." . encode_base64url(hmac_sha256("$header.$body", $secret));
}

sub get { my ($path, $cookie, %headers) = @_; request('GET', $path, headers => { %headers, $cookie ? (Cookie => $cookie) : () }) }

subtest 'without a session: browsers go to the sign-in page, API clients get 401' => sub {
    start_gate();
    my $page = get('/private/page.html?a=1&b=two', undef, %$HTML);
    is $page->{status}, 302, 'a navigation: 302';
    is $page->{headers}{location}, '/magic-link-ui?return=/private/page.html%3Fa%3D1%26b%3Dtwo',
        'to the sign-in page with the path and query to return to';
    my $post = request('POST', '/private/page.html', headers => $HTML, body => 'x=1');
    is $post->{status}, 303, 'a browser POST: 303';
    my $api = get('/app/data', undef, Accept => 'application/json');
    is $api->{status}, 401, 'an API client: 401';
    is_deeply decode_json($api->{content}), { success => JSON::PP::false, message => 'Authentication required' },
        'in the contract\'s shape';
    is get('/magic-link-ui')->{status}, 200, 'the sign-in page itself is not gated';
};

subtest 'a refresh cookie opens the static and the proxied location, with the identity' => sub {
    start_gate();
    reset_limits();
    my $cookie = sign_in('gate@example.com');
    my $page = get('/private/page.html', $cookie);
    is $page->{status}, 200, 'static: 200';
    is $page->{content}, "the private page\n", 'the file';
    is $page->{headers}{'x-gate-user'}, $user_id, '$magic_link_user_id is the user';
    my $app = get('/app/x', $cookie, 'X-Auth-Request-User' => 'someone-else',
                  'x-auth-request-email' => 'boss@example.com');
    is $app->{status}, 200, 'proxied: 200';
    is $app->{content}, "user=$user_id email=gate\@example.com role=$role",
        'the upstream gets the user, email and role, not what the client claimed';
};

subtest 'a session cookie (session mode) opens it too' => sub {
    start_gate(http => 'magic_link_session_mode session;');
    reset_limits();
    my $cookie = sign_in('gate@example.com');
    like $cookie, qr/^directus_session_token=/, 'signed in with Directus\' session cookie';
    is get('/private/page.html', $cookie)->{status}, 200, 'static: 200';
    is get('/app/x', $cookie)->{content}, "user=$user_id email=gate\@example.com role=$role",
        'proxied with the identity';
};

subtest 'forged, expired, foreign and malformed cookies are refused' => sub {
    start_gate();
    my $secret = $ENV{TEST_NGINX_DIRECTUS_SECRET};
    my ($row) = @{ sql(q{INSERT INTO directus_sessions (token, "user", expires)
                         VALUES (?, ?, now() + interval '1 hour') RETURNING token},
                       'gate-row-' . random_token(), $user_id) };
    my %claims = (id => $user_id, role => $role, app_access => JSON::PP::true,
                  admin_access => JSON::PP::false, session => $row->{token}, iss => 'directus',
                  iat => time, exp => time + 3600);
    my $good = jwt($secret, %claims);
    is get('/private/page.html', "directus_session_token=$good")->{status}, 200,
        'a JWT signed with Directus\' secret for a live row: 200 (the control)';
    my %refused = (
        'a foreign secret' => jwt('not-directus-secret', %claims),
        'an expired JWT' => jwt($secret, %claims, iat => time - 7200, exp => time - 60),
        'alg none' => encode_base64url(encode_json({ alg => 'none', typ => 'JWT' })) . '.'
                      . encode_base64url(encode_json(\%claims)) . '.',
        'another issuer' => jwt($secret, %claims, iss => 'someone'),
        'an altered payload' => do {
            my @parts = split /\./, $good;
            $parts[1] = encode_base64url(encode_json({ %claims, id => 'aaaaaaaa-0000-0000-0000-000000000000' }));
            join '.', @parts;
        },
        'no session claim' => jwt($secret, %claims, session => undef),
        'garbage' => 'not-a-jwt',
    );
    for my $name (sort keys %refused) {
        my $page = get('/private/page.html', "directus_session_token=$refused{$name}", %$HTML);
        is $page->{status}, 302, "$name: sent to sign in";
    }
    for my $refresh ('x' x 64, 'has spaces in it', '') {
        is get('/private/page.html', "directus_refresh_token=$refresh", %$HTML)->{status}, 302,
            "a refresh cookie no session has ('" . substr($refresh, 0, 8) . "'): sent to sign in";
    }
};

subtest 'a deleted session row and a suspended user are refused within the cache interval' => sub {
    start_gate(http => 'magic_link_session_cache 1s;');
    reset_limits();
    my $cookie = sign_in('gate@example.com');
    is get('/private/page.html', $cookie)->{status}, 200, 'signed in: 200';
    my ($token) = $cookie =~ /=(.*)/;
    sql_do('DELETE FROM directus_sessions WHERE token = ?', $token);
    ok wait_until(sub { get('/private/page.html', $cookie, %$HTML)->{status} == 302 }, 3),
        'the row deleted (as Directus\' logout does): sent to sign in within the interval';

    my $again = sign_in('gate@example.com');
    is get('/private/page.html', $again)->{status}, 200, 'signed in again: 200';
    sql_do(q{UPDATE directus_users SET status = 'suspended' WHERE id = ?}, $user_id);
    my $refused = wait_until(sub {
        my $page = get('/private/page.html', $again, %$HTML);
        $page->{status} == 403 ? $page : undef;
    }, 3);
    ok $refused, 'the user suspended: 403 within the interval';
    like $refused ? $refused->{content} : '', qr/<html/i, 'a page for the browser';
    sql_do(q{UPDATE directus_users SET status = 'active' WHERE id = ?}, $user_id);
};

subtest 'roles: the user\'s role or a parent opens the location, others get 403' => sub {
    start_gate(private => "magic_link_require_roles @{[ $parent // $role ]};");
    reset_limits();
    my $cookie = sign_in('gate@example.com');
    is get('/private/page.html', $cookie)->{status}, 200,
        $parent ? 'the parent role is allowed: 200' : 'the role is allowed: 200';
    start_gate(private => "magic_link_require_roles $other_role;");
    my $page = get('/private/page.html', $cookie, %$HTML);
    is $page->{status}, 403, 'another role only: 403';
    is get('/private/page.html', $cookie, Accept => 'application/json')->{status}, 403,
        'for an API client too';
};

subtest 'return targets: only a path on this site comes back' => sub {
    start_gate();
    my %unsafe = ('an absolute URL' => 'https://evil.example.com/x', 'a scheme-relative URL' => '//evil.example.com/x',
                  'a backslash' => '/\\evil.example.com', 'an encoded slash' => '/%2fevil.example.com',
                  'an encoded backslash' => '/%5Cevil.example.com', 'a control character' => "/a%0d%0aSet-Cookie:x=1",
                  'too long' => '/' . ('a' x 3000));
    for my $name (sort keys %unsafe) {
        my $escaped = $unsafe{$name} =~ s/([^A-Za-z0-9\/._~-])/sprintf '%%%02X', ord $1/ger;
        my $page = get("/magic-link-ui?return=$escaped");
        is $page->{status}, 200, "$name: the sign-in page";
        unlike $page->{content}, qr/name="return"/, "$name: is not carried";
    }
    my $page = get('/magic-link-ui?return=%2Fprivate%2Fpage.html%3Fa%3D1%26b%3Dtwo');
    like $page->{content}, qr{name="return" value="/private/page\.html\?a=1&amp;b=two"},
        'a path with its query is carried';

    reset_limits();
    clear_mail();
    my $asked = post_form('/magic-link-ui', 'email=gate%40example.com&return=%2Fprivate%2Fpage.html%3Fa%3D1%26b%3Dtwo');
    is $asked->{status}, 200, 'the sign-in form is accepted';
    ok wait_for_mails('gate@example.com', 1), 'a link is mailed';
    my ($mail) = mails_to('gate@example.com');
    my $token = token_in($mail);
    my $post = post_form('/magic-link/verify', "token=$token", headers => { Origin => $origin });
    is $post->{status}, 303, 'the link signs in';
    is $post->{headers}{location}, "$origin/private/page.html?a=1&b=two",
        'and the browser lands exactly where it was going';
};

for my $mode ('cookie', 'session') {
    subtest "sign-out ($mode mode) ends the Directus session; this host's gate refuses it at once" => sub {
        start_gate(http => "magic_link_session_mode $mode;");
        reset_limits();
        my $cookie = sign_in('gate@example.com');
        is get('/private/page.html', $cookie)->{status}, 200, 'signed in: 200';
        my $account = get('/magic-link-ui/success', $cookie);
        like $account->{content}, qr/gate\@example\.com/, 'the account page names the user';
        like $account->{content}, qr{<form method="post" action="/magic-link-ui/sign-out">},
            'and offers to sign out';
        my $cross = request('POST', '/magic-link-ui/sign-out',
                            headers => { Cookie => $cookie, Origin => 'https://evil.example.com' });
        is $cross->{status}, 403, 'a cross-origin sign-out: 403';
        is get('/private/page.html', $cookie)->{status}, 200, 'and the session lives on';

        my $out = request('POST', '/magic-link-ui/sign-out', headers => { Cookie => $cookie, Origin => $origin });
        is $out->{status}, 303, 'sign-out: 303';
        is $out->{headers}{location}, '/magic-link-ui', 'to the sign-in page';
        for my $name ('directus_session_token', 'directus_refresh_token') {
            like set_cookie($out, $name) // '', qr/^\Q$name\E=;.*Max-Age=0/i, "$name is cleared";
        }
        is get('/private/page.html', $cookie, %$HTML)->{status}, 302,
            'the old cookie is refused at once (the cache interval is 30 s)';
        my ($row) = $cookie =~ /=(.*)/;
        if ($mode eq 'cookie') {
            is sql('SELECT count(*) AS n FROM directus_sessions WHERE token = ?', $row)->[0]{n}, 0,
                'Directus deleted the session row';
        } else {
            is directus('GET', '/users/me', headers => { Cookie => $cookie })->{status}, 401,
                'Directus no longer knows the session';
        }
    };
}

no_worker_crashed();
is_deeply [log_leaks()], [], 'no token in the error log';
done_testing();
