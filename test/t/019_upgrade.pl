# Upgrades: a 1.0 install filled as a 1.0 server left it (runs in every
# state, one of them "running" on a worker of an earlier server life, logs,
# attempts, a schedule, a queue limit) meets this library.  It serves
# nothing, says why, and refuses to write runs, until ALTER EXTENSION
# zapjobs UPDATE; then, within moments, every run goes on: nothing lost, the
# schedule fires, and what the updates add works.  An updated schema is a
# fresh install's: the same objects, and the same pg_dump --binary-upgrade
# --schema-only (which lists every object of the extension).
use strict;
use warnings;
use lib 'test/perl';

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZapjobsTest;

my $node = zj_new_node('upgrade', extension => 0);
$node->safe_psql('postgres', q{CREATE EXTENSION zapjobs VERSION '1.0'});
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'zapjobs'}),
	'1.0', 'installed as 1.0');

# Fill it: settings through the 1.0 functions, runs as a 1.0 server wrote
# them (this library cannot run a 1.0 schema's workers).
$node->safe_psql('postgres', q{
	CREATE TABLE effects (tag text NOT NULL);
	SELECT jobs.set_queue_concurrency('narrow', 1);
	SELECT jobs.schedule('tick', 'every 1 second', 'INSERT INTO effects VALUES (''tick'')');
	SELECT jobs.pause('tick');
	INSERT INTO jobs.runs (name, command, queue, status, owner, output, run_at, started_at,
	                       finished_at, duration, attempt, max_attempts, timeout, retry_base,
	                       retry_factor, retry_max_delay, next_retry_at, worker_pid, worker_epoch,
	                       error_sqlstate, error_message)
	SELECT v.name, v.command, v.queue, v.status, current_user::regrole, v.output::jsonb,
	       now() + v.due::interval, now() + v.started::interval, now() + v.finished::interval,
	       v.finished::interval - v.started::interval, v.attempt, 3, '1 min', '1 s', 2,
	       '1 h', CASE WHEN v.status = 'awaiting_retry' THEN now() + v.due::interval END,
	       v.pid, v.epoch, v.sqlstate, v.message
	  FROM (VALUES
	    ('done', 'SELECT 1', 'default', 'completed', '{"x": 1}', '-1 h', '-1 min', '-59 s', 1, NULL, NULL, NULL, NULL),
	    ('broken', 'SELECT 1/0', 'default', 'failed', NULL, '-1 h', '-1 min', '-59 s', 3, NULL, NULL, '22012', 'division by zero'),
	    ('stopped', 'SELECT 1', 'default', 'cancelled', NULL, '-1 h', NULL, '-59 s', 0, NULL, NULL, NULL, NULL),
	    ('waiting_now', 'INSERT INTO effects VALUES (''pending'')', 'default', 'pending', NULL, '-1 s', NULL, NULL, 0, NULL, NULL, NULL, NULL),
	    ('later', 'INSERT INTO effects VALUES (''scheduled'')', 'default', 'scheduled', NULL, '3 s', NULL, NULL, 0, NULL, NULL, NULL, NULL),
	    ('again', 'INSERT INTO effects VALUES (''retried'')', 'default', 'awaiting_retry', NULL, '1 s', '-1 min', NULL, 1, NULL, NULL, '57014', 'canceling statement due to statement timeout'),
	    ('orphan', 'INSERT INTO effects VALUES (''orphan'')', 'default', 'running', NULL, '-1 min', '-1 min', NULL, 1, 999999, 1, NULL, NULL),
	    ('narrow1', 'INSERT INTO effects VALUES (''narrow'')', 'narrow', 'pending', NULL, '-1 s', NULL, NULL, 0, NULL, NULL, NULL, NULL))
	    AS v(name, command, queue, status, output, due, started, finished, attempt, pid, epoch, sqlstate, message);
	INSERT INTO jobs.logs (run_id, attempt, level, message)
	    SELECT id, 1, 'info', 'written by 1.0' FROM jobs.runs WHERE name = 'done';
	INSERT INTO jobs.attempts (run_id, attempt, outcome, started_at, finished_at, error_sqlstate, error_message)
	    SELECT id, a, 'failed', now() - interval '1 min', now() - interval '59 s', '22012', 'division by zero'
	      FROM jobs.runs, generate_series(1, 3) a WHERE name = 'broken';});
