#!/usr/bin/env bash
# zapjobs benchmark.  Run as root on a Debian 12 machine with PostgreSQL 15:
#
#     bash test/bench/run.sh [--quick] [--only N[,N...]]
#
# It installs the build dependencies (test/common.sh), builds and installs the
# current tree, creates a throwaway cluster in /tmp/zapjobs-bench (user
# zapjobs, port 55433, Unix socket only), measures the sections below and
# prints a summary table (median, min and max over the repetitions), also
# written as Markdown to /tmp/zapjobs-bench/results.md.  The server is stopped
# at the end.
#
#   1 commit ceiling   pgbench, one-row INSERT per transaction, 1/4/8 clients
#   2 enqueue          jobs.enqueue per transaction via pgbench (scheduled and
#                      due-now runs), each against a commit ceiling measured
#                      just before; the same as prepared statements; and one
#                      statement enqueuing 100,000
#   3 burn-down        pre-enqueued no-op runs with 1, 2, 4 and 8 workers; and
#                      with 4 workers, every other run failing
#   4 wake-up latency  enqueue commit -> job start, runs 20 ms apart; again
#                      with 8 workers, 4 of them busy with other runs
#   5 sustained load   producer at half the 4-worker burn-down rate; p99 per
#                      10 s, and the checkpoints that fell in the minute
#   6 deep queue       claim rate with 1,000,000 pending runs
#   7 progress cost    jobs.progress() per call (when it exists)
#   8 event latency    state change -> LISTEN job_update receipt
#   9 slot hand-over   a new role's enqueue -> its first start, when every
#                      worker slot holds another role's idle worker
#  10 held snapshot    burn-down with a REPEATABLE READ transaction held open
#                      meanwhile (as pg_dump or a long report holds one)
#  11 flat under load  runs at a steady rate for minutes with keep_completed =
#                      1 min: size of zapjobs' tables every 15 s, latency
#  12 watching         burn-down with zapjobs top and zapjobs watch attached;
#                      top's CPU idle and during the burn-down
#  13 dashboard        zapjobs web with 1,000,000 runs in jobs.runs, 5,000 runs/s
#                      going through and 100 browsers on /events: time to the
#                      first byte of every page, resident memory
#  14 workflows        a fan-out of 100,000 runs and one fan-in step waiting
#                      for all of them; a chain of 10,000 runs, each waiting
#                      for the one before (4 workers)
#  15 two databases    one run in a second database (bench_b) while postgres
#                      has 100,000 pending runs: start latency, against the
#                      same with postgres idle (4 workers)
#
# Options:
#   --quick        1 repetition, 10,000 burn-down runs, 100,000 deep queue,
#                  10 s sustained load, 100 wake-up/event runs (development)
#   --only N[,N]   run only these sections (5 and 6 calibrate a 4-worker
#                  burn-down rate first when section 3 is not run)
# Environment:
#   ZJ_BENCH_SUSTAIN_SECONDS  duration of section 5 (default 60, --quick 10)
#   ZJ_BENCH_SUSTAIN_RATE     producer rate of section 5, runs/s (default half the
#                             4-worker burn-down)
#   ZJ_BENCH_SUSTAIN_KEEP     zapjobs.keep_completed during section 5 (default: none,
#                             every run kept), e.g. 1min for retention under load
#   ZJ_BENCH_PGBENCH_SECONDS  duration of each pgbench run (default 10)
#   ZJ_BENCH_HELD_RUNS        runs of section 10 (default 100000, --quick 20000)
#   ZJ_BENCH_FLAT_SECONDS     duration of section 11 (default 600, --quick 150)
#   ZJ_BENCH_FLAT_RATE        its rate in runs/s (default 5000)
#   ZJ_BENCH_WEB_RUNS         finished runs of section 13 (default 1000000, --quick 200000)
#   ZJ_BENCH_HUGE_PAGES       on (default): reserve huge pages for the server's shared
#                             memory for the run (vm.nr_hugepages, restored at the
#                             end), as a production server has them; off: 4 kB pages
#   ZJ_BENCH_WAL_AHEAD        on (default): before sections 5 and 11, 3 GB of WAL
#                             segments are made ahead (min_wal_size = 3GB), as a
#                             server that has run a while recycles them; off: every
#                             segment is created, zero-filled, as the WAL reaches it
#   ZJ_BENCH_DIR, ZJ_BENCH_PORT  the throwaway cluster's directory and port (default
#                             /tmp/zapjobs-bench, 55433; section 13's dashboard listens on
#                             the port + 100): two benchmarks on one machine need their own
#   PG_CONFIG                 the PostgreSQL 15 install to build into and run (test/common.sh)
set -euo pipefail

# shellcheck source=test/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"

BENCH=${ZJ_BENCH_DIR:-/tmp/zapjobs-bench}
DATA=$BENCH/data
PORT=${ZJ_BENCH_PORT:-55433}
LOGDIR=$BENCH/logs
RAW=$BENCH/raw.tsv          # one line per measurement: name, unit, value

# --- Parameters ----------------------------------------------------------------
REPS=3
BURN_RUNS=50000
DEEP_RUNS=1000000
HELD_RUNS=${ZJ_BENCH_HELD_RUNS:-100000}   # section 10
FLAT_SECONDS=${ZJ_BENCH_FLAT_SECONDS:-600} # section 11
FLAT_RATE=${ZJ_BENCH_FLAT_RATE:-5000}
WEB_RUNS=${ZJ_BENCH_WEB_RUNS:-1000000}     # section 13
WEB_RATE=5000
WEB_BROWSERS=100
FAN_RUNS=100000             # section 14
CHAIN_RUNS=10000
WAKE_RUNS=500               # section 4 and section 8
WAKE_GAP=0.02               # seconds between those enqueues
BULK_RUNS=100000
DEEP_WINDOW=20              # seconds of the deep-queue measurement window
SUSTAIN_SECONDS=${ZJ_BENCH_SUSTAIN_SECONDS:-}
PGBENCH_SECONDS=${ZJ_BENCH_PGBENCH_SECONDS:-10}
CLIENTS=(1 4 8)
BURN_WORKERS=(1 2 4 8)
ONLY=""
HUGE_PAGES=${ZJ_BENCH_HUGE_PAGES:-on}
WAL_AHEAD=${ZJ_BENCH_WAL_AHEAD:-on}
WAL_AHEAD_MB=3072           # WAL segments made ahead of sections 5 and 11

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
    case $1 in
        --quick)
            REPS=1 BURN_RUNS=10000 DEEP_RUNS=100000 WAKE_RUNS=100 HELD_RUNS=${ZJ_BENCH_HELD_RUNS:-20000} FLAT_SECONDS=${ZJ_BENCH_FLAT_SECONDS:-150}
            WEB_RUNS=${ZJ_BENCH_WEB_RUNS:-200000}
            SUSTAIN_SECONDS=${SUSTAIN_SECONDS:-10} ;;
        --only) [[ $# -ge 2 ]] || zj_die "--only needs a list of sections"; ONLY=$2; shift ;;
        --only=*) ONLY=${1#--only=} ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; zj_die "unknown option: $1" ;;
    esac
    shift
done
SUSTAIN_SECONDS=${SUSTAIN_SECONDS:-60}
[[ $HUGE_PAGES == on || $HUGE_PAGES == off ]] || zj_die "ZJ_BENCH_HUGE_PAGES must be on or off, not '$HUGE_PAGES'"
[[ $WAL_AHEAD == on || $WAL_AHEAD == off ]] || zj_die "ZJ_BENCH_WAL_AHEAD must be on or off, not '$WAL_AHEAD'"
[[ -z $ONLY || $ONLY =~ ^([1-9]|1[0-5])(,([1-9]|1[0-5]))*$ ]] || zj_die "--only takes section numbers 1-15, e.g. --only 3,4"
wanted() { [[ -z $ONLY || ,$ONLY, == *,$1,* ]]; }

zj_prepare_machine
cd /    # the tools run as $ZJ_USER, who may not read root's working directory

BUILD=$(mktemp -d /tmp/zapjobs-build.XXXXXX)
SERVER_STARTED=
LISTENER_PID=
HUGE_PAGES_BEFORE=    # vm.nr_hugepages before this run reserved some
on_exit() {
    local rc=$?
    rm -rf "$BUILD"
    if [[ -n $LISTENER_PID ]]; then kill "$LISTENER_PID" 2>/dev/null || true; fi
    if [[ -n $SERVER_STARTED ]]; then
        if [[ $rc -ne 0 ]]; then
            printf '\nBenchmark FAILED (exit %s). Last lines of %s:\n' "$rc" "$BENCH/server.log" >&2
            tail -n 30 "$BENCH/server.log" >&2 || true
        fi
        zj_as_user "$ZJ_PG_BIN/pg_ctl" -D "$DATA" stop -m fast -w >/dev/null || true
    fi
    if [[ -n $HUGE_PAGES_BEFORE ]]; then sysctl -q -w vm.nr_hugepages="$HUGE_PAGES_BEFORE" || true; fi
}
trap on_exit EXIT
zj_copy_tree "$BUILD"
zj_build_install "$BUILD"
TREE=$(git -C "$ZJ_ROOT" -c safe.directory="$ZJ_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ZJ_ROOT" -c safe.directory="$ZJ_ROOT" status --porcelain -- src sql 2>/dev/null) ]]; then
    TREE="$TREE + uncommitted changes in src/ or sql/"
