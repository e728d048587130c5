#!/usr/bin/env bash
# Run every zapjobs test: build (-Werror), install, then `make installcheck`
# (pg_regress suites in a private temp instance, then the TAP tests in
# test/t/*.pl) as an unprivileged user.  Run as root:
#
#     bash test/run-tests.sh
#
# Optional environment:
#   ZJ_TESTS=all|regress|tap   run both halves (default) or only one
#   PROVE_TESTS=test/t/001_x.pl  run only these TAP files (passed to make)
#   PROVE_FLAGS=--verbose        extra prove flags (passed to make)
#   ZJ_TIMEOUT=SECONDS         cap each half (default 1800 when CI is set, else none)
#   ZJ_KEEP=1                  keep the temp test tree even when all tests pass
#
# The last line of output is "N passed, N failed"; the exit status is non-zero
# if anything failed.
set -euo pipefail

# shellcheck source=test/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ZJ_TESTS=${ZJ_TESTS:-all}
case $ZJ_TESTS in
    all | regress | tap) ;;
    *) zj_die "ZJ_TESTS must be all, regress or tap (got '$ZJ_TESTS')" ;;
esac
# With no terminal to interrupt a hang, CI gets a time cap by default.
if [[ -n ${CI:-} ]]; then ZJ_TIMEOUT=${ZJ_TIMEOUT:-1800}; fi
ZJ_TIMEOUT=${ZJ_TIMEOUT:-}

zj_prepare_machine

# The tests write tmp_check/, results/, log/ ... into the tree they run in, and
# must run as $ZJ_USER, so they run in a private copy owned by that user.
WORK=$(mktemp -d /tmp/zapjobs-test.XXXXXX)
zj_log "Test tree: $WORK"
zj_copy_tree "$WORK"

# Stop any server a killed or crashed run left behind in the test tree (by
# data directory, so nothing else on the machine is touched).
stop_leftover_servers() {
    local pidfile
    [[ -d $WORK ]] || return 0
    while IFS= read -r pidfile; do
        echo "Stopping leftover server in ${pidfile%/postmaster.pid}"
        zj_as_user "$ZJ_PG_BIN/pg_ctl" -D "${pidfile%/postmaster.pid}" stop -m immediate || true
    done < <(find "$WORK" -name postmaster.pid 2>/dev/null)
}
trap stop_leftover_servers EXIT

zj_build_install "$WORK"

total_passed=0
total_failed=0
summary=()

# run_make LOGFILE MAKE-ARGS...: `make installcheck` as $ZJ_USER in the test
# tree, output shown and saved; returns make's exit status.
run_make() {
    local logfile=$1
    shift
    local -a cmd=(make installcheck PG_CONFIG="$PG_CONFIG" "$@")
    if [[ -n $ZJ_TIMEOUT ]]; then
        cmd=(timeout -k 30 "$ZJ_TIMEOUT" "${cmd[@]}")
    fi
    local rc=0
    (cd "$WORK" && zj_as_user "${cmd[@]}") 2>&1 | tee "$logfile" || rc=$?
    [[ $rc -ne 124 ]] || echo "*** timed out after ${ZJ_TIMEOUT}s"
    stop_leftover_servers
    return "$rc"
}

# show_tail FILE LINES: print the end of a log file under a heading.
show_tail() {
    [[ -f $1 ]] || return 0
    printf '\n----- last %s lines of %s -----\n' "$2" "${1#"$WORK"/}"
    tail -n "$2" "$1"
}

