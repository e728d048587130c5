# A snapshot held open by another session (pg_dump, a long report, a
# forgotten BEGIN) must not stop the queue: runs keep flowing while it is
# held (an idle REPEATABLE READ transaction, then a pg_dump kept running),
# every run completes, and a run enqueued meanwhile with a higher
# priority still goes ahead of the backlog (workers claim after their
# position in the queue and go back to its head when a run is made pending
# before it).  The figures are the benchmark's (section 10).
use strict;
use warnings;
use lib 'test/perl';

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;
use ZapjobsTest;

my $node = zj_new_node('held', max_workers => 4);
$node->safe_psql('postgres', 'CREATE TABLE effects (run_id bigint NOT NULL)');

my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$holder->query_safe('SELECT count(*) FROM jobs.runs');
ok( $node->poll_query_until('postgres', q{
		SELECT count(*) = 1 FROM pg_stat_activity
		WHERE state = 'idle in transaction' AND backend_xmin IS NOT NULL}),
	'a REPEATABLE READ snapshot is held');

$node->safe_psql('postgres', q{
	SELECT count(jobs.enqueue('INSERT INTO effects VALUES (jobs.current_run_id()); SELECT pg_sleep(0.002)',
	                          priority => 10))
	FROM generate_series(1, 20000)});
ok( $node->poll_query_until('postgres',
		q{SELECT count(*) >= 2000 FROM jobs.runs WHERE status = 'completed'}),
	'runs flow while the snapshot is held');
my $urgent = zj_enqueue($node, 'SELECT 1', priority => -1);
is(zj_wait($node, $urgent, timeout => '120 s'), 'completed', 'an urgent run enqueued meanwhile completed');
cmp_ok($node->safe_psql('postgres', 'SELECT count(*) FROM jobs.runs WHERE status = \'pending\''),
	'>', 0, '... while the backlog was still pending: it went ahead of it');
ok(zj_wait_final($node), 'all 20,000 runs finished while the snapshot was held');
is( $node->safe_psql('postgres', q{
		SELECT count(*) FILTER (WHERE status = 'completed') || '/' || count(*) FROM jobs.runs}),
	'20001/20001', 'every run completed');
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM jobs.runs r
		WHERE (SELECT count(*) FROM effects e WHERE e.run_id = r.id) <> 1 AND r.id <> } . $urgent),
	'0', 'each exactly once');

$holder->query_safe('COMMIT');
$holder->quit;

# A long pg_dump holds its snapshot (and ACCESS SHARE locks) for its whole
# run: made long here by a table it must wait for.
$node->safe_psql('postgres', 'CREATE TABLE dump_blocker (x int)');
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN');
$locker->query_safe('LOCK TABLE dump_blocker IN ACCESS EXCLUSIVE MODE');
my $dumpfile = "$PostgreSQL::Test::Utils::tmp_check/held.sql";
my ($dump_out, $dump_err) = ('', '');
my $dump = IPC::Run::start(
	[ 'pg_dump', '-f', $dumpfile, '-d', $node->connstr('postgres') ],
	'>', \$dump_out, '2>', \$dump_err);
ok( $node->poll_query_until('postgres', q{
		SELECT count(*) = 1 FROM pg_stat_activity
		WHERE query LIKE 'LOCK TABLE public.dump_blocker%' AND backend_xmin IS NOT NULL
		  AND wait_event_type = 'Lock'}),
	'a pg_dump is running, holding its snapshot');
my $before_dump = $node->safe_psql('postgres', 'SELECT max(id) FROM jobs.runs');
$node->safe_psql('postgres', q{
	SELECT count(jobs.enqueue('SELECT 1')) FROM generate_series(1, 10000)});
ok(zj_wait_final($node), '10,000 runs finished while the pg_dump ran');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM jobs.runs WHERE id > $before_dump AND status = 'completed'"),
	'10000', 'every one completed');
$locker->query_safe('COMMIT');
$locker->quit;
$dump->finish;
ok(-s $dumpfile, 'the pg_dump then completed') or diag($dump_err);