fi

# --- Throwaway cluster -----------------------------------------------------------
zj_stop_server "$DATA"
rm -rf "$BENCH"
install -d -o "$ZJ_USER" -g "$(id -gn "$ZJ_USER")" -m 0700 "$BENCH" "$LOGDIR"
: >"$RAW"

zj_log "Compiling the LISTEN client (test/bench/listen.c)"
zj_as_user cc -O2 -Wall -I"$("$PG_CONFIG" --includedir)" -o "$BENCH/listen" \
    "$BUILD/test/bench/listen.c" -L"$("$PG_CONFIG" --libdir)" -lpq

zj_log "Creating a throwaway cluster in $DATA"
zj_as_user "$ZJ_PG_BIN/initdb" -D "$DATA" --auth=trust --no-locale --encoding=UTF8 \
    >"$LOGDIR/initdb.log" 2>&1 || { cat "$LOGDIR/initdb.log" >&2; zj_die "initdb failed"; }
# Durability stays at PostgreSQL's defaults (fsync, synchronous_commit and
# full_page_writes on).  max_wal_size is raised so that the bulk sections do
# not force checkpoints in the middle of other measurements.
cat >>"$DATA/postgresql.conf" <<EOF

# --- added by test/bench/run.sh ---
shared_preload_libraries = 'zapjobs'
max_worker_processes = 20
track_commit_timestamp = on
shared_buffers = 512MB
max_connections = 50
max_wal_size = 4GB
port = $PORT
listen_addresses = ''
unix_socket_directories = '$BENCH'
EOF

# Huge pages for the shared memory.  With 4 kB pages every new backend takes a
# page fault on each page of shared memory it first touches; the 16 MB of WAL
# buffers alone are 4,096 pages, and each pgbench run starts 8 new backends
# that go round that ring within seconds.  On this virtual machine a fault
# costs about 10 us, so a 10-second pgbench run measured mostly the
# backends' first round: 8 us of each enqueue went into faults (perf), and
# a transaction writing more WAL paid more of them.  A production server has
# long-lived connections and usually huge pages; the benchmark takes the
# latter so that short runs measure the steady state.
reserve_huge_pages() {
    local need free
    if [[ $HUGE_PAGES == off ]]; then echo "huge_pages = off" >>"$DATA/postgresql.conf"; return; fi
    need=$(zj_as_user "$ZJ_PG_BIN/postgres" -D "$DATA" -C shared_memory_size_in_huge_pages 2>/dev/null) &&
        [[ $need =~ ^[0-9]+$ ]] || zj_die "postgres -C shared_memory_size_in_huge_pages failed"
    HUGE_PAGES_BEFORE=$(sysctl -n vm.nr_hugepages)
    free=$(awk '/^HugePages_Free/ { print $2 }' /proc/meminfo)
    sysctl -q -w vm.nr_hugepages=$((HUGE_PAGES_BEFORE + need)) ||
        zj_die "could not reserve $need huge pages (sysctl vm.nr_hugepages); ZJ_BENCH_HUGE_PAGES=off runs without"
    (( $(awk '/^HugePages_Free/ { print $2 }' /proc/meminfo) >= free + need )) ||
        zj_die "the kernel reserved fewer than $need more huge pages (memory fragmented?); ZJ_BENCH_HUGE_PAGES=off runs without"
    echo "huge_pages = on" >>"$DATA/postgresql.conf"
}
reserve_huge_pages

