# POST /magic-link-api/generate against real Redis, PostgreSQL, Directus users and an SMTP sink.
use strict;
use warnings;
use lib 't/lib';
use JSON::PP qw(decode_json);
use Digest::SHA ();
use File::Temp ();
use MagicLink::Harness;
use POSIX ();
use Test::More;

my $ACCEPTED = '{"success":true,"message":"If your email exists in our system, a magic link has been sent"}';
my $port = nginx_port();

sub valid_links {
    my ($email) = @_;
    return sql(q{SELECT id FROM extension_magic_link
                 WHERE email = ? AND token <> '' AND NOT used AND superseded_at IS NULL
                   AND expires_at > now() AT TIME ZONE 'utc'}, $email);
}

my $role = create_role('Magic link test role');
my $other_role = create_role('Refused role');
create_user(email => 'Jane.Doe@Example.com', role => $role);
create_user(email => 'suspended@example.com', status => 'suspended');
create_user(email => 'refused@example.com', role => $other_role);

subtest 'the schema is applied as numbered migrations, each recorded once' => sub {
    start_nginx();
    reset_limits();  # earlier suites' requests count in the same Redis
    is generate('nobody@example.com')->{status}, 200, 'a first request brings the schema up';
    my @applied = map { "$_->{version} $_->{name}" }
        @{ sql('SELECT version, name FROM extension_magic_link_migrations ORDER BY version') };
    my @files = map { m{sql/0*(\d+)_(\w+)\.sql$} ? "$1 $2" : () } sort glob 'sql/[0-9]*.sql';
    ok scalar @files >= 2, 'sql/ holds the migrations';
    is_deeply \@applied, \@files, 'every migration in sql/ is recorded as applied, in order';
    my $functions = do { local (@ARGV, $/) = 'sql/functions.sql'; <> };
    my $sha = Digest::SHA::sha256_hex($functions);
    my $recorded = sub { sql('SELECT count(*) AS n FROM extension_magic_link_functions')->[0]{n} };
    is sql('SELECT count(*) AS n FROM extension_magic_link_functions WHERE sha256 = ?', $sha)
        ->[0]{n}, 1, 'this text of sql/functions.sql is recorded as applied';
    my $versions = $recorded->();
    start_nginx(workers => 2);  # new processes check again and apply nothing twice
    is generate('nobody@example.com')->{status}, 200, 'requests after a restart';
    is sql('SELECT count(*) AS n FROM extension_magic_link_migrations')->[0]{n}, scalar @files,
        'no migration recorded twice';
    is $recorded->(), $versions, 'the same functions are not applied again';
};

# An index's definition, '' when there is none.
sub index_definition {
    sql('SELECT indexdef FROM pg_indexes WHERE indexname = ?', $_[0])->[0]{indexdef} // '';
}

subtest "the module's indexes on Directus' tables, unless the operator opts out" => sub {
    sql_do('DROP INDEX IF EXISTS extension_magic_link_users_email');
    sql_do('DROP INDEX IF EXISTS extension_magic_link_sessions_user');
    start_nginx(http => "magic_link_user_email_index off;\nmagic_link_session_user_index off;");
    is generate('nobody@example.com')->{status}, 200, 'requests with the indexes off';
    is index_definition('extension_magic_link_users_email'), '', 'no index of user addresses is made';
    is index_definition('extension_magic_link_sessions_user'), '', 'no index of sessions is made';
    start_nginx();
    is generate('nobody@example.com')->{status}, 200, 'requests with them on (the default)';
    like index_definition('extension_magic_link_users_email'),
        qr/ON public\.directus_users USING btree \(lower\(\(email\)::text\)\)/,
        'the index on directus_users (lower(email))';
    like index_definition('extension_magic_link_sessions_user'),
        qr/ON public\.directus_sessions USING btree \("user", expires\)/,
        'the index on directus_sessions ("user", expires)';
    # Directus' clean-up of a user's expired sessions on each refresh, as Directus sends it
    # (the table is small here: the plan is asked with sequential scans off).
    sql_do('SET enable_seqscan = off');
    my $forced = join "\n", map { $_->{'QUERY PLAN'} } @{ sql(
        q{EXPLAIN DELETE FROM directus_sessions
            WHERE "user" = '00000000-0000-0000-0000-000000000000'
            AND share IS NULL AND expires < now()}) };
    sql_do('RESET enable_seqscan');
    like $forced, qr/extension_magic_link_sessions_user/,
        "Directus' clean-up of expired sessions can find them by the index";
};

