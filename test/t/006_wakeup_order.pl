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

# Launcher wake gating: a commit that schedules a run wakes the launcher
# only if the run is due before the launcher's next known due time.  Every
# run below can start in time only through that wake-up or the launcher's
# own sleep-until-due (the poll is 1 h).

# launcher_settled(ID): wait until run ID's commit is at least a second old
# and the launcher sleeps on its latch again, so it has recomputed its next
# due time with that run in view.
sub launcher_settled
{
	my ($id) = @_;
	return $node->poll_query_until(
		'postgres', qq{
		SELECT clock_timestamp() > r.created_at + interval '1 s'
		   AND EXISTS (SELECT 1 FROM pg_stat_activity
		               WHERE backend_type = 'zapjobs launcher'
		                 AND wait_event = 'Extension')
		FROM jobs.runs r WHERE r.id = $id});
}

# wait_started(ID, SECONDS): poll until run ID has started, for at most
# SECONDS after its run_at; returns whether it did.
sub wait_started
{
	my ($id, $secs) = @_;
	return $node->poll_query_until(
		'postgres', qq{
		SELECT started_at IS NOT NULL
		    OR clock_timestamp() > run_at + make_interval(secs => $secs)
		FROM jobs.runs WHERE id = $id})
	  && zj_run($node, $id, 'started_at')->{started_at};
}

# started_at - run_at of run ID, in seconds (a million if it has not started).
sub start_delay
{
	my ($id) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(extract(epoch FROM started_at - run_at), 1e6) FROM jobs.runs WHERE id = $id");
}

# A, due in 30 s, is the launcher's next due time; B, due in 2 s, commits
# after the launcher has computed that: B's commit must wake it.
my $run_a = zj_enqueue($node, 'SELECT 30', run_at => "now() + interval '30 seconds'");
ok(launcher_settled($run_a), 'the launcher has seen run A (due in 30 s)');
my $run_b = zj_enqueue($node, 'SELECT 2', run_at => "now() + interval '2 seconds'");
is(zj_run($node, $run_b, 'status')->{status}, 'scheduled', 'run B (due in 2 s) is scheduled');
ok(wait_started($run_b, 10), 'run B, due before the launcher\'s next due run A, started');
cmp_ok(start_delay($run_b), '>=', 0, 'run B did not start before its run_at');
cmp_ok(start_delay($run_b), '<', 1.5,
	'run B started within 1.5 s of its run_at (its commit woke the launcher)');
is(zj_run($node, $run_a, 'status')->{status}, 'scheduled',
	'run A is still scheduled (not promoted with B)');

# The other way round: D, due in 3 s, is the next due; E, due in an hour,
# commits after and need not wake the launcher.  D must still be on time.
my $run_d = zj_enqueue($node, 'SELECT 3', run_at => "now() + interval '3 seconds'");
ok(launcher_settled($run_d), 'the launcher has seen run D (due in 3 s)');
my $run_e = zj_enqueue($node, 'SELECT 3600', run_at => "now() + interval '1 hour'");
ok(wait_started($run_d, 10), 'run D started although run E (due later) committed after it');
cmp_ok(start_delay($run_d), '>=', 0, 'run D did not start before its run_at');
cmp_ok(start_delay($run_d), '<', 1.5, 'run D started within 1.5 s of its run_at');
is(zj_run($node, $run_e, 'status')->{status}, 'scheduled',
	'run E (due in an hour) is still scheduled');

# Many runs scheduled an hour ahead in one transaction, then C due in 1 s.
$node->safe_psql('postgres', q{
	SELECT count(jobs.enqueue('SELECT 1', name => 'later',
	                          run_at => now() + interval '1 hour'))
	FROM generate_series(1, 2000)});
my $last_later = $node->safe_psql('postgres',
	q{SELECT max(id) FROM jobs.runs WHERE name = 'later'});
ok(launcher_settled($last_later), 'the launcher has seen the 2,000 runs due in an hour');
my $run_c = zj_enqueue($node, 'SELECT 1', run_at => "now() + interval '1 second'");
ok(wait_started($run_c, 10), 'run C (due in 1 s) started behind 2,000 runs due in an hour');
cmp_ok(start_delay($run_c), '>=', 0, 'run C did not start before its run_at');
cmp_ok(start_delay($run_c), '<', 1.5, 'run C started within 1.5 s of its run_at');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM jobs.runs WHERE name = 'later' AND status = 'scheduled'}),
	'2000', 'the 2,000 runs due in an hour are all still scheduled');

# A, the first of them all, still starts on time: the launcher kept it as
# its next due time through B's, D's and C's promotions.
ok(wait_started($run_a, 10), 'run A (due 30 s after its enqueue) started');
cmp_ok(start_delay($run_a), '>=', 0, 'run A did not start before its run_at');
cmp_ok(start_delay($run_a), '<', 1.5, 'run A started within 1.5 s of its run_at');
is(zj_wait($node, $run_a, timeout => '60 s'), 'completed', 'run A completed');

$node->stop;
done_testing();
