package Test::Nginx::Socket;

=encoding utf-8

=head1 NAME

Test::Nginx::Socket - small local runner for Test::Nginx::Socket-format test files

=head1 SYNOPSIS

    use lib 't/lib';
    use Test::Nginx::Socket;

    repeat_each(1);
    plan tests => repeat_each() * (blocks() * 2);

    # or, counting as the blocks run:
    use Test::Nginx::Socket 'no_plan';

    no_shuffle();
    run_tests();

    __DATA__

    === TEST 1: hello
    --- config
        location = /t {
            return 200 "hello";
        }
    --- request
    GET /t
    --- response_body chomp
    hello

=head1 DESCRIPTION

A deliberately small re-implementation of the subset of the CPAN
L<Test::Nginx::Socket> (openresty/test-nginx) that this project uses, built on
L<Test::Base>.  Test files written for it must stay valid files for the real
module: only the sections and functions listed here are supported, and each
has the meaning the real module gives it.  A block that uses a section the
real module knows but this runner does not implement makes the test file die
with a message naming the section (custom sections consumed by a block
preprocessor are ignored, as in the real module).

=head2 The plan

A test file must declare its plan before C<run_tests()>: either as an import
argument, C<use Test::Nginx::Socket 'no_plan';> (or C<< tests => N >>), which
L<Test::Base>'s C<import> (inherited, this runner has none of its own) passes
to L<Test::More>, or with C<plan tests => ...> in the file.  The real module
adds no plan, so a file without one fails there; this runner does not add one
either: C<run_tests()> dies with a message saying how to declare it.

=head2 Exported functions

Everything L<Test::Base> exports (C<plan>, C<blocks>, C<is>, C<like>, C<ok>,
C<diag>, C<skip>, ... from L<Test::More>), plus:

=over

=item C<run_tests()>

Runs every block.  It dies, before nginx is started, when no plan was declared
(see L</The plan>).

=item C<repeat_each(N)> / C<repeat_each()>

Send the request(s) of each block N times (nginx is started and C<--- init>
runs once per block).  Default 1.

=item C<no_shuffle()>

Run blocks in file order.  By default blocks are shuffled, as in the real
module (env C<TEST_NGINX_NO_SHUFFLE=1> also disables shuffling).

=item C<env_to_nginx("NAME", "NAME=value", ...)>

Emit C<env ...;> lines in the main context of F<nginx.conf>.

=item C<workers(N)>, C<master_on()>, C<master_off()>, C<log_level('warn')>

C<worker_processes>, C<master_process> (B<off> by default, as in the real
module; env C<TEST_NGINX_MASTER_PROCESS=on> turns it on), and the error log
level (default C<debug>, env C<TEST_NGINX_LOG_LEVEL>).

=item C<no_long_string()>

Compare bodies with L<Test::Base>'s C<is> (L<Text::Diff> output) instead of
L<Test::LongString>'s C<is_string>.

=item C<no_root_location()>

Do not emit the default C<location / { root html; }>, so blocks may define
their own C<location />.

=item C<add_block_preprocessor(sub { my $block = shift; ... })>

Called with each block before it runs (later-added preprocessors run first).

=item C<server_port()>, C<server_root()>, C<html_dir()>, C<timeout()>, C<bail_out(@msg)>

Listening port, F<t/servroot> (absolute), its F<html> directory, the
default client timeout, and "stop nginx and BAIL_OUT".

=back

=head2 Sections

=over

=item C<--- main_config>, C<--- http_config>, C<--- config>

Main-context, C<http {}> and C<server {}> configuration.  C<$TEST_NGINX_*>
variables are replaced from C<%ENV> in these (and in C<--- user_files>);
an undefined one makes the test file die.  As in the real module they are
B<not> replaced in C<--- request>, C<--- more_headers> or the expectation
sections; use C<eval> there (C<"GET /t?p=$ENV{TEST_NGINX_FOO}">).  A block without C<--- config>
reuses the nginx started for the previous block unchanged (its other
configuration sections are then ignored, as in the real module).

=item C<--- user_files>

C<< >>> name [touch -t date] >> lines followed by the content; files are
written under C<html_dir()> (absolute names as given) before nginx starts.
The C<eval> form C<[[name, content, date], ...]> is accepted too.

=item C<--- request>, C<--- request eval>

C<METHOD [/uri [HTTP/1.x]]> on the first line (leading C<#> comment lines are
skipped), the rest is the body: leading/trailing whitespace is trimmed and a
C<Content-Length> header added (unless C<--- more_headers> gives one or says
C<Transfer-Encoding: chunked>, in which case the body is sent verbatim).
C<Host: localhost> and C<Connection: close> are added unless
C<--- more_headers> has them.  With C<eval>, the value may be an array of
such strings: each is sent on its own connection, in order, and the
expectation sections below must then be arrays with one entry per request
(a plain value with several requests is an error).

=item C<--- raw_request>

Sent exactly as given (an array value is written as successive packets).

=item C<--- more_headers>

