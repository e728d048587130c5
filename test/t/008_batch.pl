# Batches: short runs share a transaction, each in a subtransaction.  One
# run's failure, deferred constraint, overrun, session settings or need to
# run alone must never touch another run; each run's effects commit
# exactly when its outcome does.  The launcher's vacuum runs meanwhile.
use strict;
use warnings;
use lib 'test/perl';

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZapjobsTest;

my $node = zj_new_node('batch', max_workers => 2,
	conf => "zapjobs.batch_time = '20ms'\nzapjobs.vacuum_threshold = 300\n"
	  . "zapjobs.default_max_attempts = 1\n");
$node->safe_psql('postgres', q{
	CREATE TABLE effects (k int PRIMARY KEY, note text);
	CREATE TABLE parent (id int PRIMARY KEY);
	CREATE TABLE child (id int REFERENCES parent DEFERRABLE INITIALLY DEFERRED);
	CREATE PROCEDURE commit_twice(k int) LANGUAGE plpgsql AS $$
	BEGIN
	  INSERT INTO effects VALUES (k, 'call-1'); COMMIT;
	  INSERT INTO effects VALUES (k + 1, 'call-2');
	END $$;});

# 1,200 runs in one go, of every kind, so that workers batch them.
$node->safe_psql('postgres', q{
	SELECT count(jobs.enqueue(
	  CASE
	    WHEN g % 100 = 7 THEN format('INSERT INTO effects VALUES (%s); SELECT 1/0', g)
	    WHEN g % 100 = 17 THEN format('INSERT INTO child VALUES (%s)', g)
	    WHEN g % 100 = 27 THEN format('INSERT INTO effects VALUES (%s, ''slow''); SELECT pg_sleep(0.1)', g)
	    WHEN g % 100 = 37 THEN format('CALL commit_twice(%s)', 100000 + g)
	    WHEN g % 100 = 47 THEN 'VACUUM effects'
	    WHEN g % 100 = 57 THEN $$SET work_mem = '7MB'$$
	    WHEN g % 100 = 58 THEN $$SELECT current_setting('work_mem') AS work_mem$$
	    WHEN g % 100 = 67 THEN 'SELEC 1'
	    WHEN g % 100 = 77 THEN $$SELECT set_config('transaction_read_only', 'on', true)$$
	    ELSE format('INSERT INTO effects VALUES (%s); SELECT jobs.current_run_id() AS me, jobs.input() AS input', g)
	  END,
	  input => jsonb_build_object('g', g), name => 'batch'))
	FROM generate_series(1, 1200) g});

ok(zj_wait_final($node, "name = 'batch'"), 'every run finished');
cmp_ok( $node->safe_psql('postgres', q{
		SELECT count(*) / count(DISTINCT xmin::text) FROM jobs.runs
		WHERE name = 'batch' AND status = 'completed'}),
	'>=', 2, 'runs shared transactions (batches happened)');

is( $node->safe_psql('postgres', q{
		SELECT string_agg(k || ':' || status, ' ' ORDER BY k) FROM (
		  SELECT (input->>'g')::int % 100 AS k, status FROM jobs.runs
		  WHERE name = 'batch' GROUP BY 1, 2) s
		WHERE k IN (7, 17, 27, 37, 47, 57, 58, 67, 77)}),
	'7:failed 17:failed 27:completed 37:completed 47:completed 57:completed 58:completed 67:failed 77:completed',
	'failing runs failed, the others completed, whatever shared their batch');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM jobs.runs WHERE name = 'batch' AND status = 'completed'}),
	1200 - 36, 'all 1,164 other runs completed');
is( $node->safe_psql('postgres', q{
		SELECT string_agg(DISTINCT error_sqlstate, ',' ORDER BY error_sqlstate)
		FROM jobs.runs WHERE status = 'failed'}),
	'22012,23503,42601',
	'division by zero, the deferred foreign key and a syntax error, each in its run');

# Effects: exactly those of completed runs, once each.
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM generate_series(1, 1200) g
		WHERE g % 100 NOT IN (7, 17, 37, 47, 57, 58, 67, 77)
		  AND NOT EXISTS (SELECT 1 FROM effects e WHERE e.k = g)}),
	'0', 'every plain run left its effect');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM effects WHERE k % 100 = 7 AND k < 100000}),
	'0', 'failed runs left no effect');
