# SMTP over TLS against a real TLS-capable server (aiosmtpd, tests/smtp/tls_sink.py): STARTTLS
# and TLS from the first byte, AUTH, certificates verified against the system's CAs plus
# magic_link_smtp_ca_file (a private CA made here with openssl), and a password never sent in
# clear.
use strict;
use warnings;
use lib 't/lib';
use File::Temp qw(tempdir);
use IO::Socket::INET;
use MagicLink::Harness;
use Test::More;

my $dir = tempdir(CLEANUP => 1);
# A private CA, and the server's certificate for 127.0.0.1 signed by it.
system(qq{openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Test private CA" }
     . qq{-keyout $dir/ca.key -out $dir/ca.pem 2>/dev/null}) == 0 or die 'CA';
system(qq{openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout $dir/server.key }
     . qq{-out $dir/server.csr 2>/dev/null}) == 0 or die 'CSR';
open my $ext, '>', "$dir/san.ext" or die $!;
print $ext "subjectAltName=IP:127.0.0.1\n";
close $ext;
system(qq{openssl x509 -req -in $dir/server.csr -CA $dir/ca.pem -CAkey $dir/ca.key -CAcreateserial }
     . qq{-days 2 -extfile $dir/san.ext -out $dir/server.pem 2>/dev/null}) == 0 or die 'certificate';

sub free_port {
    while (1) {
        my $port = 20000 + int rand 10000;
        return $port unless IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
    }
}
my ($starttls_port, $tls_port) = (free_port(), free_port());
my $maildir = "$dir/mail";
my ($user, $password) = ('mailer', 'a password for the relay');
my $sink = fork // die "fork: $!";
if (!$sink) {
    open STDOUT, '>', "$dir/sink.log" or die $!;
    open STDERR, '>&', \*STDOUT or die $!;  # aiosmtpd warns about AUTH on the TLS port
    exec '/usr/bin/python3', 'tests/smtp/tls_sink.py', $starttls_port, $tls_port,
         "$dir/server.pem", "$dir/server.key", $maildir, $user, $password or die "exec: $!";
}
END { local $?; if ($sink) { kill "TERM", $sink; waitpid $sink, 0 } }  # keeps the exit code
wait_until(sub { -s "$dir/sink.log" && `cat $dir/sink.log` =~ /^ready$/m }, 10) or die 'tls_sink did not start';

sub delivered {
    my ($address) = @_;
    return scalar grep { /^X-RcptTo: \Q$address\E\s*$/mi }
                  map { local (@ARGV, $/) = $_; <> } glob("$maildir/new/*");
}

# Asks for a link with the module sending through `smtp`; true when the mail reached the server.
sub mails_through {
    my ($address, $smtp) = @_;
    start_nginx(smtp => $smtp, log_level => 'info');
    reset_limits();
    generate($address)->{status} == 200 or die 'generate refused';
    return wait_until(sub { delivered($address) }, 6);
}

my @users = map { "tls$_\@example.com" } 1 .. 6;
create_user(email => $_) for @users;
sql_do(q{DELETE FROM extension_magic_link_outbox o USING extension_magic_link l
         WHERE l.id = o.link_id AND l.email LIKE 'tls%'});  # a rerun's leftovers
my $auth = qq{magic_link_smtp_user $user; magic_link_smtp_password "$password";};

ok mails_through($users[0], qq{magic_link_smtp_host 127.0.0.1; magic_link_smtp_port $starttls_port;
                              $auth magic_link_smtp_ca_file $dir/ca.pem;}),
   'STARTTLS and AUTH, the server\'s certificate checked against the private CA';
ok mails_through($users[1], qq{magic_link_smtp_host 127.0.0.1; magic_link_smtp_port $tls_port;
                              magic_link_smtp_secure on; $auth magic_link_smtp_ca_file $dir/ca.pem;}),
   'TLS from the first byte (smtps) and AUTH';

my (undef, $offset) = error_log_since(0);
ok !mails_through($users[2], qq{magic_link_smtp_host 127.0.0.1; magic_link_smtp_port $tls_port;
                               magic_link_smtp_secure on; $auth}),
   'a certificate no trusted CA signed: nothing sent';
like scalar error_log_since($offset), qr/magic_link: mail for link \d+ not sent \([^)]*(certificate|SSL)/i,
     'the error log says why';
is sql(q{SELECT count(*) AS n FROM extension_magic_link_outbox o JOIN extension_magic_link l
         ON l.id = o.link_id WHERE l.email = ?}, $users[2])->[0]{n}, 1, 'the mail stays queued';

ok !mails_through($users[3], qq{magic_link_smtp_host 127.0.0.1; magic_link_smtp_port $starttls_port;
                               magic_link_smtp_user $user; magic_link_smtp_password wrong-one;
                               magic_link_smtp_ca_file $dir/ca.pem;}),
   'a wrong password: refused by the server';

# The test sink offers no STARTTLS: a password must not go to it in clear.
(undef, $offset) = error_log_since(0);
ok !mails_through($users[4], "magic_link_smtp_host 127.0.0.1; magic_link_smtp_port "
                           . "$ENV{TEST_NGINX_SMTP_PORT}; $auth"),
   'with a user set and no STARTTLS offered, nothing is sent';
like scalar error_log_since($offset), qr/magic_link: mail for link \d+ not sent \([^)]*SSL/i,
     'because TLS is required for AUTH';

my $missing = eval { start_nginx(http => 'magic_link_smtp_ca_file /nonexistent/ca.pem;'); 1 } ? '' : $@;
like $missing, qr/magic_link_smtp_ca_file.*cannot be read/, 'nginx -t names a CA file it cannot read';

done_testing();