C<Name: value> per line (C<#> lines ignored); an array with C<eval>, one per
request.

=item C<--- timeout>

Client timeout between two I/O events, seconds or C<NNNms>; default 3
(C<timeout()>, env C<TEST_NGINX_TIMEOUT>).  A time-out fails the status test.

=item C<--- error_code>

Expected status; 200 when absent.

=item C<--- response_body>

Exact body (an C<eval> value that is a C<qr//> is matched instead).  The
literal text C<$ServerPort> is replaced by the port, as in the real module.

=item C<--- response_body_like>

Regex matched against the body with C</s>.  Ignored when
C<--- response_body> is also given (real behaviour).

=item C<--- response_headers>

C<Name: value> per line, compared exactly (multiple headers of one name are
joined with C<", ">; C<Name:> with an empty value also accepts a missing
header).  C<!Name> (or a bare C<Name>) asserts the header is absent.

=item C<--- response_headers_like>

C<Name: regex> per line, anchored as C<^regex$>.  Ignored when
C<--- response_headers> is also given (real behaviour).

=item C<--- error_log>, C<--- no_error_log>

One substring per line, or with C<eval> a string, C<qr//> or an array of
them.  They are checked after every request against the error-log lines
written since the previous check (the window of the first request starts
when the block starts: at the beginning of the fresh log if nginx was
(re)started for the block, else at the end of the log as it was).  Before
each check the runner sleeps C<--- wait> seconds (if given) and then 50ms.

=item C<--- must_die> (optionally C<--- must_die: EXIT_CODE>)

nginx must fail to start with this configuration; no request is sent and
C<--- init> is not run.  C<--- error_log>/C<--- no_error_log> are then
matched against nginx's stderr plus F<logs/error.log> (nginx is started with
C<-e logs/error.log> when it is 1.19.5 or newer, so start-up messages land in
the servroot log as they do with an OpenResty build).

=item C<--- init>

Perl code, evaluated in package C<Test::Nginx::Socket> after nginx has been
(re)started for the block and before its first request, once per block (not
per repeat).

=item C<--- wait>

Seconds to sleep after each response before the error log is read.

=item C<--- log_level>

Error log level for this block.

=item C<--- skip_nginx: N: E<lt> 1.2.3[: reason]>

Skip N tests (per repeat) when the nginx version matches (C<< < <= > >= >>).

=item C<--- ONLY>, C<--- SKIP>, C<--- LAST>

Handled by L<Test::Base>.  Filters (C<chomp>, C<eval>, ...) work as usual.

=back

=head2 How many tests a block counts

For each of the C<repeat_each()> repetitions of a block:

=over

=item * a C<--- must_die> block: 1 (died / exit code) + E + N;

=item * a block skipped by C<--- skip_nginx>: the N it names;

=item * any other block, for every request it sends (1, or the length of the
C<--- request eval> array):

    1                      status code (always, default 200)
  + H                      one per distinct header name in this request's
                           --- response_headers entry (or, if there is no
                           --- response_headers, in --- response_headers_like)
  + 1 if --- response_body or --- response_body_like is given
  + E + N

=back

where E and N are the numbers of patterns in C<--- error_log> and
C<--- no_error_log>.  This is the real module's formula for these sections.

Crash detection adds tests only when something is wrong: at every error-log
check (and when nginx is stopped) a line with C<exited on signal> at
C<[alert]>/C<[emerg]> level, an C<Assertion ... failed> line, or the nginx
master process having disappeared produces an extra failing test, so the
file fails (and the plan count no longer matches).  Like the real module,
other C<[alert]>, C<[crit]> and C<[emerg]> lines are only reported with
C<diag> unless a pattern of the block mentions that level.

=head2 Environment

C<TEST_NGINX_BINARY> (default C<nginx> from C<PATH>, then F</usr/sbin/nginx>),
C<TEST_NGINX_PORT> / C<TEST_NGINX_SERVER_PORT> (default 1984; the runner sets
C<TEST_NGINX_SERVER_PORT> when unset), C<TEST_NGINX_SERVROOT> (default
F<t/servroot>, made absolute; C<TEST_NGINX_SERVER_ROOT> is set to it),
C<TEST_NGINX_LOAD_MODULES> (space-separated F<.so> paths, emitted as
C<load_module> lines at the top of F<nginx.conf>), C<TEST_NGINX_NO_CLEAN>
(leave nginx running at the end), C<TEST_NGINX_LOG_LEVEL>,
C<TEST_NGINX_WORKERS>, C<TEST_NGINX_MASTER_PROCESS>, C<TEST_NGINX_TIMEOUT>,
C<TEST_NGINX_START_TIMEOUT> (seconds nginx may take to start, default 10; this
runner's own), C<TEST_NGINX_NO_SHUFFLE>, C<TEST_NGINX_FORCE_RESTART_ON_TEST> (restart nginx
for every block that has C<--- config>, which is the real module's default;
by default this runner restarts only when the generated F<nginx.conf>,
C<--- user_files> or C<%ENV> differ from what the running nginx was started
with).

=head2 How nginx is run

On (re)start the runner stops the previous nginx (QUIT, then TERM and KILL
after a timeout), empties F<conf>, F<html>, F<logs> and F<*_temp> under the
server root, writes the user files and F<conf/nginx.conf>, runs
C<nginx -p SERVROOT/ -c conf/nginx.conf>, waits for the pid file and the
listening port, and leaves nginx running for the next blocks.  nginx is
stopped at the end of C<run_tests> and in an C<END> block (also when the
test file dies), unless C<TEST_NGINX_NO_CLEAN> is set.

=cut

use strict;
use warnings;

# "-base" (lower case) makes us a Test::Base subclass without Spiffy's
# source filter, so subs here are ordinary Perl.
use Test::Base -base;

use File::Path qw(make_path remove_tree);
use File::Spec ();
use HTTP::Headers ();
use IO::Select ();
use IO::Socket::INET ();
use IPC::Run ();
use List::Util qw(first shuffle);
use POSIX qw(WNOHANG);
use Scalar::Util qw(looks_like_number);
use Test::LongString ();
use Time::HiRes qw(sleep time);

our $VERSION = '0.01';

our @EXPORT = qw(
    run_tests repeat_each no_shuffle env_to_nginx workers master_on
    master_off log_level no_long_string no_root_location
    add_block_preprocessor server_port server_root html_dir timeout bail_out
);

# ---------------------------------------------------------------------------
# Settings (same environment knobs as the real module)

our $ServerAddr     = '127.0.0.1';
our $ServerPort     = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our $NginxBinary    = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $ServRoot       = File::Spec->rel2abs($ENV{TEST_NGINX_SERVROOT} || 't/servroot');
our $LogLevel       = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $Workers        = $ENV{TEST_NGINX_WORKERS} || 1;
our $MasterProcess  = is_true($ENV{TEST_NGINX_MASTER_PROCESS}) ? 'on' : 'off';
our $Timeout        = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $StartTimeout   = $ENV{TEST_NGINX_START_TIMEOUT} || 10;  # nginx under valgrind starts slowly
our $NoShuffle      = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $ForceRestart   = $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST} || 0;
our $RepeatEach     = 1;
our $NoLongString   = 0;
our $NoRootLocation = 0;
our @EnvToNginx;
our @BlockPreprocessors;

$ServRoot =~ s{/+$}{};
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $LogDir     = "$ServRoot/logs";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $HtmlDir    = "$ServRoot/html";
our $ConfDir    = "$ServRoot/conf";
our $ConfFile   = "$ConfDir/nginx.conf";
our $PidFile    = "$LogDir/nginx.pid";

