#!/usr/bin/env bash
# Installs the Debian packages the project needs. Idempotent, and quick when all are
# present: apt is only touched when something is missing.
#
#   deps.sh [build|test|package|all]...   (default: all)
#     build    compiler, formatter, nginx + headers, -dev libraries
#     test     private test servers (redis, postgresql, SMTP sink), Test::Nginx's Perl deps
#     package  what `make deb` needs on top of build: debhelper (dh_nginx comes with nginx-dev),
#              dpkg-buildpackage, lintian
#
# Installing these packages must not leave system daemons running (nginx on :80,
# redis, postgresql): tests start their own private instances (scripts/services.sh).
set -euo pipefail

BUILD_PKGS=(
    g++ make clang-format
    nginx nginx-dev
    libhiredis-dev libpq-dev libcurl4-openssl-dev libssl-dev libcmocka-dev
    nlohmann-json3-dev libkainjow-mustache-dev liboath-dev libjwt-dev zlib1g-dev
    libgmime-3.0-dev pkg-config
)
TEST_PKGS=(
    nginx redis-server postgresql pgbouncer python3-aiosmtpd curl iproute2 wrk
    # Test::Nginx is not packaged (and CPAN is not reachable); t/lib carries it, these are its deps.
    libtest-base-perl libtext-diff-perl libtest-longstring-perl libwww-perl libipc-run-perl
    liburi-perl liblist-moreutils-perl libtest-tcp-perl libdbd-pg-perl
    clang libclang-rt-14-dev   # fuzz/: libFuzzer and the sanitizer runtimes
    valgrind    # make test-valgrind
    chromium    # t/040-browser.t drives /usr/bin/chromium through playwright-core (npm, tests/browser)
    prometheus python3-prometheus-client  # t/077-metrics.t: promtool, and an OpenMetrics parser
    msmtp       # t/079-mail-transports.t: a real sendmail (msmtp's) relaying to the test sink
    gdb         # a worker that crashes in a suite: its core's backtrace goes into the output
)
PACKAGE_PKGS=(
    build-essential dpkg-dev debhelper fakeroot lintian
)

usage() { echo "usage: $0 [build|test|package|all]..." >&2; exit 2; }

wanted=()
[[ $# -gt 0 ]] || set -- all
for group in "$@"; do
    case $group in
        build) wanted+=("${BUILD_PKGS[@]}") ;;
        test)  wanted+=("${TEST_PKGS[@]}") ;;
        package) wanted+=("${PACKAGE_PKGS[@]}") ;;
        all)   wanted+=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}" "${PACKAGE_PKGS[@]}") ;;
        -h|--help) usage ;;
        *) echo "deps.sh: unknown group '$group'" >&2; usage ;;
    esac
done
# Directus (scripts/directus.sh) is installed with npm. Some machines carry a Node.js that
# bundles npm (e.g. nodesource's); only fall back to Debian's npm when there is none.
if [[ " $* " == *" test "* || " $* " == *" all "* ]] && ! command -v npm >/dev/null; then
    wanted+=(npm)
fi

# One dpkg-query for all: "ii" = installed. Unknown packages print nothing (and fail).
mapfile -t wanted < <(printf '%s\n' "${wanted[@]}" | sort -u)
installed=" $(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${wanted[@]}" 2>/dev/null |
    awk '$2 == "ii" { printf "%s ", $1 }' || true)"
missing=()
for pkg in "${wanted[@]}"; do
    [[ $installed == *" $pkg "* ]] || missing+=("$pkg")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

SUDO=()
[[ $EUID -eq 0 ]] || SUDO=(sudo)

# The postinst scripts of nginx, redis-server and postgresql start their daemons through
# invoke-rc.d, which asks /usr/sbin/policy-rc.d first; exit code 101 means "not allowed".
# Put such a policy in place for the duration of the install and restore whatever was
# there before (Docker-style images often already ship one).
POLICY=/usr/sbin/policy-rc.d
SAVED=$POLICY.ngx-magic-link-saved
restore_policy() {
    "${SUDO[@]}" rm -f "$POLICY"
    if [[ -e $SAVED ]]; then "${SUDO[@]}" mv "$SAVED" "$POLICY"; fi
}
if [[ -e $POLICY && ! -e $SAVED ]]; then "${SUDO[@]}" mv "$POLICY" "$SAVED"; fi
trap restore_policy EXIT
trap 'exit 130' INT TERM   # run the EXIT trap on Ctrl-C too
printf '#!/bin/sh\n# installed by ngx-magic-link scripts/deps.sh during apt-get install\nexit 101\n' |
    "${SUDO[@]}" tee "$POLICY" >/dev/null
"${SUDO[@]}" chmod 755 "$POLICY"

echo "==> installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q "${missing[@]}"