is($node->safe_psql('postgres', 'SELECT count(*) FROM child'),
	'0', 'the deferred constraint failure rolled back only its run');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM effects WHERE note = 'slow'}),
	'12', 'slow runs (beyond the batch time) ran once each');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM effects WHERE note LIKE 'call-%'}),
	'24', 'procedures that COMMIT ran alone, both halves committed');

# Per-run identity and session hygiene inside batches.
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM jobs.runs WHERE name = 'batch' AND output ? 'me'
		  AND ((output->>'me')::bigint <> id OR output->'input' <> input)}),
	'0', 'jobs.current_run_id() and jobs.input() are each run\'s own');
is( $node->safe_psql('postgres', q{
		SELECT string_agg(DISTINCT output->>'work_mem', ',') FROM jobs.runs
		WHERE name = 'batch' AND output ? 'work_mem'}),
	'4MB', 'a setting made by one run never reaches another');
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM jobs.runs WHERE name = 'batch'
		  AND (started_at IS NULL OR finished_at < started_at
		       OR duration IS DISTINCT FROM finished_at - started_at OR attempt <> 1)}),
	'0', 'timings and attempts are consistent');

ok( $node->poll_query_until('postgres',
		q{SELECT vacuum_count > 0 FROM pg_stat_user_tables
		  WHERE relid = 'jobs.runs'::regclass}),
	'the launcher vacuumed jobs.runs');
ok(!$node->log_contains('terminated by signal'), 'no process crashed');

$node->stop;

# Burn-down under load: rounds of 20,000 no-op runs, each round committed
# in one transaction, four workers, the default batch time.  Runs that
# complete while the launcher's reaper looks at them (their worker already
# on the next run) must not be taken for orphans: a false "reaped" would
# end or retry a finished run and make every run pending at that moment
# run alone, without batches.  The reaper passes every 5 s: the next round
# is enqueued while a round's worth is still queued, so that the workers
# stay busy, with thousands of runs pending, for at least 12 s from the
# first start, whatever the machine's speed.  A reaper pass hits the race
# only now and then (a run must finish between its snapshot and its look
# at the workers): ZJ_BURN_SECONDS=60 makes a regression far likelier to
# show.
my $burn = zj_new_node('batch_burn', max_workers => 4,
	conf => "zapjobs.batch_time = '5ms'\n");
my $burn_round = 20000;
my $burn_min_secs = $ENV{ZJ_BURN_SECONDS} // 12;
my $burn_runs = "name = 'burn'";
my $burn_log_offset = -s $burn->logfile;
my @burn_rounds;    # [first id, last id] of each round
my $burn_short = 0;    # rounds that did not enqueue a full round
for (;;)
{
	my ($lo, $hi, $n) = split /\|/, $burn->safe_psql('postgres', qq{
		SELECT min(id), max(id), count(*) FROM (
		  SELECT jobs.enqueue('SELECT 1', name => 'burn') AS id
		  FROM generate_series(1, $burn_round)) e});
	push @burn_rounds, [ $lo, $hi ];
	$burn_short++ if $n != $burn_round || $hi - $lo + 1 != $burn_round;
	last
	  if @burn_rounds >= 40
	  || $burn->safe_psql('postgres', qq{
			SELECT clock_timestamp() - min(started_at)
			         >= make_interval(secs => $burn_min_secs)
			FROM jobs.runs WHERE $burn_runs}) eq 't';
	# Top up once less than a round is left to run.
	last
	  unless $burn->poll_query_until('postgres', qq{
		SELECT count(*) < $burn_round FROM jobs.runs WHERE $burn_runs
		  AND status NOT IN ('completed', 'failed', 'cancelled')});
}
my $burn_n = $burn_round * @burn_rounds;
is($burn_short, 0,
	"$burn_n no-op runs enqueued in rounds of $burn_round, one transaction each");