my %id = map { split /\|/ } split /\n/,
  $node->safe_psql('postgres', q{SELECT name, id FROM jobs.runs});
my $counts = q{SELECT (SELECT count(*) FROM jobs.runs) || '/' || (SELECT count(*) FROM jobs.logs)
	|| '/' || (SELECT count(*) FROM jobs.attempts) || '/' || (SELECT count(*) FROM jobs.definitions)
	|| '/' || (SELECT count(*) FROM jobs.queues)};
my $before = $node->safe_psql('postgres', $counts);
my $rows = q{SELECT 'run ' || id FROM jobs.runs UNION ALL SELECT 'log ' || id FROM jobs.logs
	UNION ALL SELECT 'attempt ' || run_id || '.' || attempt FROM jobs.attempts
	UNION ALL SELECT 'definition ' || name FROM jobs.definitions
	UNION ALL SELECT 'queue ' || name FROM jobs.queues};
my @rows_before = split /\n/, $node->safe_psql('postgres', $rows);
is($before, '8/1/3/1/1', 'a 1.0 install with runs in every state, a log, attempts, a schedule, a limit');

# This library does not serve a 1.0 schema: it says so, runs nothing, and
# refuses to write runs with a hint.
ok($node->wait_for_log(qr/not serving database "postgres": its zapjobs schema is version 1\.0, this library needs 1\.5/),
	'the launcher says why it serves nothing');
my ($ret, $out, $err) = $node->psql('postgres', q{SELECT jobs.enqueue('SELECT 1')});
isnt($ret, 0, 'jobs.enqueue is refused under the old schema');
like($err, qr/needs version 1\.5 of the zapjobs schema; this database has version 1\.0.*ALTER EXTENSION zapjobs UPDATE/s,
	'with the version found and the fix');
is($node->safe_psql('postgres', q{SELECT status FROM jobs.runs WHERE name = 'waiting_now'}),
	'pending', 'no run was started');
is($node->safe_psql('postgres', $counts), $before, 'and nothing was written');

# Update while the server runs: the launcher serves the database within moments.
$node->safe_psql('postgres', 'ALTER EXTENSION zapjobs UPDATE');
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'zapjobs'}),
	'1.5', 'updated to 1.5');
# Runs may start at once after the update (its commit wakes the launcher):
# every row there before must still be there; new ones may be added.
my %after = map { $_ => 1 } split /\n/, $node->safe_psql('postgres', $rows);
is(join(',', grep { !$after{$_} } @rows_before), '',
	'runs, logs, attempts, definitions and queues kept');
is(zj_wait($node, $id{waiting_now}), 'completed', 'the pending run ran after the update');
is(zj_wait($node, $id{later}), 'completed', 'the scheduled run ran');
is(zj_wait($node, $id{again}), 'completed', 'the run awaiting a retry ran');
is(zj_wait($node, $id{narrow1}), 'completed', 'the run of the limited queue ran');
is(zj_wait($node, $id{orphan}), 'completed', 'the run left running by a gone worker was reaped and ran again');
is($node->safe_psql('postgres', q{SELECT string_agg(tag, ',' ORDER BY tag) FROM effects}),
	'narrow,orphan,pending,retried,scheduled', 'each ran once');
is(zj_run($node, $id{done}, 'output')->{output}, '{"x": 1}', 'the completed run keeps its output');
is(zj_run($node, $id{broken}, 'error_sqlstate')->{error_sqlstate}, '22012', 'the failed run keeps its error');
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs.failures WHERE run_id = $id{broken}"),
	'3', 'and its attempts');
