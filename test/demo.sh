#!/usr/bin/env bash
# Build and install zapjobs, start a throwaway PostgreSQL 15 server in
# /tmp/zapjobs-demo and run a short, visible demo: a few jobs are enqueued,
# a second session prints their LISTEN/NOTIFY status updates, the final
# state of jobs.runs is shown, and `zapjobs watch RUN_ID` follows a job that
# reports progress to its end.  Run as root:
#
#     bash test/demo.sh
#
# The server is left running (as user zapjobs, Unix socket only, port 55432);
# the last lines printed say how to connect and how to stop it.  Running the
# script again replaces the previous demo server.
#
# Optional environment, besides test/common.sh's (PG_CONFIG, ZJ_USER):
#   ZJ_DEMO_DIR   the demo's directory, replaced by each run (default /tmp/zapjobs-demo)
#   ZJ_DEMO_PORT  its server's port (default 55432)
set -euo pipefail

# shellcheck source=test/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DEMO=${ZJ_DEMO_DIR:-/tmp/zapjobs-demo}
DATA=$DEMO/data
PORT=${ZJ_DEMO_PORT:-55432}
LISTEN_SECONDS=10   # how long the second session listens for job_update

zj_prepare_machine

# Build in a scratch copy (never inside the checkout) and install as root.
BUILD=$(mktemp -d /tmp/zapjobs-build.XXXXXX)
SERVER_STARTED=
on_exit() {
    local rc=$?
    rm -rf "$BUILD"
    if [[ $rc -ne 0 && -n $SERVER_STARTED ]]; then
        printf '\nDemo FAILED (exit %s). Last lines of %s:\n' "$rc" "$DEMO/server.log" >&2
        tail -n 40 "$DEMO/server.log" >&2 || true
        printf 'The server is still running; stop it with:\n  runuser -u %s -- %s/pg_ctl -D %s stop\n' \
            "$ZJ_USER" "$ZJ_PG_BIN" "$DATA" >&2
    fi
}
trap on_exit EXIT
zj_copy_tree "$BUILD"
zj_build_install "$BUILD"

# --- Throwaway cluster ---------------------------------------------------------
zj_stop_server "$DATA"
rm -rf "$DEMO"
# Mode 0700: the cluster uses trust authentication, so only $ZJ_USER (and
# root) may reach its socket in this directory.
install -d -o "$ZJ_USER" -g "$(id -gn "$ZJ_USER")" -m 0700 "$DEMO"

zj_log "Creating a throwaway cluster in $DATA"
if ! zj_as_user "$ZJ_PG_BIN/initdb" -D "$DATA" --auth=trust --no-locale \
        --encoding=UTF8 2>&1 | zj_as_user tee "$DEMO/initdb.log" >/dev/null; then
    cat "$DEMO/initdb.log" >&2
    zj_die "initdb failed"
fi
cat >>"$DATA/postgresql.conf" <<EOF

# --- added by test/demo.sh ---
shared_preload_libraries = 'zapjobs'
port = $PORT
listen_addresses = ''
unix_socket_directories = '$DEMO'
EOF
printf '%s\n' "Added to postgresql.conf:" "$(sed -n '/added by test\/demo.sh/,$p' "$DATA/postgresql.conf")"

zj_log "Starting the server (log: $DEMO/server.log)"
if ! zj_as_user "$ZJ_PG_BIN/pg_ctl" -D "$DATA" -l "$DEMO/server.log" -w start; then
    tail -n 40 "$DEMO/server.log" >&2 || true
    zj_die "the server did not start"
fi
SERVER_STARTED=1

# psql as the cluster superuser ($ZJ_USER); stop at the first error.
PSQL=(zj_as_user "$ZJ_PG_BIN/psql" -X -h "$DEMO" -p "$PORT" -U "$ZJ_USER" -d postgres
      -v ON_ERROR_STOP=1 -P pager=off)

# --- Demo ----------------------------------------------------------------------
zj_log "Installing the extension and a table for a job to write to"
"${PSQL[@]}" --echo-all <<'SQL'
CREATE EXTENSION zapjobs;
CREATE TABLE demo_audit(id serial, at timestamptz DEFAULT now(), note text);
SQL