ok(zj_wait_final($burn, $burn_runs), 'the burn-down finished every run');
is( $burn->safe_psql('postgres', qq{
		SELECT string_agg(status || ':' || n, ' ' ORDER BY status) FROM (
		  SELECT status, count(*) AS n FROM jobs.runs WHERE $burn_runs
		  GROUP BY status) s}),
	"completed:$burn_n", "all $burn_n burn-down runs completed, none failed");
is( $burn->safe_psql('postgres', qq{
		SELECT count(*) FROM jobs.runs WHERE $burn_runs
		  AND (attempt <> 1 OR crashes <> 0 OR error_sqlstate IS NOT NULL)}),
	'0', 'each burn-down run completed at its first attempt, without error');
is( $burn->safe_psql('postgres', qq{
		SELECT count(*) FROM jobs.attempts a JOIN jobs.runs r ON r.id = a.run_id
		WHERE r.$burn_runs}),
	'0', 'no burn-down attempt was recorded as failed or interrupted');
my $burn_log = slurp_file($burn->logfile, $burn_log_offset);
my @reaped = $burn_log =~ /^(.*zapjobs reaped.*)$/mg;
is(scalar(@reaped), 0,
	'the reaper reaped nothing during the burn-down (no false orphans)')
  or diag(join("\n", @reaped));
unlike($burn_log, qr/terminated by signal/,
	'no process crashed during the burn-down');
my ($burn_secs, $burn_xacts) = split /\|/, $burn->safe_psql('postgres', qq{
	SELECT round(extract(epoch FROM max(finished_at) - min(started_at))::numeric, 1),
	       count(DISTINCT xmin::text)
	FROM jobs.runs WHERE $burn_runs});
cmp_ok($burn_secs, '>=', $burn_min_secs - 1,
	'the burn-down outlasted two reaper intervals (5 s each)');
cmp_ok($burn_xacts, '<', $burn_n / 4,
	'burn-down runs shared transactions: batches were never turned off');
# Per round too: a false reap makes the runs then pending (thousands of
# one round at least) run one per transaction.
my $burn_ranges = join(', ',
	map { "($_, $burn_rounds[$_ - 1][0], $burn_rounds[$_ - 1][1])" }
	  1 .. @burn_rounds);
is( $burn->safe_psql('postgres', qq{
		SELECT string_agg(round || ':' || xacts, ' ' ORDER BY round) FROM (
		  SELECT v.round, count(DISTINCT r.xmin::text) AS xacts
		  FROM (VALUES $burn_ranges) v(round, lo, hi)
		  JOIN jobs.runs r ON r.id BETWEEN v.lo AND v.hi
		  GROUP BY v.round) s
		WHERE xacts >= $burn_round / 4}),
	'', 'every round\'s runs shared transactions (fewer than a quarter as many)');
diag("burn-down of $burn_n runs in " . scalar(@burn_rounds)
	  . " rounds took $burn_secs s, in $burn_xacts transactions");

$burn->stop;

# Batch size: runs that write take a subtransaction id each, and a batch
# stops taking runs at 48 of them (past 64 every snapshot in the cluster
# would consult pg_subtrans); runs that take none may fill a batch far
# beyond that (up to 256).  One worker and a long batch_time, so that only
# those limits end a batch.
my $sized = zj_new_node('batch_size', max_workers => 1,
	conf => "zapjobs.batch_time = '2s'\nzapjobs.default_max_attempts = 1\n");
$sized->safe_psql('postgres', 'CREATE TABLE written (n int)');
$sized->safe_psql('postgres', q{
	SELECT count(jobs.enqueue('INSERT INTO written VALUES (1)', name => 'writes'))
	FROM generate_series(1, 400)});
ok(zj_wait_final($sized, "name = 'writes'"), 'the writing runs finished');
$sized->safe_psql('postgres', q{
	SELECT count(jobs.enqueue('SELECT 1', name => 'reads'))
	FROM generate_series(1, 600)});
ok(zj_wait_final($sized, "name = 'reads'"), 'the read-only runs finished');
is( $sized->safe_psql('postgres', q{
		SELECT string_agg(name || ':' || status || ':' || n, ' ' ORDER BY name) FROM (
		  SELECT name, status, count(*) AS n FROM jobs.runs GROUP BY 1, 2) s}),
	'reads:completed:600 writes:completed:400', 'every run completed');