# Runtime state
my $NginxPath;          # resolved binary
my $NginxVersion;       # canonical number for comparisons
my $NginxVOutput = '';  # output of nginx -V
my $NginxPid;           # master (or single) process we started
my $RunningSig;         # conf + user files of the running nginx
my $EverStarted = 0;    # whether this process ran nginx at all
my $LogPos = 0;         # offset of the first error.log byte not yet read
my $MainPid = $$;

sub is_true { my $v = shift; return defined $v && $v =~ /^(?:on|1|yes|true)$/i }

# ---------------------------------------------------------------------------
# Exported configuration functions (prototypes as in the real module)

sub repeat_each (@)      { $RepeatEach = shift if @_; return $RepeatEach }
sub no_shuffle ()        { $NoShuffle = 1 }
sub workers (@)          { $Workers = shift if @_; return $Workers }
sub master_on ()         { $MasterProcess = 'on' }
sub master_off ()        { $MasterProcess = 'off' }
sub log_level (@)        { $LogLevel = shift if @_; return $LogLevel }
sub no_long_string ()    { $NoLongString = 1 }
sub no_root_location ()  { $NoRootLocation = 1 }
sub timeout (@)          { $Timeout = shift if @_; return $Timeout }
sub server_port (@)      { $ServerPort = shift if @_; return $ServerPort }
sub server_root ()       { return $ServRoot }
sub html_dir ()          { return $HtmlDir }

sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }

sub env_to_nginx (@) {
    croak("env_to_nginx: no arguments specified") unless @_;
    for my $v (@_) {
        croak("env_to_nginx: bad argument value: $v")
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
}

sub bail_out (@) {
    stop_nginx() unless $ENV{TEST_NGINX_NO_CLEAN};
    Test::More::BAIL_OUT(join '', @_);
}

# ---------------------------------------------------------------------------
# Main loop

sub run_tests () {
    $ENV{TEST_NGINX_SERVER_PORT} = $ServerPort
        unless defined $ENV{TEST_NGINX_SERVER_PORT};

    # The real module adds no plan, so such a file fails there: say so here
    # rather than count silently and pass.
    die "$0: no plan declared: use Test::Nginx::Socket 'no_plan' or plan tests => ..."
        . " before run_tests()\n"
        unless Test::More->builder->has_plan;

    find_nginx();
    install_signal_handlers();
    stop_stale_nginx();
    $LogPos = -s $ErrLogFile // 0;    # a previous run's log is not ours

    my @blocks = Test::Base::blocks();
    @blocks = shuffle(@blocks) unless $NoShuffle;

    my $last;
    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        run_block($block);
        $last = $block;
    }

    # Stop here rather than in END so a crash during shutdown is still
    # reported as a test of the last block.
    if (!$ENV{TEST_NGINX_NO_CLEAN} && $last) {
        stop_nginx();
        check_crash_lines($last, read_new_log_lines(), 'while nginx shut down');
    }
}

sub run_block {
    my ($block) = @_;
    my $name = $block->name;

    check_unsupported_sections($block);

    # Whatever nginx logged after the previous block's last check (a late
    # crash, say) is reported now but kept out of this block's window.
    check_crash_lines($block, read_new_log_lines(), 'before this block started');

    if (my ($n, $reason) = skip_nginx_count($block)) {
        run_init($block);    # the real module runs init for skipped blocks too
        for (1 .. $RepeatEach) {
            SKIP: { skip("$name - $reason", $n) }
        }
        return;
    }

    if (defined $block->must_die) {
        run_must_die($block);
        return;
    }

    ensure_nginx($block);
    run_init($block);

    for my $rep (0 .. $RepeatEach - 1) {
        run_requests($block, $rep);
    }
}

sub run_init {
    my ($block) = @_;
    my $code = $block->init or return;
    my $name = $block->name;
    # Evaluated where html_dir(), server_root() etc. are callable, like the
    # real module's Test::Nginx::Util package.
    my $ok = eval "package Test::Nginx::Socket;\n$code\n;1";
    die "$name - --- init failed: $@" unless $ok;
}

# Sections the real Test::Nginx::Socket understands but this runner does not;
# silently ignoring them would make tests pass without checking anything.
my @UNSUPPORTED = qw(
    pipelined_requests request_eval response_body_eval response_body_unlike
    response_body_filters error_code_like raw_response_headers_like
    raw_response_headers_unlike grep_error_log grep_error_log_out access_log
    no_access_log shutdown_error_log no_shutdown_error_log post_main_config
    server_name error_log_file raw_request_middle_delay server_addr_for_client
    charset abort shutdown ignore_response reload_fails http09 http2 http3
    curl curl_options curl_protocol curl_error stap stap_out stap_out_like
    stap_out_unlike tcp_listen tcp_reply tcp_query tcp_query_len tcp_no_close
    tcp_reply_delay tcp_shutdown tcp_shutdown_delay udp_listen udp_reply
    udp_query udp_reply_delay skip_eval skip_nginx2 skip_openssl skip_slave
    todo todo_nginx no_check_leak stream_config stream_server_config
    stream_request stream_response
);

sub check_unsupported_sections {
    my ($block) = @_;
    for my $section (@UNSUPPORTED) {
        next unless exists $block->{$section};
        die $block->name . " - section '--- $section' is supported by the real"
            . " Test::Nginx::Socket but not by t/lib/Test/Nginx/Socket.pm\n";
    }
}

sub skip_nginx_count {
    my ($block) = @_;
    my $spec = $block->skip_nginx;
    return unless defined $spec;
    my $name = $block->name;

    my ($n, $op, @ver) = $spec =~
        /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*?))?\s*$/s
        or die "$name - invalid --- skip_nginx spec: $spec\n";
    my $reason = pop @ver;
    my $want = canon_version(@ver);
    my %cmp = (
        '<'  => sub { $_[0] <  $_[1] }, '<=' => sub { $_[0] <= $_[1] },
        '>'  => sub { $_[0] >  $_[1] }, '>=' => sub { $_[0] >= $_[1] },
    );
    return unless $cmp{$op}->($NginxVersion, $want);
    return ($n, $reason || "nginx version $op " . join('.', @ver));
}

# ---------------------------------------------------------------------------
# Requests and checks

