#!/usr/bin/env bash
# Runs the t/ suites with nginx under a memory checker (make test-asan, make test-valgrind).
#
#   checked-nginx.sh run asan|valgrind REPORT_DIR MODULE.so CMD [ARG]...
#       Runs CMD with TEST_NGINX_BINARY set to this script and TEST_NGINX_LOAD_MODULES to
#       MODULE.so (for asan: built with -fsanitize=address,undefined). A memory error or undefined
#       behaviour aborts the nginx process (the suites fail on "exited on signal"); afterwards the
#       reports the processes left in REPORT_DIR (leaks at exit, valgrind's errors) are scanned,
#       and those in module code printed. Fails if there is one or CMD failed.
#   checked-nginx.sh NGINX-ARG...
#       As TEST_NGINX_BINARY: runs /usr/sbin/nginx under the checker named in the environment.
#
# Only nginx runs checked: the suites' Perl, Redis, PostgreSQL and Directus run as usual.
set -euo pipefail

NGINX=/usr/sbin/nginx
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ ${1:-} != run ]]; then
    reports=${CHECKED_NGINX_REPORTS:?run this through "checked-nginx.sh run"}
    case ${CHECKED_NGINX_KIND:-} in
    asan)
        # Debian's nginx is not instrumented, so the ASan runtime has to be loaded first, and
        # libstdc++ with it: ASan finds the real __cxa_throw only in libraries loaded at start
        # (the module, which brings libstdc++, comes later by dlopen).
        export LD_PRELOAD="$CHECKED_NGINX_ASAN_RUNTIME libstdc++.so.6"
        # An error aborts the worker: the suites fail on "exited on signal" and the report is in
        # the error log (ASan writes a pool thread's report to stderr, which nginx points there).
        # Leaks are reported at exit to log_path files, without changing the exit code.
        export ASAN_OPTIONS=log_path=$reports/asan:abort_on_error=1:detect_leaks=1:fast_unwind_on_malloc=0
        export LSAN_OPTIONS=suppressions=$HERE/../tests/sanitizers/lsan.supp:print_suppressions=0:exitcode=0
        export UBSAN_OPTIONS=log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1:abort_on_error=1
        exec "$NGINX" "$@"
        ;;
    valgrind)
        # One log per process (nginx forks its daemon, master and workers); -q: errors only.
        exec valgrind -q --log-file="$reports/valgrind.%p" --num-callers=40 --keep-debuginfo=yes \
            --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
            --suppressions="$HERE/../tests/sanitizers/valgrind.supp" "$NGINX" "$@"
        ;;
    *) echo "checked-nginx.sh: CHECKED_NGINX_KIND must be asan or valgrind" >&2; exit 2 ;;
    esac
fi

[[ $# -ge 5 ]] || { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2; }
kind=$2 reports=$3 module=$4
shift 4
rm -rf "$reports"
mkdir -p "$reports"
export CHECKED_NGINX_KIND=$kind CHECKED_NGINX_REPORTS=$(cd "$reports" && pwd)
export TEST_NGINX_BINARY=$HERE/checked-nginx.sh
export TEST_NGINX_LOAD_MODULES=$(cd "$(dirname "$module")" && pwd)/$(basename "$module")
case $kind in
    # The checked module runs slower: the suites' time limits are scaled (TEST_NGINX_SLOWDOWN,
    # t/lib/MagicLink/Harness.pm), valgrind's also for starting and stopping nginx.
    asan) CHECKED_NGINX_ASAN_RUNTIME=$(gcc -print-file-name=libasan.so)
          export CHECKED_NGINX_ASAN_RUNTIME TEST_NGINX_SLOWDOWN=3 ;;
    valgrind) export TEST_NGINX_START_TIMEOUT=60 TEST_NGINX_TIMEOUT=30 TEST_NGINX_SLOWDOWN=10 ;;
    *) echo "checked-nginx.sh: unknown kind '$kind' (asan or valgrind)" >&2; exit 2 ;;
esac

set +e
"$@"
rc=$?
set -e

# A report counts when it shows a memory error, undefined behaviour, or a direct leak with a frame
# of the module in its stack. nginx itself does not free everything at exit (its cycle after
# `nginx -t`: the module's objects in it show as indirect leaks), and its binary has no symbols to
# write suppressions against; those leaks are not the module's. Leaks do not change exit codes.
shopt -s nullglob
files=("$reports"/*)
findings=
[[ ${#files[@]} -eq 0 ]] || findings=$(perl -e '
    for my $file (sort @ARGV) {
        my $text = do { local (@ARGV, $/) = $file; <> } // "";
        $text =~ s/^==\d+== ?//mg;    # valgrind prefixes every line with the pid
        my @blocks = split /\n\s*\n/, $text;
        my $error = grep {
            /ERROR: AddressSanitizer|runtime error:|^Invalid |uninitialised|Mismatched free|Syscall param/m
        } @blocks;
        my @leaks = grep { /^Direct leak of \d+ byte|definitely lost in/m && /magic_link/ } @blocks;
        print "==> $file\n", $error ? $text : join("\n\n", @leaks), "\n" if $error || @leaks;
    }' "${files[@]}")
count=$(grep -c '^==> ' <<<"$findings" || true)
[[ -z $findings ]] || echo "$findings" >&2
echo "$kind: $count nginx processes with reports in module code (${#files[@]} report files in $reports)"
[[ $rc -eq 0 && $count -eq 0 ]]
