#!/usr/bin/env bash
# The whole magic-link flow on 127.0.0.1, for people: nginx with the module at
# http://127.0.0.1:8080 in front of Directus, with PostgreSQL, Redis and a MailDev inbox.
#
#   demo.sh start    install what is missing, build, start everything, print the URLs
#                    (parts already running are left as they are: a second start is quick)
#   demo.sh stop     stop what start started (nginx, Directus, MailDev, PostgreSQL, Redis)
#   demo.sh status   show what is running
#
# `make demo` runs `demo.sh start`, `make demo-stop` runs `demo.sh stop`. Everything lives in
# DEMO_DIR (default /tmp/ngx-magic-link-demo; the postgres user must be able to enter it) and
# survives a stop: the database, the demo user and the module's secret. Remove the folder after
# a stop to start from scratch.
#
# Ports (127.0.0.1 only): nginx 8080, Directus 8055, MailDev SMTP 1025 and web 1080,
# PostgreSQL 15433, Redis 16380 (not the system's 5432/6379, nor the test suite's ports).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVICES=$ROOT/scripts/services.sh
RUN=${DEMO_DIR:-/tmp/ngx-magic-link-demo}

NGINX_PORT=8080
DIRECTUS_PORT=8055
SMTP_PORT=1025
MAILDEV_WEB_PORT=1080
PG_PORT=15433
REDIS_PORT=16380
PUBLIC_URL=http://127.0.0.1:$NGINX_PORT
DEMO_EMAIL=demo@example.com

PREFIX=$RUN/nginx/                 # nginx -p: conf/, logs/, temp/
NGINX_CONF=$PREFIX/conf/nginx.conf
NGINX_PID=$PREFIX/logs/nginx.pid
MODULE=$ROOT/build/ngx_http_magic_link_module.so
TEMPLATE=$ROOT/conf-examples/demo.conf.in
NGINX=${NGINX:-/usr/sbin/nginx}

say() { echo "==> $*"; }
die() { echo "demo.sh: $*" >&2; exit 1; }

