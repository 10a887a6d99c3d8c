# The Debian package (make deb, debian/). Installed with apt-get, it puts the module, its load
# file, the templates and the SQL where Debian's own libnginx-mod-* packages put theirs and enables
# the module, so Debian's nginx takes the module's directives with no load_module line of its own
# and the module finds its templates in /usr/share; removed, the module is disabled the way
# Debian's are; purged, nothing is left. Builds the package first when it is missing or older than
# its sources.
#
# Runs once per `make t`: it changes the machine's packages, so it skips under
# scripts/checked-nginx.sh (ASan, valgrind), and it needs root. The only nginx it runs is
# `nginx -t` on configurations in a temp folder (their own error log, pid file and temp paths): no
# nginx is started, and the package's scripts neither start nor reload the nginx service (a
# policy-rc.d refuses).
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Find qw(find);
use File::Temp qw(tempdir);
use Test::More;

plan skip_all => 'the package test runs in the plain pass only, not under checked-nginx.sh'
    if $ENV{CHECKED_NGINX_KIND};
plan skip_all => "installs the Debian package with apt-get: needs root (uid is $>)"
    if $> != 0;
plan tests => 38;

my $PACKAGE   = 'libnginx-mod-http-magic-link';
my $SO        = '/usr/lib/nginx/modules/ngx_http_magic_link_module.so';
my $AVAILABLE = '/usr/share/nginx/modules-available/mod-http-magic-link.conf';
my $ENABLED   = '/etc/nginx/modules-enabled/50-mod-http-magic-link.conf';
my $SHARE     = '/usr/share/nginx-magic-link';
my $NGINX     = '/usr/sbin/nginx';    # Debian's: the nginx the package is for

my $repo = abs_path('.');
chomp(my $version = `dpkg-parsechangelog -l $repo/debian/changelog -S Version`);
chomp(my $arch = `dpkg --print-architecture`);
my $deb = "$repo/build/deb/${PACKAGE}_${version}_$arch.deb";

sub slurp {
    my ($path) = @_;
    open my $in, '<:raw', $path or return undef;
    local $/;
    return scalar <$in>;
}

