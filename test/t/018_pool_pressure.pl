# The worker pool under pressure (issue 13): no run waits while a worker of
# another role sits idle, whether the pool is short of zapjobs' own slots or
# of the server's background worker slots, or the role already has a busy
# worker and the slot frees only when another role's worker goes idle; the
# shortage shows in jobs.pool;
# jobs are served again at once after the launcher is terminated, and
# nothing is lost when it is killed; DROP EXTENSION makes workers leave
# quietly and CREATE EXTENSION serves its first run at once.
use strict;
use warnings;
use lib 'test/perl';

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use ZapjobsTest;

my $final = q{('completed', 'failed', 'cancelled')};

# Seconds from the commit of run ID's enqueue to its start.
sub wait_to_start
{
	my ($node, $id) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT round(extract(epoch FROM r.started_at - r.created_at)::numeric, 3)
		FROM jobs.runs r WHERE r.id = $id});
}

sub roles
{
	my ($node, @roles) = @_;
	$node->safe_psql('postgres', join(';', map { "CREATE ROLE $_ LOGIN" } @roles));
}

# --- 1. Few server slots: max_worker_processes = 5, zapjobs.max_workers = 4 ---
# The supervisor and the launcher take two slots: three workers at most.  r1 burns 100 runs
# and keeps its idle workers; r2's run must not wait for their idle timeout.
{
	my $node = zj_new_node('few_slots', max_workers => 4,
		conf => "max_worker_processes = 5\n");
	roles($node, map { "r$_" } 1 .. 10);
	$node->safe_psql('postgres',
		q{SELECT count(jobs.enqueue('SELECT pg_sleep(0.01)')) FROM generate_series(1, 100)},
		extra_params => [ '-U', 'r1' ]);
	ok(zj_wait_final($node, q{owner = 'r1'::regrole}), 'r1 burned its 100 runs');
	ok( $node->poll_query_until('postgres', q{
			SELECT count(*) >= 2 FROM jobs.workers
			WHERE role = 'r1'::regrole AND state = 'idle'}),
		'r1 keeps idle workers');
	cmp_ok($node->safe_psql('postgres', 'SELECT start_refusals FROM jobs.pool'), '>', 0,
		'jobs.pool counts the starts the server refused');

	my $id = zj_enqueue($node, 'SELECT 1', user => 'r2');
	is(zj_wait($node, $id, timeout => '30 s'), 'completed',
		"r2's run is served while r1's workers were idle");
	my $waited = wait_to_start($node, $id);
	cmp_ok($waited, '<', 5, "r2's run started ${waited} s after its enqueue");
	diag("role without a worker, server slots exhausted by another role's idle workers: first start after $waited s");

	# The other nine roles, 100 runs each, at once: every role is served.
	for my $r (map { "r$_" } 2 .. 10)
	{
		$node->safe_psql('postgres',
			q{SELECT count(jobs.enqueue('SELECT pg_sleep(0.01)')) FROM generate_series(1, 100)},
			extra_params => [ '-U', $r ]);
	}
	ok(zj_wait_final($node), 'the 900 runs of nine roles all finished');
	is( $node->safe_psql('postgres', qq{
			SELECT count(*) FROM jobs.runs WHERE status <> 'completed'}),
		'0', 'every run completed');
	cmp_ok($node->safe_psql('postgres', 'SELECT retired_for_others FROM jobs.pool'), '>', 0,
		'jobs.pool counts the workers that left for another role');
	is( $node->safe_psql('postgres', q{
			SELECT roles_waiting = 0 AND waiting_since IS NULL FROM jobs.pool}),
		't', 'no role waits any more');
	$node->stop;
}

