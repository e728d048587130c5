# How a job's SQL is executed: top-level utility statements, procedures
# that commit, errors, multi-statement jobs, the in-job API, what
# pg_stat_activity shows, and scheduled runs.
use strict;
use warnings;
use lib 'test/perl';

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZapjobsTest;

# One worker, so "the worker survives an error" is about the same process.
my $node = zj_new_node('execution', max_workers => 1,
	conf => "# single attempts: these tests look at one attempt's outcome\nzapjobs.default_max_attempts = 1\n");
$node->safe_psql(
	'postgres', q{
	CREATE TABLE vac (x int);
	INSERT INTO vac SELECT generate_series(1, 1000);
	DELETE FROM vac WHERE x % 2 = 0;
	CREATE TABLE proc_t (x int);
	CREATE PROCEDURE p() LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO proc_t VALUES (1);
		COMMIT;
		INSERT INTO proc_t VALUES (2);
	END $$;
	CREATE TABLE m (x int);
});

# Compare a run's output with a jsonb literal, showing it on failure.
sub output_is
{
	my ($id, $json, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $ok = $node->safe_psql('postgres',
		"SELECT output IS NOT DISTINCT FROM $json FROM jobs.runs WHERE id = $id");
	is($ok, 't', $name)
	  or diag('output: ' . (zj_run($node, $id)->{output} // '<NULL>'));
}

# --- Top-level statements -----------------------------------------------------
my $vac = zj_enqueue($node, 'VACUUM vac');
is(zj_wait($node, $vac), 'completed', 'VACUUM as a job completes')
  or diag(explain(zj_run($node, $vac)));
is( $node->safe_psql(
		'postgres',
		"SELECT vacuum_count > 0 FROM pg_stat_user_tables WHERE relname = 'vac'"),
	't',
	'... and vacuumed the table');

my $call = zj_enqueue($node, 'CALL p()');
is(zj_wait($node, $call), 'completed', 'CALL of a procedure that COMMITs completes')
  or diag(explain(zj_run($node, $call)));
is($node->safe_psql('postgres', 'SELECT string_agg(x::text, \',\' ORDER BY x) FROM proc_t'),
	'1,2', '... both inserts are there');

# --- Errors -------------------------------------------------------------------
my $div = zj_enqueue($node, 'SELECT 1/0');
is(zj_wait($node, $div), 'failed', 'SELECT 1/0 fails');
my $r = zj_run($node, $div);
is($r->{error_sqlstate}, '22012', '... with 22012');
like($r->{error_message}, qr/division by zero/, '... division by zero');
my $after = zj_enqueue($node, 'SELECT 2 AS two');
is(zj_wait($node, $after), 'completed', 'the next run completes');
is(zj_run($node, $after)->{worker_pid}, $r->{worker_pid},
	'... served by the same worker that saw the error');
output_is($after, q{'{"two":2}'::jsonb}, '... output is its first row');

my $raise = zj_enqueue($node,
	q{DO $$ BEGIN RAISE EXCEPTION 'boom %', 42 USING DETAIL = 'the detail', HINT = 'the hint', ERRCODE = 'P0042'; END $$});
is(zj_wait($node, $raise), 'failed', 'RAISE EXCEPTION fails the run');
$r = zj_run($node, $raise,
	qw(error_sqlstate error_message error_detail error_hint error_context));
is($r->{error_sqlstate}, 'P0042', '... sqlstate recorded');
is($r->{error_message}, 'boom 42', '... message recorded');
is($r->{error_detail}, 'the detail', '... detail recorded');
is($r->{error_hint}, 'the hint', '... hint recorded');
like($r->{error_context}, qr/PL\/pgSQL/, '... context recorded');

my $slow = zj_enqueue($node, 'SELECT pg_sleep(30)', timeout => "'1 s'");
is(zj_wait($node, $slow), 'failed', 'a run over its timeout fails');
$r = zj_run($node, $slow, qw(error_sqlstate duration));
is($r->{error_sqlstate}, '57014', '... canceled with 57014');

# --- Multi-statement jobs -----------------------------------------------------
my $multi = zj_enqueue($node, 'INSERT INTO m VALUES (7); SELECT count(*) AS n FROM m');
is(zj_wait($node, $multi), 'completed', 'multi-statement job completes');
output_is($multi, q{'{"n":1}'::jsonb}, '... its SELECT saw its own INSERT');

my $multi_fail = zj_enqueue($node, 'INSERT INTO m VALUES (8); SELECT 1/0');
is(zj_wait($node, $multi_fail), 'failed', 'multi-statement job with an error fails');
is($node->safe_psql('postgres', 'SELECT count(*) FROM m WHERE x = 8'),
	'0', '... and its earlier statements are rolled back (one transaction)');

my $begin = zj_enqueue($node, 'BEGIN; INSERT INTO m VALUES (9); COMMIT');
is(zj_wait($node, $begin), 'failed', 'BEGIN/COMMIT in a job is rejected');
is(zj_run($node, $begin)->{error_sqlstate}, '0A000', '... with 0A000');
is($node->safe_psql('postgres', 'SELECT count(*) FROM m WHERE x = 9'),
	'0', '... and nothing was inserted');

# --- Session state does not leak between runs -------------------------------
my $set = zj_enqueue($node, "SET work_mem = '77MB'");
is(zj_wait($node, $set), 'completed', 'SET job completes');
my $show = zj_enqueue($node, "SELECT current_setting('work_mem') AS wm");
is(zj_wait($node, $show), 'completed', 'next job completes');
isnt($node->safe_psql('postgres', "SELECT output->>'wm' FROM jobs.runs WHERE id = $show"),
	'77MB', "... and does not see the previous job's SET");

# --- In-job API ---------------------------------------------------------------
my $api = zj_enqueue($node,
	'SELECT jobs.input() AS i, jobs.current_run_id() AS rid',
	input => '{"a": 5}');
is(zj_wait($node, $api), 'completed', 'job using jobs.input() completes');
output_is($api, qq{jsonb_build_object('i', '{"a":5}'::jsonb, 'rid', $api)},
	'... jobs.input() and jobs.current_run_id() are the run\'s');

my $setout = zj_enqueue($node,
	q{SELECT jobs.set_output('{"x":1}'); SELECT 42 AS y});
is(zj_wait($node, $setout), 'completed', 'job using jobs.set_output() completes');
output_is($setout, q{'{"x":1}'::jsonb}, '... output is what it set');

is($node->safe_psql('postgres',
	'SELECT jobs.input() IS NULL AND jobs.current_run_id() IS NULL'),
	't', 'outside a job, jobs.input() and jobs.current_run_id() are NULL');
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT jobs.set_output('{"x":1}')});
is($rc, 0, 'jobs.set_output() outside a job does not fail');
like($err, qr/does nothing outside a running job/, '... it says it does nothing');

# --- pg_stat_activity shows the running job --------------------------------------
my $sleep = zj_enqueue($node, 'SELECT pg_sleep(3)');
ok( $node->poll_query_until(
		'postgres', qq{
	SELECT count(*) FROM pg_stat_activity a JOIN jobs.runs r ON r.worker_pid = a.pid
	WHERE r.id = $sleep AND r.status = 'running'
	  AND a.backend_type = 'zapjobs worker' AND a.state = 'active'
	  AND a.query = 'SELECT pg_sleep(3)' AND a.wait_event = 'PgSleep'}, '1'),
	'pg_stat_activity shows the worker active with the job\'s command');
is(zj_wait($node, $sleep), 'completed', 'pg_sleep job completes');
ok( $node->poll_query_until(
		'postgres', q{
	SELECT count(*) FROM pg_stat_activity
	WHERE backend_type = 'zapjobs worker' AND state = 'active'}, '0'),
	'the idle worker no longer shows as active');

# --- Scheduled runs ---------------------------------------------------------------
my $sched = zj_enqueue($node, 'SELECT clock_timestamp() AS t',
	run_at => "now() + '2 s'");
is(zj_run($node, $sched)->{status}, 'scheduled', 'a future run is scheduled');
is(zj_wait($node, $sched), 'completed', '... and completes');
is( $node->safe_psql(
		'postgres', qq{
	SELECT started_at >= run_at AND (output->>'t')::timestamptz >= run_at
	  AND started_at < run_at + interval '30 s'
	FROM jobs.runs WHERE id = $sched}),
	't',
	'... not before its run_at');

$node->stop;
done_testing();