sub run_requests {
    my ($block, $rep) = @_;
    my @requests = build_requests($block);
    my $multi    = @requests > 1;
    my $timeout  = parse_time(scalar $block->timeout) // $Timeout;

    for my $i (0 .. $#requests) {
        my ($res, $err, $timed_out) = http_exchange($requests[$i], $timeout);
        my $where = "repeated req $rep, req $i";

        check_status($block, $res, $err, $timed_out, $i, $multi);
        check_headers($block, $res, $i, $multi);
        check_body($block, $res, $i, $multi, $where);

        wait_for_log($block);
        my $lines = read_new_log_lines();
        check_error_log($block, $lines, $where);
        check_crash_lines($block, $lines, "($where)");
    }
}

# Expected value of a section for request $i: an array holds one entry per
# request; a plain value is only allowed when a single request is sent.
sub indexed {
    my ($block, $section, $i, $multi) = @_;
    my $value = $block->$section;
    return undef unless defined $value;

    if (ref $value eq 'ARRAY') {
        die $block->name . " - --- $section has no entry for request $i\n"
            if $i > $#$value;
        return $value->[$i];
    }
    die $block->name . " - several requests are sent, so --- $section must"
        . " be an array with one entry per request (use '--- $section eval')\n"
        if $multi;
    return $value;
}

sub check_status {
    my ($block, $res, $err, $timed_out, $i, $multi) = @_;
    my $name     = $block->name;
    my $expected = indexed($block, 'error_code', $i, $multi) // 200;
    my $got      = $res ? $res->{code} : '';

    if ($timed_out) {
        # The real module always fails on a client time-out; we fold that
        # failure into this test so the count stays the same.
        fail("$name - status code ok");
        diag("$name - request $i: $err (status was '$got', expected '$expected')");
        return;
    }
    is($got, $expected, "$name - status code ok");
    diag("$name - request $i: $err") if $err;
}

