#!/usr/bin/env bash
# Compares two builds of the module on generate (bench/generate.pl), alternating them on the
# same durable services so that the machine's changes of speed weigh on both alike.
#   bench/ab.sh A.so B.so [rounds, default 3] [seconds per run, default 6]
# e.g. build the old commit, copy its build/ngx_http_magic_link_module.so away, build the new.
# Each start re-applies that build's SQL functions (their record is cleared first).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 2 ]] || { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2; }
a=$(realpath "$1") b=$(realpath "$2") rounds=${3:-3} seconds=${4:-6}
make -s test-deps >/dev/null
export ML_PG_DURABLE=1 TEST_NGINX_LOAD_MODULES=$a
exec scripts/with-services.sh bash -c '
  for ((round = 1; round <= '"$rounds"'; round++)); do
    for build in '"$a $b"'; do
      psql -X -q "host=127.0.0.1 port=$TEST_NGINX_PG_PORT dbname=directus user=postgres" \
        -c "DELETE FROM extension_magic_link_functions" 2>/dev/null || true
      printf "%s: " "$(basename "$build")"
      TEST_NGINX_LOAD_MODULES=$build perl -It/lib bench/generate.pl '"$seconds"'
    done
  done'
