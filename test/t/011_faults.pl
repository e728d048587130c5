# Faults while 500 runs are in flight: SIGKILL of a busy worker (the
# postmaster then restarts everything), pg_terminate_backend of a busy worker,
# an immediate shutdown and a clean (fast) shutdown.  Afterwards every run is
# final exactly once, effects exist exactly for completed runs, interrupted
# attempts are recorded and retried (crashes and terminations use an attempt,
# a clean shutdown does not).  Then a poison run that crashes the server every
# time: it fails after zapjobs.max_crashes crashes instead of looping.
use strict;
use warnings;
use lib 'test/perl';

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use ZapjobsTest;

my $final = q{('completed', 'failed', 'cancelled')};

# try_sql(NODE, SQL): SQL's output, or undef if it failed.  Unlike
# poll_query_until this survives a server that goes away mid-query (psql
# gets the query with -c, not through a pipe that may break).
sub try_sql
{
	my ($node, $sql) = @_;
	my ($out, $err) = ('', '');
	my $ok = eval {
		IPC::Run::run(
			[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', $sql ],
			'<', \undef, '>', \$out, '2>', \$err,
			IPC::Run::timeout(60));
	};
	return undef unless $ok;
	chomp $out;
	return $out;
}

# wait_for_sql(NODE, SQL, EXPECTED, SECONDS): poll SQL (errors, e.g. while
# the server restarts, count as "not yet") until it returns EXPECTED or
# SECONDS pass.  Returns the seconds it took, or undef on timeout.
sub wait_for_sql
{
	my ($node, $sql, $expected, $seconds) = @_;
	my $t0 = time;
	while (time - $t0 < $seconds)
	{
		my $out = try_sql($node, $sql);
		return time - $t0 if defined $out && $out eq $expected;
		usleep(100_000);
	}
	note "wait_for_sql timed out: $sql\nlast output: " . (try_sql($node, $sql) // 'error');
	return undef;
}

# Number of lines of the node's log matching RE after OFFSET.
sub log_count
{
	my ($node, $re, $offset) = @_;
	my $log = slurp_file($node->logfile, $offset);
	my @m = ($log =~ /$re/g);
	return scalar @m;
}

my $node = zj_new_node('faults', max_workers => 4,
	conf => "restart_after_crash = on\n");
$node->safe_psql('postgres', q{
	CREATE SCHEMA t;
	CREATE TABLE t.effects (fault text NOT NULL, run_id bigint NOT NULL);});

# 500 runs in queue Q: every 25th sleeps 2 s (so runs are really running when
# the fault hits), the others 10 ms.  Each inserts one effect row.
sub enqueue_500
{
	my ($q) = @_;
	$node->safe_psql('postgres', qq{
	SELECT count(jobs.enqueue(
	  format('INSERT INTO t.effects (fault, run_id) VALUES (%L, jobs.current_run_id()); SELECT pg_sleep(%s)',
	         '$q', CASE WHEN g % 25 = 0 THEN '2' ELSE '0.01' END),
	  queue => '$q', name => CASE WHEN g % 25 = 0 THEN 'long' ELSE 'short' END,
	  max_attempts => 5))
	FROM generate_series(1, 500) g});
}

# Wait until runs of Q are in flight: some completed, a long one sleeping in
# its worker.  Returns "run_id pid" of a long run sleeping in its worker.
sub busy_long_run
{
	my ($q) = @_;
	ok( $node->poll_query_until('postgres', qq{
		SELECT count(*) FILTER (WHERE status = 'completed') >= 30
		   AND count(*) FILTER (WHERE status IN ('pending', 'awaiting_retry')) > 100
		FROM jobs.runs WHERE queue = '$q'}),
		"$q: runs in flight, some completed");
	my $q_busy = qq{
		SELECT r.id || ' ' || a.pid FROM jobs.runs r
		JOIN pg_stat_activity a ON a.pid = r.worker_pid
		WHERE r.queue = '$q' AND r.status = 'running' AND r.name = 'long'
		  AND a.backend_type = 'zapjobs worker' AND a.wait_event = 'PgSleep'
		  AND r.started_at > clock_timestamp() - interval '1 s'
		ORDER BY r.started_at DESC LIMIT 1};
	ok($node->poll_query_until('postgres', "SELECT count(*) FROM ($q_busy) s", '1'),
		"$q: a long run is sleeping in its worker");
	return split / /, $node->safe_psql('postgres', $q_busy);
}

# The checks every fault shares: all 500 final, effects exactly for completed
# runs, attempts consistent with the run's attempt counter.
sub common_checks
{
	my ($q) = @_;
	ok( defined wait_for_sql($node, qq{
		SELECT count(*) FROM jobs.runs WHERE queue = '$q' AND status IN $final}, '500', 180),
		"$q: all 500 runs reach a final status")
	  or diag $node->safe_psql('postgres',
		"SELECT status, count(*) FROM jobs.runs WHERE queue = '$q' GROUP BY 1");
	is( $node->safe_psql('postgres',
			"SELECT count(*) FROM jobs.runs WHERE queue = '$q' AND status NOT IN $final"),
		'0', "$q: no run left running, pending or awaiting a retry");
	is( $node->safe_psql('postgres', qq{
		SELECT count(*) FROM jobs.runs r WHERE queue = '$q' AND status = 'completed'
		  AND (SELECT count(*) FROM t.effects e WHERE e.fault = '$q' AND e.run_id = r.id) <> 1}),
		'0', "$q: every completed run has exactly one effect row");
	is( $node->safe_psql('postgres', qq{
		SELECT count(*) FROM jobs.runs r WHERE queue = '$q' AND status <> 'completed'
		  AND EXISTS (SELECT 1 FROM t.effects e WHERE e.fault = '$q' AND e.run_id = r.id)}),
		'0', "$q: runs that did not complete left no effect");
	is( $node->safe_psql('postgres', qq{
		SELECT count(*) FROM t.effects e WHERE e.fault = '$q' AND NOT EXISTS
		  (SELECT 1 FROM jobs.runs r WHERE r.id = e.run_id AND r.queue = '$q')}),
		'0', "$q: no effect row of an unknown run");
	# A completed run has one attempts row per earlier attempt; a failed one
	# also one for its last attempt.
	is( $node->safe_psql('postgres', qq{
		SELECT count(*) FROM jobs.runs r WHERE queue = '$q' AND
		  (SELECT count(*) FROM jobs.attempts a WHERE a.run_id = r.id)
		  <> CASE WHEN status = 'completed' THEN attempt - 1 ELSE attempt END}),
		'0', "$q: jobs.attempts has a row for every attempt that did not complete");
	is( $node->safe_psql('postgres', qq{
		SELECT count(*) FROM jobs.attempts a JOIN jobs.runs r ON r.id = a.run_id
		WHERE r.queue = '$q' AND (a.attempt < 1 OR a.attempt > r.attempt)}),
		'0', "$q: attempt numbers of jobs.attempts are within the run's attempts");
}

# Checks for a fault that interrupts attempts: SQLSTATES allowed, crashes
# counted or not (CRASHES: expected jobs.runs.crashes of an interrupted run).
sub interrupted_checks
{
	my ($q, $victim, $sqlstates, $crashes) = @_;
	is( $node->safe_psql('postgres',
			"SELECT status FROM jobs.runs WHERE queue = '$q' GROUP BY 1"),
		'completed', "$q: all 500 runs completed (one interruption leaves attempts)");
	cmp_ok( $node->safe_psql('postgres', qq{
		SELECT count(DISTINCT a.run_id) FROM jobs.attempts a
		JOIN jobs.runs r ON r.id = a.run_id
		WHERE r.queue = '$q' AND a.outcome = 'interrupted'}),
		'>=', 1, "$q: interrupted attempts were recorded");
	is( $node->safe_psql('postgres', qq{
		SELECT count(*) FROM jobs.attempts a JOIN jobs.runs r ON r.id = a.run_id
		WHERE r.queue = '$q' AND (a.outcome <> 'interrupted'
		  OR a.error_sqlstate IS NULL OR a.error_sqlstate NOT IN ($sqlstates)
		  OR a.error_message IS NULL OR a.finished_at IS NULL)}),
		'0', "$q: every recorded attempt is interrupted with $sqlstates and a message")
	  or diag $node->safe_psql('postgres', qq{
		SELECT a.* FROM jobs.attempts a JOIN jobs.runs r ON r.id = a.run_id
		WHERE r.queue = '$q' LIMIT 10});
	is( $node->safe_psql('postgres', qq{
		SELECT count(*) FROM jobs.runs r WHERE queue = '$q' AND crashes <>
		  $crashes * (SELECT count(*) FROM jobs.attempts a WHERE a.run_id = r.id)}),
		'0', "$q: crashes counted as expected ($crashes per interrupted attempt)");
	my $r = zj_run($node, $victim, qw(status attempt crashes));
	is($r->{status}, 'completed', "$q: the run of the victim worker completed");
	is($r->{attempt}, '2', "$q: ... on its second attempt (the interrupted one counted)");
	is($r->{crashes}, $crashes, "$q: ... with crashes = $crashes");
	like( $node->safe_psql('postgres', qq{
		SELECT string_agg(attempt || ' ' || outcome || ' ' || coalesce(error_sqlstate, '-'), ',')
		FROM jobs.attempts WHERE run_id = $victim}),
		qr/^1 interrupted 57P0[12]$/, "$q: ... its first attempt is recorded as interrupted");
}

# --- (a) SIGKILL of a busy worker: crash and restart ---------------------------
enqueue_500('fa');
my ($victim, $pid) = busy_long_run('fa');
my $log_offset = -s $node->logfile;
my $t_kill = time;
ok(kill('KILL', $pid), "fa: sent SIGKILL to worker $pid running run $victim");
ok( $node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset),
	'fa: the postmaster restarted after the crash');
my $took = wait_for_sql($node,
	"SELECT count(*) FROM jobs.attempts WHERE run_id = $victim", '1', 60);
ok(defined $took, 'fa: the killed run was reaped');
cmp_ok(time - $t_kill, '<', 15, 'fa: ... within seconds of the crash (restart included)');
ok( defined wait_for_sql($node,
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'zapjobs launcher'", '1', 60),
	'fa: the launcher is back');
common_checks('fa');
interrupted_checks('fa', $victim, q{'57P01', '57P02'}, 1);
is( $node->safe_psql('postgres', qq{
	SELECT count(*) FROM jobs.attempts a JOIN jobs.runs r ON r.id = a.run_id
	WHERE r.queue = 'fa' AND a.run_id <> $victim AND a.error_sqlstate <> '57P02'}),
	'0', 'fa: runs of the other workers were interrupted by the server restart (57P02)');

# --- (b) pg_terminate_backend of a busy worker: no crash ------------------------
enqueue_500('fb');
($victim, $pid) = busy_long_run('fb');
$log_offset = -s $node->logfile;
is($node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)"),
	't', "fb: terminated worker $pid running run $victim");
ok(defined wait_for_sql($node,
		"SELECT count(*) FROM jobs.attempts WHERE run_id = $victim", '1', 30),
	'fb: the terminated run was reaped within seconds');
common_checks('fb');
interrupted_checks('fb', $victim, q{'57P01'}, 0);
is( $node->safe_psql('postgres', qq{
	SELECT count(*) FROM jobs.attempts a JOIN jobs.runs r ON r.id = a.run_id
	WHERE r.queue = 'fb'}),
	'1', 'fb: only the terminated worker\'s run was interrupted');
is(log_count($node, qr/reinitializing/, $log_offset), 0,
	'fb: no server restart');

# --- (c) Immediate shutdown, then start -----------------------------------------
enqueue_500('fc');
($victim, $pid) = busy_long_run('fc');
$node->stop('immediate');
$node->start;
common_checks('fc');
interrupted_checks('fc', $victim, q{'57P01', '57P02'}, 1);

# --- (d) Clean (fast) shutdown, then start: no attempt used ----------------------
enqueue_500('fd');
($victim, $pid) = busy_long_run('fd');
my $t_stop = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
$node->stop('fast');
$node->start;
common_checks('fd');
is( $node->safe_psql('postgres', "SELECT status FROM jobs.runs WHERE queue = 'fd' GROUP BY 1"),
	'completed', 'fd: all 500 runs completed');
is( $node->safe_psql('postgres', qq{
	SELECT count(*) FROM jobs.attempts a JOIN jobs.runs r ON r.id = a.run_id
	WHERE r.queue = 'fd'}),
	'0', 'fd: no jobs.attempts row: the clean shutdown used no attempt');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM jobs.runs WHERE queue = 'fd' AND (attempt <> 1 OR crashes <> 0)"),
	'0', 'fd: every run completed on attempt 1, no crash counted');
