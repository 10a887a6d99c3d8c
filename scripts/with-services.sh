#!/usr/bin/env bash
# Runs a command with the test services up (Redis, PostgreSQL, PgBouncer, SMTP sink, Directus; see
# scripts/services.sh) and their settings in the environment ($ML_RUN_DIR/env), then
# stops every service it started: on success, failure or Ctrl-C. Exits with the
# command's status.
#
#   with-services.sh CMD [ARG]...
#
# With ML_RUN_DIR set, that run dir (and its ports) is used, and services already running
# there are left running. Without it, a fresh run dir is made under /tmp with free random
# ports (unless ML_*_PORT are set), so parallel runs do not collide; it is deleted
# afterwards when the command succeeded (kept for its logs otherwise, or with
# ML_KEEP_RUN_DIR=1).
set -euo pipefail

if [[ $# -eq 0 ]]; then
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit 2
fi
SERVICES=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/services.sh

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {  # a port in 20000-29999 nobody listens on (below Linux's ephemeral range)
    local p
    while :; do
        p=$((20000 + RANDOM % 10000))
        port_busy "$p" || { echo "$p"; return; }
    done
}

fresh=
if [[ -z ${ML_RUN_DIR:-} ]]; then
    ML_RUN_DIR=$(mktemp -d /tmp/ngx-magic-link-test.XXXXXX)
    fresh=1
    for v in ML_REDIS_PORT ML_PG_PORT ML_PGBOUNCER_PORT ML_SMTP_PORT ML_DIRECTUS_PORT ML_MAILDEV_WEB_PORT; do
        [[ -n ${!v:-} ]] || export "$v=$(free_port)"
    done
fi
export ML_RUN_DIR

# Services already running in this run dir were started by someone else: leave them be.
started=()
for n in redis postgres pgbouncer smtp directus; do
    "$SERVICES" status "$n" >/dev/null || started+=("$n")
done

# shellcheck disable=SC2317  # called through trap
cleanup() {  # [exit status]: given for signals (inside a signal trap, $? is not reliable)
    local rc=${1:-$?}
    trap - EXIT INT TERM HUP
    if [[ ${#started[@]} -gt 0 ]]; then
        "$SERVICES" stop "${started[@]}" || { echo "with-services.sh: stopping services failed" >&2; rc=1; }
    fi
    if [[ -n $fresh ]]; then
        if [[ $rc -eq 0 && -z ${ML_KEEP_RUN_DIR:-} ]]; then
            rm -rf "$ML_RUN_DIR"
        else
            echo "with-services.sh: run dir kept for its logs: $ML_RUN_DIR" >&2
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'cleanup 130' INT   # Ctrl-C
trap 'cleanup 143' TERM
trap 'cleanup 129' HUP   # terminal closed

"$SERVICES" start
# shellcheck source=/dev/null
source "$ML_RUN_DIR/env"

set +e
"$@"
rc=$?
set -e
exit "$rc"