# --- 2. An idle worker is reclaimed for a busy role ---
# hog has 8 runs of pg_sleep(30); ten roles 20 short runs each, on 8 slots.
# Once the short runs are done, hog's runs must not wait behind idle workers.
{
	my $node = zj_new_node('reclaim', max_workers => 8);
	my @short = map { "s$_" } 1 .. 10;
	roles($node, 'hog', @short);
	for my $r (@short)
	{
		$node->safe_psql('postgres',
			q{SELECT count(jobs.enqueue('SELECT pg_sleep(0.01)')) FROM generate_series(1, 20)},
			extra_params => [ '-U', $r ]);
	}
	$node->safe_psql('postgres',
		q{SELECT count(jobs.enqueue('SELECT pg_sleep(30)', name => 'long')) FROM generate_series(1, 8)},
		extra_params => [ '-U', 'hog' ]);
	ok(zj_wait_final($node, q{owner <> 'hog'::regrole}), 'the 200 short runs finished');
	my $done = time;
	ok( $node->poll_query_until('postgres', q{
			SELECT count(*) = 8 FROM jobs.runs
			WHERE owner = 'hog'::regrole AND status = 'running'}),
		"all of hog's 8 runs run: no slot stays with an idle worker");
	my $took = sprintf('%.2f', time - $done);
	diag("hog's last runs started within $took s of the short runs' end");
	is( $node->safe_psql('postgres', q{
			SELECT count(*) FROM jobs.runs WHERE owner = 'hog'::regrole AND attempt > 1}),
		'0', "no run of hog's was interrupted");
	$node->safe_psql('postgres',
		q{SELECT count(jobs.cancel(id)) FROM jobs.runs WHERE owner = 'hog'::regrole});
	ok(zj_wait_final($node), "hog's runs cancelled");
	$node->stop;
}

# --- 2b. A role with busy workers gets the slot of another role's worker going idle ---
# Two slots, both busy: busy runs pg_sleep(60), other pg_sleep(10).  busy then commits one
# more run: it has a worker and there is no room, so nothing asks for one at its commit.
# The slot must come from other's worker when it goes idle, not from the launcher's
# periodic round (an hour apart here).
{
	my $node = zj_new_node('idle_handover', max_workers => 2,
		conf => "zapjobs.poll_interval = '1h'\n");
	roles($node, 'busy', 'other');
	zj_enqueue($node, 'SELECT pg_sleep(10)', user => 'other');
	zj_enqueue($node, 'SELECT pg_sleep(60)', user => 'busy');
	ok( $node->poll_query_until('postgres', q{
			SELECT count(*) = 2 FROM jobs.runs WHERE status = 'running'}),
		'both slots run a job');
	# The round that started busy's worker counted busy as waiting, before the worker
	# attached: a run scheduled for tomorrow brings a round that counts again.
	zj_enqueue($node, 'SELECT 1', run_at => q{now() + interval '1 day'});
	ok($node->poll_query_until('postgres', 'SELECT roles_waiting = 0 FROM jobs.pool'),
		'no role waits for a slot');
	my $second = zj_enqueue($node, 'SELECT 1', user => 'busy');
	is(zj_wait($node, $second, timeout => '30 s'), 'completed',
		"busy's second run is served in other's slot");
	my ($idle, $after) = split /\|/, $node->safe_psql('postgres', qq{
		SELECT o.finished_at > s.created_at,
			round(extract(epoch FROM s.started_at - o.finished_at)::numeric, 3)
		FROM jobs.runs s, jobs.runs o
		WHERE s.id = $second AND o.owner = 'other'::regrole});
	is($idle, 't', "other's run was still running when busy's second run was committed");
	cmp_ok($after, '<', 5, "it started ${after} s after other's run finished");
	diag("role with a busy worker, full pool: started $after s after another role's worker went idle");
	$node->safe_psql('postgres',
		q{SELECT count(jobs.cancel(id)) FROM jobs.runs WHERE status IN ('running', 'scheduled')});
	ok(zj_wait_final($node), "busy's long run and tomorrow's run cancelled");
	$node->stop;
}

