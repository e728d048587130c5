# Timeouts and cancellation: runs over their timeout (sleeping, busy, and
# swallowing the interruption) end timed out and are retried when they have
# attempts left; jobs.cancel() of scheduled, pending, awaiting_retry and
# running runs, of runs that swallow the cancel, of finished and unknown
# runs, and by roles that may or may not cancel.
use strict;
use warnings;
use lib 'test/perl';

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZapjobsTest;

my $node = zj_new_node('cancel_timeout', max_workers => 4);

$node->safe_psql(
	'postgres', q{
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	CREATE ROLE carol LOGIN;
	GRANT alice TO carol;
});

my $sleep_job = 'SELECT pg_sleep(60)';
my $busy_job = 'DO $$BEGIN LOOP END LOOP; END$$';
my $swallow_job =
  'DO $$BEGIN LOOP BEGIN PERFORM pg_sleep(5); '
  . 'EXCEPTION WHEN query_canceled THEN NULL; END; END LOOP; END$$';

# Shorthands over ZapjobsTest for this file's node.
sub enqueue
{
	my ($user, $command, %arg) = @_;
	return zj_enqueue($node, $command, user => $user, %arg);
}
sub val { return zj_sql($node, $_[0]) }
sub val_as { return zj_sql($node, $_[1], user => $_[0]) }
sub psql_as { return zj_psql_verbose($node, @_) }

# Wait until run ID is running (on attempt ATTEMPT, default any); return its
# worker's pid, or undef.
sub wait_running
{
	my ($id, $attempt) = @_;
	my $cond = defined $attempt ? " AND attempt = $attempt" : '';
	$node->poll_query_until('postgres',
		"SELECT count(*) FROM jobs.runs WHERE id = $id AND status = 'running'$cond",
		'1')
	  or return undef;
	return val("SELECT worker_pid FROM jobs.runs WHERE id = $id");
}

# The jobs.attempts rows of run ID, one line per attempt:
# attempt|outcome|sqlstate.
sub attempts_of
{
	my ($id) = @_;
	return val(
		qq{SELECT string_agg(concat_ws('|', attempt, outcome, error_sqlstate),
		                     E'\\n' ORDER BY attempt)
		   FROM jobs.attempts WHERE run_id = $id});
}

# Seconds the last attempt of run ID took (finished_at - started_at).
sub run_secs
{
	my ($id) = @_;
	return val(
		"SELECT round(extract(epoch FROM finished_at - started_at), 3) FROM jobs.runs WHERE id = $id"
	);
}

# Seconds from timestamp T0 to the end of run ID.
sub secs_since
{
	my ($id, $t0) = @_;
	my $secs = val(
		"SELECT round(extract(epoch FROM finished_at - '$t0'::timestamptz), 3) FROM jobs.runs WHERE id = $id"
	);
	note "run $id ended $secs s after the cancel";
	return $secs;
}

# --- Timeouts -----------------------------------------------------------------------
# A run over its 1 s timeout, with no attempt left, fails at its deadline.
my %timeout_job = (
	'sleeping' => $sleep_job,
	'busy looping' => $busy_job,
	'cancel-swallowing' => $swallow_job,
);
# The swallowing job is terminated kill_grace (0.5 s) after the deadline.
my %limit = ('sleeping' => 4, 'busy looping' => 4, 'cancel-swallowing' => 6);
for my $k (sort keys %timeout_job)
{
	my $id = enqueue('alice', $timeout_job{$k},
		timeout => "'1 s'",
		max_attempts => 1);
	my $pid = wait_running($id);
	ok(defined $pid, "$k job with timeout 1 s is running");
	is(zj_wait($node, $id, user => 'alice', timeout => '60 s'),
		'failed', "... it failed");
	my $r = zj_run($node, $id, qw(attempt error_sqlstate error_message));
	like($r->{error_message}, qr/timed out/, '... with a "timed out" message')
	  or diag(explain($r));
	is($r->{error_sqlstate}, '57014', '... and 57014');
	is($r->{attempt}, '1', '... after 1 attempt');
	my $secs = run_secs($id);
	note "$k job ran for $secs s";
	ok($secs >= 0.9 && $secs < $limit{$k},
		"... about 1 s after it started (under $limit{$k} s)")
	  or diag("ran for $secs s");
	is(attempts_of($id), '1|timed_out|57014', '... jobs.attempts: timed_out');
	like(
		val("SELECT error_message FROM jobs.attempts WHERE run_id = $id"),
		qr/timed out/, '... with the "timed out" message');
	if ($k eq 'cancel-swallowing')
	{
		ok( $node->poll_query_until(
				'postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid",
				'0'),
			'... its worker was terminated');
	}
}
my $after = enqueue('alice', 'SELECT 1 AS one');
is(zj_wait($node, $after, user => 'alice'), 'completed',
	'after the timeouts a run of the same role completes');

# With attempts left, a timed-out attempt is retried.
my $tr = enqueue('alice', $sleep_job,
	timeout => "'1 s'",
	max_attempts => 2,
	retry_base => "'100 ms'");
