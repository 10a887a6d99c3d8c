#!/usr/bin/env bash
# Runs the libFuzzer targets for fuzz/fuzz.mk; run from the repository root.
#
#   run.sh run BINARY SECONDS WORKDIR
#       Fuzzes BINARY (build/fuzz/<target>) for SECONDS on a scratch copy of
#       fuzz/corpus/<target>/ in WORKDIR/<target>/ (the repo corpus is only read), with
#       fuzz/dict/<target>.dict when present. Prints one line: ok with runs, exec/s, cov, ft,
#       corp; or FAILED with the kind of failure, the saved input and the sanitizer report.
#       Exit status 0 only for a clean run.
#   run.sh crashes BINDIR
#       Replays every fuzz/crashes/<target>/* input (open findings) on BINDIR/<target> and says
#       which still fail. Exit status 0 either way: the files are known findings.
set -uo pipefail

summary_fields() {  # the last libFuzzer status line ("#N DONE cov: ... exec/s: ...") as k=v
    grep -aE '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$1" | tail -n 1 | awk '{
        runs = substr($1, 2)
        for (i = 2; i < NF; i++) if ($i ~ /^(cov|ft|corp|exec\/s):$/) v[$i] = $(i + 1)
        printf "runs=%s exec/s=%s cov=%s ft=%s corp=%s", runs, v["exec/s:"], v["cov:"], v["ft:"], v["corp:"]
    }'
}

failure_kind() {
    local log=$1
    if grep -aq 'fuzz invariant violated' "$log"; then echo "invariant violated"
    elif grep -aq 'ERROR: AddressSanitizer' "$log"; then echo "AddressSanitizer"
    elif grep -aq 'runtime error:' "$log"; then echo "UndefinedBehaviorSanitizer"
    elif grep -aq 'ERROR: LeakSanitizer' "$log"; then echo "LeakSanitizer"
    elif grep -aq 'ERROR: libFuzzer: timeout' "$log"; then echo "timeout"
    elif grep -aq 'out-of-memory' "$log"; then echo "out of memory"
    elif grep -aq 'terminate called\|uncaught exception' "$log"; then echo "uncaught exception"
    else echo "exit status $2"
    fi
}

run_one() {
    local binary=$1 seconds=$2 workdir=$3
    local target work dict=() status
    target=$(basename "$binary")
    work=$workdir/$target
    rm -rf "$work"
    mkdir -p "$work/corpus"
    if [[ -d fuzz/corpus/$target ]]; then cp -a "fuzz/corpus/$target/." "$work/corpus/"; fi
    [[ -f fuzz/dict/$target.dict ]] && dict=(-dict="fuzz/dict/$target.dict")

    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$binary" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/" "${dict[@]}" "$work/corpus" \
        >"$work/log" 2>&1
    status=$?
    # A report that somehow did not end the process still fails the run.
    if [[ $status -eq 0 ]] && grep -aqE 'ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|runtime error:' "$work/log"; then
        status=1
    fi

    if [[ $status -eq 0 ]]; then
        printf '%-18s ok      %s (%ss)\n' "$target" "$(summary_fields "$work/log")" "$seconds"
        return 0
    fi
    local artifact
    artifact=$(grep -aoE 'Test unit written to [^ ]+' "$work/log" | tail -n 1 | cut -d' ' -f5)
    printf '%-18s FAILED  %s: input %s, log %s\n' "$target" \
        "$(failure_kind "$work/log" "$status")" "${artifact:-(none saved)}" "$work/log"
    # The report itself, so CI output shows what happened.
    grep -anE 'ERROR:|runtime error:|fuzz invariant violated|^ *#[0-9]+ 0x|SUMMARY:' "$work/log" \
        | head -n 40 | sed 's/^/    /' >&2
    return 1
}

replay_crashes() {
    local bindir=$1 file target
    shopt -s nullglob
    local files=(fuzz/crashes/*/*)
    [[ ${#files[@]} -gt 0 ]] || echo "fuzz/crashes/: no open findings"
    for file in "${files[@]}"; do
        target=$(basename "$(dirname "$file")")
        if [[ ! -x $bindir/$target ]]; then
            printf '%-50s no binary %s\n' "$file" "$bindir/$target"
        elif "$bindir/$target" "$file" >/dev/null 2>&1; then
            printf '%-50s passes now (fixed? then move it to fuzz/corpus/%s/)\n' "$file" "$target"
        else
            printf '%-50s still fails\n' "$file"
        fi
    done
}

case ${1:-} in
    run) shift; [[ $# -eq 3 ]] || { echo "usage: $0 run BINARY SECONDS WORKDIR" >&2; exit 2; }
         run_one "$@" ;;
    crashes) shift; [[ $# -eq 1 ]] || { echo "usage: $0 crashes BINDIR" >&2; exit 2; }
         replay_crashes "$@" ;;
    *) echo "usage: $0 run BINARY SECONDS WORKDIR | crashes BINDIR" >&2; exit 2 ;;
esac
