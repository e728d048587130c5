# The worker pool: more roles with work than slots take turns; workers
# survive a cancel that reaches them between jobs; the owner can cancel its
# running job; statistics of the jobs' writes reach pg_stat; idle workers
# give back their connections after zapjobs.worker_idle_timeout.
use strict;
use warnings;
use lib 'test/perl';

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZapjobsTest;

my $node = zj_new_node('pool', max_workers => 2,
	conf => "zapjobs.worker_idle_timeout = '3s'\nzapjobs.default_max_attempts = 1\n");

# Five roles, two slots.  r1 and r2 have long queues; r3 to r5 one run
# each.  Without turns r3 to r5 would wait until a long queue is empty.
my @roles = map { "r$_" } 1 .. 5;
$node->safe_psql('postgres', join(';',
	'CREATE TABLE effects (role text, n int)',
	'GRANT INSERT ON effects TO PUBLIC',
	map { "CREATE ROLE $_ LOGIN" } @roles));
for my $r (qw(r1 r2))
{
	$node->safe_psql('postgres',
		qq{SELECT count(jobs.enqueue(format('INSERT INTO effects VALUES (current_user, %s); SELECT pg_sleep(0.02)', g)))
		   FROM generate_series(1, 1500) g},
		extra_params => [ '-U', $r ]);
}
my @short = map {
	zj_enqueue($node, "INSERT INTO effects VALUES (current_user, 1)", user => $_)
} qw(r3 r4 r5);
ok(zj_wait_final($node, 'id IN (' . join(',', @short) . ')'),
	'the single runs of r3, r4 and r5 finished');
is( $node->safe_psql('postgres',
		q{SELECT string_agg(DISTINCT owner::text, ',' ORDER BY owner::text)
		  FROM jobs.runs WHERE status = 'pending'}),
	'r1,r2', 'while r1 and r2 still had runs waiting: roles take turns');
is( $node->safe_psql('postgres',
		'SELECT string_agg(status, \',\') FROM jobs.runs WHERE id IN (' . join(',', @short) . ')'),
	'completed,completed,completed', 'all three completed');
$node->safe_psql('postgres', q{DELETE FROM jobs.runs WHERE status = 'pending'});
ok(zj_wait_final($node), 'the long queues are drained');

# A cancel that reaches a worker between jobs is ignored.
my $first = zj_enqueue($node, 'SELECT 1', user => 'r1');
is(zj_wait($node, $first), 'completed', 'r1 has a worker');
my $pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity
	  WHERE backend_type = 'zapjobs worker' AND usename = 'r1' LIMIT 1});
ok($pid, "worker of r1 found ($pid)");
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
my $second = zj_enqueue($node, 'SELECT 2', user => 'r1');
is(zj_wait($node, $second), 'completed', 'next run completes');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE pid = $pid"),
	'1', 'the cancelled idle worker is still alive');

# The owner may cancel its own running job.
my $long = zj_enqueue($node, 'SELECT pg_sleep(60)', user => 'r2');
$node->poll_query_until('postgres',
	qq{SELECT count(*) = 1 FROM pg_stat_activity
	   WHERE backend_type = 'zapjobs worker' AND query = 'SELECT pg_sleep(60)'
	   AND state = 'active'})
  or die 'long job did not start';
$node->safe_psql('postgres',
	q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity
	  WHERE backend_type = 'zapjobs worker' AND query = 'SELECT pg_sleep(60)'},
	extra_params => [ '-U', 'r2' ]);
is(zj_wait($node, $long), 'failed', 'cancelled job failed');
is(zj_run($node, $long, 'error_sqlstate')->{error_sqlstate}, '57014',
	'with query_canceled');

# Writes of jobs reach the statistics (autovacuum depends on them).
ok( $node->poll_query_until('postgres',
		q{SELECT n_tup_ins >= 3 FROM pg_stat_user_tables WHERE relname = 'effects'}),
	'inserts made by jobs are counted in pg_stat_user_tables');

# Idle workers leave after zapjobs.worker_idle_timeout (3 s here).
ok( $node->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'zapjobs worker'}),
	'idle workers exit after the idle timeout');
my $later = zj_enqueue($node, 'SELECT 3', user => 'r3');
is(zj_wait($node, $later), 'completed', 'and new ones start on demand');

$node->stop;
done_testing();