# --- 3. The launcher terminated, then killed ---
{
	my $node = zj_new_node('launcher_loss', max_workers => 4,
		conf => "restart_after_crash = on\n");
	roles($node, 'a', 'b');
	is(zj_wait($node, zj_enqueue($node, 'SELECT 1', user => 'a')), 'completed',
		'a has a worker');
	my $launcher = $node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'zapjobs launcher'});
	ok($launcher, "launcher found ($launcher)");
	$node->safe_psql('postgres', "SELECT pg_terminate_backend($launcher)");
	my $t0 = time;
	my $id_a = zj_enqueue($node, 'SELECT 1', user => 'a');
	my $id_b = zj_enqueue($node, 'SELECT 1', user => 'b');
	is(zj_wait($node, $id_a, timeout => '30 s'), 'completed', "a's run after the launcher's end");
	is(zj_wait($node, $id_b, timeout => '30 s'), 'completed', "b's run (a new role) too");
	my ($wa, $wb) = (wait_to_start($node, $id_a), wait_to_start($node, $id_b));
	cmp_ok($wa, '<', 1, "a's run started ${wa} s after its enqueue: its worker went on");
	cmp_ok($wb, '<', 3, "b's run started ${wb} s after its enqueue: the launcher came back");
	diag(sprintf('launcher terminated: served again after %s s (existing worker), %s s (new role)', $wa, $wb));
	ok( $node->poll_query_until('postgres', qq{
			SELECT count(*) = 1 FROM pg_stat_activity
			WHERE backend_type = 'zapjobs launcher' AND pid <> $launcher}),
		'a new launcher runs');

	# Killed: the postmaster restarts everything; no run is lost.
	$node->safe_psql('postgres', q{
		CREATE TABLE effects (run_id bigint NOT NULL);
		GRANT INSERT ON effects TO PUBLIC});
	$node->safe_psql('postgres', q{
		SELECT count(jobs.enqueue('INSERT INTO effects VALUES (jobs.current_run_id()); SELECT pg_sleep(0.02)',
		                          max_attempts => 5))
		FROM generate_series(1, 300)},
		extra_params => [ '-U', 'a' ]);
	ok( $node->poll_query_until('postgres',
			q{SELECT count(*) >= 20 FROM jobs.runs WHERE status = 'completed' AND id > 3}),
		'runs in flight');
	$launcher = $node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'zapjobs launcher'});
	my $offset = -s $node->logfile;
	kill 'KILL', $launcher;
	ok($node->wait_for_log(qr/all server processes terminated; reinitializing/, $offset),
		'killing the launcher restarted the server');
	ok(zj_wait_final($node), 'all 300 runs reached a final status');
	is( $node->safe_psql('postgres', q{
			SELECT count(*) FROM jobs.runs WHERE id > 3 AND status <> 'completed'}),
		'0', 'every run completed');
	is( $node->safe_psql('postgres', q{
			SELECT count(*) FROM jobs.runs r WHERE r.id > 3
			AND (SELECT count(*) FROM effects e WHERE e.run_id = r.id) <> 1}),
		'0', 'each exactly once');
	$node->stop;
}

# --- 4. DROP EXTENSION, CREATE EXTENSION ---
{
	my $node = zj_new_node('drop_create', max_workers => 4);
	roles($node, 'd1', 'd2');
	is(zj_wait($node, zj_enqueue($node, 'SELECT 1', user => $_)), 'completed',
		"$_ has a worker") for qw(d1 d2);
	ok( $node->poll_query_until('postgres',
			q{SELECT count(*) = 2 FROM jobs.workers WHERE state = 'idle'}),
		'two idle workers');
	my $offset = -s $node->logfile;
	$node->safe_psql('postgres', 'DROP EXTENSION zapjobs');
	ok( $node->poll_query_until('postgres', q{
			SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'zapjobs worker'}),
		'the workers left');
	my $log = slurp_file($node->logfile, $offset);
	unlike($log, qr/ERROR|FATAL/, 'no error in the log');
	unlike($log, qr/"zapjobs worker" \(PID \d+\) exited with exit code [^0]/,
		'every worker exited with code 0');

	$node->safe_psql('postgres', 'CREATE EXTENSION zapjobs');
	my $id = zj_enqueue($node, 'SELECT 1', user => 'd1');
	is(zj_wait($node, $id, timeout => '30 s'), 'completed', 'the first run after CREATE EXTENSION');
	my $waited = wait_to_start($node, $id);
	cmp_ok($waited, '<', 1, "it started ${waited} s after its enqueue");
	$node->stop;
}

done_testing();
