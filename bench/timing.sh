#!/usr/bin/env bash
# Prints how well generate's answer times tell known addresses from unknown ones (bench/timing.pl).
# Starts its own Redis, PostgreSQL (default durability), SMTP sink and Directus on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s all test-deps >/dev/null
export TEST_NGINX_LOAD_MODULES=$PWD/build/ngx_http_magic_link_module.so
export ML_PG_DURABLE=1  # PostgreSQL as operators run it: fsync and synchronous_commit on
exec scripts/with-services.sh perl -It/lib bench/timing.pl "$@"
