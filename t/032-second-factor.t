# Users with two-factor authentication: a link alone never signs them in. Their 2FA is enabled
# through Directus' own API (/users/me/tfa/generate and /enable, as the Data Studio does), and
# the module then asks for the one-time password before it spends the link.
use strict;
use warnings;
use lib 't/lib';
use JSON::PP qw(decode_json encode_json);
use MagicLink::Harness;
use Test::More;

my $port = nginx_port();
my $origin = "http://127.0.0.1:$port";

my $email = 'tfa@example.com';
my ($user, $secret) = tfa_user($email);
is sql('SELECT tfa_secret FROM directus_users WHERE id = ?', $user)->[0]{tfa_secret}, $secret,
    "Directus' API stored the user's 2FA secret";

sub verify_api { post_json('/magic-link-api/verify', encode_json({ token => $_[0], @_[1 .. $#_] })) }
sub unused { !sql('SELECT used FROM extension_magic_link WHERE token = ?', token_hash($_[0]))->[0]{used} }
sub a_wrong_code { my $right = totp($secret); return $right eq '000000' ? '111111' : '000000' }

subtest 'the link alone does not sign a 2FA user in, and is not spent' => sub {
    start_nginx();
    reset_limits();
    my $token = issue_link($email);
    my $get = request('GET', "/magic-link-api/verify?token=$token");
    is $get->{status}, 401, 'GET verify: 401';
    is decode_json($get->{content})->{code}, 'OTP_REQUIRED', 'saying a one-time password is required';
    my $post = verify_api($token);
    is $post->{status}, 401, 'POST without otp: 401';
    ok unused($token), 'the link is still usable';
};

subtest 'a wrong code is refused and counted; the right one signs in; a replayed one is refused' => sub {
    start_nginx(http => 'magic_link_max_failed_verifies_per_ip_per_hour 2;');
    reset_limits();
    my $token = issue_link($email);
    my $wrong = verify_api($token, otp => a_wrong_code());
    is $wrong->{status}, 401, 'a wrong code: 401';
    is decode_json($wrong->{content})->{code}, 'INVALID_OTP', 'INVALID_OTP, as Directus names it';
    ok unused($token), 'a wrong code does not spend the link';
    is verify_api($token, otp => 'abc')->{status}, 401, 'a malformed code: 401';
    is verify_api($token, otp => fresh_totp($secret))->{status}, 429,
        'wrong codes count toward the failed-redemption limit';
    reset_limits();

    my $code = fresh_totp($secret);
    my $right = verify_api($token, otp => $code);
    is $right->{status}, 200, 'the right code signs in';
    my $data = decode_json($right->{content})->{data};
    my $me = directus('GET', '/users/me?fields=id', headers => { Authorization => "Bearer $data->{access_token}" });
    is decode_json($me->{content})->{data}{id}, $user, 'as that user, in Directus';

    my $next = issue_link($email);
    my $replayed = verify_api($next, otp => $code);
    is $replayed->{status}, 401, 'the same code again: 401';
    ok unused($next), 'and the new link is still usable';
    is verify_api($next, otp => totp($secret, time + 30))->{status}, 200,
        "the next step's code (one step of drift) signs in";
};

subtest 'the confirm page asks for the code before it redeems' => sub {
    start_nginx();
    reset_limits();
    my $token = issue_link($email);
    my $page = request('GET', "/magic-link/verify?token=$token");
    is $page->{status}, 200, 'the confirm page';
    like $page->{content}, qr/name="otp"[^>]*autocomplete="one-time-code"/, 'with a one-time password field';
    my $post = sub { post_form('/magic-link/verify', $_[0], headers => { Origin => $origin }) };
    my $without = $post->("token=$token");
    is $without->{status}, 401, 'posted without a code: 401';
    like $without->{content}, qr/name="otp"/, 'the field again';
    my $wrong = $post->("token=$token&otp=" . a_wrong_code());
    is $wrong->{status}, 401, 'a wrong code: 401';
    like $wrong->{content}, qr/not right/, 'saying so';
    like $wrong->{content}, qr/signing in as <strong>\Q$email\E</, 'still naming the account';
    like $wrong->{content}, qr/name="token" value="\Q$token\E"/, 'the same link, still usable';
    my $right = $post->("token=$token&otp=" . fresh_totp($secret));
    is $right->{status}, 303, 'the right code: 303 to the after-login page';
    ok cookie_of($right), "with Directus' cookie";
};

subtest "enforced 2FA without a secret: sent to Directus' own setup, the link kept" => sub {
    start_nginx();
    reset_limits();
    my $enforcing = create_role('Enforced 2FA');
    attach_policy(create_policy(name => 'Enforce 2FA', enforce_tfa => 1), role => $enforcing);
    create_user(email => 'no-tfa@example.com', role => $enforcing);
    my $token = issue_link('no-tfa@example.com');
    my $page = request('GET', "/magic-link/verify?token=$token");
    is $page->{status}, 403, 'the verify page: 403';
    like $page->{content}, qr{href="http://127\.0\.0\.1:$port/admin/tfa-setup"}, 'linking to /admin/tfa-setup';
    my $api = verify_api($token);
    is $api->{status}, 403, 'the API: 403';
    is decode_json($api->{content})->{code}, 'TFA_SETUP_REQUIRED', 'TFA_SETUP_REQUIRED';
    ok unused($token), 'the link is not spent';
};

subtest 'an admin let in by magic_link_allow_admin still needs their code' => sub {
    start_nginx(http => 'magic_link_allow_admin on;');
    reset_limits();
    my $admin_role = create_role('Admins with 2FA');
    attach_policy(create_policy(name => 'Admin with 2FA', admin_access => 1), role => $admin_role);
    my ($admin, $admin_secret) = tfa_user('tfa-admin@example.com', role => $admin_role);
    my $token = issue_link('tfa-admin@example.com');
    is verify_api($token)->{status}, 401, 'without the code: 401';
    is verify_api($token, otp => fresh_totp($admin_secret))->{status}, 200, 'with it: signed in';
    sql_do('DELETE FROM directus_users WHERE id = ?', $admin);  # admins take Directus seats
};

no_worker_crashed();
is_deeply [log_leaks()], [], 'no token in the error log';
unlike error_log_since(0), qr/\Q$secret\E/, 'no 2FA secret in the error log';
done_testing();
