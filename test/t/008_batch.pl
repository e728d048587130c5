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
done_testing();
