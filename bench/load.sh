#!/usr/bin/env bash
# Load and leak test, run by hand (not part of `make test`): a mixed load of every endpoint for a
# while, watching the nginx worker's memory; fails on unexpected 5xx, a crash, or RSS growth.
#   bench/load.sh [seconds, default 300]
# Starts its own Redis, PostgreSQL, SMTP sink and Directus on 127.0.0.1 (scripts/with-services.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
make -s all test-deps >/dev/null
export TEST_NGINX_LOAD_MODULES=$PWD/build/ngx_http_magic_link_module.so
exec scripts/with-services.sh perl -It/lib bench/load.pl "$@"