# A batch ends after zapjobs.batch_time (5 ms) and releases the runs it
# had locked and not reached, behind the workers' positions.  Its worker's
# next scan starts at the head, finds them, and it then claims after its
# own position until it reaches the furthest, so they wait for nothing.
# Measured on a 2-core VM: no run started 0.1 s after a run later in the
# queue.  With that scan left to the once-a-second looks at the head, 5,746
# did (0.46 s at most); without the catch-up after a look at the head,
# thousands waited up to the end of the backlog (4.4 s).  A worker kept
# off the CPU while it holds a batch's 32 locked runs delays only those.
my $before_wave = $node->safe_psql('postgres', 'SELECT max(id) FROM jobs.runs');
$node->safe_psql('postgres',
	q{SELECT count(jobs.enqueue('SELECT 1')) FROM generate_series(1, 200000)});
ok(zj_wait_final($node), 'a burn-down of 200,000 runs finished');
is( $node->safe_psql('postgres', qq{
		SELECT count(*) FILTER (WHERE status = 'completed') = 200000,
		       count(*) FILTER (WHERE started_at - first_later > interval '0.25 s') < 100
		FROM (SELECT status, started_at, min(started_at) OVER (
		        ORDER BY priority DESC, run_at DESC, id DESC
		        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS first_later
		      FROM jobs.runs WHERE id > $before_wave) r}),
	't|t', 'all completed, and fewer than 100 started 0.25 s after a run later in the queue');

# Runs left pending behind a worker's position (a batch's leftovers, a
# released lock) are not forgotten: a second wave completes too.
$node->safe_psql('postgres', q{
	SELECT count(jobs.enqueue('SELECT 1', priority => g % 3)) FROM generate_series(1, 3000) g});
ok(zj_wait_final($node), 'a second wave of 3,000 runs of three priorities finished');
is($node->safe_psql('postgres', q{SELECT count(*) FROM jobs.runs WHERE status <> 'completed'}),
	'0', 'every run completed');

# Each worker claims after the furthest position of its role's workers,
# not only its own, except positions past a run that a commit made
# pending: their workers' rewind flags are set, and until they have looked
# at the head again their positions do not count.  Worker A holds the earliest
# run, worker B a later one; five runs w are enqueued between them, with
# backlog after B's position.  Once A is free, the five go first, while B
# is still in its run: had A claimed after B's position, the backlog would
# have gone first, and each w only at a look at the head.
my $pair = zj_new_node('held_pair', max_workers => 2);
$pair->safe_psql('postgres', q{
	CREATE TABLE la (x int); CREATE TABLE lb (x int);
	CREATE TABLE run_order (seq serial, label text)});
my ($ha, $hb) = map { $pair->background_psql('postgres') } 1 .. 2;
$ha->query_safe('BEGIN; LOCK la');
$hb->query_safe('BEGIN; LOCK lb');
$pair->safe_psql('postgres', q{
	SELECT jobs.enqueue('LOCK la; SELECT 1', run_at => now() - interval '100 s')});
$pair->safe_psql('postgres', q{
	SELECT jobs.enqueue('LOCK lb; SELECT 1', run_at => now() - interval '10 s')});
ok( $pair->poll_query_until('postgres', q{
		SELECT count(*) = 2 FROM pg_stat_activity
		WHERE backend_type = 'zapjobs worker' AND wait_event_type = 'Lock'}),
	'two workers hold runs 100 s and 10 s overdue');
$pair->safe_psql('postgres', q{
	BEGIN;
	SELECT count(jobs.enqueue($$INSERT INTO run_order (label) VALUES ('w')$$,
	                          run_at => now() - interval '50 s'))
	FROM generate_series(1, 5);
	SELECT count(jobs.enqueue($$INSERT INTO run_order (label) VALUES ('backlog')$$,
	                          run_at => now() - interval '5 s'))
	FROM generate_series(1, 20);
	COMMIT});
$ha->query_safe('COMMIT');
ok($pair->poll_query_until('postgres', 'SELECT count(*) = 25 FROM run_order'),
	'the worker set free ran the five w and the backlog');
is( $pair->safe_psql('postgres',
		'SELECT string_agg(label, \' \' ORDER BY seq) FROM (SELECT * FROM run_order ORDER BY seq LIMIT 6) o'),
	'w w w w w backlog', 'the five w, between the two positions, went first');
$hb->query_safe('COMMIT');
$_->quit for $ha, $hb;
ok(zj_wait_final($pair), 'and every run finished');

done_testing();
