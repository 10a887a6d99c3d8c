# The demo pages at /magic-link-ui: sign-in form, "check your email", and who is signed in,
# read from a real Directus with the browser's session cookie.
use strict;
use warnings;
use lib 't/lib';
use MagicLink::Harness;
use Test::More;

my $origin = 'http://127.0.0.1:' . nginx_port();

start_nginx(http => 'magic_link_after_login_url /magic-link-ui/success;',
            server => 'location /magic-link-ui { magic_link ui; }');
reset_limits();
clear_mail();
my $user_id = create_user(email => 'grace@example.com');

subtest 'the sign-in form' => sub {
    my $page = request('GET', '/magic-link-ui');
    is $page->{status}, 200, 'answers 200';
    like $page->{content}, qr{<label for="email">}, 'a labelled field';
    like $page->{content}, qr{<input id="email" name="email" type="email"}, 'an email input';
    like $page->{content}, qr{<form method="post" action="/magic-link-ui">}, 'posting back';
    unlike $page->{content}, qr/<script/i, 'no JavaScript';
    like $page->{headers}{'content-security-policy'}, qr/default-src 'none'/, 'a strict CSP';
    like $page->{content}, qr/Magic Link Demo/, 'the site name';
};

subtest 'requesting, opening and confirming a link signs the browser in' => sub {
    my $asked = post_form('/magic-link-ui', 'email=grace%40example.com');
    is $asked->{status}, 200, 'the form is accepted';
    like $asked->{content}, qr/Check your email/, '"Check your email"';
    my ($mail) = wait_for_mails('grace@example.com', 1);
    my $token = token_in($mail);
    ok $token, 'a mail with a link';

    my $confirmed = post_form('/magic-link/verify', "token=$token", headers => { Origin => $origin });
    is $confirmed->{status}, 303, 'confirming: 303';
    is $confirmed->{headers}{location}, "$origin/magic-link-ui/success", 'to the success page';
    my $cookie = cookie_of($confirmed);
    ok $cookie, 'with the Directus session cookie';

    my $success = request('GET', '/magic-link-ui/success', headers => { Cookie => $cookie });
    is $success->{status}, 200, 'the success page';
    like $success->{content}, qr{Signed in as <strong>grace\@example\.com</strong>}, 'says who';
    like $success->{content}, qr/\Q$user_id\E/, 'with the Directus user id';
    my $rotated = cookie_of($success);
    ok $rotated && $rotated ne $cookie, 'Directus rotated the cookie, and it is relayed';
    my $again = request('GET', '/magic-link-ui/success', headers => { Cookie => $rotated });
    like $again->{content}, qr/Signed in as/, 'the rotated cookie keeps the session';
};

subtest 'without a session the success page offers the sign-in form' => sub {
    my $page = request('GET', '/magic-link-ui/success');
    is $page->{status}, 200, 'answers 200';
    like $page->{content}, qr/You are not signed in/, 'says so';
    like $page->{content}, qr{href="/magic-link-ui"}, 'links to the form';
    my $stale = request('GET', '/magic-link-ui/success',
                        headers => { Cookie => 'directus_refresh_token=' . ('x' x 64) });
    like $stale->{content}, qr/You are not signed in/, 'a stale cookie is no session';
};

subtest 'a malformed address gets the form again with a message' => sub {
    my $page = post_form('/magic-link-ui', 'email=not-an-address');
    is $page->{status}, 400, 'answers 400';
    like $page->{content}, qr/valid email address/, 'a message';
    like $page->{content}, qr/name="email"/, 'the form';
};

no_worker_crashed();
is_deeply [log_leaks()], [], 'no token in the error log';
done_testing();