# WAL segments made ahead.  A fresh cluster creates each 16 MB segment when
# the WAL reaches it, zero-filling and syncing it while it holds WALWriteLock,
# and every commit waits meanwhile (wait events WALInitWrite, WALInitSync); at
# 10,000 runs/s that is a segment every 1.5 s.  A server that has run a while
# renames the segments of past checkpoints instead, as many as min_wal_size
# asks for at least: the sustained sections measure that steady state.  (The
# setting holds for the whole run; only sections 5 and 11 make the segments.)
[[ $WAL_AHEAD == off ]] || echo "min_wal_size = ${WAL_AHEAD_MB}MB" >>"$DATA/postgresql.conf"
wal_ahead() {
    local ahead
    [[ $WAL_AHEAD != off ]] || { note "WAL segments: created as the WAL reaches them (ZJ_BENCH_WAL_AHEAD=off)"; return; }
    # A switch needs a record in the segment: one message each.
    q "DO \$\$ BEGIN FOR i IN 1..$((WAL_AHEAD_MB / 16)) LOOP
           PERFORM pg_logical_emit_message(false, 'zapjobs-bench', ''); PERFORM pg_switch_wal();
       END LOOP; END \$\$" >/dev/null
    q "CHECKPOINT" >/dev/null
    ahead=$(q "SELECT count(*) FROM pg_ls_waldir()
               WHERE name ~ '^[0-9A-F]{24}\$' AND name > pg_walfile_name(pg_current_wal_lsn())")
    note "WAL segments made ahead: $ahead of 16 MB (ZJ_BENCH_WAL_AHEAD)"
}

pg_ctl() { zj_as_user "$ZJ_PG_BIN/pg_ctl" -D "$DATA" -l "$BENCH/server.log" -w "$@" >/dev/null; }
zj_log "Starting the server (log: $BENCH/server.log)"
pg_ctl start || { tail -n 30 "$BENCH/server.log" >&2; zj_die "the server did not start"; }
SERVER_STARTED=1

PSQL=(zj_as_user "$ZJ_PG_BIN/psql" -X -q -h "$BENCH" -p "$PORT" -U "$ZJ_USER" -d postgres
      -v ON_ERROR_STOP=1 -P pager=off)
# q SQL: run SQL, print its rows unaligned, tab-separated, without headers.
q() { "${PSQL[@]}" -t -A -F $'\t' -c "$1"; }
# sql_ms SQL: run SQL in its own transaction; print psql's round-trip time in ms.
sql_ms() {
    "${PSQL[@]}" -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1
}

"${PSQL[@]}" -c 'CREATE EXTENSION zapjobs' >/dev/null
"${PSQL[@]}" <"$BUILD/test/bench/bench.sql" >/dev/null

# --- Reporting ---------------------------------------------------------------------
plural() { if [[ $1 -eq 1 ]]; then echo "1 $2"; else echo "$1 ${2}s"; fi; }
heading() { printf '\n=== %s ===\n' "$*"; }
note() { printf '    %s\n' "$*"; }
# record NAME UNIT VALUE: one measurement (a repetition) of a figure.
record() {
    printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RAW"
    printf '    %-52s %12s %s\n' "$1" "$(fmt "$3")" "$2"
}
fmt() { awk -v v="$1" 'BEGIN { print fmtnum(v) }
    function fmtnum(x,  a) {
        if (x !~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/ || x ~ /^-?[0-9]+$/) return x
        a = x < 0 ? -x : x
        return sprintf(a >= 100 ? "%.0f" : a >= 10 ? "%.1f" : a >= 1 ? "%.2f" : "%.3f", x) }'; }
# median NAME: median of the recorded values of NAME (empty when none).
median() {
    awk -F'\t' -v k="$1" '$1 == k { v[++n] = $3 }
        END { if (n == 0) exit
              for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
              print (n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2) }' "$RAW"
}
# summary [md] [PATTERN]: median, min and max of every figure (matching PATTERN), in
# the order first recorded; plain text, or a Markdown table with "md".
summary() {
    awk -F'\t' -v md="${1:-}" -v pat="${2:-}" '
        function fmtnum(x,  a) {
            if (x !~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/ || x ~ /^-?[0-9]+$/) return x
            a = x < 0 ? -x : x
            return sprintf(a >= 100 ? "%.0f" : a >= 10 ? "%.1f" : a >= 1 ? "%.2f" : "%.3f", x) }
        index($1, pat) == 1 {
            if (!($1 in n)) { order[++nk] = $1; unit[$1] = $2 }
            vals[$1, ++n[$1]] = $3 }
        END {
            if (md) { print "| figure | median | min | max | unit | reps |"; print "| --- | ---: | ---: | ---: | --- | ---: |" }
            else printf "    %-52s %12s %12s %12s  %s\n", "figure", "median", "min", "max", "unit"
            for (i = 1; i <= nk; i++) {
                k = order[i]; m = n[k]
                for (j = 1; j <= m; j++) v[j] = vals[k, j]
                if (v[1] !~ /^-?[0-9.]/) { med = v[1]; lo = hi = "" }
                else {
                    for (a = 2; a <= m; a++)    # insertion sort (mawk has no asort)
                        for (j = a; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
                    med = fmtnum(m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2)
                    lo = fmtnum(v[1]); hi = fmtnum(v[m]) }
                if (md) printf "| %s | %s | %s | %s | %s | %d |\n", k, med, lo, hi, unit[k], m
                else printf "    %-52s %12s %12s %12s  %s\n", k, med, lo, hi, unit[k] }
        }' "$RAW"
}

# --- Helpers for the sections --------------------------------------------------------
CUR_WORKERS=4   # zapjobs.max_workers's default
WARM=           # set once every worker has started since the last restart
NOT_FINAL="SELECT count(*) FROM jobs.runs WHERE status NOT IN ('completed', 'failed', 'cancelled')"

# wait_final WHAT: poll until every run is completed, failed or cancelled.  Gives up (with
# a warning, returning 1) when nothing progressed for 60 s.
wait_final() {
    local left last=-1 since=$SECONDS
    while :; do
        left=$(q "$NOT_FINAL")
        [[ $left -eq 0 ]] && return 0
        if [[ $left -ne $last ]]; then last=$left since=$SECONDS; fi
        if (( SECONDS - since >= 60 )); then
            note "WARNING: $1: $left runs still not final, no progress for 60 s"
            return 1
        fi
        sleep 0.2
    done
}

# set_workers N: zapjobs.max_workers is a restart-only setting.  Restart when
# it changes, then have every worker start (any pending run makes the launcher
# fill all slots) and wait until all N are connected and idle.
set_workers() {
    local w=$1 n deadline
    if [[ $w -ne $CUR_WORKERS ]]; then
        q "ALTER SYSTEM SET zapjobs.max_workers = $w" >/dev/null
        pg_ctl restart -m fast
        CUR_WORKERS=$w WARM=
    fi
    [[ -n $WARM ]] && return 0
    WARM=1
    q "SELECT count(jobs.enqueue('SELECT 1')) FROM generate_series(1, $((w * 4)))" >/dev/null
    wait_final "worker warm-up" || true
    deadline=$((SECONDS + 30))
    while n=$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'zapjobs worker'")
          [[ $n -lt $w ]]; do
        (( SECONDS < deadline )) || { note "WARNING: only $n of $w workers started"; break; }
        sleep 0.1
    done
    reset_runs
}

reset_runs() {
    q "SET client_min_messages = warning; TRUNCATE jobs.runs CASCADE; TRUNCATE bench_enq, bench_events" >/dev/null
}

# pgbench_tps SCRIPT CLIENTS [PROTOCOL]: TPS of SCRIPT (a file in $BENCH) for
# $PGBENCH_SECONDS, sent with pgbench's PROTOCOL (simple by default).
pgbench_tps() {
    local script=$1 c=$2 protocol=${3:-simple} log
    log="$LOGDIR/pgbench-$(basename "$script" .sql)-c$c-$protocol.log"
    zj_as_user "$ZJ_PG_BIN/pgbench" -n -M "$protocol" -f "$script" -c "$c" -j $((c < 2 ? c : 2)) \
        -T "$PGBENCH_SECONDS" -h "$BENCH" -p "$PORT" -U "$ZJ_USER" postgres >>"$log" 2>&1 ||
        { tail -n 20 "$log" >&2; zj_die "pgbench failed (log: $log)"; }
    sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$log" | tail -n 1
}

# burn_down N: enqueue N no-op runs in one transaction, wait for them, and
# record the rate from the first start to the last finish.  Prints the rate.
burn_down() {
    local n=$1 name=$2 row
    reset_runs
    q "SELECT count(jobs.enqueue('SELECT 1')) FROM generate_series(1, $n)" >/dev/null
    wait_final "$name" || true
    row=$(q "SELECT count(*) FILTER (WHERE status = 'completed'), count(*) - count(*) FILTER (WHERE status = 'completed'),
                    round(count(*) FILTER (WHERE status = 'completed')
                          / extract(epoch FROM max(finished_at) - min(started_at)), 1)
             FROM jobs.runs")
    IFS=$'\t' read -r BURN_COMPLETED BURN_NOT_COMPLETED BURN_RATE <<<"$row"
    if [[ $BURN_NOT_COMPLETED -ne 0 ]]; then
        note "WARNING: $BURN_NOT_COMPLETED of $n runs did not complete:"
        q "SELECT status, error_sqlstate, error_message, count(*) FROM jobs.runs
           WHERE status <> 'completed' GROUP BY 1, 2, 3 ORDER BY 4 DESC LIMIT 5" | sed 's/^/        /'
    fi
}

# rate4: the 4-worker burn-down rate (median) that sections 5 and 6 refer to;
# calibrated with one burn-down when section 3 did not run.
RATE4=""
rate4() {
    [[ -n $RATE4 ]] && return 0
    RATE4=$(median "burn-down, 4 workers")
    if [[ -z $RATE4 ]]; then
        local n=$((BURN_RUNS < 10000 ? BURN_RUNS : 10000))
        set_workers 4
        burn_down "$n" "calibration"
        RATE4=$BURN_RATE
        note "calibration (section 3 not run): 4-worker burn-down of $n runs: $RATE4 runs/s"
    fi
}

# checkpoints: how many the server has made since it started (PostgreSQL 17
# moved the counts to pg_stat_checkpointer).
checkpoints() {
    if (( $(q "SHOW server_version_num") >= 170000 )); then
        q "SELECT num_timed + num_requested FROM pg_stat_checkpointer"
    else
        q "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"
    fi
}
# p99_per SECONDS RATE VIEW ID: the p99 of column ms of VIEW per SECONDS of
# enqueues at RATE runs/s, run ids (column ID) following the producer's clock
# from the first run of bench_enq: where the tail lies.
p99_per() {
    q "SELECT string_agg(round(p::numeric, 1)::text, ' ' ORDER BY b) FROM (
           SELECT b, percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p
           FROM (SELECT ($4 - (SELECT min(run_id) FROM bench_enq)) / round($2 * $1)::bigint AS b, ms
                 FROM $3) s
           GROUP BY b) t"
}
# latency_row VIEW: count, p50, p95, p99 and max of column ms of VIEW.
latency_row() {
    q "SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY ms),
              percentile_cont(0.95) WITHIN GROUP (ORDER BY ms),
              percentile_cont(0.99) WITHIN GROUP (ORDER BY ms), max(ms) FROM $1"
}

# --- Machine and settings --------------------------------------------------------------
heading "Machine"
note "nproc:       $(nproc)"
note "CPU:         $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
note "memory:      $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
note "kernel:      $(uname -sr)"
note "PostgreSQL:  $(q 'SELECT version()')"
note "load avg:    $(cut -d' ' -f1-3 /proc/loadavg) (at start; other work on the machine skews figures)"
note "zapjobs:     $TREE"
note "huge pages:  $HUGE_PAGES (ZJ_BENCH_HUGE_PAGES)"
MACHINE_MD=$(cat <<EOF
- nproc: $(nproc); CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
- memory: $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo); kernel: $(uname -sr)
- $(q 'SELECT version()')
- zapjobs: $TREE
- huge pages: $HUGE_PAGES
EOF
)

heading "Server settings"
note "Durability at PostgreSQL's defaults: $(q "SELECT string_agg(name || ' = ' || setting, ', ' ORDER BY name)
    FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method')")"
note "Every setting not at its built-in default (initdb's and ours; zapjobs.max_workers"
note "is changed per section with ALTER SYSTEM and a restart):"
SETTINGS=$(q "SELECT name, current_setting(name) FROM pg_settings
              WHERE source NOT IN ('default', 'override', 'client') ORDER BY name")
printf '%s\n' "$SETTINGS" | awk -F'\t' '{ printf "        %-28s %s\n", $1, $2 }'
note "(autovacuum and everything else at defaults)"

MODE="full: $REPS repetitions"
[[ $REPS -eq 1 ]] && MODE="quick: 1 repetition"
heading "Parameters ($MODE)"
note "pgbench ${PGBENCH_SECONDS}s per run; bulk $BULK_RUNS; burn-down $BURN_RUNS runs; wake-up/event $WAKE_RUNS runs ${WAKE_GAP}s apart"
note "sustained ${SUSTAIN_SECONDS}s; deep queue $DEEP_RUNS runs, ${DEEP_WINDOW}s window"

# The commit ceiling's transaction (sections 1 and 2).
echo 'INSERT INTO bench_commit DEFAULT VALUES;' >"$BENCH/commit.sql"

# --- 1. Commit ceiling -------------------------------------------------------------------
if wanted 1; then
    heading "1. Commit ceiling: pgbench, one-row INSERT per transaction (bench_commit, no index)"
    for c in "${CLIENTS[@]}"; do
        for ((r = 1; r <= REPS; r++)); do
            q "TRUNCATE bench_commit" >/dev/null
            record "commit ceiling, $(plural "$c" client)" TPS "$(pgbench_tps "$BENCH/commit.sql" "$c")"
        done
    done
fi

# --- 2. Enqueue --------------------------------------------------------------------------
if wanted 2; then
    heading "2. Enqueue: one jobs.enqueue('SELECT 1') per transaction (pgbench), and bulk"
    note "scheduled: run_at => now() + 1 day, so the workers stay idle (the enqueue path alone)"
    note "due now:   runs due at once, the 4 workers executing them concurrently"
    note "ratio:     TPS / the commit ceiling measured just before, at the same clients (the"
    note "           disk's flush time drifts by tens of percent within minutes on a virtual machine)"
    note "prepared:  both sent as prepared statements (pgbench -M prepared), as most drivers and"
    note "           ORMs send repeated statements: parsing and planning once per connection"
    set_workers 4
    echo "SELECT jobs.enqueue('SELECT 1', run_at => now() + interval '1 day');" >"$BENCH/enqueue-scheduled.sql"
    echo "SELECT jobs.enqueue('SELECT 1');" >"$BENCH/enqueue-due.sql"
    for c in "${CLIENTS[@]}"; do
        for ((r = 1; r <= REPS; r++)); do
            q "TRUNCATE bench_commit" >/dev/null
            ceiling=$(pgbench_tps "$BENCH/commit.sql" "$c")
            record "commit ceiling beside them, $(plural "$c" client)" TPS "$ceiling"
            for variant in scheduled due; do
                label=$([[ $variant == scheduled ]] && echo "scheduled" || echo "due now")
                reset_runs
                tps=$(pgbench_tps "$BENCH/enqueue-$variant.sql" "$c")
                record "enqueue ($label), $(plural "$c" client)" TPS "$tps"
                record "enqueue ($label) / ceiling, $(plural "$c" client)" % \
                    "$(awk -v a="$tps" -v b="$ceiling" 'BEGIN { printf "%.1f", 100 * a / b }')"
                # Due runs: let the workers finish before the next measurement.
                [[ $variant == due ]] && { wait_final "enqueue (due now)" || true; }
            done
            q "TRUNCATE bench_commit" >/dev/null
            ceiling=$(pgbench_tps "$BENCH/commit.sql" "$c" prepared)
            record "prepared: commit ceiling, $(plural "$c" client)" TPS "$ceiling"
            reset_runs
            tps=$(pgbench_tps "$BENCH/enqueue-scheduled.sql" "$c" prepared)
            record "prepared: enqueue (scheduled), $(plural "$c" client)" TPS "$tps"
            record "prepared: enqueue (scheduled) / ceiling, $(plural "$c" client)" % \
                "$(awk -v a="$tps" -v b="$ceiling" 'BEGIN { printf "%.1f", 100 * a / b }')"
        done
    done
    for ((r = 1; r <= REPS; r++)); do
        reset_runs
        ms=$(sql_ms "SELECT count(jobs.enqueue('SELECT 1', run_at => now() + interval '1 day'))
                     FROM generate_series(1, $BULK_RUNS)")
        record "bulk enqueue of $BULK_RUNS (scheduled), one statement" runs/s \
            "$(awk -v ms="$ms" -v n="$BULK_RUNS" 'BEGIN { printf "%.0f", n / (ms / 1000) }')"
        record "bulk enqueue, time per call" µs \
            "$(awk -v ms="$ms" -v n="$BULK_RUNS" 'BEGIN { printf "%.2f", ms * 1000 / n }')"
    done
    # The set-based call: one INSERT for all the runs, each with its own input.
    for ((r = 1; r <= REPS; r++)); do
        reset_runs
        ms=$(sql_ms "SELECT cardinality(jobs.enqueue_many('SELECT 1',
                       (SELECT array_agg(jsonb_build_object('n', i)) FROM generate_series(1, $BULK_RUNS) i),
                       run_at => now() + interval '1 day'))")
        record "bulk enqueue of $BULK_RUNS (scheduled), jobs.enqueue_many" runs/s \
            "$(awk -v ms="$ms" -v n="$BULK_RUNS" 'BEGIN { printf "%.0f", n / (ms / 1000) }')"
    done
    reset_runs
fi

# --- 3. Burn-down ----------------------------------------------------------------------------
if wanted 3; then
    heading "3. Burn-down: $BURN_RUNS no-op runs ('SELECT 1') enqueued in one transaction"
    note "rate = completed / (last finished_at - first started_at); restart per worker count"
    declare -A NOT_DONE=()
    for w in "${BURN_WORKERS[@]}"; do
        set_workers "$w"
        for ((r = 1; r <= REPS; r++)); do
            burn_down "$BURN_RUNS" "burn-down, $(plural "$w" worker)"
            record "burn-down, $(plural "$w" worker)" runs/s "$BURN_RATE"
            NOT_DONE[$r]=$(( ${NOT_DONE[$r]:-0} + BURN_NOT_COMPLETED ))
        done
    done
    for ((r = 1; r <= REPS; r++)); do
        record "burn-down: runs not completed (all worker counts)" runs "${NOT_DONE[$r]}"
    done
    # Every other run fails (max_attempts 1): each failure rolls back its
    # subtransaction and records the error within the batch.
    set_workers 4
    for ((r = 1; r <= REPS; r++)); do
        reset_runs
        q "SELECT count(jobs.enqueue(CASE WHEN i % 2 = 0 THEN 'SELECT 1' ELSE 'SELECT 1/0' END,
                                     max_attempts => 1))
           FROM generate_series(1, $BURN_RUNS) i" >/dev/null
        wait_final "burn-down, half failing" || true
        record "burn-down, every other run failing, 4 workers" runs/s \
            "$(q "SELECT round(count(*) / extract(epoch FROM max(finished_at) - min(started_at)), 1)
                  FROM jobs.runs WHERE status IN ('completed', 'failed')")"
    done
    reset_runs
fi

# --- 4. Wake-up latency -------------------------------------------------------------------------
# record_wake VIEW NAME: p50, p95, p99 and max of VIEW as "NAME p50"...; warns
# when VIEW does not hold every run of the trickle.
record_wake() {
    local view=$1 name=$2 n p50 p95 p99 max
    IFS=$'\t' read -r n p50 p95 p99 max <<<"$(latency_row "$view")"
    [[ $n -eq $WAKE_RUNS ]] || note "WARNING: $name: $n of $WAKE_RUNS runs found"
    record "$name p50" ms "$p50"
    record "$name p95" ms "$p95"
    record "$name p99" ms "$p99"
    record "$name max" ms "$max"
}
if wanted 4; then
    heading "4. Wake-up latency: $WAKE_RUNS runs enqueued one per transaction, ${WAKE_GAP}s apart, 4 idle workers; then 8 workers, 4 busy"
    note "latency = started_at - pg_xact_commit_timestamp(enqueuing transaction), which is"
    note "taken before the commit's WAL flush; and started_at - the moment COMMIT returned"
    set_workers 4
    for ((r = 1; r <= REPS; r++)); do
        reset_runs
        q "CALL bench_trickle($WAKE_RUNS, $WAKE_GAP)" >/dev/null
        wait_final "wake-up" || true
        record_wake bench_wake "wake-up latency"
        record_wake bench_wake_acked "wake-up from COMMIT returned"
    done
    # The same while 4 workers are busy with other runs (8 workers): the
    # commit must wake an idle worker, not one of the busy ones.
    set_workers 8
    for ((r = 1; r <= REPS; r++)); do
        reset_runs
        q "SELECT count(jobs.enqueue('SELECT pg_sleep(600)', queue => 'busy', timeout => '15 min'))
           FROM generate_series(1, 4)" >/dev/null
        deadline=$((SECONDS + 30))
        until [[ $(q "SELECT count(*) FROM jobs.runs WHERE queue = 'busy' AND status = 'running'") -eq 4 ]]; do
            (( SECONDS < deadline )) || zj_die "the 4 busy runs did not start"
            sleep 0.05
        done
        q "CALL bench_trickle($WAKE_RUNS, $WAKE_GAP)" >/dev/null
        q "SELECT count(jobs.cancel(id)) FROM jobs.runs WHERE queue = 'busy'" >/dev/null
        wait_final "wake-up, 4 busy" || true
        record_wake bench_wake_acked "wake-up from COMMIT returned, 4 workers busy,"
    done
    reset_runs
fi

# --- 5. Sustained load ------------------------------------------------------------------------------
if wanted 5; then
    if [[ -n ${ZJ_BENCH_SUSTAIN_RATE:-} ]]; then
        RATE=$ZJ_BENCH_SUSTAIN_RATE
        RATE_WHY="ZJ_BENCH_SUSTAIN_RATE"
    else
        rate4
        RATE=$(awk -v r="$RATE4" 'BEGIN { printf "%.0f", r / 2 }')
        RATE_WHY="half the 4-worker burn-down"
    fi
    heading "5. Sustained load: producer at $RATE runs/s ($RATE_WHY) for ${SUSTAIN_SECONDS}s"
    note "every 10 ms one transaction enqueues the runs due by then; 4 workers; autovacuum at defaults"
    note "latency as in 4; backlog = runs not final when the producer stops; table figures"
    note "before = just after TRUNCATE, after = once the backlog is done (+1 s for statistics)"
    if [[ -n ${ZJ_BENCH_SUSTAIN_KEEP:-} ]]; then
        note "retention: zapjobs.keep_completed = ${ZJ_BENCH_SUSTAIN_KEEP}"
        q "ALTER SYSTEM SET zapjobs.keep_completed = '${ZJ_BENCH_SUSTAIN_KEEP}'" >/dev/null
        q "SELECT pg_reload_conf()" >/dev/null
    fi
    set_workers 4
    wal_ahead
    STATS="SELECT n_dead_tup, round(pg_total_relation_size('jobs.runs') / 1048576.0, 2)
           FROM pg_stat_user_tables WHERE relid = 'jobs.runs'::regclass"
    for ((r = 1; r <= REPS; r++)); do
        reset_runs
        sleep 1   # statistics of the TRUNCATE
        IFS=$'\t' read -r dead0 size0 <<<"$(q "$STATS")"
        ckpt0=$(checkpoints)
        q "CALL bench_produce($RATE, $SUSTAIN_SECONDS)" >/dev/null
        backlog=$(q "$NOT_FINAL")
        wait_final "sustained load" || true
        IFS=$'\t' read -r n p50 _ p99 max <<<"$(latency_row bench_wake)"
        note "p99 per 10 s of enqueues (ms): $(p99_per 10 "$RATE" bench_wake id);" \
            "checkpoints meanwhile: $(( $(checkpoints) - ckpt0 ))"
        sleep 1   # let the workers' statistics reach pg_stat_user_tables
        IFS=$'\t' read -r dead1 size1 <<<"$(q "$STATS")"
        note "runs enqueued: $n ($(awk -v n="$n" -v s="$SUSTAIN_SECONDS" 'BEGIN { printf "%.0f", n / s }') runs/s)"
        record "sustained: latency p50" ms "$p50"
        record "sustained: latency p99" ms "$p99"
        record "sustained: latency max" ms "$max"
        record "sustained: backlog at the end" runs "$backlog"
        record "sustained: n_dead_tup before" tuples "$dead0"
        record "sustained: n_dead_tup after" tuples "$dead1"
        record "sustained: jobs.runs total size before" MB "$size0"
        record "sustained: jobs.runs total size after" MB "$size1"
    done
    reset_runs
    if [[ -n ${ZJ_BENCH_SUSTAIN_KEEP:-} ]]; then
        q "ALTER SYSTEM RESET zapjobs.keep_completed" >/dev/null
        q "SELECT pg_reload_conf()" >/dev/null
    fi
fi

# --- 6. Deep queue -----------------------------------------------------------------------------------
if wanted 6; then
    rate4
    heading "6. Deep queue: claim rate with $DEEP_RUNS pending runs, 4 workers, ${DEEP_WINDOW}s window"
    note "runs enqueued with one jobs.enqueue_many (then ANALYZE); window starts 2 s after the first"
    note "claim; rate = runs finished in the window / window; compared to the 4-worker burn-down ($RATE4 runs/s)"
    set_workers 4
    for ((r = 1; r <= REPS; r++)); do
        reset_runs
        ms=$(sql_ms "BEGIN;
            SELECT cardinality(jobs.enqueue_many('SELECT 1', array_fill(NULL::jsonb, ARRAY[$DEEP_RUNS])));
            ANALYZE jobs.runs;
            COMMIT;")
        note "enqueued $DEEP_RUNS pending runs in $(fmt "$ms") ms"
        deadline=$((SECONDS + 60))
        until [[ $(q "SELECT EXISTS (SELECT FROM jobs.runs WHERE status IN ('running', 'completed', 'failed'))") == t ]]; do
            (( SECONDS < deadline )) || zj_die "no worker claimed a run of the deep queue within 60 s"
            sleep 0.1
        done
        sleep 2
        t0=$(q "SELECT clock_timestamp()")
        sleep "$DEEP_WINDOW"
        IFS=$'\t' read -r done failed pending <<<"$(q "
            SELECT count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'),
                   (SELECT count(*) FROM jobs.runs WHERE status = 'pending')
            FROM jobs.runs
            WHERE finished_at >= '$t0' AND finished_at < '$t0'::timestamptz + interval '$DEEP_WINDOW s'")"
        rate=$(awk -v n="$done" -v s="$DEEP_WINDOW" 'BEGIN { printf "%.1f", n / s }')
        [[ $failed -eq 0 ]] || note "WARNING: $failed runs failed in the window"
        note "still pending at the end of the window: $pending"
        record "deep queue: claim rate" runs/s "$rate"
        record "deep queue: rate / 4-worker burn-down" % \
            "$(awk -v a="$rate" -v b="$RATE4" 'BEGIN { printf "%.1f", 100 * a / b }')"
        # Never TRUNCATE under a running job: drop the pending runs, let the
        # running ones finish, then empty the table.
        q "DELETE FROM jobs.runs WHERE status = 'pending'" >/dev/null
        wait_final "deep queue clean-up" || true
    done
    reset_runs
fi

# --- 7. Progress cost ------------------------------------------------------------------------------------
if wanted 7; then
    heading "7. Progress cost: a job looping 1,000,000 times calling jobs.progress(i, n) or a built-in function"
    if [[ $(q "SELECT to_regprocedure('jobs.progress(bigint,bigint,text)') IS NOT NULL") != t ]]; then
        note "n/a (jobs.progress not available)"
        record "progress cost" "" "n/a (jobs.progress not available)"
    else
        note "each loop is a DO block enqueued as a job; time = the run's duration, best of 5"
        note "baseline: the same loop PERFORMing a built-in function of the same shape"
        note "(int8larger(i, n): two bigint arguments), so the difference is what"
        note "jobs.progress costs beyond any function call (PERFORM itself is ~2 µs)"
        set_workers 4
        LOOP_PLAIN='DO $$ BEGIN FOR i IN 1..1000000 LOOP PERFORM pg_catalog.int8larger(i, 1000000); END LOOP; END $$'
        LOOP_PROGRESS='DO $$ BEGIN FOR i IN 1..1000000 LOOP PERFORM jobs.progress(i, 1000000); END LOOP; END $$'
        for ((r = 1; r <= REPS; r++)); do
            reset_runs
            # Alternated, best of 5 each: on a shared machine the spread of
            # one loop's time (±20 %) dwarfs the cost being measured.
            for ((k = 1; k <= 5; k++)); do
                for loop in "$LOOP_PLAIN" "$LOOP_PROGRESS"; do
                    id=$(q "SELECT jobs.enqueue(\$q\$$loop\$q\$, timeout => '1 hour')")
                    [[ $(q "SELECT jobs.wait($id, timeout => '10 min')") == completed ]] ||
                        { q "SELECT error_message FROM jobs.runs WHERE id = $id"; zj_die "progress job $id did not complete"; }
                done
            done
            IFS=$'\t' read -r plain prog <<<"$(q "
                SELECT extract(epoch FROM min(duration) FILTER (WHERE command NOT LIKE '%progress%')),
                       extract(epoch FROM min(duration) FILTER (WHERE command LIKE '%progress%'))
                FROM jobs.runs")"
            note "loop alone: $(fmt "$plain") s, with jobs.progress: $(fmt "$prog") s"
            record "progress: overhead" % "$(awk -v a="$prog" -v b="$plain" 'BEGIN { printf "%.1f", 100 * (a - b) / b }')"
            record "progress: time per call" ns "$(awk -v a="$prog" -v b="$plain" 'BEGIN { printf "%.1f", (a - b) * 1e9 / 1e6 }')"
        done
        reset_runs
    fi
fi

# --- 8. Event latency -------------------------------------------------------------------------------------
if wanted 8; then
    heading "8. Event latency: state change to LISTEN job_update receipt ($WAKE_RUNS runs, ${WAKE_GAP}s apart)"
    note "listen.c prints its receive time (CLOCK_REALTIME) per notification; latency = that - \"at\""
    note "of the payload, over every event (pending, running, completed), 4 workers"
    set_workers 4
    for ((r = 1; r <= REPS; r++)); do
        reset_runs
        events=$BENCH/events-$r.tsv
        zj_as_user "$BENCH/listen" "host=$BENCH port=$PORT user=$ZJ_USER dbname=postgres" \
            job_update 600 $((3 * WAKE_RUNS)) >"$events" 2>"$LOGDIR/listen-$r.log" &
        LISTENER_PID=$!
        deadline=$((SECONDS + 10))
        until grep -q '^# listening' "$events"; do
            (( SECONDS < deadline )) || zj_die "listen.c did not start (see $LOGDIR/listen-$r.log)"
            sleep 0.05
        done
        q "CALL bench_trickle($WAKE_RUNS, $WAKE_GAP)" >/dev/null
        wait_final "event latency" || true
        # Every run has three events; wait (bounded) until the last arrived.
        expect=$(q "SELECT 3 * count(*) FROM jobs.runs") deadline=$((SECONDS + 10))
        while (( $(grep -vc '^#' "$events" || true) < expect && SECONDS < deadline )); do sleep 0.1; done
        kill "$LISTENER_PID" 2>/dev/null || true
        wait "$LISTENER_PID" || true
        LISTENER_PID=
        grep -v '^#' "$events" | "${PSQL[@]}" -c '\copy bench_events FROM pstdin'
        IFS=$'\t' read -r n p50 _ p99 max <<<"$(latency_row bench_event_latency)"
        note "events received: $n of $expect expected; by status (p50/p99 ms): $(q "SELECT string_agg(format('%s %s/%s', status, round(p50, 2), round(p99, 2)), ', ')
                 FROM (SELECT status, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric AS p50,
                              percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric AS p99
                       FROM bench_event_latency GROUP BY status) s")"
        record "event latency p50" ms "$p50"
        record "event latency p99" ms "$p99"
        record "event latency max" ms "$max"
    done
    reset_runs
fi

# --- 9. Slot hand-over ----------------------------------------------------------------------------------------
if wanted 9; then
    HANDOVER_ROLES=20
    heading "9. Slot hand-over: $HANDOVER_ROLES new roles in turn, one run each, every slot held by another role's idle worker"
    note "4 slots, all idle workers of other roles; latency = started_at - created_at of the run"
    note "(the idle worker leaves, the launcher starts one for the new role, it connects and claims)"
    set_workers 4
    q "DO \$\$ BEGIN FOR i IN 1..$HANDOVER_ROLES LOOP
         IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_r' || i) THEN
           EXECUTE format('CREATE ROLE %I LOGIN', 'bench_r' || i);
         END IF; END LOOP; END \$\$" >/dev/null
    for ((r = 1; r <= REPS; r++)); do
        reset_runs
        for ((k = 1; k <= HANDOVER_ROLES; k++)); do
            q "SET ROLE bench_r$k; SELECT jobs.enqueue('SELECT 1')" >/dev/null
            wait_final "slot hand-over" || true
        done
        IFS=$'\t' read -r n p50 p95 p99 max <<<"$(latency_row "(SELECT extract(epoch FROM started_at - created_at) * 1000 AS ms FROM jobs.runs) s")"
        [[ $n -eq $HANDOVER_ROLES ]] || note "WARNING: $n of $HANDOVER_ROLES runs found"
        record "slot hand-over to a new role p50" ms "$p50"
        record "slot hand-over to a new role max" ms "$max"
    done
    reset_runs
fi

# --- 10. Held snapshot ----------------------------------------------------------------------------------------
if wanted 10; then
    heading "10. Held snapshot: burn-down of $HELD_RUNS no-op runs, 4 workers, with and without a snapshot held"
    note "another session holds a REPEATABLE READ snapshot (BEGIN; SELECT; then idle in pg_sleep)"
    note "for the whole burn-down, as pg_dump or a long report does; then the same once it ended"
    set_workers 4
    # SELECT 1, not a read of jobs.runs: its lock would block the TRUNCATE between runs
    HOLD_SQL="BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1; SELECT pg_sleep(3600) /* zj-bench-holder */"
    for ((r = 1; r <= REPS; r++)); do
        burn_down "$HELD_RUNS" "held snapshot: without"
        record "held snapshot: burn-down without" runs/s "$BURN_RATE"
        "${PSQL[@]}" -c "$HOLD_SQL" >/dev/null 2>&1 &
        deadline=$((SECONDS + 30))
        until [[ $(q "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%zj-bench-holder%'
                      AND backend_xmin IS NOT NULL AND pid <> pg_backend_pid()") -ge 1 ]]; do
            (( SECONDS < deadline )) || zj_die "the snapshot holder did not start"
            sleep 0.1
        done
        burn_down "$HELD_RUNS" "held snapshot: with"
        record "held snapshot: burn-down with the snapshot held" runs/s "$BURN_RATE"
        q "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
           WHERE query LIKE '%zj-bench-holder%' AND pid <> pg_backend_pid()" >/dev/null
        wait || true
        burn_down "$HELD_RUNS" "held snapshot: after"
        record "held snapshot: burn-down right after it ended" runs/s "$BURN_RATE"
    done
    reset_runs
fi

# --- 11. Flat under load --------------------------------------------------------------------------------------
if wanted 11; then
    heading "11. Flat under load: $FLAT_RATE runs/s for ${FLAT_SECONDS}s, zapjobs.keep_completed = 1 min, 4 workers"
    note "total size of jobs.runs, jobs.logs, jobs.attempts, jobs.run_stats (with indexes) every 15 s;"
    note "latency = started_at - commit timestamp of the enqueue, kept before retention removes the run"
    set_workers 4
    reset_runs
    wal_ahead
    q "ALTER SYSTEM SET zapjobs.keep_completed = '1min'" >/dev/null
    q "SELECT pg_reload_conf()" >/dev/null
    q "CREATE TABLE IF NOT EXISTS bench_lat (run_id bigint PRIMARY KEY, ms float8 NOT NULL); TRUNCATE bench_lat" >/dev/null
    SIZE_SQL="SELECT round(sum(pg_total_relation_size(c)) / 1048576.0, 1)
              FROM unnest(ARRAY['jobs.runs', 'jobs.logs', 'jobs.attempts', 'jobs.run_stats']::regclass[]) c"
    # Kept every second, a second's runs at a time (and the 2 s before, for
    # runs not started yet), through an index: one large join every 15 s
    # took a core for half a second and its own spikes became the p99.
    q "CREATE INDEX IF NOT EXISTS bench_enq_run_id ON bench_enq (run_id)" >/dev/null
    keep_lat() {
        local lo
        lo=$(q "SELECT coalesce(max(run_id), 0) - 2 * $FLAT_RATE FROM bench_lat")
        q "INSERT INTO bench_lat
           SELECT e.run_id, extract(epoch FROM r.started_at - pg_xact_commit_timestamp(xid(e.xid))) * 1000
           FROM bench_enq e JOIN jobs.runs r ON r.id = e.run_id
           WHERE r.started_at IS NOT NULL AND e.run_id > $lo
           ON CONFLICT DO NOTHING" >/dev/null
    }
    "${PSQL[@]}" -c "CALL bench_produce($FLAT_RATE, $FLAT_SECONDS)" >/dev/null 2>&1 &
    PRODUCER=$!
    FLAT_T=0 FLAT_SAMPLES="" t0=$SECONDS next=15
    while kill -0 "$PRODUCER" 2>/dev/null; do
        sleep 1
        keep_lat
        FLAT_T=$((SECONDS - t0))
        (( FLAT_T >= next )) || continue
        next=$((next + 15))
        size=$(q "$SIZE_SQL")
        note "t=${FLAT_T}s: $size MB, $(q "$NOT_FINAL") runs not final"
        FLAT_SAMPLES+="$FLAT_T $size"$'\n'
    done
    wait "$PRODUCER" || true
    backlog=$(q "$NOT_FINAL")
    wait_final "flat under load" || true
    keep_lat
    ratio=$(printf '%s' "$FLAT_SAMPLES" | awk -v end="$FLAT_T" '
        $1 > end - 300 && $1 > 120 { if (min == "" || $2 < min) min = $2; if ($2 > max) max = $2 }
        END { if (min > 0) printf "%.2f", max / min; else print "" }')
    IFS=$'\t' read -r n p50 _ p99 max <<<"$(latency_row bench_lat)"
    note "p99 per 30 s of enqueues (ms): $(p99_per 30 "$FLAT_RATE" bench_lat run_id)"
    note "runs: $n measured of $(q "SELECT count(*) FROM bench_enq") enqueued; size samples (s MB): $(printf '%s' "$FLAT_SAMPLES" | tr '\n' ',' )"
    [[ -n $ratio ]] && record "flat: largest/smallest size in the last 5 min (after the first 2)" ratio "$ratio"
    record "flat: size at the end" MB "$(q "$SIZE_SQL")"
    record "flat: start latency p50" ms "$p50"
    record "flat: start latency p99" ms "$p99"
    record "flat: start latency max" ms "$max"
    record "flat: backlog when the producer stopped" runs "$backlog"
    q "ALTER SYSTEM RESET zapjobs.keep_completed" >/dev/null
    q "SELECT pg_reload_conf()" >/dev/null
    q "DROP INDEX bench_enq_run_id" >/dev/null   # the other sections' producers stay as they were
    reset_runs
fi

# --- 12. Watching costs ---------------------------------------------------------------------------------------
# cpu_ticks PID: user + system CPU of a process so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

if wanted 12; then
    heading "12. Watching: burn-down of $BURN_RUNS no-op runs, 4 workers, with nothing, zapjobs top, zapjobs watch attached"
    note "top runs in a 160x40 tmux window, watch follows the last run in a pipe; both LISTEN job_update;"
    note "CPU = user + system time of the zapjobs process itself during the burn-down (ticks of 10 ms)"
    set_workers 4
    ZJ_CMD=("$ZJ_PG_BIN/zapjobs" -h "$BENCH" -p "$PORT" -d postgres)
    TMUX_SOCK=$BENCH/tmux
    for ((r = 1; r <= REPS; r++)); do
        burn_down "$BURN_RUNS" "watching: nothing"
        record "watching: burn-down, nothing attached" runs/s "$BURN_RATE"

        zj_as_user env SHELL=/bin/bash tmux -S "$TMUX_SOCK" new-session -d -x 160 -y 40 "${ZJ_CMD[*]} top"
        deadline=$((SECONDS + 30))
        until top_pid=$(pgrep -n -x -u "$ZJ_USER" zapjobs); do
            (( SECONDS < deadline )) || zj_die "zapjobs top did not start"
            sleep 0.1
        done
        sleep 3
        t0=$(cpu_ticks "$top_pid")
        sleep 30
        record "watching: zapjobs top idle, CPU over 30 s" ticks "$(( $(cpu_ticks "$top_pid") - t0 ))"
        t0=$(cpu_ticks "$top_pid")
        burn_down "$BURN_RUNS" "watching: top"
        record "watching: burn-down with zapjobs top" runs/s "$BURN_RATE"
        record "watching: zapjobs top CPU during that burn-down" ticks "$(( $(cpu_ticks "$top_pid") - t0 ))"
        zj_as_user tmux -S "$TMUX_SOCK" kill-server

        reset_runs
        last=$(q "SELECT max(id) FROM (SELECT unnest(jobs.enqueue_many('SELECT 1',
                    array_fill('{}'::jsonb, ARRAY[$BURN_RUNS])))) AS t(id)")
        zj_as_user "${ZJ_CMD[@]}" watch "$last" >"$LOGDIR/watch.log" 2>&1 &
        watch_pid=$!
        wait_final "watching: watch" || true
        wait "$watch_pid" || note "WARNING: zapjobs watch exited with $?"
        record "watching: burn-down with zapjobs watch of the last run" runs/s \
            "$(q "SELECT round(count(*) / extract(epoch FROM max(finished_at) - min(started_at)), 1)
                  FROM jobs.runs WHERE status = 'completed'")"
    done
    reset_runs
fi

# --- 13. Dashboard under load ---------------------------------------------------------------------------------
if wanted 13; then
    heading "13. Dashboard: $WEB_RUNS finished runs in jobs.runs, $WEB_RATE runs/s going through, $WEB_BROWSERS browsers on /events"
    note "time to the first byte of each page's first answer (curl), 3 times each; zapjobs web's resident memory;"
    note "the browsers are $WEB_BROWSERS event streams held by one node process (test/bench/sse_clients.js)"
    set_workers 4
    reset_runs
    q "INSERT INTO jobs.runs (name, kind, command, queue, status, owner, created_at, run_at,
                              started_at, finished_at, duration, attempt, max_attempts, timeout,
                              retry_base, retry_factor, retry_max_delay, error_sqlstate, error_message)
       SELECT 'job_' || i % 50, 'sql', 'SELECT ' || i, 'q' || i % 10,
              CASE WHEN i % 100 = 0 THEN 'failed' ELSE 'completed' END, current_user::regrole,
              t, t, t, t + interval '10 ms', interval '10 ms', 1, 1, interval '1 h', interval '1 s', 2,
              interval '1 h', CASE WHEN i % 100 = 0 THEN '22012' END,
              CASE WHEN i % 100 = 0 THEN 'division by zero' END
         FROM generate_series(1, $WEB_RUNS) i, LATERAL (SELECT now() - (i % 3000) * interval '1 s' AS t) x" >/dev/null
    q "VACUUM ANALYZE jobs.runs" >/dev/null
    WEB_PORT=$((PORT + 100))
    # whatever holds the port (a dashboard left by an interrupted run, say)
    # would answer in this one's place; it is not ours to stop
    listener_pid() { ss -ltnpH "sport = :$WEB_PORT" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1; }
    [[ -z $(ss -ltnH "sport = :$WEB_PORT") ]] ||
        zj_die "port $WEB_PORT is in use (pid $(listener_pid)): stop that program or set ZJ_BENCH_PORT"
    zj_as_user "$ZJ_PG_BIN/zapjobs" -h "$BENCH" -p "$PORT" -d postgres web --listen "127.0.0.1:$WEB_PORT" \
        >"$LOGDIR/web.log" 2>&1 &
    WEB_PID=$!
    deadline=$((SECONDS + 60))
    until curl -sf "http://127.0.0.1:$WEB_PORT/healthz" >/dev/null; do
        (( SECONDS < deadline )) || zj_die "zapjobs web did not start (log: $LOGDIR/web.log)"
        sleep 0.2
    done
    web_pid=$(listener_pid)    # the zapjobs process itself, under runuser
    node "$BUILD/test/bench/sse_clients.js" "http://127.0.0.1:$WEB_PORT/events" "$WEB_BROWSERS" \
        >"$LOGDIR/sse_clients.log" 2>&1 &
    BROWSERS=$!
    "${PSQL[@]}" -c "CALL bench_produce($WEB_RATE, 60)" >/dev/null 2>&1 &
    PRODUCER=$!
    sleep 10
    web_t0=$(cpu_ticks "$web_pid") clients_t0=$(cpu_ticks "$BROWSERS") wall_t0=$SECONDS
    some_run=$(q "SELECT max(id) FROM jobs.runs WHERE status = 'failed'")
    for ((r = 1; r <= 3; r++)); do
        for page in / api/overview "api/runs?limit=50" "api/runs?status=failed&queue=q3&limit=50" \
                    "api/runs/$some_run" api/queues api/definitions api/workers api/active metrics \
                    api/session healthz; do
            ms=$(curl -s -o /dev/null -w '%{time_starttransfer}' "http://127.0.0.1:$WEB_PORT/$page" |
                 awk '{ printf "%.1f", $1 * 1000 }')
            record "dashboard: first byte of /${page/$some_run/ID}" ms "$ms"
        done
    done
    wall=$((SECONDS - wall_t0))
    record "dashboard: zapjobs web CPU while measuring, % of one core" % \
        "$(( ($(cpu_ticks "$web_pid") - web_t0) / (wall > 0 ? wall : 1) ))"
    record "dashboard: the $WEB_BROWSERS streams' client CPU, % of one core" % \
        "$(( ($(cpu_ticks "$BROWSERS") - clients_t0) / (wall > 0 ? wall : 1) ))"
    record "dashboard: zapjobs web resident memory, $WEB_BROWSERS browsers" MB \
        "$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$web_pid/status")"
    finished=$(q "SELECT count(*) FROM jobs.runs WHERE finished_at > now() - interval '10 s'")
    note "runs finished in the last 10 s while measuring: $finished"
    kill "$BROWSERS" 2>/dev/null || true
    sleep 1
    note "the browsers: $(cat "$LOGDIR/sse_clients.log")"
    kill "$web_pid" 2>/dev/null || true    # zapjobs itself: runuser does not pass SIGTERM on
    wait "$WEB_PID" 2>/dev/null || true
    wait "$PRODUCER" || true
    wait || true
    wait_final "dashboard" || true
    reset_runs
fi

# --- 14. Workflows -----------------------------------------------------------------------------------------------
if wanted 14; then
    heading "14. Workflows: a fan-out of $FAN_RUNS runs with one fan-in; a chain of $CHAIN_RUNS runs (4 workers)"
    note "fan-in lag = the fan-in's started_at - the last parent's finished_at; the fan-out's rate"
    note "as section 3 measures it; a chain step = its started_at - its parent's finished_at"
    set_workers 4
    for ((r = 1; r <= REPS; r++)); do
        reset_runs
        q "SELECT jobs.pause_queue('bench_hold')" >/dev/null
        q "CREATE TEMP TABLE f AS SELECT jobs.enqueue('SELECT 1', queue => 'bench_hold') AS top;
           CREATE TABLE IF NOT EXISTS bench_fan (id bigint); TRUNCATE bench_fan;
           INSERT INTO bench_fan SELECT unnest(jobs.enqueue_many('SELECT 1',
               array_fill(NULL::jsonb, ARRAY[$FAN_RUNS]), depends_on => ARRAY[(SELECT top FROM f)]));
           SELECT jobs.enqueue('SELECT 1', name => 'fan-in',
               depends_on => (SELECT array_agg(id) FROM bench_fan))" >/dev/null
        q "SELECT jobs.resume_queue('bench_hold')" >/dev/null
        wait_final "fan-out" || true
        IFS=$'\t' read -r lag rate <<<"$(q "SELECT round((extract(epoch FROM l.started_at - max(p.finished_at)) * 1000)::numeric, 2),
                round(count(*) / extract(epoch FROM max(p.finished_at) - min(p.started_at)), 1)
              FROM jobs.runs l, jobs.runs p JOIN bench_fan b ON b.id = p.id
             WHERE l.name = 'fan-in' AND p.status = 'completed' GROUP BY l.started_at")"
        record "fan-out of $FAN_RUNS: runs/s" runs/s "$rate"
        record "fan-in start after its last parent" ms "$lag"
        reset_runs
        q "SELECT jobs.pause_queue('bench_hold')" >/dev/null
        q "DO \$\$ DECLARE prev bigint; BEGIN
               prev := jobs.enqueue('SELECT 1', queue => 'bench_hold');
               FOR i IN 2..$CHAIN_RUNS LOOP
                   prev := jobs.enqueue('SELECT 1', depends_on => ARRAY[prev]);
               END LOOP;
           END \$\$" >/dev/null
        q "SELECT jobs.resume_queue('bench_hold')" >/dev/null
        wait_final "chain" || true
        IFS=$'\t' read -r n p50 p95 p99 max <<<"$(q "CREATE OR REPLACE TEMP VIEW chain_steps AS
              SELECT extract(epoch FROM c.started_at - p.finished_at) * 1000 AS ms
                FROM jobs.runs c JOIN jobs.dependencies d ON d.run_id = c.id JOIN jobs.runs p ON p.id = d.parent_id;
              SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY ms),
                     percentile_cont(0.95) WITHIN GROUP (ORDER BY ms),
                     percentile_cont(0.99) WITHIN GROUP (ORDER BY ms), max(ms) FROM chain_steps" | tail -n 1)"
        [[ $n -eq $((CHAIN_RUNS - 1)) ]] || note "WARNING: $n of $((CHAIN_RUNS - 1)) chain steps found"
        record "chain of $CHAIN_RUNS: step p50" ms "$p50"
        record "chain of $CHAIN_RUNS: step p99" ms "$p99"
        record "chain of $CHAIN_RUNS: step max" ms "$max"
        record "chain of $CHAIN_RUNS: total" s "$(q "SELECT round(extract(epoch FROM max(finished_at) - min(started_at))::numeric, 2) FROM jobs.runs")"
    done
    q "SELECT jobs.resume_queue('bench_hold')" >/dev/null
    reset_runs
fi

# --- 15. Two databases -------------------------------------------------------------------------------------------
PSQL_B=(zj_as_user "$ZJ_PG_BIN/psql" -X -q -h "$BENCH" -p "$PORT" -U "$ZJ_USER" -d bench_b
        -v ON_ERROR_STOP=1 -P pager=off)
qb() { "${PSQL_B[@]}" -t -A -F $'\t' -c "$1"; }
# fair_runs LABEL GAP: FAIR_RUNS runs in bench_b one after the other, GAP
# seconds apart (so that its worker leaves in between when the idle timeout
# is short); records the p50 and max of started_at - created_at.
fair_runs() {
    local label=$1 gap=$2 k id n p50 p95 p99 max
    qb "TRUNCATE jobs.runs CASCADE" >/dev/null
    for ((k = 1; k <= FAIR_RUNS; k++)); do
        id=$(qb "SELECT jobs.enqueue('SELECT 1')")
        [[ $(qb "SELECT jobs.wait($id, timeout => '60 s')") == completed ]] ||
            note "WARNING: bench_b run $id did not complete within 60 s"
        sleep "$gap"
    done
    IFS=$'\t' read -r n p50 p95 p99 max <<<"$(qb "SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY ms),
              percentile_cont(0.95) WITHIN GROUP (ORDER BY ms), percentile_cont(0.99) WITHIN GROUP (ORDER BY ms), max(ms)
         FROM (SELECT extract(epoch FROM started_at - created_at) * 1000 AS ms FROM jobs.runs) s")"
    record "second database, $label: start p50" ms "$p50"
    record "second database, $label: start max" ms "$max"
}