run_regress() {
    zj_log "pg_regress suites (private temp instance)"
    local log=$WORK/installcheck-regress.out rc=0 p f
    # TAP_TESTS= on the command line turns the TAP half off.
    run_make "$log" TAP_TESTS= || rc=$?
    # PG15 prints "test foo ... ok" / "... FAILED"; newer pg_regress prints
    # TAP-style "ok 1 - foo" / "not ok 1 - foo".  Count both.
    read -r p f < <(awk '
        /\.\.\. ok( |$)/                 { p++ }
        /\.\.\. (FAILED|failed)/         { f++ }
        /^ok [0-9]+ +[-+] /              { p++ }
        /^not ok [0-9]+ +[-+] /          { f++ }
        END { print p + 0, f + 0 }' "$log")
    # A non-zero exit with no failed test means pg_regress itself failed
    # (initdb, server start, crash): count the suite as one failure.
    if [[ $rc -ne 0 && $f -eq 0 ]]; then f=1; fi
    if [[ $rc -ne 0 ]]; then
        if [[ -s $WORK/regression.diffs ]]; then
            printf '\n----- regression.diffs (first 400 lines) -----\n'
            head -n 400 "$WORK/regression.diffs"
        fi
        # Temp instance logs (pg_regress puts them in ./log); initdb's only
        # matters when the server never got started.
        [[ -f $WORK/log/postmaster.log ]] || show_tail "$WORK/log/initdb.log" 30
        show_tail "$WORK/log/postmaster.log" 100
    fi
    summary+=("pg_regress: $p passed, $f failed")
    total_passed=$((total_passed + p))
    total_failed=$((total_failed + f))
    return "$rc"
}

run_tap() {
    zj_log "TAP tests (prove ${PROVE_TESTS:-test/t/*.pl})"
    if [[ -z ${PROVE_TESTS:-} ]] && ! compgen -G "$WORK/test/t/*.pl" >/dev/null; then
        echo "WARNING: no TAP tests in test/t/; skipping the TAP half"
        summary+=("TAP: no tests found")
        return 0
    fi
    local log=$WORK/installcheck-tap.out rc=0 p f
    # The browser test's driver (puppeteer-core, pinned in package-lock.json).
    zj_log "Installing the browser test's npm packages (test/browser)"
    (cd "$WORK/test/browser" && zj_as_user env HOME="$(getent passwd "$ZJ_USER" | cut -d: -f6)" \
        npm ci --no-audit --no-fund --loglevel=error) || zj_die "npm ci in test/browser failed"
    local -a args=(REGRESS=)   # REGRESS= on the command line turns pg_regress off.
    [[ -z ${PROVE_TESTS:-} ]] || args+=(PROVE_TESTS="$PROVE_TESTS")
    [[ -z ${PROVE_FLAGS:-} ]] || args+=(PROVE_FLAGS="$PROVE_FLAGS")
    run_make "$log" "${args[@]}" || rc=$?
    # prove's summary: "Files=2, Tests=17, ..." counts every test point; the
    # "Test Summary Report" has "file (Wstat: W Tests: N Failed: K)" per bad
    # file.  A file that died without a failed test point (Failed: 0, non-zero
    # wait status) counts as one failure.
    read -r p f < <(awk '
        /^Files=[0-9]+, Tests=[0-9]+/ {
            match($0, /Tests=[0-9]+/); tests = substr($0, RSTART + 6, RLENGTH - 6) + 0 }
        /\(Wstat: [0-9]+.* Tests: [0-9]+ Failed: [0-9]+\)/ {
            match($0, /Failed: [0-9]+/); k = substr($0, RSTART + 8, RLENGTH - 8) + 0
            match($0, /Wstat: [0-9]+/); w = substr($0, RSTART + 7, RLENGTH - 7) + 0
            failed += k; if (k == 0 && w != 0) broken++ }
        /^Result: FAIL/ { resfail = 1 }
        END {
            f = failed + broken
            if (resfail && f == 0) f = 1
            print tests - failed, f }' "$log")
    if [[ $rc -ne 0 && $f -eq 0 ]]; then f=1; fi
    if [[ $rc -ne 0 ]]; then
        # Logs of the failed files (tmp_check/log/regress_log_NAME and the
        # node logs NAME_*.log); all logs if prove named no failed file.
        local -a bad logs=()
        local b l
        mapfile -t bad < <(sed -nE 's|^(.*/)?([^/ ]+)\.pl +\(Wstat: .*|\2|p' "$log")
        for b in "${bad[@]}"; do
            for l in "$WORK/tmp_check/log/regress_log_$b" "$WORK/tmp_check/log/${b}"_*.log; do
                [[ -f $l ]] && logs+=("$l")
            done
        done
        [[ ${#logs[@]} -gt 0 ]] || logs=("$WORK"/tmp_check/log/*)
        for l in "${logs[@]}"; do
            show_tail "$l" 80
        done
    fi
    summary+=("TAP: $p passed, $f failed")
    total_passed=$((total_passed + p))
    total_failed=$((total_failed + f))
    return "$rc"
}

status=0
if [[ $ZJ_TESTS != tap ]]; then run_regress || status=1; fi
# The TAP half runs even if pg_regress failed, so one run reports everything.
if [[ $ZJ_TESTS != regress ]]; then run_tap || status=1; fi

zj_log "Summary"
printf '%s\n' "${summary[@]}"
if [[ $status -eq 0 && ${ZJ_KEEP:-} != 1 ]]; then
    rm -rf "$WORK"
else
    echo "Test tree kept for inspection: $WORK"
fi
printf '%d passed, %d failed\n' "$total_passed" "$total_failed"
exit "$status"
