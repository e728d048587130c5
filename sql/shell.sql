-- Shell jobs: output to the log, the :: protocol, outcomes.
SELECT jobs.enqueue($$echo "run $ZAPJOBS_RUN_ID attempt $ZAPJOBS_ATTEMPT input $ZAPJOBS_INPUT" |
  sed 's/run [0-9]*/run N/'; echo warn >&2; pwd; env | grep -c '^PG' || true
  echo '::progress 2/3 two of three'; echo '::output {"ok": true}'; echo '::log notice said'
  echo '::log loud nope'; echo '::output {bad'$$,
  kind => 'shell', input => '{"k": "v"}') AS r \gset
SELECT jobs.wait(:r, timeout => '60 s');
SELECT status, output, progress_current, progress_total, progress_message
  FROM jobs.runs WHERE id = :r;
-- stdout in order; stderr is another pipe, so its line may come anywhere.
SELECT level, message FROM jobs.logs WHERE run_id = :r AND message <> 'warn' ORDER BY id;
SELECT level FROM jobs.logs WHERE run_id = :r AND message = 'warn';

-- A non-zero exit code and a signal fail the attempt, with stderr as detail.
SELECT jobs.enqueue($$echo first >&2; echo second >&2; exit 7$$, kind => 'shell',
                    max_attempts => 1) AS f \gset
SELECT jobs.wait(:f, timeout => '60 s');
SELECT status, error_sqlstate, error_message, error_detail FROM jobs.runs WHERE id = :f;
SELECT jobs.enqueue($q$kill -TERM $$$q$, kind => 'shell', max_attempts => 1) AS k \gset
SELECT jobs.wait(:k, timeout => '60 s');
SELECT status, error_message FROM jobs.runs WHERE id = :k;