zj_log "A second session LISTENs on job_update for ${LISTEN_SECONDS}s (lines marked [LISTEN])"
# psql prints notifications after each statement it runs, so the listening
# session is one psql fed LISTEN plus a series of short sleeps; \g /dev/null
# hides the sleeps' empty results but not the notifications.
(
    set -o pipefail
    {
        echo 'LISTEN job_update;'
        for ((i = 0; i < LISTEN_SECONDS * 2; i++)); do
            echo 'SELECT pg_sleep(0.5) \g /dev/null'
        done
    } | "${PSQL[@]}" -q 2>&1 | sed -u 's/^/    [LISTEN] /'
) &
LISTENER=$!
sleep 1   # let LISTEN take effect before the first job can notify

zj_log "Enqueueing jobs (jobs.enqueue returns the run id)"
IDS=()
# enqueue: read one "SELECT jobs.enqueue(...)" from stdin, show it, run it and
# remember the run id it returns.
enqueue() {
    local sql id
    sql=$(cat)
    printf 'postgres=# %s\n' "$sql"
    id=$(printf '%s\n' "$sql" | "${PSQL[@]}" -q -t -A)
    [[ $id =~ ^[0-9]+$ ]] || zj_die "jobs.enqueue returned '$id', expected a run id"
    printf '  -> run %s\n' "$id"
    IDS+=("$id")
}
enqueue <<'SQL'
SELECT jobs.enqueue($$INSERT INTO demo_audit(note) VALUES ('hello from a job')$$);
SQL
enqueue <<'SQL'
SELECT jobs.enqueue('SELECT pg_sleep(1); SELECT 42 AS answer', name => 'slow');
SQL
enqueue <<'SQL'
SELECT jobs.enqueue('SELECT 1/0', name => 'broken');
SQL
enqueue <<'SQL'
SELECT jobs.enqueue($$SELECT jobs.input()->>'day' AS day$$, name => 'with-input', input => '{"day":"2026-11-21"}');
SQL
enqueue <<'SQL'
SELECT jobs.enqueue('SELECT now() AS ran_at', name => 'delayed', run_at => now() + interval '2 seconds');
SQL

zj_log "Waiting for every run to finish (jobs.wait)"
for id in "${IDS[@]}"; do
    echo "SELECT jobs.wait($id, timeout => '30 s');"
done | "${PSQL[@]}" --echo-all

zj_log "Waiting for the listening session to finish"
wait "$LISTENER" || zj_die "the LISTEN session failed"

zj_log "Final state of the runs, and what the first job wrote"
"${PSQL[@]}" --echo-all <<'SQL'
SELECT id, name, status, attempt, output, error_message, duration FROM jobs.runs ORDER BY id;
SELECT * FROM demo_audit;
SQL

zj_log "Watching a job that reports progress with the zapjobs command"
ZAPJOBS=("$ZJ_PG_BIN/zapjobs" -h "$DEMO" -p "$PORT" -U "$ZJ_USER" -d postgres)
echo "\$ zapjobs enqueue --name copy_tables 'DO \$\$ ... jobs.progress(i, 20, ...) ... \$\$'"
# shellcheck disable=SC2016  # $$ and $f$ quote SQL, not shell
RUN_ID=$(zj_as_user "${ZAPJOBS[@]}" enqueue --name copy_tables \
    'DO $$BEGIN FOR i IN 1..20 LOOP
        PERFORM jobs.progress(i, 20, format($f$table %s of 20$f$, i));
        IF i % 5 = 0 THEN PERFORM jobs.log($l$info$l$, format($f$%s tables copied$f$, i)); END IF;
        PERFORM pg_sleep(0.15);
     END LOOP; END$$') || zj_die "zapjobs enqueue failed"
[[ $RUN_ID =~ ^[0-9]+$ ]] || zj_die "zapjobs enqueue printed '$RUN_ID', expected a run id"
echo "$RUN_ID"
# On a terminal the progress bar is redrawn in place; in a pipe, one line per event.
echo "\$ zapjobs watch $RUN_ID"
zj_as_user "${ZAPJOBS[@]}" watch "$RUN_ID" ||
    zj_die "zapjobs watch $RUN_ID exited $? (0 means the run completed)"

zj_log "Demo done. The server is still running."
cat <<EOF
Connect:  psql -h $DEMO -p $PORT -U $ZJ_USER postgres
Watch:    $ZJ_PG_BIN/zapjobs -h $DEMO -p $PORT -U $ZJ_USER -d postgres top
Web:      $ZJ_PG_BIN/zapjobs -h $DEMO -p $PORT -U $ZJ_USER -d postgres web   (http://127.0.0.1:8080/)
Stop:     runuser -u $ZJ_USER -- $ZJ_PG_BIN/pg_ctl -D $DATA stop
Log:      $DEMO/server.log
EOF