ok(defined wait_running($tr, 2), 'a timed-out run with attempts left runs again (attempt 2)');
is(attempts_of($tr), '1|timed_out|57014', '... after a timed_out attempt 1');
is(zj_wait($node, $tr, user => 'alice', timeout => '60 s'), 'failed',
	'... and fails when attempt 2 times out too');
is(zj_run($node, $tr, 'attempt')->{attempt}, '2', '... on attempt 2');
is( attempts_of($tr),
	"1|timed_out|57014\n2|timed_out|57014",
	'... 2 timed_out attempts');

# --- Cancel before running ------------------------------------------------------------
# Scheduled.
my $sched = enqueue('alice', 'SELECT 1', run_at => "now() + interval '1 hour'");
is(zj_run($node, $sched, 'status')->{status}, 'scheduled', 'a run in an hour is scheduled');
is(val_as('alice', "SELECT jobs.cancel($sched)"), 't', 'jobs.cancel() of it returns true');
is(zj_run($node, $sched, 'status')->{status}, 'cancelled', '... it is cancelled at once');
is(zj_wait($node, $sched, user => 'alice', timeout => '10 s'), 'cancelled',
	'... jobs.wait() returns cancelled');
is(val_as('alice', "SELECT jobs.cancel($sched)"), 'f',
	'jobs.cancel() of a cancelled run returns false');
is(zj_run($node, $sched, 'status')->{status}, 'cancelled', '... it stays cancelled');

# Pending in a paused queue.
$node->safe_psql('postgres', q{SELECT jobs.pause_queue('q')});
my $paused = enqueue('alice', 'SELECT 1 AS one', queue => 'q');
is(zj_run($node, $paused, 'status')->{status}, 'pending',
	'a run in a paused queue is pending');
is(val_as('alice', "SELECT jobs.cancel($paused)"), 't', 'jobs.cancel() of it returns true');
is(zj_run($node, $paused, 'status')->{status}, 'cancelled', '... it is cancelled at once');
is( val_as(
		'alice', qq{
	BEGIN;
	SELECT jobs.retry($paused);
	SELECT status FROM jobs.runs WHERE id = $paused;
	COMMIT;}),
	"t\npending",
	'jobs.retry() of the cancelled run makes it pending');
$node->safe_psql('postgres', q{SELECT jobs.resume_queue('q')});
is(zj_wait($node, $paused, user => 'alice', timeout => '60 s'), 'completed',
	'... it completes once the queue is resumed');

# Awaiting a retry.
my $aw = enqueue('alice', 'SELECT 1/0',
	max_attempts => 3,
	retry_base => "'1 hour'");
ok( $node->poll_query_until('postgres',
		"SELECT status FROM jobs.runs WHERE id = $aw", 'awaiting_retry'),
	'a failed run with attempts left is awaiting_retry');
is(val_as('alice', "SELECT jobs.cancel($aw)"), 't', 'jobs.cancel() of it returns true');
my $r = zj_run($node, $aw, qw(status attempt));
is($r->{status}, 'cancelled', '... it is cancelled at once');
is($r->{attempt}, '1', '... after its 1 attempt');

# --- Cancel running runs ------------------------------------------------------------------
my $run = enqueue('alice', $sleep_job, max_attempts => 3);
ok(defined wait_running($run), 'pg_sleep(60) run with max_attempts 3 is running');
my $t0 = val('SELECT clock_timestamp()');
is(val_as('alice', "SELECT jobs.cancel($run)"), 't', 'jobs.cancel() of it returns true');
is(zj_wait($node, $run, user => 'alice', timeout => '60 s'), 'cancelled',
	'... it becomes cancelled');
my $secs = secs_since($run, $t0);
ok($secs ne '' && $secs < 3, '... within a second or two') or diag("took $secs s");
is( val(qq{SELECT string_agg(attempt || '|' || outcome, ',') FROM jobs.attempts
	       WHERE run_id = $run}),
	'1|cancelled', '... jobs.attempts: attempt 1 cancelled');
# Not retried: another run of alice's goes through a worker meanwhile.
my $next = enqueue('alice', 'SELECT 2 AS two');
is(zj_wait($node, $next, user => 'alice'), 'completed', 'the next run completes');
$r = zj_run($node, $run, qw(status attempt));
is($r->{status}, 'cancelled', '... the cancelled run is still cancelled');
is($r->{attempt}, '1', '... and was not retried (attempt 1)');

# A job that swallows the cancel is terminated.
my $sw = enqueue('alice', $swallow_job);
my $sw_pid = wait_running($sw);
ok(defined $sw_pid, 'cancel-swallowing run is running');
$t0 = val('SELECT clock_timestamp()');
is(val_as('alice', "SELECT jobs.cancel($sw)"), 't', 'jobs.cancel() of it returns true');
is(zj_wait($node, $sw, user => 'alice', timeout => '60 s'), 'cancelled',
	'... it becomes cancelled');
