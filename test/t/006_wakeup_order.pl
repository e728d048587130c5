# Wake-ups and ordering: with the poll turned down to once an hour, a run
# enqueued to idle workers and a run scheduled a few seconds ahead must
# still start (the commit wakes a worker; the launcher sleeps until the
# next due run).  With one worker, runs start by priority, run_at, id.
use strict;
use warnings;
use lib 'test/perl';

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZapjobsTest;

my $node = zj_new_node('wakeup_order', max_workers => 1,
	conf => "zapjobs.poll_interval = '1h'\n");

# A first run brings up the worker; then the pool is idle.
my $first = zj_enqueue($node, 'SELECT 1');
is(zj_wait($node, $first, timeout => '60 s'), 'completed', 'first run completed');
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity
		  WHERE backend_type = 'zapjobs worker' AND wait_event = 'Extension'}),
	'the worker sleeps on its latch');

# Only the commit's wake-up can start this run before an hour has passed.
my $woken = zj_enqueue($node, 'SELECT 2');
is(zj_wait($node, $woken, timeout => '60 s'), 'completed',
	'an enqueue wakes the idle worker (poll is 1 h)');

# Only the launcher's sleep-until-due can start this one.
my $scheduled = zj_enqueue($node, 'SELECT 3', run_at => "now() + interval '2 s'");
is(zj_run($node, $scheduled, 'status')->{status}, 'scheduled', 'run is scheduled');
is(zj_wait($node, $scheduled, timeout => '60 s'), 'completed',
	'a scheduled run starts when due (poll is 1 h)');
is( $node->safe_psql('postgres',
		"SELECT started_at >= run_at FROM jobs.runs WHERE id = $scheduled"),
	't', 'and not before its run_at');

# Ordering: hold the single worker with a gate run, enqueue behind it.
$node->safe_psql('postgres', 'CREATE TABLE run_order (seq serial, label text)');
$node->safe_psql('postgres', 'CREATE TABLE gate (x int)');

# While the gate run holds the worker, the gate table is locked by a
# session that keeps it until the queue behind has been built.
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN');
$holder->query_safe('LOCK gate');
my $gate = zj_enqueue($node, 'LOCK gate; SELECT 1', priority => -100);
$node->poll_query_until('postgres',
	"SELECT status = 'running' FROM jobs.runs WHERE id = $gate")
  or die 'second gate run did not start';

$node->safe_psql(
	'postgres', q{
	SELECT jobs.enqueue(format($$INSERT INTO run_order (label) VALUES (%L)$$, label),
	                    priority => prio, run_at => now() - make_interval(secs => age))
	  FROM (VALUES ('p30', 30, 0), ('p10-late', 10, 0), ('p10-early', 10, 5),
	               ('p20', 20, 0), ('p-5', -5, 0)) v(label, prio, age)});
$holder->query_safe('COMMIT');
$holder->quit;

ok(zj_wait_final($node), 'all runs finished');
is( $node->safe_psql('postgres', 'SELECT string_agg(label, \' \' ORDER BY seq) FROM run_order'),
	'p-5 p10-early p10-late p20 p30',
	'one worker runs them by priority, then run_at');

# CREATE INDEX CONCURRENTLY as a job's only statement.
my $cic = zj_enqueue($node, 'CREATE INDEX CONCURRENTLY run_order_label ON run_order (label)');
# Polled in short transactions: jobs.wait's snapshot would hold up CIC.
ok(zj_wait_status($node, $cic, 'completed'),
	'CREATE INDEX CONCURRENTLY runs as a job');
is( $node->safe_psql('postgres',
		q{SELECT indisvalid FROM pg_index WHERE indexrelid = 'run_order_label'::regclass}),
	't', 'and builds a valid index');

$node->stop;
done_testing();