subtest "a Directus table that cannot be indexed in time leaves the index for a later start" => sub {
    sql_do('DROP INDEX IF EXISTS extension_magic_link_sessions_user');
    my $locker = lock_table('directus_sessions');  # as a long transaction of someone else's
    start_nginx();
    my $response = generate('nobody@example.com');
    is $response->{status}, 200, 'requests are answered (the schema is applied without it)';
    is index_definition('extension_magic_link_sessions_user'), '', 'the index is not there yet';
    $locker->rollback;
    start_nginx();  # new processes look again
    is generate('nobody@example.com')->{status}, 200, 'requests after a restart';
    like index_definition('extension_magic_link_sessions_user'), qr/ON public\.directus_sessions/,
        'the index is built then';
};

subtest 'an existing user gets one mail with a link of the right shape' => sub {
    start_nginx();
    reset_limits();
    clear_mail();
    my $response = generate('jane.doe@example.com');
    is $response->{status}, 200, 'status 200';
    is $response->{content}, $ACCEPTED, 'the uniform answer';
    my @mails = wait_for_mails('jane.doe@example.com', 1);
    is scalar @mails, 1, 'exactly one mail';
    like $mails[0], qr{^Subject: Your Magic Login Link}m, 'the default subject';
    like $mails[0], qr{multipart/alternative}, 'text and HTML alternatives';
    like decoded($mails[0]), qr{http://127\.0\.0\.1:$port/magic-link/verify\?token=[A-Za-z0-9_-]{43}\b},
        'link is public URL + verify endpoint + 43-character token';
    my $token = token_in($mails[0]);
    ok wait_for_outbox(5, 'jane.doe@example.com'), 'the delivery is recorded (the row leaves the outbox)';
    my ($row) = @{ sql('SELECT * FROM extension_magic_link WHERE email = ? ORDER BY id DESC LIMIT 1',
                       'jane.doe@example.com') };
    is $row->{email_sent}, 1, 'email_sent recorded';
    is $row->{ip_address}, '127.0.0.1', 'client address recorded';
    is $row->{user_agent}, 'HTTP-Tiny/' . HTTP::Tiny->VERSION, 'user agent recorded';
    is length $row->{token}, 64, 'a 64-hex-digit hash is stored';
    for my $table (qw(extension_magic_link extension_magic_link_outbox)) {
        my ($hit) = @{ sql("SELECT count(*) AS n FROM $table t WHERE t::text LIKE ?", "%$token%") };
        is $hit->{n}, 0, "the raw token is in no column of $table";
    }
};

subtest 'unknown, suspended and refused-role users get the same answer and no mail' => sub {
    start_nginx(http => "magic_link_allowed_roles $role;");
    reset_limits();
    clear_mail();
    my %reason = ('nobody@example.com' => 'User not found',
                  'suspended@example.com' => 'User not active',
                  'refused@example.com' => 'Role not allowed');
    for my $email (sort keys %reason) {
        my $response = generate($email);
        is $response->{status}, 200, "$email: status 200";
        is $response->{content}, $ACCEPTED, "$email: the same body byte for byte";
        ok wait_for_requests(), "$email: the request was looked at";
        my ($row) = @{ sql('SELECT email_error, email_sent FROM extension_magic_link WHERE email = ?
                            ORDER BY id DESC LIMIT 1', $email) };
        is $row->{email_error}, $reason{$email}, "$email: audit row says '$reason{$email}'";
    }
    my $allowed = generate('jane.doe@example.com');
    is $allowed->{status}, 200, 'the allowed role still gets its link';
    wait_for_mails('jane.doe@example.com', 1);
    sleep 1;
    is scalar(mails_to($_)), 0, "no mail to $_" for sort keys %reason;
};

# The audit reason of the latest request for `email`, once it was looked at.
sub audit_reason {
    wait_for_requests();
    my ($row) = @{ sql('SELECT email_error FROM extension_magic_link WHERE email = ? ORDER BY id DESC LIMIT 1',
                       $_[0]) };
    return $row ? $row->{email_error} // 'issued' : 'no row';
}

subtest 'users of an SSO provider get links only with magic_link_allow_sso_users on' => sub {
    my $sso = create_user(email => 'sso@example.com', role => $role);
    sql_do(q{UPDATE directus_users SET provider = 'keycloak' WHERE id = ?}, $sso);
    start_nginx();
    reset_limits();
    clear_mail();
    is generate('sso@example.com')->{content}, $ACCEPTED, 'the uniform answer';
    is audit_reason('sso@example.com'), 'Provider not allowed', "audit row says 'Provider not allowed'";
    ok !wait_for_mails('sso@example.com', 1, 1), 'and no mail';
    start_nginx(http => 'magic_link_allow_sso_users on;');
    is generate('sso@example.com')->{status}, 200, 'with magic_link_allow_sso_users on';
    is scalar wait_for_mails('sso@example.com', 1), 1, 'the SSO user gets a link';
    # An active SSO user locks an unlicensed Directus 12 (SSO is not in its core licence): put the
    # user back and have Directus count again, or every later sign-in would be refused.
    sql_do(q{UPDATE directus_users SET provider = 'default', status = 'suspended' WHERE id = ?}, $sso);
    my ($status) = directus_api('POST', '/utils/cache/clear', undef, directus_admin_token());
    is $status, 200, 'Directus cleared its caches';
};

subtest 'the extension\'s table semantics: superseded and refused rows are used' => sub {
    start_nginx();
    reset_limits();
    my $first = issue_link('jane.doe@example.com');
    my $second = issue_link('jane.doe@example.com');
    my ($old) = @{ sql('SELECT used, email_error FROM extension_magic_link WHERE token = ?', token_hash($first)) };
    is $old->{used}, 1, 'a superseded link is used = true';
    is $old->{email_error}, 'Superseded by new token', 'with the extension\'s text';
    my ($new) = @{ sql('SELECT used, email_error FROM extension_magic_link WHERE token = ?', token_hash($second)) };
    is $new->{used}, 0, 'the newest link is not used';
    generate('jane.doe@example.com') for 1 .. 2;  # the first is superseded before its mail goes
    wait_for_requests();
    wait_for_outbox(10, 'jane.doe@example.com');
    my (undef, $quick) = @{ sql(q{SELECT used, email_error FROM extension_magic_link
                                   WHERE email = ? AND token <> '' ORDER BY id DESC LIMIT 2},
                                'jane.doe@example.com') };
    is $quick->{email_error}, 'Superseded by new token',
        'superseded before or while its mail went out: the same text';
    generate('nobody-at-all@example.com');
    wait_for_requests();
    my ($refusal) = @{ sql(q{SELECT used, email_error FROM extension_magic_link WHERE email = ?
                             ORDER BY id DESC LIMIT 1}, 'nobody-at-all@example.com') };
    is $refusal->{used}, 1, 'a refusal row is used = true';
    is $refusal->{email_error}, 'User not found', 'with its reason';
};

subtest 'accounts with admin access get no link by default, however Directus grants it' => sub {
    start_nginx();
    reset_limits();
    clear_mail();
    # Directus' own admin (its role's policy), a user with an admin policy of their own, and a
    # user whose role's parent has one; Directus 10, which has neither, flags the role itself.
    my $admin_policy = create_policy(name => 'Admin test policy', admin_access => 1);
    my $parent = create_role('Admin parent role');
    attach_policy($admin_policy, role => $parent);
    my @admins = ('admin@example.com');
    if (has_policies()) {
        my $direct = create_user(email => 'direct-admin@example.com', role => $role);
        attach_policy($admin_policy, user => $direct);
        create_user(email => 'nested-admin@example.com', role => create_role('Child of admin', parent => $parent));
        push @admins, 'direct-admin@example.com', 'nested-admin@example.com';
    } else {
        create_user(email => 'role-admin@example.com', role => $parent);
        push @admins, 'role-admin@example.com';
    }
    for my $email (@admins) {
        is generate($email)->{content}, $ACCEPTED, "$email: the uniform answer";
        is audit_reason($email), 'Admin not allowed', "$email: audit row says 'Admin not allowed'";
    }
    sleep 1;
    is scalar(mails_to($_)), 0, "no mail to $_" for @admins;

    start_nginx(http => 'magic_link_allow_admin on;');
    my $token = issue_link('admin@example.com');
    ok $token, 'with magic_link_allow_admin on, the admin gets a link';
    start_nginx();
    is request('GET', "/magic-link-api/verify?token=$token")->{status}, 401,
        'and it is refused again at redemption once admins are off';
    # Admins take Directus seats: remove the extra ones.
    sql_do('DELETE FROM directus_users WHERE email = ?', $_) for @admins[1 .. $#admins];
};

subtest 'role rules apply to the role and its ancestors' => sub {
    plan skip_all => "Directus $ENV{TEST_NGINX_DIRECTUS_VERSION} has no nested roles" unless has_nested_roles();
    my $parent = create_role('Parent role');
    my $child = create_role('Child role', parent => $parent);
    start_nginx(http => "magic_link_disallowed_roles $parent;");
    reset_limits();
    clear_mail();
    create_user(email => 'child@example.com', role => $child);
    generate('child@example.com');
    is audit_reason('child@example.com'), 'Role not allowed', 'a disallowed parent refuses the child role';
    start_nginx(http => "magic_link_allowed_roles $parent;");
    ok issue_link('child@example.com'), 'an allowed parent admits the child role';
    start_nginx(http => "magic_link_allowed_roles $child; magic_link_disallowed_roles $parent;");
    generate('child@example.com');
    is audit_reason('child@example.com'), 'Role not allowed', 'allowed itself, but under a disallowed parent';
};

subtest 'header injection attempts are refused and send nothing' => sub {
    start_nginx();
    reset_limits();
    clear_mail();
    for my $email ("jane.doe\@example.com\r\nBcc: victim\@evil.com",
                   "jane.doe\@example.com\nSubject: x", "victim\@evil.com>\r\nRCPT TO:<x\@y.z") {
        my $response = generate($email);
        is $response->{status}, 400, 'status 400';
    }
    my $response = post_form('/magic-link-api/generate',
                             'email=jane.doe%40example.com%0D%0ABcc%3A%20victim%40evil.com');
    is $response->{status}, 400, 'form body with CRLF: 400';
    sleep 1.5;
    is scalar(glob("$ENV{TEST_NGINX_MAILDIR}/new/*")), undef, 'no mail at all';
};

subtest 'a redirectUrl on the allow-list becomes the base of the mailed link' => sub {
    start_nginx(http => 'magic_link_redirect_allow https://app.example.com/auth/;');
    reset_limits();
    clear_mail();
    is generate('jane.doe@example.com', redirectUrl => 'https://evil.example.com/auth/')->{status},
        400, 'a foreign host is refused';
    my $response = generate('jane.doe@example.com', redirectUrl => 'https://app.example.com/auth/cb?x=1');
    is $response->{status}, 200, 'an allowed one is accepted';
    my ($mail) = wait_for_mails('jane.doe@example.com', 1);
    like decoded($mail), qr{https://app\.example\.com/auth/cb\?x=1&token=[A-Za-z0-9_-]{43}},
        'the link is redirectUrl + token';
};

subtest 'each location\'s mail is made with its own templates, subject and site name' => sub {
    # A second site's templates: the shipped ones with a line of its own in the text part.
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    for my $name (qw(mail.html mail.txt page.html)) {
        my $text = do { local (@ARGV, $/) = "templates/$name"; <> };
        $text = "Second site template\n$text" if $name eq 'mail.txt';
        open my $out, '>', "$dir/$name" or die $!;
        print $out $text;
        close $out;
    }
    start_nginx(workers => 2, server => <<"LOC");
        location /second-api/ {
            magic_link api;
            magic_link_templates $dir;
            magic_link_subject "Second subject";
            magic_link_site_name "Second Site";
        }
LOC
    reset_limits();
    clear_mail();
    is post_json('/second-api/generate', '{"email":"jane.doe@example.com"}')->{status}, 200,
        'asked through the second location';
    my ($second) = wait_for_mails('jane.doe@example.com', 1);
    like $second, qr{^Subject: Second subject}m, 'its subject';
    like decoded($second), qr{Second site template}, 'its templates';
    like decoded($second), qr{Sign in to Second Site}, 'its site name';
    clear_mail();
    is generate('jane.doe@example.com')->{status}, 200, 'asked through the first';
    my ($first) = wait_for_mails('jane.doe@example.com', 1);
    like $first, qr{^Subject: Your Magic Login Link}m, 'the default subject';
    unlike decoded($first), qr{Second site template}, 'the default templates';
    like decoded($first), qr{http://127\.0\.0\.1:$port/magic-link/verify\?token=[A-Za-z0-9_-]{43}\b},
        'with a working link';
};

subtest 'the per-email limit sends exactly N mails and keeps the latest link valid' => sub {
    start_nginx(http => 'magic_link_max_requests_per_hour 2;');
    reset_limits();
    clear_mail();
    my ($before) = @{ sql('SELECT coalesce(max(id), 0) AS id FROM extension_magic_link') };
    my @statuses = map { generate('jane.doe@example.com')->{status} } 1 .. 4;
    is_deeply \@statuses, [200, 200, 200, 200], 'every request gets the same 200';
    sleep 1.5;
    my @mails = wait_for_mails('jane.doe@example.com', 2);
    is scalar @mails, 2, 'exactly 2 mails';
    my $limited = sql(q{SELECT id FROM extension_magic_link WHERE email = ? AND id > ?
                        AND email_error = 'Rate limit exceeded'}, 'jane.doe@example.com', $before->{id});
    is scalar @$limited, 2, "2 audit rows with 'Rate limit exceeded'";
    my $valid = valid_links('jane.doe@example.com');
    is scalar @$valid, 1, 'one valid link remains';
    my ($latest) = @{ sql(q{SELECT token FROM extension_magic_link WHERE id = ?}, $valid->[0]{id}) };
    my $latest_token = token_in($mails[-1]);
    is $latest->{token}, token_hash($latest_token), 'it is the link of the latest mail';
};

subtest 'the per-client limit answers 429 with Retry-After' => sub {
    start_nginx(http => 'magic_link_max_requests_per_ip_per_hour 3;');
    reset_limits();
    my @statuses = map { generate("someone$_\@example.com")->{status} } 1 .. 3;
    is_deeply \@statuses, [200, 200, 200], 'within the limit';
    my $refused = generate('someone4@example.com');
    is $refused->{status}, 429, 'over the limit: 429';
    like $refused->{headers}{'retry-after'}, qr/^\d+$/, 'Retry-After in seconds';
    ok $refused->{headers}{'retry-after'} > 0 && $refused->{headers}{'retry-after'} <= 3600,
        'Retry-After within the hour';
    is decode_json($refused->{content})->{success}, JSON::PP::false, 'a JSON failure';

    # Once refused, the client is refused from shared memory until its window ends: Redis is
    # not asked (its counters are gone, and it is stopped), the answer is the same.
    reset_limits();
    services('stop', 'redis');
    my $again = generate('someone5@example.com');
    is $again->{status}, 429, 'refused again without Redis';
    ok $again->{headers}{'retry-after'} > 0 && $again->{headers}{'retry-after'} <= 3600,
        'with Retry-After';
    is generate('someone6@example.com', host => undef)->{status}, 429, 'every time';
    my $with_cookie = post_json('/magic-link-api/generate', '{"email":"someone7@example.com"}',
                                headers => { Cookie => 'x=1' });
    is $with_cookie->{status}, 503, 'a client with cookies (maybe an owner) is asked about in Redis';
    services('start', 'redis');
};

subtest '10 concurrent requests for one email leave exactly one valid link' => sub {
    start_nginx(http => 'magic_link_max_requests_per_hour 100;');
    reset_limits();
    is passed(in_background(10, sub { generate('jane.doe@example.com')->{status} == 200 })), 10,
        'all 10 answered 200';
    ok wait_for_requests(), 'the requests were looked at';
    is scalar @{ valid_links('jane.doe@example.com') }, 1, 'one valid link';
};

subtest 'several workers share the outbox: every mail is sent exactly once' => sub {
    start_nginx(workers => 4);
    reset_limits();
    ok wait_for_outbox(), 'mail of earlier subtests is out';
    clear_mail();
    my @emails = map { "worker$_\@example.com" } 1 .. 12;
    create_user(email => $_) for @emails;
    my @requests = map { my $email = $_; in_background(1, sub { generate($email)->{status} == 200 }) } @emails;
    is passed(@requests), 12, 'all accepted';
    ok wait_for_outbox(), 'the outbox drains';
    sleep 1;
    is_deeply [map { scalar mails_to($_) } @emails], [(1) x 12], 'one mail each, none twice';
};

subtest 'a full thread-pool queue answers 503 at once' => sub {
    start_nginx(main => 'thread_pool tiny threads=1 max_queue=1;',
                http => 'magic_link_thread_pool tiny;');
    reset_limits();
    # Hold the table so the one thread waits in PostgreSQL; the queue then fills.
    my $locker = lock_table('extension_magic_link_pending');
    my @children;
    for (1 .. 4) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my $response = generate('jane.doe@example.com');
            POSIX::_exit($response->{status} == 503 && $response->{headers}{'retry-after'} ? 3 : 0);
        }
        push @children, $pid;
        select undef, undef, undef, 0.1;
    }
    my @busy = grep { waitpid($_, 0) && ($? >> 8) == 3 } @children[2 .. 3];
    ok scalar @busy >= 1, 'requests beyond the queue get 503 with Retry-After';
    $locker->rollback;
    waitpid($_, 0) for @children[0 .. 1];
    like error_log_since(0), qr/magic_link: thread pool queue is full, answering 503/, 'a greppable line';
    ok wait_until(sub { generate('jane.doe@example.com')->{status} == 200 }, 5), 'service resumes';
};

# A fresh worker's first background run cleans up (then every 10 minutes).
subtest 'old rows go: unused links an hour after they expired, every row after the retention' => sub {
    sql_do(q{DELETE FROM extension_magic_link WHERE email LIKE '%@cleanup.test'});  # a rerun's
    my $row = q{INSERT INTO extension_magic_link (email, token, expires_at, ip_address, used, created_at)
                VALUES (?, ?, (now() AT TIME ZONE 'utc') + ?::interval, '127.0.0.1', ?,
                        (now() AT TIME ZONE 'utc') + ?::interval)};
    sql_do($row, 'expired@cleanup.test', random_token(), '-2 hours', 'false', '-3 hours');
    sql_do($row, 'fresh@cleanup.test', random_token(), '10 minutes', 'false', '-5 minutes');
    sql_do($row, 'used@cleanup.test', random_token(), '-2 hours', 'true', '-3 hours');
    sql_do($row, 'ancient@cleanup.test', random_token(), '-40 days', 'true', '-40 days');
    start_nginx();
    generate('wake-up@cleanup.test');
    my $left = sub { [map { $_->{email} } @{ sql(q{SELECT email FROM extension_magic_link
                                                 WHERE email LIKE '%@cleanup.test' ORDER BY email}) }] };
    wait_until(sub { !grep { /expired|ancient/ } @{ $left->() } }, 10);
    is_deeply $left->(), ['fresh@cleanup.test', 'used@cleanup.test', 'wake-up@cleanup.test'],
              'the expired unused link and the 40-day-old row are gone; the rest stays';
};

no_worker_crashed();
is_deeply [log_leaks()], [], 'no token in the error log';
done_testing();