if wanted 15; then
    FAIR_RUNS=10 FLOOD_RUNS=100000
    heading "15. Two databases: one run at a time in bench_b while postgres has $FLOOD_RUNS pending runs (4 workers)"
    note "start = started_at - created_at of bench_b's run.  warm: bench_b keeps an idle worker (the usual"
    note "wake-up); cold: bench_b's worker leaves between runs (worker_idle_timeout = 200 ms), so each run"
    note "needs a worker started for it, in a free slot (postgres idle) or one a flood worker gives up"
    note "(postgres flooded: $FLOOD_RUNS pending runs of SELECT pg_sleep(0.001), 4 workers busy with them)"
    set_workers 4
    if [[ $(q "SELECT count(*) FROM pg_database WHERE datname = 'bench_b'") -eq 0 ]]; then
        q "CREATE DATABASE bench_b" >/dev/null
        qb "CREATE EXTENSION zapjobs" >/dev/null
    fi
    for ((r = 1; r <= REPS; r++)); do
        reset_runs
        fair_runs "warm, other idle" 0.02
        q "ALTER SYSTEM SET zapjobs.worker_idle_timeout = '200ms'" >/dev/null
        q "SELECT pg_reload_conf()" >/dev/null
        sleep 0.5
        fair_runs "cold, other idle" 0.5
        q "SELECT jobs.enqueue_many('SELECT pg_sleep(0.001)', array_fill(NULL::jsonb, ARRAY[$FLOOD_RUNS]), queue => 'flood')" >/dev/null
        sleep 1.5   # a worker serves its role a second before it may be asked to leave
        fair_runs "cold, other flooded" 0.5
        note "postgres runs still pending after the measurement: $(q "SELECT count(*) FROM jobs.runs WHERE status = 'pending'")"
        q "SELECT jobs.pause_queue('flood')" >/dev/null
        q "ALTER SYSTEM RESET zapjobs.worker_idle_timeout" >/dev/null
        q "SELECT pg_reload_conf()" >/dev/null
        while [[ $(q "SELECT count(*) FROM jobs.runs WHERE status = 'running'") -gt 0 ]]; do sleep 0.1; done
        reset_runs
        q "SELECT jobs.resume_queue('flood')" >/dev/null
    done
    reset_runs
    WARM=
fi

# --- Summary ----------------------------------------------------------------------------------------------------
heading "Summary ($MODE; median, min, max)"
summary
note "load avg at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
{
    echo "# zapjobs benchmark ($(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    echo "$MACHINE_MD"
    echo "- durability at PostgreSQL defaults (fsync = on, synchronous_commit = on); settings:"
    printf '%s\n' "$SETTINGS" | awk -F'\t' '{ printf "%s`%s = %s`", (NR > 1 ? ", " : "  "), $1, $2 } END { print "" }'
    echo "- $MODE; pgbench ${PGBENCH_SECONDS} s; burn-down $BURN_RUNS runs; wake-up/event $WAKE_RUNS runs;" \
         "sustained ${SUSTAIN_SECONDS} s; deep queue $DEEP_RUNS runs"
    echo
    summary md
} >"$BENCH/results.md"
chown "$ZJ_USER:" "$BENCH/results.md"
zj_log "Done. Markdown: $BENCH/results.md; logs: $LOGDIR, $BENCH/server.log. Stopping the server."