sub check_headers {
    my ($block, $res, $i, $multi) = @_;
    my $name = $block->name;

    if (defined $block->response_headers) {
        my $spec = indexed($block, 'response_headers', $i, $multi) // '';
        for my $h (parse_header_spec($spec)) {
            my ($key, $val) = @$h;
            if (!defined $val) {
                my $raw = $res ? $res->{raw_headers} : '';
                unlike($raw, qr/^\s*\Q$key\E\s*:/mi,
                       "$name - header $key not present in the raw headers");
                next;
            }
            $val = subst_port($val);
            my $actual = $res ? $res->{headers}->header($key) : undef;
            is($actual // '', $val, "$name - header $key ok");
        }

    } elsif (defined $block->response_headers_like) {
        my $spec = indexed($block, 'response_headers_like', $i, $multi) // '';
        for my $h (parse_header_spec($spec)) {
            my ($key, $pat) = ($h->[0], $h->[1] // '');
            my $actual = $res ? $res->{headers}->header($key) : undef;
            like($actual // '', qr/^$pat$/, "$name - header $key like ok");
        }
    }
}

# "Name: value" lines -> ([name, value], ...); "!Name" or a bare "Name" gives
# an undef value ("must be absent").  Later lines for the same name win.
sub parse_header_spec {
    my ($spec) = @_;
    my (@order, %value);
    for my $line (split /\n/, $spec) {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        my ($key, $val);
        if ($line =~ s/^!\s*//) {
            $key = $line;
        } else {
            ($key, $val) = split /\s*:\s*/, $line, 2;
        }
        push @order, $key unless exists $value{$key};
        $value{$key} = $val;
    }
    return map { [$_, $value{$_}] } @order;
}

sub check_body {
    my ($block, $res, $i, $multi, $where) = @_;
    my $name    = $block->name;
    my $content = $res ? $res->{body} : undef;

    if (defined $block->response_body) {
        my $expected = indexed($block, 'response_body', $i, $multi);
        my $desc = "$name - response_body - response is expected ($where)";
        if (ref $expected) {
            like($content, $expected, $desc);
        } elsif ($NoLongString) {
            is($content, subst_port($expected), $desc);
        } else {
            Test::LongString::is_string($content, subst_port($expected), $desc);
        }

    } elsif (defined $block->response_body_like) {
        my $pat = subst_port(indexed($block, 'response_body_like', $i, $multi));
        like($content // '', qr/$pat/s,
             "$name - response_body_like - response is expected ("
             . summary($content) . ")");
    }
}

sub subst_port {
    my ($s) = @_;
    return $s unless defined $s && !ref $s;
    $s =~ s/\$ServerPort(?:ForClient)?\b/$ServerPort/g;
    return $s;
}

sub summary {
    my ($s) = @_;
    return '' unless defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\s+/ /g;
    return length $s > 60 ? substr($s, 0, 57) . '...' : $s;
}

sub wait_for_log {
    my ($block) = @_;
    my $wait = parse_time(scalar $block->wait);
    sleep $wait if $wait;
    sleep 0.05;    # nginx may log after it has closed the connection
}

sub check_error_log {
    my ($block, $lines, $where) = @_;
    my $name = $block->name;

    for my $pat (patterns(scalar $block->error_log)) {
        my $hit = first { line_matches($_, $pat) } @$lines;
        ok(defined $hit,
           "$name - pattern \"" . fmt_str($pat) . "\" matches a line in error.log ($where)")
            or diag_log_window($lines);
    }

    for my $pat (patterns(scalar $block->no_error_log)) {
        my $hit = first { line_matches($_, $pat) } @$lines;
        ok(!defined $hit,
           "$name - pattern \"" . fmt_str($pat) . "\" should not match any line in error.log ($where)")
            or diag("matching line: " . fmt_str($hit));
    }

    warn_about_serious_lines($block, $lines);
}

# Like the real module: [alert]/[crit]/[emerg] lines are reported (not
# failed) unless one of the block's patterns is about that level.
sub warn_about_serious_lines {
    my ($block, $lines) = @_;
    my @pats = (patterns(scalar $block->error_log), patterns(scalar $block->no_error_log));
    for my $level (qw(alert crit emerg)) {
        next if grep { !ref $_ && index($_, "[$level") >= 0 } @pats;
        for my $line (grep { /\[$level\]/ && !is_crash_line($_) } @$lines) {
            diag("WARNING: " . $block->name . " - " . fmt_str($line));
        }
    }
}

sub check_crash_lines {
    my ($block, $lines, $when) = @_;
    my $name = $block->name;

    for my $line (grep { is_crash_line($_) } @$lines) {
        fail("$name - nginx crashed $when: " . fmt_str($line));
    }

    if ($NginxPid && !is_nginx_process($NginxPid)) {
        fail("$name - nginx (pid $NginxPid) is gone $when: it crashed or exited");
        diag_log_window([ (read_lines($ErrLogFile))[-20 .. -1] ]);
        undef $NginxPid;
        undef $RunningSig;
    }
}

sub is_crash_line {
    my ($line) = @_;
    return $line =~ /\[(?:alert|emerg)\].*exited on signal/
        || $line =~ /\bAssertion .*failed/;
}

sub patterns {
    my ($spec) = @_;
    return () unless defined $spec;
    return ($spec) if ref $spec eq 'Regexp';
    return grep { defined } @$spec if ref $spec eq 'ARRAY';
    chomp $spec;
    return grep { length } split /\n+/, $spec;
}

sub line_matches {
    my ($line, $pat) = @_;
    return ref $pat ? $line =~ $pat : index($line, $pat) >= 0;
}

sub fmt_str {
    my ($s) = @_;
    return 'undef' unless defined $s;
    $s = "$s";
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

sub diag_log_window {
    my ($lines) = @_;
    my @l = grep { defined } @$lines;
    if (!@l) {
        diag("error.log window is empty");
        return;
    }
    @l = @l[-30 .. -1] if @l > 30;
    diag("error.log window (last " . scalar(@l) . " lines):\n" . join '', @l);
}

# ---------------------------------------------------------------------------
# must_die

sub run_must_die {
    my ($block) = @_;
    my $name = $block->name;
    my $want = $block->must_die;

    for my $rep (0 .. $RepeatEach - 1) {
        stop_nginx_between_blocks($block);
        prepare_servroot(render_conf($block), user_files($block));

        my ($status, $stderr) = exec_nginx();
        my @lines = (split(/^/m, $stderr), @{ read_new_log_lines() });

        if ($status == -1) {
            fail("$name - failed to execute the nginx command line: $stderr");
        } elsif ($status & 127) {
            fail("$name - nginx was killed by signal " . ($status & 127));
        } elsif (looks_like_number($want)) {
            is($status >> 8, $want, "$name - die with the expected exit code");
        } else {
            isnt($status, 0, "$name - die as expected");
        }

        check_error_log($block, \@lines, "must_die, repeated req $rep");

        if ($status == 0) {
            diag("WARNING: $name - nginx must die but it does not; stopping it");
            $NginxPid = wait_for_pid_file();
            stop_nginx();
        }
    }
    undef $RunningSig;
}

# ---------------------------------------------------------------------------
# Building and sending requests

# Returns one array ref of packets per request.
sub build_requests {
    my ($block) = @_;
    my $name = $block->name;

    if (defined $block->raw_request) {
        my $raw = $block->raw_request;
        return ([ ref $raw eq 'ARRAY' ? @$raw : $raw ]);
    }

    my $request = $block->request;
    die "$name - no --- request or --- raw_request section\n"
        unless defined $request;

    my @list = ref $request eq 'ARRAY' ? @$request : ($request);
    die "$name - --- request must be a string or an array of strings\n"
        if ref $request && ref $request ne 'ARRAY';

    my $more = $block->more_headers // '';
    my @out;
    for my $i (0 .. $#list) {
        die "$name - request $i: splitting a request into packets is not"
            . " supported by this runner\n" if ref $list[$i];
        my $headers = ref $more eq 'ARRAY' ? $more->[$i] : $more;
        die "$name - --- more_headers has no entry for request $i\n"
            unless defined $headers;
        push @out, [ build_http_request($name, $list[$i], $headers) ];
    }
    return @out;
}

sub build_http_request {
    my ($name, $text, $more_headers) = @_;

    # leading comment lines and blank space before the request line
    1 while $text =~ s/^\s*#[^\n]*\n// || $text =~ s/^\s+//;

    my ($line, $body) = split /\n/, $text, 2;
    $body //= '';
    $line //= '';
    $line =~ /^(\S+)(?:[ \t]+(\S+))?(?:[ \t]+(\S+))?\s*$/
        or die "$name - request line should be 'METHOD [URI [VERSION]]', got \"$line\"\n";
    my ($method, $uri, $version) = ($1, $2 // '/', $3 // 'HTTP/1.1');

    my ($hdrs, $chunked) = parse_more_headers($more_headers);

    my $len_header = '';
    if (!$chunked && $body ne '' && $hdrs !~ /(?:^|\n)Content-Length:/i) {
        $body =~ s/^\s+|\s+$//g;
        $len_header = "Content-Length: " . length($body) . "\r\n";
    }

    my $head = "$method $uri $version\r\n";
    $head .= "Host: localhost\r\n"   unless $hdrs =~ /(?:^|\n)Host:/i;
    $head .= "Connection: close\r\n" unless $hdrs =~ /(?:^|\n)Connection/i;
    return $head . $hdrs . $len_header . "\r\n" . $body;
}

sub parse_more_headers {
    my ($spec) = @_;
    my ($out, $chunked) = ('', 0);
    for my $line (split /\n+/, $spec // '') {
        next if $line =~ /^\s*#/ || $line !~ /\S/;
        my ($key, $val) = split /:\s*/, $line, 2;
        $val //= '';
        $val =~ s/\r$//;
        $chunked = 1 if lc($key) eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }
    return ($out, $chunked);
}

# Sends one request on a fresh connection and reads until the server closes
# it.  Returns (response hash or undef, error text or undef, timed-out flag).
sub http_exchange {
    my ($packets, $timeout) = @_;
    local $SIG{PIPE} = 'IGNORE';

    my $sock;
    for my $try (1 .. 20) {
        $sock = IO::Socket::INET->new(
            PeerAddr => $ServerAddr,
            PeerPort => $ServerPort,
            Proto    => 'tcp',
            Timeout  => $timeout,
        );
        last if $sock;
        sleep 0.05;
    }
    return (undef, "cannot connect to $ServerAddr:$ServerPort: $!") unless $sock;
    binmode $sock;

    my (@errors, $timed_out);
    WRITE: for my $packet (@$packets) {
        my $off = 0;
        while ($off < length $packet) {
            my $n = syswrite($sock, $packet, length($packet) - $off, $off);
            if (!defined $n) {
                # nginx may answer (e.g. 413) before reading the whole body
                push @errors, "write failed: $!";
                last WRITE;
            }
            $off += $n;
        }
    }

    my $raw = '';
    my $sel = IO::Select->new($sock);
    while (1) {
        if (!$sel->can_read($timeout)) {
            push @errors, "client socket timed out after ${timeout}s";
            $timed_out = 1;
            last;
        }
        my $n = sysread($sock, my $buf, 65536);
        if (!defined $n) {
            next if $!{EINTR} || $!{EAGAIN};
            push @errors, "read failed: $!";
            last;
        }
        last if $n == 0;
        $raw .= $buf;
    }
    close $sock;

    my $is_head = $packets->[0] =~ /^\s*HEAD\s/;
    my ($res, $perr) = parse_response($raw, $is_head);
    push @errors, $perr if $perr;
    return ($res, (@errors ? join('; ', @errors) : undef), $timed_out);
}

sub parse_response {
    my ($raw, $is_head) = @_;
    return (undef, 'no response received') if $raw eq '';

    my $sep = index($raw, "\r\n\r\n");
    return (undef, 'incomplete response header: "' . fmt_str(substr($raw, 0, 200)) . '"')
        if $sep < 0;

    my $head = substr($raw, 0, $sep + 2);
    my $body = substr($raw, $sep + 4);
    my ($status_line, @lines) = split /\r\n/, $head;
    my ($code) = $status_line =~ m{^HTTP/\d+\.\d+\s+(\d{3})\b}
        or return (undef, 'bad status line: "' . fmt_str($status_line) . '"');

    my $headers = HTTP::Headers->new;
    for (@lines) {
        $headers->push_header($1 => $2) if /^([^:\s][^:]*?)\s*:\s*(.*)$/;
    }
    my $res = { code => $code + 0, headers => $headers, raw_headers => $head, body => $body };

    return ($res, undef)
        if $is_head || $res->{code} == 204 || $res->{code} == 304 || $res->{code} < 200;

    my $te = $headers->header('Transfer-Encoding');
    if (defined $te && $te =~ /\bchunked\b/i) {
        my ($decoded, $err) = dechunk($body);
        $res->{body} = $decoded;
        return ($res, $err);
    }

    my $len = $headers->header('Content-Length');
    if (defined $len && $len =~ /^\d+$/) {
        return ($res, "response body truncated: $len bytes expected, got " . length $body)
            if length $body < $len;
        if (length $body > $len) {
            $res->{body} = substr($body, 0, $len);
            return ($res, 'unexpected extra bytes after the response body: "'
                          . fmt_str(substr($body, $len, 100)) . '"');
        }
    }
    return ($res, undef);
}

sub dechunk {
    my ($raw) = @_;
    my $out = '';
    pos($raw) = 0;
    while (1) {
        return ($out, 'invalid chunked body: bad chunk-size line at offset ' . pos($raw))
            unless $raw =~ /\G([0-9A-Fa-f]+)[ \t]*(?:;[^\r\n]*)?\r\n/gc;
        my $size = hex $1;
        return ($out, undef) if $size == 0;    # trailers are ignored

        my $start = pos $raw;
        return ($out, 'invalid chunked body: truncated chunk data')
            if length($raw) < $start + $size + 2;
        $out .= substr($raw, $start, $size);
        return ($out, 'invalid chunked body: missing CRLF after chunk data')
            if substr($raw, $start + $size, 2) ne "\r\n";
        pos($raw) = $start + $size + 2;
    }
}

sub parse_time {
    my ($t) = @_;
    return undef unless defined $t && $t ne '';
    return $1 / 1000 if $t =~ /^\s*([\d.]+)\s*ms\s*$/;
    return $1 if $t =~ /^\s*([\d.]+)\s*s?\s*$/;
    die "bad time value: $t\n";
}

# ---------------------------------------------------------------------------
# nginx.conf and the server root

sub render_conf {
    my ($block) = @_;
    my $name = $block->name;

    my $main   = expand_env(scalar $block->main_config, $name, 'main_config');
    my $http   = expand_env(scalar $block->http_config, $name, 'http_config');
    my $server = expand_env(scalar $block->config,      $name, 'config');
    my $level  = $block->log_level || $LogLevel;

    my $conf = '';
    $conf .= "load_module $_;\n"
        for grep { length } split /\s+/, $ENV{TEST_NGINX_LOAD_MODULES} // '';

    $conf .= <<"_EOC_";
daemon on;
master_process $MasterProcess;
worker_processes $Workers;
error_log $ErrLogFile $level;
pid $PidFile;
_EOC_

    # As in the real module: as root, workers run as root so they can read
    # the server root (the default "nobody" may not).
    $conf .= "user root;\n" if $> == 0 && $main !~ /^\s*user\s/m;

    for my $v (@EnvToNginx) {
        $conf .= $v =~ /\s/ ? "env '$v';\n" : "env $v;\n";
    }

    $conf .= <<"_EOC_";

$main

events {
    accept_mutex off;
    worker_connections 1024;
}

http {
    access_log $AccLogFile;
    default_type text/plain;
    keepalive_timeout 68;
_EOC_

    $conf .= temp_path_directives($http);

    $conf .= <<"_EOC_";

$http

    server {
        listen $ServerAddr:$ServerPort;
        server_name localhost;
        client_max_body_size 30M;

        # Begin test case config...
$server
        # End test case config.
_EOC_

    $conf .= <<"_EOC_" unless $NoRootLocation;

        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_

    $conf .= "    }\n}\n";
    return $conf;
}

# Temp directories under the server root, so that nginx does not need the
# distribution's /var/lib/nginx.  Only for modules nginx was built with, and
# not when the block's http_config sets the directive itself.
sub temp_path_directives {
    my ($http) = @_;
    my %dirs = (
        client_body => 'client-body', proxy => 'proxy', fastcgi => 'fastcgi',
        uwsgi => 'uwsgi', scgi => 'scgi',
    );
    my $out = '';
    for my $key (sort keys %dirs) {
        my $flag = $dirs{$key};
        next unless $NginxVOutput =~ /--http-$flag-temp-path=/;
        next if $key ne 'client_body' && $NginxVOutput =~ /--without-http_${key}_module\b/;
        next if $http =~ /\b${key}_temp_path\b/;
        $out .= "    ${key}_temp_path $ServRoot/${key}_temp;\n";
    }
    return $out;
}

sub expand_env {
    my ($text, $name, $section) = @_;
    return '' unless defined $text;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        defined $ENV{$1} ? $ENV{$1}
            : die "$name - --- $section uses \$$1 but the environment variable $1 is not defined\n"
    }ge;
    return $text;
}

# --- user_files as [[name, content, date-or-undef], ...]
sub user_files {
    my ($block) = @_;
    my $spec = $block->user_files;
    my $name = $block->name;
    return [] unless defined $spec;

    my @files;
    if (ref $spec eq 'ARRAY') {
        @files = map { [ $_->[0], $_->[1] // '', $_->[2] ] } @$spec;
    } elsif (ref $spec) {
        die "$name - --- user_files must be a string or an array\n";
    } else {
        for my $line (split /^/m, $spec) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+?))?\s*$/) {
                push @files, [ $1, '', $2 ];
                next;
            }
            die "$name - --- user_files must start with a '>>> name' line\n"
                unless @files;
            $files[-1][1] .= $line;
        }
    }
    $_->[1] = expand_env($_->[1], $name, 'user_files') for @files;
    return \@files;
}

sub prepare_servroot {
    my ($conf, $files) = @_;

    # Only our own subdirectories are removed, never the server root itself,
    # in case TEST_NGINX_SERVROOT points somewhere unexpected.
    remove_tree($ConfDir, $HtmlDir, $LogDir, glob("$ServRoot/*_temp"));
    make_path($ConfDir, $HtmlDir, $LogDir);
    $LogPos = 0;

    write_file("$HtmlDir/index.html",
               '<html><head><title>It works!</title></head><body>It works!</body></html>');

    for my $f (@$files) {
        my ($fname, $body, $date) = @$f;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        (my $dir = $path) =~ s{/[^/]*$}{};
        make_path($dir) if length $dir && !-d $dir;
        write_file($path, $body);
        if ($date) {
            local $ENV{TZ} = 'GMT';
            system('touch', '-t', $date, $path) == 0
                or die "touch -t '$date' $path failed\n";
        }
    }

    write_file($ConfFile, $conf);
}

sub write_file {
    my ($path, $content) = @_;
    open my $out, '>', $path or die "cannot write $path: $!\n";
    binmode $out;
    print {$out} $content;
    close $out or die "cannot write $path: $!\n";
}

sub read_lines {
    my ($path) = @_;
    open my $in, '<', $path or return ();
    my @lines = <$in>;
    return @lines;
}

sub read_new_log_lines {
    open my $in, '<', $ErrLogFile or return [];
    $LogPos = 0 if (-s $in // 0) < $LogPos;    # log was recreated
    seek $in, $LogPos, 0;
    my @lines = <$in>;
    $LogPos = tell $in;
    close $in;
    return \@lines;
}

# ---------------------------------------------------------------------------
# Starting and stopping nginx

sub ensure_nginx {
    my ($block) = @_;
    my $name = $block->name;

    if (!defined $block->config) {
        die "$name - no --- config section and no nginx from an earlier block to reuse\n"
            unless defined $RunningSig && $NginxPid;
        for my $s (qw(main_config http_config user_files)) {
            diag("WARNING: $name - --- $s is ignored: without --- config the"
                 . " previous block's nginx is reused") if defined $block->$s;
        }
        return 0;
    }

    # nginx reads the environment when it starts (and while parsing the
    # config), so it is part of what the running instance was started with.
    my $conf  = render_conf($block);
    my $files = user_files($block);
    my $sig   = join "\0", $conf,
                map({ ($_->[0], $_->[1], $_->[2] // '') } @$files),
                map({ "$_=$ENV{$_}" } sort keys %ENV);

    return 0 if !$ForceRestart && defined $RunningSig && $sig eq $RunningSig
             && $NginxPid && is_nginx_process($NginxPid);

    stop_nginx_between_blocks($block);
    prepare_servroot($conf, $files);
    $NginxPid   = start_nginx($name);
    $RunningSig = $sig;
    return 1;
}

sub stop_nginx_between_blocks {
    my ($block) = @_;
    return unless $NginxPid;
    stop_nginx();
    check_crash_lines($block, read_new_log_lines(),
                      'while the previous nginx shut down');
}

sub nginx_command {
    my @cmd = ($NginxPath, '-p', "$ServRoot/", '-c', 'conf/nginx.conf');
    # -e (1.19.5+) sends start-up messages to the servroot log, as a build
    # with a relative --error-log-path would.
    push @cmd, '-e', 'logs/error.log' if $NginxVersion >= canon_version(1, 19, 5);
    return @cmd;
}

# Runs the nginx command line (which daemonizes) and returns
# (wait status or -1, stderr text).
sub exec_nginx {
    my @cmd = nginx_command();
    my $errfile = "$ServRoot/nginx-start.stderr";
    $EverStarted = 1;

    my $pid = fork;
    return (-1, "fork failed: $!") unless defined $pid;
    if ($pid == 0) {
        open STDIN,  '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', $errfile;
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        POSIX::_exit(127);    # exec failed; skip END blocks in the child
    }

    my $deadline = time + $StartTimeout;
    while (waitpid($pid, WNOHANG) == 0) {
        if (time > $deadline) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            return (-1, "nginx did not return within ${StartTimeout}s (is 'daemon off' set?)");
        }
        sleep 0.01;
    }
    my $status = $?;
    my $stderr = join '', read_lines($errfile);
    unlink $errfile;
    $status = -1 if $status >> 8 == 127 && $stderr eq '';
    return ($status, $stderr);
}

sub start_nginx {
    my ($name) = @_;
    my $deadline = time + 5;

    while (1) {
        my $pos = -s $ErrLogFile // 0;
        my ($status, $stderr) = exec_nginx();

        if ($status == 0) {
            $LogPos = $pos;    # the window starts with this instance's log
            my $pid = wait_for_pid_file();
            wait_for_listen();
            return $pid;
        }

        # A previous instance may still be releasing the port.
        if ($stderr =~ /Address already in use/ && time < $deadline) {
            sleep 0.1;
            next;
        }

        die "$name - failed to start nginx (exit status " . ($status >> 8) . ")\n"
            . "command: " . join(' ', nginx_command()) . "\n"
            . "config:  $ConfFile\n" . $stderr . conf_excerpt($stderr);
    }
}

# The lines of nginx.conf around the line nginx complains about, since the
# block's own line numbers differ from the generated file's.
sub conf_excerpt {
    my ($stderr) = @_;
    return '' unless $stderr =~ /\Q$ConfFile\E:(\d+)/;
    my $at    = $1;
    my @lines = read_lines($ConfFile);
    my $from  = $at > 3 ? $at - 3 : 1;
    my $to    = $at + 1 < @lines ? $at + 1 : scalar @lines;
    return join '', map { sprintf "%s%4d| %s", ($_ == $at ? '>' : ' '), $_, $lines[$_ - 1] }
                    $from .. $to;
}

sub wait_for_pid_file {
    my $deadline = time + $StartTimeout;
    while (time < $deadline) {
        my $pid = pid_from_file();
        return $pid if $pid && is_nginx_process($pid);
        sleep 0.01;
    }
    die "nginx started but $PidFile did not name a running nginx within ${StartTimeout}s\n";
}

# Waits for the port to be in LISTEN state without connecting to it (a probe
# connection would leave "client closed connection" lines in error.log).
sub wait_for_listen {
    my $deadline = time + $StartTimeout;
    my $hex = sprintf '%04X', $ServerPort;
    while (time < $deadline) {
        my @tables = grep { -r } '/proc/net/tcp', '/proc/net/tcp6';
        return 1 unless @tables;    # not Linux: the pid file must do
        for my $table (@tables) {
            for (read_lines($table)) {
                return 1 if /^\s*\d+:\s+[0-9A-F]+:$hex\s+[0-9A-F]+:[0-9A-F]+\s+0A\b/i;
            }
        }
        sleep 0.01;
    }
    die "nginx is running but nothing listens on port $ServerPort after ${StartTimeout}s\n";
}

sub pid_from_file {
    open my $in, '<', $PidFile or return undef;
    my $pid = <$in>;
    return undef unless defined $pid && $pid =~ /^\s*(\d+)/;
    return $1;
}

# True for a live (not zombie) process whose command line mentions nginx or
# our binary, so a stale pid file never makes us signal an unrelated process.
sub is_nginx_process {
    my ($pid) = @_;
    return 0 unless $pid && kill(0, $pid);
    if (open my $st, '<', "/proc/$pid/stat") {
        my $stat = <$st> // '';
        return 0 if $stat =~ /\)\s+Z\s/;
    }
    if (open my $cl, '<', "/proc/$pid/cmdline") {
        my $cmd = <$cl> // '';
        my $bin = (split m{/}, $NginxPath // 'nginx')[-1];
        return 0 unless $cmd =~ /nginx/ || index($cmd, $bin) >= 0;
    }
    return 1;
}

sub child_pids {
    my ($ppid) = @_;
    my @kids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $in, '<', $stat or next;
        my $line = <$in> // '';
        push @kids, $1 if $line =~ /^(\d+) .*\) \S+ (\d+) / && $2 == $ppid;
    }
    return @kids;
}

sub wait_gone {
    my ($pid, $secs) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        return 1 unless is_nginx_process($pid);
        sleep 0.02;
    }
    return !is_nginx_process($pid);
}

sub stop_nginx {
    my $pid = $NginxPid // ($EverStarted ? pid_from_file() : undef);
    undef $NginxPid;
    undef $RunningSig;
    return unless $pid && is_nginx_process($pid);

    my @kids = child_pids($pid);
    kill 'QUIT', $pid;
    return if wait_gone($pid, $Timeout);

    diag("WARNING: nginx (pid $pid) did not quit within ${Timeout}s; sending TERM");
    kill 'TERM', $pid;
    return if wait_gone($pid, 1);

    diag("WARNING: killing nginx (pid $pid) and its workers");
    kill 'KILL', $pid, @kids, child_pids($pid);
    wait_gone($pid, 1);
}

# An nginx left over from an earlier run (TEST_NGINX_NO_CLEAN, a killed
# prove) would hold the port; the real module also stops it first.
sub stop_stale_nginx {
    my $pid = pid_from_file();
    return unless $pid && is_nginx_process($pid);
    $NginxPid = $pid;
    stop_nginx();
}

sub find_nginx {
    if ($NginxBinary =~ m{/}) {
        $NginxPath = $NginxBinary if -x $NginxBinary;
    } else {
        for my $dir (split /:/, $ENV{PATH} // '') {
            next unless length $dir;
            if (-f "$dir/$NginxBinary" && -x _) {
                $NginxPath = "$dir/$NginxBinary";
                last;
            }
        }
        $NginxPath //= '/usr/sbin/nginx'
            if $NginxBinary eq 'nginx' && -x '/usr/sbin/nginx';
    }
    die "cannot find the nginx binary '$NginxBinary' (set TEST_NGINX_BINARY)\n"
        unless $NginxPath;

    my ($out, $err) = ('', '');
    IPC::Run::run([$NginxPath, '-V'], \undef, \$out, \$err)
        or die "'$NginxPath -V' failed: $out$err\n";
    $NginxVOutput = $out . $err;
    # "nginx version: nginx/1.22.1", "nginx version: openresty/1.21.4.1"
    $NginxVOutput =~ m{nginx version: [^/\s]*/(\d+)\.(\d+)\.(\d+)}
        or die "cannot parse the version from '$NginxPath -V': $NginxVOutput\n";
    $NginxVersion = canon_version($1, $2, $3);
}

sub canon_version { return sprintf('%d.%03d%03d', @_) + 0 }

sub install_signal_handlers {
    for my $sig (qw(INT TERM HUP)) {
        next if $SIG{$sig} && $SIG{$sig} ne 'DEFAULT';
        # die, so that END below stops nginx
        $SIG{$sig} = sub { die "caught SIG$sig\n" };
    }
}

END {
    if ($$ == $MainPid && !$ENV{TEST_NGINX_NO_CLEAN}) {
        local ($?, $@);
        eval { stop_nginx() };
    }
}

1;
