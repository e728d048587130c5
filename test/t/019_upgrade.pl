# Upgrades: a 1.0 install filled with runs of every kind (finished,
# scheduled, awaiting a retry, with logs and attempts), a schedule, a queue
# limit, is updated to the current version with ALTER EXTENSION: nothing
# is lost, the runs waiting still run, the schedule still fires, and what
# the update adds works.  A fresh CREATE EXTENSION gets the same objects.
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

# Fill it.
$node->safe_psql('postgres', q{
	CREATE TABLE effects (tag text NOT NULL);
	SELECT jobs.set_queue_concurrency('narrow', 1);
	SELECT jobs.schedule('tick', 'every 1 second', 'INSERT INTO effects VALUES (''tick'')');});
my $done = zj_enqueue($node, q{SELECT jobs.log('info', 'before the update'); INSERT INTO effects VALUES ('done')});
my $failed = zj_enqueue($node, q{SELECT 1/0}, max_attempts => 1);
is(zj_wait($node, $done), 'completed', 'a run completed under 1.0');
is(zj_wait($node, $failed), 'failed', 'a run failed under 1.0');
my $later = zj_enqueue($node, q{INSERT INTO effects VALUES ('later')},
	run_at => q{now() + interval '3 s'});
my $narrow = zj_enqueue($node, q{INSERT INTO effects VALUES ('narrow')}, queue => 'narrow');
my $counts = q{SELECT (SELECT count(*) FROM jobs.runs) || '/' || (SELECT count(*) FROM jobs.logs)
	|| '/' || (SELECT count(*) FROM jobs.attempts) || '/' || (SELECT count(*) FROM jobs.definitions)
	|| '/' || (SELECT count(*) FROM jobs.queues)};
$node->safe_psql('postgres', 'SELECT jobs.pause(\'tick\')');
my $before = $node->safe_psql('postgres', $counts);

$node->safe_psql('postgres', 'ALTER EXTENSION zapjobs UPDATE');
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'zapjobs'}),
	'1.1', 'updated to 1.1');
is($node->safe_psql('postgres', $counts), $before, 'runs, logs, attempts, definitions and queues kept');
is(zj_run($node, $done, 'status')->{status}, 'completed', 'the completed run is still completed');
is(zj_run($node, $failed, 'error_sqlstate')->{error_sqlstate}, '22012', 'the failed run keeps its error');
is(zj_wait($node, $later), 'completed', 'the run scheduled before the update ran');
is(zj_wait($node, $narrow), 'completed', 'the run of the limited queue ran');
my $ticks = $node->safe_psql('postgres', q{SELECT count(*) FROM effects WHERE tag = 'tick'});
$node->safe_psql('postgres', 'SELECT jobs.resume(\'tick\')');
ok($node->poll_query_until('postgres',
		qq{SELECT count(*) >= $ticks + 2 FROM effects WHERE tag = 'tick'}),
	'the schedule fires after the update');
is($node->safe_psql('postgres', 'SELECT max_workers, workers >= 1 FROM jobs.pool'),
	'4|t', 'jobs.pool, added by 1.1, reads the pool');

# The objects of an updated install are those of a fresh one.
my $objects = q{SELECT string_agg(pg_describe_object(classid, objid, 0), E'\n' ORDER BY 1)
	FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
	AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'zapjobs')};
my $updated = $node->safe_psql('postgres', $objects);
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION zapjobs');
is($node->safe_psql('fresh', $objects), $updated, 'a fresh install has the same objects');
is($node->safe_psql('fresh', q{SELECT extversion FROM pg_extension WHERE extname = 'zapjobs'}),
	'1.1', 'a fresh install is 1.1');

done_testing();