my $r = zj_run($node, $victim, qw(status attempt started_at));
is($r->{status}, 'completed', 'fd: the run sleeping at the shutdown completed');
is($r->{attempt}, '1', 'fd: ... with attempt 1');
is( $node->safe_psql('postgres',
		"SELECT started_at > '$t_stop' FROM jobs.runs WHERE id = $victim"),
	't', 'fd: ... after it was put back and started again after the restart');

# --- Poison run: crashes the server whenever it runs ------------------------------
# COPY ... TO PROGRAM runs sh -c under the worker: $PPID is the worker.
# All 21 runs are due 2 s after the enqueue, together: the crash must not
# hit this psql session before it has its answer.
$log_offset = -s $node->logfile;
my $ids = $node->safe_psql('postgres', q{
	BEGIN;
	SELECT jobs.enqueue($$COPY (SELECT 1) TO PROGRAM 'kill -9 $PPID'$$,
	                    queue => 'poison', max_attempts => 10,
	                    run_at => now() + interval '2 s');
	SELECT count(jobs.enqueue(
	  'INSERT INTO t.effects (fault, run_id) VALUES (''along'', jobs.current_run_id()); SELECT pg_sleep(0.05)',
	  queue => 'along', max_attempts => 10, run_at => now() + interval '2 s'))
	FROM generate_series(1, 20);
	COMMIT;});