$secs = secs_since($sw, $t0);
ok($secs ne '' && $secs < 6, '... within a few seconds') or diag("took $secs s");
is(zj_run($node, $sw, 'attempt')->{attempt}, '1', '... not retried');
is( val(qq{SELECT string_agg(attempt || '|' || outcome, ',') FROM jobs.attempts
	       WHERE run_id = $sw}),
	'1|cancelled', '... jobs.attempts: attempt 1 cancelled');
ok( $node->poll_query_until(
		'postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $sw_pid", '0'),
	'... its worker was terminated');

# --- Retry after a cancel of a running run ---------------------------------------------
# The cancel was for that attempt only: the retried attempt runs in full
# (the same worker, whose slot still remembers the old cancel, claims it).
my $again = enqueue('alice', 'SELECT pg_sleep(1.5); SELECT 7 AS seven');
ok(defined wait_running($again), 'a 1.5 s run is running');
is(val_as('alice', "SELECT jobs.cancel($again)"), 't', 'cancel it');
is(zj_wait($node, $again, user => 'alice', timeout => '60 s'), 'cancelled',
	'... it becomes cancelled');
is(val_as('alice', "SELECT jobs.retry($again)"), 't', 'jobs.retry() of it');
is(zj_wait($node, $again, user => 'alice', timeout => '60 s'), 'completed',
	'... the retried attempt runs to completion, not cancelled again');
$r = zj_run($node, $again, qw(attempt output));
is($r->{attempt}, '2', '... as attempt 2');
is($r->{output}, '{"seven": 7}', '... with its output');

# --- A cancel rolled back with its savepoint does nothing --------------------------------
my $kept = enqueue('alice', 'SELECT pg_sleep(1.5); SELECT 8 AS eight', max_attempts => 1);
ok(defined wait_running($kept), 'another 1.5 s run is running');
val_as('alice', qq{BEGIN; SAVEPOINT s; SELECT jobs.cancel($kept); ROLLBACK TO s;
	SAVEPOINT t; SELECT 1; RELEASE t; COMMIT;});
is(zj_wait($node, $kept, user => 'alice', timeout => '60 s'), 'completed',
	'a cancel rolled back to a savepoint does not interrupt the run');
# A cancel in a released savepoint, then a rolled-back sibling: still cancels.
my $rel = enqueue('alice', $sleep_job, max_attempts => 1);
ok(defined wait_running($rel), 'a pg_sleep(60) run is running');
val_as('alice', qq{BEGIN; SAVEPOINT s; SELECT jobs.cancel($rel); RELEASE s;
	SAVEPOINT t; SELECT 1; ROLLBACK TO t; COMMIT;});
is(zj_wait($node, $rel, user => 'alice', timeout => '60 s'), 'cancelled',
	'a cancel in a released savepoint interrupts the run at commit');

# --- Finished and unknown runs ---------------------------------------------------------
is(val_as('alice', "SELECT jobs.cancel($next)"), 'f',
	'jobs.cancel() of a completed run returns false');
is(zj_run($node, $next, 'status')->{status}, 'completed', '... it stays completed');

my ($rc, $out, $err) = psql_as('alice', 'SELECT jobs.cancel(987654321)');
isnt($rc, 0, 'jobs.cancel() of an unknown run fails');
like($err, qr/ERROR:.*does not exist/, '... saying it does not exist') or diag($err);

# --- Who may cancel ----------------------------------------------------------------------
my $victim = enqueue('alice', 'SELECT 1', run_at => "now() + interval '1 hour'");
($rc, $out, $err) = psql_as('bob', "SELECT jobs.cancel($victim)");
isnt($rc, 0, 'jobs.cancel() by a role that is not a member of the owner fails');
like($err, qr/ERROR:  42704:  ?run \d+ does not exist/,
	'... as for an unknown run: which ids exist stays hidden') or diag($err);
is(zj_run($node, $victim, 'status')->{status}, 'scheduled', '... the run is unaffected');

my $busy = enqueue('alice', $sleep_job);
ok(defined wait_running($busy), 'a pg_sleep(60) run is running');
($rc, $out, $err) = psql_as('bob', "SELECT jobs.cancel($busy)");
isnt($rc, 0, 'jobs.cancel() of it by the other role fails');
like($err, qr/ERROR:  42704:  ?run \d+ does not exist/, '... as for an unknown run') or diag($err);
is(zj_run($node, $busy, 'status')->{status}, 'running', '... it goes on running');

is(val_as('carol', "SELECT jobs.cancel($victim)"), 't',
	'jobs.cancel() by a member of the owner role returns true');
is(zj_run($node, $victim, 'status')->{status}, 'cancelled', '... the run is cancelled');
is(val_as('carol', "SELECT jobs.cancel($busy)"), 't',
	'... also for a running run');
is(zj_wait($node, $busy, user => 'carol', timeout => '60 s'), 'cancelled',
	'... which becomes cancelled');

$node->stop;
done_testing();
