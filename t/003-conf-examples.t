# Every file in conf-examples/ passes `nginx -t` with the module built here.
use strict;
use warnings;
use File::Temp qw(tempdir);
use Test::More;

my $module = (split ' ', $ENV{TEST_NGINX_LOAD_MODULES} // '')[0]
    or plan skip_all => 'TEST_NGINX_LOAD_MODULES is not set';
my $nginx = $ENV{TEST_NGINX_BINARY} // 'nginx';

# A throwaway certificate for the examples that listen with TLS.
my $certs = tempdir(CLEANUP => 1);
system("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
       . "-keyout $certs/key.pem -out $certs/cert.pem 2>/dev/null") == 0 or die 'openssl failed';

for my $example (glob 'conf-examples/*.conf') {
    my $dir = tempdir(CLEANUP => 1);
    open my $in, '<', $example or die "$example: $!";
    my $conf = do { local $/; <$in> };
    $conf =~ s{^load_module\s+\S+;}{load_module $module;}m;
    $conf =~ s{ssl_certificate\s+\S+;}{ssl_certificate $certs/cert.pem;}g;
    $conf =~ s{ssl_certificate_key\s+\S+;}{ssl_certificate_key $certs/key.pem;}g;
    # nginx -t opens the log files it would write; keep them in the temp folder.
    $conf = "error_log $dir/error.log;\npid $dir/nginx.pid;\n" . $conf;
    $conf =~ s{access_log\s+/var/log/nginx/}{access_log $dir/}g;
    $conf =~ s|^http \{|http {\n    access_log $dir/access.log;|m unless $conf =~ /access_log/;
    open my $out, '>', "$dir/nginx.conf" or die $!;
    print $out $conf;
    close $out;
    my $output = `$nginx -t -p $dir -c $dir/nginx.conf 2>&1`;
    is($?, 0, "$example passes nginx -t") or diag $output;
    like($conf, qr/log_format\s+\S+\s[^;]*\$magic_link_request/, "$example logs \$magic_link_request")
        if $conf =~ /magic_link (api|verify)/;
    unlike($conf, qr/log_format[^;]*\$request\b/, "$example never logs \$request");
}

done_testing();