my $ticks = $node->safe_psql('postgres', q{SELECT count(*) FROM effects WHERE tag = 'tick'});
$node->safe_psql('postgres', 'SELECT jobs.resume(\'tick\')');
ok($node->poll_query_until('postgres',
		qq{SELECT count(*) >= $ticks + 2 FROM effects WHERE tag = 'tick'}),
	'the schedule fires after the update');
is($node->safe_psql('postgres', 'SELECT max_workers, workers >= 1 FROM jobs.pool'),
	'4|t', 'jobs.pool, added by 1.1, reads the pool');
is($node->safe_psql('postgres', q{SELECT string_agg(indexname || ': ' || regexp_replace(indexdef, '.* USING ', ''), E'\n' ORDER BY indexname)
	FROM pg_indexes WHERE schemaname = 'jobs' AND indexname IN
	('runs_finished_queue_idx', 'runs_finished_name_idx', 'runs_failed_cancelled_idx')}),
	join("\n",
		q{runs_failed_cancelled_idx: btree (status, id) WHERE (status = ANY (ARRAY['failed'::text, 'cancelled'::text]))},
		q{runs_finished_name_idx: btree (name, id) WHERE ((status = ANY (ARRAY['completed'::text, 'failed'::text, 'cancelled'::text])) AND (name IS NOT NULL))},
		q{runs_finished_queue_idx: btree (queue, id) WHERE (status = ANY (ARRAY['completed'::text, 'failed'::text, 'cancelled'::text]))}),
	'1.5 indexed the finished runs of the 1.0 install for the dashboard');
my $child = zj_enqueue($node, q{SELECT jobs.parent_outputs() AS p}, depends_on => "ARRAY[$id{done}]");
is(zj_wait($node, $child), 'completed', 'a run of 1.2 waits for a run of 1.0');
is(zj_run($node, $child, 'output')->{output}, qq({"p": {"$id{done}": {"x": 1}}}),
	'and reads its output');

# The objects of an updated install are those of a fresh one.
my $objects = q{SELECT string_agg(pg_describe_object(classid, objid, 0), E'\n' ORDER BY 1)
	FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
	AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'zapjobs')};
my $updated = $node->safe_psql('postgres', $objects);
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION zapjobs');
is($node->safe_psql('fresh', $objects), $updated, 'a fresh install has the same objects');
is($node->safe_psql('fresh', q{SELECT extversion FROM pg_extension WHERE extname = 'zapjobs'}),
	'1.5', 'a fresh install is 1.5');

# And the same definitions, column order included: pg_dump's binary-upgrade
# mode writes out every member of the extension; OIDs, xids, sequence
# positions and the dump's random key are left out of the comparison (the
# normalized dumps are kept in tmp_check for a look).
sub schema_of
{
	my ($db) = @_;
	my ($stdout, $stderr) = run_command(
		[ 'pg_dump', '--binary-upgrade', '--schema-only', '-d', $node->connstr($db) ]);
	my @lines = grep { !/binary_upgrade_set_next|^\\(?:un)?restrict|^-- / } split /\n/, $stdout;
	s/'\{[\d,]+\}'/'{OIDS}'/g, s/relfrozenxid = '\d+', relminmxid = '\d+'/frozen/g,
	  s/oid = '\d+'/oid = N/g, s/setval\('([^']+)', \d+, \w+\)/setval('$1', N)/g for @lines;
	my $text = join("\n", grep { /\S/ } @lines);
	PostgreSQL::Test::Utils::append_to_file("$PostgreSQL::Test::Utils::tmp_check/schema_$db.sql", $text);
	return $text;
}
$node->safe_psql('postgres', q{SELECT jobs.pause('tick'); DROP TABLE effects});
my $fresh_schema = schema_of('fresh');
like($fresh_schema, qr/CREATE TABLE jobs\.dependencies/, 'the dump lists the extension\'s objects');
is(schema_of('postgres'), $fresh_schema,
	'pg_dump --schema-only of the updated database is that of a fresh install');

done_testing();