my ($poison) = split /\n/, $ids;
like($poison, qr/^\d+$/, "poison run $poison enqueued with 20 others");
ok($node->wait_for_log(qr/\(PID \d+\) was terminated by signal 9/, $log_offset),
	'poison: the job killed its worker');
ok( defined wait_for_sql($node,
		"SELECT status IN $final FROM jobs.runs WHERE id = $poison", 't', 180),
	'poison: the poison run reached a final status');
$r = zj_run($node, $poison,
	qw(status attempt max_attempts crashes error_sqlstate error_message));
is($r->{status}, 'failed', 'poison: the run failed (not retried forever)');
is($r->{crashes}, '2', 'poison: ... after zapjobs.max_crashes = 2 crashes');
is($r->{attempt}, '2', 'poison: ... on attempt 2 of 10');
like($r->{error_message} // '', qr/crash|restart/i,
	'poison: ... with a message saying it crashed the server')
  or diag explain $r;
note "poison run's error: " . ($r->{error_sqlstate} // 'NULL') . ': '
  . ($r->{error_message} // 'NULL');
is( $node->safe_psql('postgres',
		"SELECT string_agg(attempt || ':' || outcome, ',' ORDER BY attempt) FROM jobs.attempts WHERE run_id = $poison"),
	'1:interrupted,2:interrupted', 'poison: both attempts recorded as interrupted');

ok( defined wait_for_sql($node, qq{
	SELECT count(*) FROM jobs.runs WHERE queue = 'along' AND status IN $final}, '20', 180),
	'poison: the runs enqueued alongside are final');
is( $node->safe_psql('postgres', qq{
	SELECT count(*) FROM jobs.runs r WHERE queue = 'along'
	  AND NOT (status = 'completed'
	           AND (SELECT count(*) FROM t.effects e WHERE e.fault = 'along' AND e.run_id = r.id) = 1)
	  AND NOT (status = 'failed' AND crashes >= 2)}),
	'0', 'poison: the others completed once each (unless both crashes hit them too)');
cmp_ok( $node->safe_psql('postgres',
		"SELECT count(*) FROM jobs.runs WHERE queue = 'along' AND status = 'completed'"),
	'>=', 15, 'poison: ... which leaves most of them completed');
my $after = zj_enqueue($node, 'SELECT 1 AS one');
is(zj_wait($node, $after, timeout => '60 s'), 'completed', 'poison: a new run completes');
is(log_count($node, qr/all server processes terminated; reinitializing/, $log_offset),
	2, 'poison: exactly two crash restarts, no loop');

$node->stop;
done_testing();
