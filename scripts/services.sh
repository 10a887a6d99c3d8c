#!/usr/bin/env bash
# Starts and stops private service instances for tests and the demo: Redis, PostgreSQL,
# PgBouncer in front of it, an SMTP sink and Directus. All listen on 127.0.0.1 only and keep their state in a run
# dir; system services are never touched.
#
#   services.sh start  [redis|postgres|pgbouncer|smtp|directus]...   (none = all, in that order)
#   services.sh stop   [name]...                           (none = all, in reverse order)
#   services.sh status [name]...   exit status 0 if all named services are running, else 3
#   services.sh pause|resume redis|smtp|directus...   SIGSTOP/SIGCONT: a stuck backend (the
#                     kernel still accepts connections, nothing answers) for the fault tests
#
# Settings (environment; a run dir remembers the values of its last start, so later
# calls such as "$ML_SERVICES stop postgres" need only ML_RUN_DIR):
#   ML_RUN_DIR        /tmp/ngx-magic-link-test  (under /tmp: the postgres user must enter it)
#   ML_REDIS_PORT     16379
#   ML_PG_PORT        15432
#   ML_PGBOUNCER_PORT 16432  (PgBouncer 1.18, transaction pooling, database directus as postgres)
#   ML_PGBOUNCER_MODE transaction | session
#   ML_SMTP_PORT      12525
#   ML_DIRECTUS_PORT  18055
#   ML_PUBLIC_URL     http://127.0.0.1:$ML_DIRECTUS_PORT
#   ML_SMTP_KIND      aiosmtpd (each message a file in $ML_RUN_DIR/maildir/new) | maildev
#   ML_MAILDEV_WEB_PORT 11080 (maildev only)
#   ML_PG_DURABLE     set to 1 to keep fsync on (off by default: throwaway test database)
#   DIRECTUS_VERSION  scripts/directus.sh's default (12.3.1), which installs it; a run dir keeps
#                     the Directus version its database was bootstrapped with
#
# After start, $ML_RUN_DIR/env holds "export NAME=value" lines for the tests.
set -euo pipefail

SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUN=${ML_RUN_DIR:-/tmp/ngx-magic-link-test}
[[ $RUN == /* ]] || RUN=$PWD/$RUN

# Environment first, then what this run dir saved, then the defaults.
SETTINGS_VARS=(ML_REDIS_PORT ML_PG_PORT ML_PGBOUNCER_PORT ML_PGBOUNCER_MODE ML_SMTP_PORT
               ML_DIRECTUS_PORT ML_PUBLIC_URL ML_SMTP_KIND ML_MAILDEV_WEB_PORT ML_PG_DURABLE
               DIRECTUS_VERSION)
declare -A FROM_ENV=()
for v in "${SETTINGS_VARS[@]}"; do [[ -n ${!v:-} ]] && FROM_ENV[$v]=${!v}; done
# shellcheck source=/dev/null
if [[ -f $RUN/settings ]]; then source "$RUN/settings"; fi
for v in "${!FROM_ENV[@]}"; do printf -v "$v" '%s' "${FROM_ENV[$v]}"; done
REDIS_PORT=${ML_REDIS_PORT:-16379}
PG_PORT=${ML_PG_PORT:-15432}
PGBOUNCER_PORT=${ML_PGBOUNCER_PORT:-16432}
PGBOUNCER_MODE=${ML_PGBOUNCER_MODE:-transaction}
SMTP_PORT=${ML_SMTP_PORT:-12525}
DIRECTUS_PORT=${ML_DIRECTUS_PORT:-18055}
PUBLIC_URL=${ML_PUBLIC_URL:-http://127.0.0.1:$DIRECTUS_PORT}
SMTP_KIND=${ML_SMTP_KIND:-aiosmtpd}
MAILDEV_WEB_PORT=${ML_MAILDEV_WEB_PORT:-11080}
PG_DURABLE=${ML_PG_DURABLE:-0}
DIRECTUS_VERSION=$(DIRECTUS_VERSION=${DIRECTUS_VERSION:-} "$SCRIPTS/directus.sh" version)
export DIRECTUS_VERSION   # for scripts/directus.sh

PG_BIN=/usr/lib/postgresql/15/bin
PG_DATA=$RUN/pg
PG_SOCKET_DIR=$RUN/pg-socket
ADMIN_EMAIL=admin@example.com
ADMIN_PASSWORD=admin-password
MAILDEV_VERSION=3.0.0
ALL=(redis postgres pgbouncer smtp directus)

say() { echo "==> $*" >&2; }
die() { echo "services.sh: $*" >&2; exit 1; }

# "$name failed" plus the end of its log, then exit.
fail() {  # name logfile message
    echo "services.sh: $1: $3 (log: $2)" >&2
    if [[ -s $2 ]]; then
        echo "--- last lines of $2:" >&2
        tail -n 25 "$2" >&2
        echo "---" >&2
    fi
    exit 1
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True if the process in the pid file is the one listening on the port: a service that
# lost a race for its port must not pass its readiness check on someone else's server.
owns_port() {  # pidfile port
    local pid
    read -r pid <"$1" 2>/dev/null || return 1
    ss -Hltnp "sport = :$2" 2>/dev/null | grep -q "pid=$pid,"
}

# Fail before starting when another program (another run dir?) holds the port.
check_port_free() {  # name port varname
    if port_busy "$2"; then
        die "$1: port $2 on 127.0.0.1 is already in use (another run dir? set $3)"
    fi
}

# True if the pid file names a live process whose command line contains the pattern:
# guards against pid files left behind by a crash and pids reused by other programs.
pid_alive() {  # pidfile pattern
    local pid
    [[ -s $1 ]] || return 1
    read -r pid <"$1" || true   # first line: PostgreSQL's postmaster.pid has more
    [[ $pid =~ ^[0-9]+$ ]] && [[ -r /proc/$pid/cmdline ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$2"
}

# TERM, wait up to 15 s, then KILL. Only ever called with a pid from our own pid file.
kill_pidfile() {  # name pidfile pattern
    local pid i
    if ! pid_alive "$2" "$3"; then rm -f "$2"; return; fi
    read -r pid <"$2"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        pid_alive "$2" "$3" || break
        sleep 0.1
    done
    if pid_alive "$2" "$3"; then
        echo "services.sh: $1 (pid $pid) ignored SIGTERM for 15 s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$2"
}

# Start a long-running foreground program detached from our terminal (its own session, so
# a Ctrl-C meant for the tests does not hit it) and record its pid.
spawn() {  # pidfile logfile cmd...
    local pidfile=$1 log=$2
    shift 2
    setsid "$@" </dev/null >>"$log" 2>&1 9>&- &
    echo $! >"$pidfile"
}

wait_until() {  # seconds pidfile name log check-cmd...
    local secs=$1 pidfile=$2 name=$3 log=$4 i
    shift 4
    for ((i = 0; i < secs * 4; i++)); do
        if "$@"; then return 0; fi
        # kill -0, not pid_alive: right after the fork the child has not exec'ed yet.
        kill -0 "$(<"$pidfile")" 2>/dev/null || fail "$name" "$log" "exited during startup"
        sleep 0.25
    done
    fail "$name" "$log" "not ready after $secs s"
}

# PostgreSQL refuses to run as root: as root, run its tools as the postgres system user.
as_pg() {
    if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
psql_admin() { psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 "$@"; }

# ---------------------------------------------------------------------------- redis

redis_running() { pid_alive "$RUN/redis.pid" redis-server; }
redis_start() {
    local log=$RUN/redis.log
    check_port_free redis "$REDIS_PORT" ML_REDIS_PORT
    # In-memory only (--save '' --appendonly no): tests expect a clean slate on each start.
    # DEBUG SLEEP (from 127.0.0.1) makes it stuck for the fault tests.
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --enable-debug-command local \
        --daemonize yes --pidfile "$RUN/redis.pid" --logfile "$log" --dir "$RUN" 9>&- \
        || fail redis "$log" "redis-server did not start"
    local i
    for ((i = 0; i < 40; i++)); do
        [[ $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]] &&
            owns_port "$RUN/redis.pid" "$REDIS_PORT" && return
        sleep 0.25
    done
    fail redis "$log" "no PONG on port $REDIS_PORT after 10 s"
}
redis_stop() { kill_pidfile redis "$RUN/redis.pid" redis-server; }

# ------------------------------------------------------------------------- postgres

postgres_running() { pid_alive "$PG_DATA/postmaster.pid" "postgres -D $PG_DATA"; }
postgres_start() {
    local log=$RUN/postgres.log owner=()
    [[ $EUID -eq 0 ]] && owner=(postgres:postgres)
    if [[ $EUID -eq 0 ]] && ! runuser -u postgres -- test -x "$RUN"; then
        die "postgres: the postgres user cannot enter $RUN; use a run dir under /tmp (ML_RUN_DIR)"
    fi
    check_port_free postgres "$PG_PORT" ML_PG_PORT
    # The server writes its socket and log itself, so those belong to the postgres user.
    mkdir -p "$PG_SOCKET_DIR"
    touch "$log"
    if [[ ${#owner[@]} -gt 0 ]]; then chown "${owner[0]}" "$PG_SOCKET_DIR" "$log"; fi

    if [[ ! -f $PG_DATA/PG_VERSION ]]; then  # only the very first start creates the cluster
        say "postgres: initdb $PG_DATA"
        rm -rf "$PG_DATA"
        mkdir -m 0700 "$PG_DATA"
        if [[ ${#owner[@]} -gt 0 ]]; then chown "${owner[0]}" "$PG_DATA"; fi
        as_pg "$PG_BIN/initdb" -D "$PG_DATA" -A trust -U postgres -E UTF8 --locale=C \
            --no-instructions >>"$log" 2>&1 || fail postgres "$log" "initdb failed"
    fi

    local opts="-p $PG_PORT -k $PG_SOCKET_DIR -c listen_addresses=127.0.0.1"
    if [[ $PG_DURABLE != 1 ]]; then
        # A throwaway test database: skipping fsync makes Directus's bootstrap much faster.
        opts+=" -c fsync=off -c full_page_writes=off"
    fi
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$log" -o "$opts" -w -t 60 start >/dev/null 9>&- \
        || fail postgres "$log" "pg_ctl start failed"

    if [[ -z $(psql_admin -d postgres -tAc "select 1 from pg_database where datname = 'directus'") ]]; then
        psql_admin -d postgres -c 'create database directus' \
            || fail postgres "$log" "could not create database directus"
    fi
}
postgres_stop() {
    postgres_running || return 0
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null \
        || fail postgres "$RUN/postgres.log" "pg_ctl stop failed"
}

# ------------------------------------------------------------------------ pgbouncer

# Debian's PgBouncer in front of the test PostgreSQL, the way many hosts share one database:
# clients name any user; the server side logs in as postgres.
pgbouncer_running() { pid_alive "$RUN/pgbouncer.pid" pgbouncer; }
pgbouncer_start() {
    local log=$RUN/pgbouncer.log ini=$RUN/pgbouncer.ini
    command -v pgbouncer >/dev/null || die "pgbouncer: not installed (apt-get install pgbouncer)"
    check_port_free pgbouncer "$PGBOUNCER_PORT" ML_PGBOUNCER_PORT
    cat >"$ini" <<INI
[databases]
directus = host=127.0.0.1 port=$PG_PORT dbname=directus user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
auth_type = any
pool_mode = $PGBOUNCER_MODE
max_client_conn = 1000
default_pool_size = 20
logfile = $log
pidfile = $RUN/pgbouncer.pid
INI
    touch "$log"
    # PgBouncer refuses to run as root: as root, it runs as the postgres user.
    if [[ $EUID -eq 0 ]]; then chown postgres "$ini" "$log" "$RUN"; fi
    as_pg pgbouncer -d "$ini" >>"$log" 2>&1 9>&- || fail pgbouncer "$log" "pgbouncer did not start"
    local i
    for ((i = 0; i < 40; i++)); do
        pgbouncer_running && port_busy "$PGBOUNCER_PORT" && return
        sleep 0.25
    done
    fail pgbouncer "$log" "not listening on $PGBOUNCER_PORT after 10 s"
}
pgbouncer_stop() { kill_pidfile pgbouncer "$RUN/pgbouncer.pid" pgbouncer; }

# ----------------------------------------------------------------------------- smtp

smtp_pattern() { [[ $SMTP_KIND == maildev ]] && echo maildev || echo aiosmtpd; }
smtp_running() { pid_alive "$RUN/smtp.pid" "$(smtp_pattern)"; }
smtp_ready() (  # an SMTP server greets with "220 ..."
    owns_port "$RUN/smtp.pid" "$SMTP_PORT" || exit 1
    exec 3<>"/dev/tcp/127.0.0.1/$SMTP_PORT" || exit 1
    read -r -t 2 line <&3 || true
    [[ ${line:-} == 220* ]]
) 2>/dev/null
smtp_start() {
    local log=$RUN/smtp.log
    check_port_free smtp "$SMTP_PORT" ML_SMTP_PORT
    case $SMTP_KIND in
        aiosmtpd)
            # Python's Maildir only creates tmp/new/cur when it creates the folder itself.
            mkdir -p "$RUN/maildir/tmp" "$RUN/maildir/new" "$RUN/maildir/cur"
            # Debian's interpreter explicitly: a python3 earlier on PATH may not see
            # python3-aiosmtpd. -n: do not switch to user nobody when run as root.
            spawn "$RUN/smtp.pid" "$log" /usr/bin/python3 -m aiosmtpd -n \
                -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$RUN/maildir"
            ;;
        maildev)
            check_port_free smtp "$MAILDEV_WEB_PORT" ML_MAILDEV_WEB_PORT
            local dir node22
            dir=$(maildev_install)
            # maildev 3's dependencies want Node 22: borrow the one installed with the default
            # Directus (Directus 10 runs on Node 20).
            node22=$(env -u DIRECTUS_VERSION "$SCRIPTS/directus.sh" install)/node_modules/.bin/node
            # --ip is only the SMTP side: the web side needs --web-ip (default 0.0.0.0).
            # cwd = run dir: maildev looks for config files in cwd and its parents.
            (cd "$RUN" && spawn "$RUN/smtp.pid" "$log" "$node22" "$dir/node_modules/.bin/maildev" \
                --smtp "$SMTP_PORT" --ip 127.0.0.1 --web "$MAILDEV_WEB_PORT" --web-ip 127.0.0.1 \
                --mail-directory "$RUN/maildev")
            ;;
        *) die "smtp: unknown ML_SMTP_KIND '$SMTP_KIND' (aiosmtpd or maildev)" ;;
    esac
    wait_until 20 "$RUN/smtp.pid" smtp "$log" smtp_ready
}
smtp_stop() { kill_pidfile smtp "$RUN/smtp.pid" "$(smtp_pattern)"; }

# maildev from npm, cached per user and version like Directus (scripts/directus.sh).
maildev_install() {
    local cache=${XDG_CACHE_HOME:-$HOME/.cache}/ngx-magic-link
    local dest=$cache/maildev-$MAILDEV_VERSION tmp
    if [[ ! -e $dest/node_modules/.bin/maildev ]]; then
        say "smtp: installing maildev $MAILDEV_VERSION from npm (first run)"
        mkdir -p "$cache"
        tmp=$(mktemp -d "$cache/.maildev-$MAILDEV_VERSION.tmp.XXXXXX")
        printf '{ "name": "ngx-magic-link-maildev", "private": true }\n' >"$tmp/package.json"
        if ! (cd "$tmp" && npm install --no-audit --no-fund --save-exact "maildev@$MAILDEV_VERSION") >&2; then
            rm -rf "$tmp"
            die "smtp: npm install maildev@$MAILDEV_VERSION failed"
        fi
        mv -T "$tmp" "$dest" 2>/dev/null || rm -rf "$tmp"  # lost a race: the other copy is fine
    fi
    echo "$dest"
}

# ------------------------------------------------------------------------- directus

DIRECTUS_PATTERN="cli/run.js start"   # its command line: node .../@directus/api/dist/cli/run.js start
directus_running() { pid_alive "$RUN/directus.pid" "$DIRECTUS_PATTERN"; }
directus_ready() {
    owns_port "$RUN/directus.pid" "$DIRECTUS_PORT" &&
    [[ $(curl -s --max-time 2 "http://127.0.0.1:$DIRECTUS_PORT/server/ping" 2>/dev/null) == pong ]]
}

# Directus is configured only by this environment (no .env in the shared cache: several
# run dirs may use the same install at once). env -i keeps stray variables of the
# caller (PORT, HOST, SECRET, DB_*...) from leaking into its configuration.
directus_env() {  # install-dir
    local secret
    if [[ ! -s $RUN/directus.secret ]]; then  # one secret per run dir: tokens survive restarts
        (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$RUN/directus.secret")
    fi
    secret=$(<"$RUN/directus.secret")
    DIRECTUS_ENV=(
        env -i
        PATH="$1/node_modules/.bin:/usr/local/bin:/usr/bin:/bin"   # Node 22 first
        HOME="$RUN/directus" LANG=C.UTF-8 TZ=UTC
        DB_CLIENT=pg DB_HOST=127.0.0.1 DB_PORT="$PG_PORT" DB_DATABASE=directus
        DB_USER=postgres DB_PASSWORD=
        SECRET="$secret"
        ADMIN_EMAIL="$ADMIN_EMAIL" ADMIN_PASSWORD="$ADMIN_PASSWORD"
        PUBLIC_URL="$PUBLIC_URL" HOST=127.0.0.1 PORT="$DIRECTUS_PORT"
        # State in the run dir. CONFIG_PATH: we write no .env; pinning its path means none
        # from anywhere else is read. package.json (extension list) from the install.
        CONFIG_PATH="$RUN/directus/.env" PACKAGE_FILE_LOCATION="$1"
        EXTENSIONS_PATH="$RUN/directus/extensions" STORAGE_LOCAL_ROOT="$RUN/directus/uploads"
        # Quiet, local, predictable under load.
        LOG_LEVEL=warn TELEMETRY=false PROJECT_OWNER_ENABLED=false
        CACHE_ENABLED=false RATE_LIMITER_ENABLED=false PRESSURE_LIMITER_ENABLED=false
        EXTENSIONS_AUTO_RELOAD=false
        # Directus's own mail (password reset, invites) goes to the SMTP sink.
        EMAIL_TRANSPORT=smtp EMAIL_SMTP_HOST=127.0.0.1 EMAIL_SMTP_PORT="$SMTP_PORT"
        EMAIL_SMTP_IGNORE_TLS=true EMAIL_VERIFY_SETUP=false EMAIL_FROM=directus@example.com
    )
}

directus_start() {
    local log=$RUN/directus.log dir cli
    check_port_free directus "$DIRECTUS_PORT" ML_DIRECTUS_PORT
    postgres_running || die "directus: postgres of this run dir is not running (start it first)"
    dir=$("$SCRIPTS/directus.sh" install)
    # The `directus` bin first asks registry.npmjs.org for a newer version (up to 8 s,
    # network); its CLI proper is @directus/api's cli/run.js, which we call directly.
    cli=$dir/node_modules/@directus/api/dist/cli/run.js
    [[ -f $cli ]] || die "directus: $cli not found (broken install? remove $dir)"
    mkdir -p "$RUN/directus/extensions" "$RUN/directus/uploads"
    directus_env "$dir"

    # Bootstrap (create tables and the admin user) once per database. Its schema is that
    # version's: another Directus would migrate it up (or fail on a newer one), so a run dir
    # stays with the version that bootstrapped it.
    if [[ -z $(psql_admin -d directus -tAc "select to_regclass('public.directus_users')") ]]; then
        say "directus: bootstrap $DIRECTUS_VERSION (first start on this database)"
        (cd "$RUN/directus" && "${DIRECTUS_ENV[@]}" node "$cli" bootstrap) >>"$log" 2>&1 \
            || fail directus "$log" "directus bootstrap failed"
        echo "$DIRECTUS_VERSION" >"$RUN/directus.version"
    fi

    # cwd = run dir, so nothing Directus writes relative to it lands in the shared cache.
    (cd "$RUN/directus" && spawn "$RUN/directus.pid" "$log" \
        "${DIRECTUS_ENV[@]}" node "$cli" start)
    wait_until 90 "$RUN/directus.pid" directus "$log" directus_ready
}
directus_stop() { kill_pidfile directus "$RUN/directus.pid" "$DIRECTUS_PATTERN"; }
directus_same_version() {  # before anything is started or saved
    [[ ! -s $RUN/directus.version || $(<"$RUN/directus.version") == "$DIRECTUS_VERSION" ]] ||
        die "directus: this run dir's database was bootstrapped by Directus $(<"$RUN/directus.version"), not $DIRECTUS_VERSION (use another ML_RUN_DIR)"
}

# ---------------------------------------------------------------------------- main

quote() {  # a value as a shell word, single-quoted only when needed
    if [[ $1 =~ ^[A-Za-z0-9_./:@%+=,-]*$ && -n $1 ]]; then printf '%s' "$1"
    else printf "'%s'" "${1//\'/\'\\\'\'}"; fi
}

save_settings() {
    local v tmp=$RUN/settings.tmp
    {
        echo "# settings of this run dir, written by services.sh; environment variables win"
        for v in REDIS_PORT PG_PORT PGBOUNCER_PORT PGBOUNCER_MODE SMTP_PORT DIRECTUS_PORT \
                 PUBLIC_URL SMTP_KIND MAILDEV_WEB_PORT PG_DURABLE; do
            # shellcheck disable=SC2016  # the ${...} is for whoever sources the file
            printf 'ML_%s=${ML_%s:-%s}\n' "$v" "$v" "$(quote "${!v}")"
        done
        # shellcheck disable=SC2016
        printf 'DIRECTUS_VERSION=${DIRECTUS_VERSION:-%s}\n' "$(quote "$DIRECTUS_VERSION")"
    } >"$tmp"
    mv "$tmp" "$RUN/settings"
}

write_env() {
    local tmp=$RUN/env.tmp
    {
        echo "# written by services.sh start; source it"
        e() { printf 'export %s=%s\n' "$1" "$(quote "$2")"; }
        e ML_RUN_DIR "$RUN"
        e ML_SERVICES "env ML_RUN_DIR=$(quote "$RUN") $SCRIPTS/services.sh"  # a command line: "$ML_SERVICES stop postgres"
        e TEST_NGINX_REDIS_PORT "$REDIS_PORT"
        e TEST_NGINX_PG_PORT "$PG_PORT"
        e TEST_NGINX_PG_DSN "host=127.0.0.1 port=$PG_PORT dbname=directus user=postgres"
        e TEST_NGINX_PGBOUNCER_PORT "$PGBOUNCER_PORT"
        e TEST_NGINX_SMTP_PORT "$SMTP_PORT"
        e TEST_NGINX_SMTP_KIND "$SMTP_KIND"
        if [[ $SMTP_KIND == maildev ]]; then
            e TEST_NGINX_MAILDEV_URL "http://127.0.0.1:$MAILDEV_WEB_PORT"   # web UI; API: /api/email
        else
            e TEST_NGINX_MAILDIR "$RUN/maildir"
        fi
        e TEST_NGINX_DIRECTUS_PORT "$DIRECTUS_PORT"
        e TEST_NGINX_DIRECTUS_URL "http://127.0.0.1:$DIRECTUS_PORT"
        e TEST_NGINX_DIRECTUS_PUBLIC_URL "$PUBLIC_URL"
        e TEST_NGINX_DIRECTUS_ADMIN_EMAIL "$ADMIN_EMAIL"
        e TEST_NGINX_DIRECTUS_ADMIN_PASSWORD "$ADMIN_PASSWORD"
        e TEST_NGINX_DIRECTUS_VERSION "$DIRECTUS_VERSION"   # for messages: suites detect features
        # Directus' SECRET, for the module's session mode and gate (magic_link_directus_secret).
        if [[ -s $RUN/directus.secret ]]; then
            e TEST_NGINX_DIRECTUS_SECRET "$(<"$RUN/directus.secret")"
        fi
    } >"$tmp"
    mv "$tmp" "$RUN/env"
}

set_wanted() {  # validate names into $wanted; none = all
    local n
    if [[ $# -eq 0 ]]; then set -- "${ALL[@]}"; fi
    for n in "$@"; do
        [[ " ${ALL[*]} " == *" $n "* ]] || die "unknown service '$n' (one of: ${ALL[*]})"
    done
    wanted=("$@")
}
in_order() {  # the given names in start order (or reverse), each once
    local reverse=$1 n
    shift
    local order=("${ALL[@]}")
    if [[ $reverse == 1 ]]; then order=(directus smtp pgbouncer postgres redis); fi
    for n in "${order[@]}"; do
        [[ " $* " == *" $n "* ]] && echo "$n"
    done
    return 0
}

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case $cmd in
    start | stop)
        set_wanted "$@"
        if [[ $cmd == stop && ! -d $RUN ]]; then exit 0; fi
        mkdir -p "$RUN"
        chmod 0755 "$RUN"   # the postgres user must be able to enter it
        # One start/stop at a time per run dir. Daemons must not inherit fd 9 (they would
        # hold the lock for their lifetime): every command that leaves a process behind
        # gets "9>&-".
        exec 9>"$RUN/.lock"
        flock 9
        if [[ $cmd == start ]]; then
            if [[ " ${wanted[*]} " == *" directus "* ]]; then directus_same_version; fi
            save_settings
            for n in $(in_order 0 "${wanted[@]}"); do
                if "${n}_running"; then continue; fi
                t0=$SECONDS
                "${n}_start"
                say "$n started ($((SECONDS - t0)) s)"
            done
            write_env
        else
            for n in $(in_order 1 "${wanted[@]}"); do
                if "${n}_running"; then "${n}_stop"; say "$n stopped"; fi
            done
        fi
        ;;
    pause | resume)
        [[ $# -gt 0 ]] || die "$cmd: name redis, smtp or directus"
        for n in "$@"; do
            [[ $n == redis || $n == smtp || $n == directus ]] || die "$cmd: cannot $cmd '$n'"
            "${n}_running" || die "$cmd: $n is not running"
            kill "-$([[ $cmd == pause ]] && echo STOP || echo CONT)" "$(<"$RUN/$n.pid")"
        done
        ;;
    status)
        set_wanted "$@"
        rc=0
        for n in "${wanted[@]}"; do
            case $n in
                redis) port=$REDIS_PORT pidfile=$RUN/redis.pid ;;
                postgres) port=$PG_PORT pidfile=$PG_DATA/postmaster.pid ;;
                pgbouncer) port=$PGBOUNCER_PORT pidfile=$RUN/pgbouncer.pid ;;
                smtp) port=$SMTP_PORT pidfile=$RUN/smtp.pid ;;
                directus) port=$DIRECTUS_PORT pidfile=$RUN/directus.pid ;;
            esac
            if "${n}_running"; then
                printf '%-9s running  pid %-7s 127.0.0.1:%s\n' "$n" "$(head -n1 "$pidfile")" "$port"
            else
                printf '%-9s stopped\n' "$n"
                rc=3
            fi
        done
        exit $rc
        ;;
    *)
        sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