# Runs a command with its output in a log; returns whether it succeeded, and shows the log's end
# when not.
sub run_logged {
    my ($log, @command) = @_;
    system("@command > $log 2>&1");
    return 1 if $? == 0;
    my @lines = split /\n/, slurp($log) // '';
    my $from = $#lines > 40 ? $#lines - 40 : 0;
    diag("`@command` failed ($?):\n", join "\n", @lines[ $from .. $#lines ]);
    return 0;
}

# --- the package, built when missing or older than what it is built from ---
my $newest = 0;
find({ no_chdir => 1, wanted => sub {
    my $mtime = (stat $File::Find::name)[9];
    $newest = $mtime if -f _ && $mtime > $newest;
} }, map { "$repo/$_" } qw(Makefile config debian scripts/package-deb.sh sql src templates));
my $built = -f $deb && (stat $deb)[9] >= $newest;
if (!$built) {
    note(-f $deb ? "$deb is older than its sources: make deb" : "no $deb yet: make deb");
    mkdir "$repo/build";
    local %ENV = %ENV;
    delete @ENV{qw(MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES)};  # a make of its own, not make t's
    $built = run_logged("$repo/build/make-deb.log", "make -C $repo deb") && -f $deb;
}
if (!ok($built, "the package is built: $deb")) {
    Test::More->builder->skip('no package: make deb failed (build/make-deb.log)') for 2 .. 38;
    exit;
}

my %fields = map { /^(\S+): (.*)$/ ? ($1 => $2) : () } split /\n/, `dpkg-deb -f $deb`;
my ($abi) = (slurp('/usr/share/nginx/src/debian/libnginx-mod.abisubstvars') // '')
    =~ /^nginx:abi=(\S+)$/m;
ok($abi && $fields{Depends} =~ /(^|, )\Q$abi\E(,|$)/,
   "it depends on the ABI of the nginx it was built for ($abi)")
    or diag "Depends: $fields{Depends}";
my @missing = grep { $fields{Depends} !~ /(^|, )$_ / }
    qw(libcurl4 libhiredis0.14 libjwt0 liboath0 libpq5 libssl3 libstdc\+\+6);
is_deeply(\@missing, [], 'and on the shared libraries it links (dh_shlibdeps)')
    or diag "Depends: $fields{Depends}";

# --- install ---
my $tmp = tempdir(CLEANUP => 1);
# The package's scripts ask for an nginx reload (a dpkg trigger of the nginx package, which runs
# invoke-rc.d): a policy that refuses keeps a running nginx service as it is.
my $POLICY = '/usr/sbin/policy-rc.d';
my $own_policy;
if (!-e $POLICY) {
    open my $out, '>', $POLICY or die "$POLICY: $!";
    print $out "#!/bin/sh\n# t/080-package.t: no service starts or reloads meanwhile\nexit 101\n";
    close $out;
    chmod 0755, $POLICY;
    $own_policy = 1;
}
END { unlink $POLICY if $own_policy }

my @APT = ('DEBIAN_FRONTEND=noninteractive', 'apt-get', '-y', '-q', '-o', 'Dpkg::Use-Pty=0',
           '-o', 'DPkg::Lock::Timeout=300');
# dpkg's status of the package: "ii" installed, "rc" removed with its configuration left,
# "" or "?n" not installed.
sub status {
    my $status = `dpkg-query -W -f '\${db:Status-Abbrev}' $PACKAGE 2>/dev/null`;
    return $status =~ s/\s+$//r;
}
sub installed { status() !~ /^(.n)?$/ }
if (installed()) {
    note("$PACKAGE is installed already: purged first, to install this build");
    run_logged("$tmp/apt-pre.log", @APT, 'purge', $PACKAGE);
}
# A run that fails half-way leaves no module enabled on the machine.
END { local $?; system("@APT purge $PACKAGE > /dev/null 2>&1") if $built && installed() }

ok(run_logged("$tmp/apt-install.log", @APT, 'install', $deb), "apt-get install $deb");
is(status(), 'ii', 'the package is installed');
ok(-f $SO, "the module is $SO");
is(slurp($AVAILABLE), "load_module modules/ngx_http_magic_link_module.so;\n",
   "$AVAILABLE loads it");
ok(-l $ENABLED, "$ENABLED is a symlink");
is(readlink($ENABLED), $AVAILABLE, '... to the load file');

# Every template and SQL file of the checkout, byte for byte.
for my $kind (qw(templates sql)) {
    my @files = map { s{.*/}{}r } glob($kind eq 'sql' ? "$repo/sql/*.sql" : "$repo/templates/*");
    my @different =
        grep { (slurp("$SHARE/$kind/$_") // "\0missing") ne slurp("$repo/$kind/$_") } @files;
    ok(@files && !@different, "$SHARE/$kind holds the checkout's " . @files . " $kind files")
        or diag "missing or different: @different";
}
ok(-f "/usr/share/doc/$PACKAGE/copyright", 'a copyright file');
ok(-f "/usr/share/doc/$PACKAGE/changelog.gz", 'a changelog');

# --- Debian's nginx with the module's directives, loaded through modules-enabled only ---
sub nginx_conf {
    my ($dir, %opts) = @_;
    my $include = $opts{no_include} ? '' : "include /etc/nginx/modules-enabled/*.conf;\n";
    my $templates = $opts{templates} ? "    magic_link_templates $opts{templates};\n" : '';
    mkdir $dir;
    open my $out, '>', "$dir/nginx.conf" or die $!;
    print $out <<"CONF";
${include}error_log $dir/error.log;
pid $dir/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    magic_link_secret 0123456789abcdef0123456789abcdef;
$templates    server {
        listen 127.0.0.1:8080;
        location /magic-link-api/   { magic_link api; }
        location /magic-link/verify { magic_link verify; }
        location /magic-link-ui     { magic_link ui; }
        location /private/          { magic_link_require on; return 204; }
    }
}
CONF
    close $out;
    return "$dir/nginx.conf";
}

# `nginx -t` only (no server starts), in a clean environment: no MAGIC_LINK_TEMPLATES_DIR or other
# setting of the suites' services reaches the module. nginx's own prefix stays: the load file
# names the module relative to it (modules/...); every path the configuration writes is absolute.
sub nginx_test {
    my ($conf) = @_;
    my $output = `env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin $NGINX -t -c $conf 2>&1`;
    return ($? == 0, $output);
}

my $conf = nginx_conf("$tmp/enabled");
unlike(slurp($conf), qr/load_module/, 'the test configuration has no load_module line');
my ($passed, $output) = nginx_test($conf);
ok($passed, 'nginx -t passes with the module enabled by the package: templates from its default')
    or diag $output;
($passed, $output) = nginx_test(nginx_conf("$tmp/no-include", no_include => 1));
ok(!$passed && $output =~ /unknown directive "magic_link_secret"/,
   '... and its directives are unknown without modules-enabled') or diag $output;

# The compiled-in template folder is the package's: with it moved away nginx -t names it, and a
# `magic_link_templates` still works.
like(slurp($SO), qr{\Q$SHARE/templates\E\0},
     "the module's default template folder is $SHARE/templates");
unlike(slurp($SO), qr{build/deb/src/templates}, '... not the build tree');
rename "$SHARE/templates", "$SHARE/templates.aside" or die "rename: $!";
($passed, $output) = nginx_test($conf);
my ($passed_with, $output_with) =
    nginx_test(nginx_conf("$tmp/with", templates => "$SHARE/templates.aside"));
rename "$SHARE/templates.aside", "$SHARE/templates" or die "rename back: $!";
ok(!$passed && $output =~ m{cannot read template "\Q$SHARE/templates/\E},
   "without $SHARE/templates nginx -t fails and names it") or diag $output;
ok($passed_with, '... and magic_link_templates elsewhere still passes') or diag $output_with;
($passed, $output) = nginx_test($conf);
ok($passed, 'with the templates back nginx -t passes again') or diag $output;

# --- remove, reinstall, purge: as Debian's modules do ---
ok(run_logged("$tmp/apt-remove.log", @APT, 'remove', $PACKAGE), "apt-get remove $PACKAGE");
ok(!-e $SO, 'removed: the module is gone');
ok(!-e $ENABLED && !-l $ENABLED, '... the modules-enabled link is gone');
ok(-l "$ENABLED.removed", '... kept as .removed, which nginx does not include (Debian\'s way)');
($passed, $output) = nginx_test($conf);
ok(!$passed && $output =~ /unknown directive "magic_link_secret"/,
   '... and nginx no longer loads the module') or diag $output;

ok(run_logged("$tmp/apt-reinstall.log", @APT, 'install', $deb), 'apt-get install again');
ok(-l $ENABLED && !-l "$ENABLED.removed", 'reinstalled: the link is back');
($passed, $output) = nginx_test($conf);
ok($passed, '... and nginx -t passes') or diag $output;

ok(run_logged("$tmp/apt-purge.log", @APT, 'purge', $PACKAGE), "apt-get purge $PACKAGE");
ok(!installed(), 'purged: dpkg has no trace of the package') or diag 'status: ' . status();
ok(!-e $SO, '... the module is gone');
ok(!-l $ENABLED && !-e $ENABLED, '... the modules-enabled link is gone');
ok(!-l "$ENABLED.removed", '... and no .removed link is left');
ok(!-e $AVAILABLE, '... the load file is gone');
ok(!-e $SHARE, "... $SHARE is gone");
ok(!-e "/usr/share/doc/$PACKAGE", '... its documentation is gone');
($passed, $output) = nginx_test($conf);
ok(!$passed && $output =~ /unknown directive "magic_link_secret"/,
   '... and nginx no longer knows the directives') or diag $output;