# services.sh with the demo's run dir and ports; MailDev instead of the test suite's sink.
services() {
    env ML_RUN_DIR="$RUN" ML_REDIS_PORT=$REDIS_PORT ML_PG_PORT=$PG_PORT ML_SMTP_PORT=$SMTP_PORT \
        ML_DIRECTUS_PORT=$DIRECTUS_PORT ML_PUBLIC_URL=$PUBLIC_URL ML_SMTP_KIND=maildev \
        ML_MAILDEV_WEB_PORT=$MAILDEV_WEB_PORT "$SERVICES" "$@"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Our nginx: the pid file names a live nginx master started with our prefix.
nginx_running() {
    local pid
    [[ -s $NGINX_PID ]] || return 1
    read -r pid <"$NGINX_PID" || return 1
    [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "nginx.*-p $PREFIX"
}

nginx_stop() {
    local pid i
    nginx_running || { rm -f "$NGINX_PID"; return 0; }
    read -r pid <"$NGINX_PID"
    kill -QUIT "$pid" 2>/dev/null || true     # graceful: finish the requests in flight
    for ((i = 0; i < 100; i++)); do
        nginx_running || return 0
        sleep 0.1
    done
    echo "demo.sh: nginx (pid $pid) did not quit in 10 s; terminating it" >&2
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        nginx_running || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$NGINX_PID"
}

# Fail before starting anything when a demo port is taken by someone else.
check_ports() {
    local busy=() entry name port
    for entry in "nginx:$NGINX_PORT" "directus:$DIRECTUS_PORT" "smtp:$SMTP_PORT" \
                 "smtp:$MAILDEV_WEB_PORT" "postgres:$PG_PORT" "redis:$REDIS_PORT"; do
        name=${entry%%:*} port=${entry#*:}
        if [[ $name == nginx ]]; then
            nginx_running && continue
        else
            services status "$name" >/dev/null 2>&1 && continue
        fi
        if port_busy "$port"; then
            busy+=("127.0.0.1:$port (wanted for the demo's $name) is in use by: $(
                ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'users:.*' | head -n1 || true)")
        fi
    done
    if [[ ${#busy[@]} -gt 0 ]]; then
        printf 'demo.sh: %s\n' "${busy[@]}" >&2
        die "free those ports (or stop the other program) and run again"
    fi
}

# One secret per demo dir: links already mailed stay valid across restarts.
secret() {
    if [[ ! -s $RUN/magic-link.secret ]]; then
        (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$RUN/magic-link.secret")
    fi
    cat "$RUN/magic-link.secret"
}

render_config() {
    local user_line='' secret
    secret=$(secret)
    # Running as root: workers as nobody (the master reads the module, templates and secret).
    [[ $EUID -eq 0 ]] && user_line='user nobody nogroup;'
    mkdir -p "$PREFIX/conf" "$PREFIX/logs" "$PREFIX/temp"
    NGX_VALUES="MODULE=$MODULE
USER_LINE=$user_line
SECRET=$secret
PG_PORT=$PG_PORT
REDIS_PORT=$REDIS_PORT
DIRECTUS_PORT=$DIRECTUS_PORT
SMTP_PORT=$SMTP_PORT
PUBLIC_URL=$PUBLIC_URL
NGINX_PORT=$NGINX_PORT
TEMPLATES=$ROOT/templates" perl -e '
        my %v = map { /^(\w+)=(.*)$/ ? ($1, $2) : () } split /\n/, $ENV{NGX_VALUES};
        local $/;
        my $conf = <STDIN>;
        $conf =~ s/\@(\w+)\@/exists $v{$1} ? $v{$1} : die "unknown placeholder \@$1\@\n"/ge;
        print $conf;
    ' <"$TEMPLATE" >"$NGINX_CONF.new" || die "could not render $TEMPLATE"
    chmod 0600 "$NGINX_CONF.new"   # it holds the secret
}

# What nginx runs: the configuration and the module file (a rebuild makes a new inode).
nginx_fingerprint() {
    { cat "$NGINX_CONF"; stat -c '%i %Y %s' "$MODULE"; } | sha256sum | cut -d' ' -f1
}

nginx_start() {
    render_config
    local changed=1
    if [[ -f $NGINX_CONF ]] && cmp -s "$NGINX_CONF.new" "$NGINX_CONF"; then changed=0; fi
    mv -f "$NGINX_CONF.new" "$NGINX_CONF"
    if nginx_running; then
        if [[ $changed == 0 && $(cat "$PREFIX/running.fingerprint" 2>/dev/null) == "$(nginx_fingerprint)" ]]; then
            say "nginx already running (pid $(<"$NGINX_PID"))"
            return
        fi
        say "nginx: configuration or module changed; restarting it"
        nginx_stop
    fi
    local output
    if ! output=$("$NGINX" -t -p "$PREFIX" -c conf/nginx.conf -e logs/error.log 2>&1); then
        echo "$output" >&2
        die "nginx -t failed for $NGINX_CONF"
    fi
    port_busy "$NGINX_PORT" && die "127.0.0.1:$NGINX_PORT is already in use"
    "$NGINX" -p "$PREFIX" -c conf/nginx.conf -e logs/error.log 9>&- \
        || die "nginx did not start (log: $PREFIX/logs/error.log)"
    local i
    for ((i = 0; i < 50; i++)); do
        [[ $(curl -s --max-time 2 "$PUBLIC_URL/magic-link-api/" 2>/dev/null) == "Magic Link Authentication Endpoint" ]] && break
        sleep 0.1
    done
    ((i < 50)) || die "nginx does not answer on $PUBLIC_URL (log: $PREFIX/logs/error.log)"
    nginx_fingerprint >"$PREFIX/running.fingerprint"
    say "nginx started on $PUBLIC_URL (pid $(<"$NGINX_PID"))"
}

# The demo user: active, no role (so no Directus seat), created once.
create_demo_user() {
    local created
    created=$(psql -X -q -tA -h 127.0.0.1 -p "$PG_PORT" -U postgres -d directus -v ON_ERROR_STOP=1 \
        -v email="$DEMO_EMAIL" <<'SQL'
INSERT INTO directus_users (id, email, status, first_name, last_name)
SELECT gen_random_uuid(), :'email', 'active', 'Demo', 'User'
WHERE NOT EXISTS (SELECT 1 FROM directus_users WHERE lower(email) = lower(:'email'))
RETURNING id;
SQL
    ) || die "could not create the demo user $DEMO_EMAIL"
    if [[ -n $created ]]; then say "created the Directus user $DEMO_EMAIL"; fi
}

start() {
    local t0=$SECONDS
    say "checking Debian packages (scripts/deps.sh)"
    "$ROOT/scripts/deps.sh" build test
    say "building the module (make -s all)"
    make -s -C "$ROOT" all
    [[ -f $MODULE ]] || die "$MODULE was not built"

    mkdir -p "$RUN"
    chmod 0755 "$RUN"   # the postgres user must be able to enter it
    # One start or stop at a time; daemons must not inherit the lock (8>&- where they start).
    exec 8>"$RUN/.demo.lock"
    flock -n 8 || die "another demo.sh is working on $RUN"
    check_ports

    if services status redis postgres smtp directus >/dev/null 2>&1; then
        say "Redis, PostgreSQL, MailDev and Directus already running"
    else
        say "starting Redis, PostgreSQL, MailDev and Directus (the first run installs Directus: minutes)"
        services start redis postgres smtp directus 8>&-   # no PgBouncer: the demo talks to PostgreSQL
    fi
    create_demo_user
    say "starting nginx with the module"
    nginx_start 8>&-

    local admin  # the admin account services.sh bootstrapped, from its env file
    # shellcheck source=/dev/null
    admin=$(source "$RUN/env" && echo "$TEST_NGINX_DIRECTUS_ADMIN_EMAIL / $TEST_NGINX_DIRECTUS_ADMIN_PASSWORD")
    say "ready in $((SECONDS - t0)) s"
    echo
    echo "  Magic Link Demo is running on 127.0.0.1 (stop it with: make demo-stop)"
    echo
    printf '    %-11s %-43s %s\n' \
        "Sign in:" "$PUBLIC_URL/magic-link-ui" "enter $DEMO_EMAIL" \
        "Inbox:" "http://127.0.0.1:$MAILDEV_WEB_PORT" "MailDev: open the mail, click its link" \
        "Signed in:" "$PUBLIC_URL/magic-link-ui/success" "who this browser is signed in as" \
        "Directus:" "$PUBLIC_URL/admin" "$admin" \
        "API:" "$PUBLIC_URL/magic-link-api/" "POST generate, GET/POST verify"
    echo
    echo "  Logs: ${PREFIX}logs/error.log, $RUN/directus.log, $RUN/smtp.log"
}

stop() {
    [[ -d $RUN ]] || { say "nothing to stop ($RUN does not exist)"; return; }
    exec 8>"$RUN/.demo.lock"
    flock -w 30 8 || die "another demo.sh is working on $RUN"
    if nginx_running; then
        nginx_stop
        say "nginx stopped"
    fi
    rm -f "$PREFIX/running.fingerprint"
    services stop 8>&-
    say "demo stopped (state kept in $RUN; remove it to start from scratch)"
}

status() {
    local rc=0
    if nginx_running; then
        printf '%-9s running  pid %-7s 127.0.0.1:%s\n' nginx "$(<"$NGINX_PID")" "$NGINX_PORT"
    else
        printf '%-9s stopped\n' nginx
        rc=3
    fi
    [[ -d $RUN ]] && { services status || rc=3; } || rc=3
    return $rc
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
