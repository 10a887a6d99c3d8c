#!/usr/bin/env bash
# Benchmarks the module beside references measured in the same run, and prints one table.
#   bench/run.sh [seconds per run, default 10]
# Starts its own Redis, PostgreSQL (durable: its defaults), SMTP sink and Directus on 127.0.0.1
# (scripts/with-services.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
make -s all test-deps >/dev/null
export TEST_NGINX_LOAD_MODULES=$PWD/build/ngx_http_magic_link_module.so
# PostgreSQL as operators run Directus' database: fsync and synchronous_commit on.
export ML_PG_DURABLE=1
exec scripts/with-services.sh perl -It/lib bench/bench.pl "$@"