is($sized->safe_psql('postgres', 'SELECT count(*) FROM written'), '400',
	'each writing run wrote once');
my ($most_writes, $batches_writes) = split /\|/, $sized->safe_psql('postgres', q{
	SELECT max(n), count(*) FROM (SELECT count(*) AS n FROM jobs.runs
	WHERE name = 'writes' GROUP BY xmin::text) b});
cmp_ok($most_writes, '<=', 48, "a batch of writing runs held at most 48 of them ($most_writes)");
cmp_ok($batches_writes, '<', 400 / 8, "writing runs still shared transactions ($batches_writes batches)");
my $most_reads = $sized->safe_psql('postgres', q{
	SELECT max(n) FROM (SELECT count(*) AS n FROM jobs.runs
	WHERE name = 'reads' GROUP BY xmin::text) b});
cmp_ok($most_reads, '>', 48, "read-only runs filled larger batches ($most_reads runs)");
cmp_ok($most_reads, '<=', 256, 'but at most 256');

# A run of a batch that acts on other runs (jobs.cancel, jobs.wait, a
# dedupe_key) runs on its own once the batch committed: the batch writes
# the runs it completed a little later, so it would see them pending.
$sized->safe_psql('postgres', q{
	DO $$
	DECLARE v bigint;
	BEGIN
	  PERFORM jobs.enqueue('SELECT 1', name => 'lead');
	  v := jobs.enqueue('SELECT 1', name => 'victim', dedupe_key => 'k1');
	  PERFORM jobs.enqueue(format('SELECT jobs.cancel(%s) AS cancelled', v), name => 'canceller');
	  PERFORM jobs.enqueue(format($q$SELECT jobs.wait(%s, timeout => '5 s') AS seen$q$, v),
	                       name => 'waiter');
	  PERFORM jobs.enqueue($q$SELECT jobs.enqueue('SELECT 1', name => 'follow', dedupe_key => 'k1') AS id$q$,
	                       name => 'deduper');
	END $$});
ok(zj_wait_final($sized, "name IN ('lead', 'victim', 'canceller', 'waiter', 'deduper', 'follow')"),
	'the runs acting on other runs finished');
is( $sized->safe_psql('postgres', q{
		SELECT string_agg(name || ':' || status || ':' || coalesce(output::text, ''), ' ' ORDER BY id)
		FROM jobs.runs WHERE name IN ('victim', 'canceller', 'waiter')}),
	'victim:completed:{"?column?": 1} canceller:completed:{"cancelled": false} waiter:completed:{"seen": "completed"}',
	'they saw the run the batch completed before them as completed');
is( $sized->safe_psql('postgres', q{
		SELECT (d.output->>'id')::bigint = f.id AND f.status = 'completed'
		FROM jobs.runs d, jobs.runs f WHERE d.name = 'deduper' AND f.name = 'follow'}),
	't', 'a dedupe_key held by a completed run enqueued a new run');

# Batches while a queue is paused (limits exist): the runs they lock are
# those of queues under no limit, kept in a list that must outlive the
# lookup of the limits.  A run failing in the batch writes its end with
# SPI, which reused the freed list's memory: the worker crashed.
$sized->safe_psql('postgres', q{SELECT jobs.pause_queue('shut')});
for (1 .. 10)
{
	$sized->safe_psql('postgres', q{
		SELECT jobs.enqueue(CASE WHEN g % 3 = 0 THEN 'SELECT 1/0' ELSE 'SELECT 1' END,
		                    queue => 'open', name => 'limited_batch', max_attempts => 1)
		FROM generate_series(1, 40) g});
}
ok(zj_wait_final($sized, "name = 'limited_batch'"), 'batches beside a paused queue finished');
is( $sized->safe_psql('postgres', q{
		SELECT string_agg(status || ':' || count, ' ' ORDER BY status) FROM
		(SELECT status, count(*) FROM jobs.runs WHERE name = 'limited_batch' GROUP BY 1) s}),
	'completed:270 failed:130', 'every third failed, the others completed');
ok(!$sized->log_contains(qr/terminated by signal/), 'no worker crashed');
$sized->stop;

done_testing();
