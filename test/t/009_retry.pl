# Retries: the default number of attempts, runs that fail and then succeed,
# exponential backoff with jitter and its cap, runs out of attempts,
# non-retryable SQLSTATEs (built in and set with
# zapjobs.non_retryable_sqlstates), jobs.retry() and the checks of the
# retry arguments of jobs.enqueue.
use strict;
use warnings;
use lib 'test/perl';

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use ZapjobsTest;

my $node = zj_new_node('retry', max_workers => 4);

$node->safe_psql(
	'postgres', q{
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	CREATE TABLE secret (x int);
	REVOKE ALL ON secret FROM PUBLIC;
	-- Counts executions of flaky(): nextval is not rolled back with the
	-- failed attempt.
	CREATE SEQUENCE flaky_calls;
	GRANT USAGE ON SEQUENCE flaky_calls TO alice;
	-- Fails on attempts 1 and 2, succeeds on attempt 3; the attempt is the
	-- run's own, read from jobs.runs.
	CREATE FUNCTION flaky() RETURNS int LANGUAGE plpgsql AS $$
	DECLARE
		a int;
	BEGIN
		PERFORM nextval('flaky_calls');
		SELECT attempt INTO a FROM jobs.runs WHERE id = jobs.current_run_id();
		IF a < 3 THEN
			RAISE EXCEPTION 'flaky failure on attempt %', a;
		END IF;
		RETURN a;
	END $$;
	-- Always fails (P0001, retryable), naming the attempt.
	CREATE FUNCTION always_fails() RETURNS int LANGUAGE plpgsql AS $$
	BEGIN
		RAISE EXCEPTION 'attempt % failed',
			(SELECT attempt FROM jobs.runs WHERE id = jobs.current_run_id());
	END $$;
});

# Shorthands over ZapjobsTest for this file's node.
sub enqueue
{
	my ($user, $command, %arg) = @_;
	return zj_enqueue($node, $command, user => $user, %arg);
}
sub val { return zj_sql($node, $_[0]) }
sub val_as { return zj_sql($node, $_[1], user => $_[0]) }
sub psql_as { return zj_psql_verbose($node, @_) }

# The jobs.attempts rows of run ID, one line per attempt:
# attempt|outcome|sqlstate|message.
sub attempts_of
{
	my ($id) = @_;
	return val(
		qq{SELECT string_agg(concat_ws('|', attempt, outcome, error_sqlstate, error_message),
		                     E'\\n' ORDER BY attempt)
		   FROM jobs.attempts WHERE run_id = $id});
}

# Poll SQL until it returns a non-empty result; return that result, or undef
# after the default timeout.  Unlike poll_query_until, this gives the row
# seen when the condition held.
sub poll_row
{
	my ($sql) = @_;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	while (time() < $deadline)
	{
		my $out = val($sql);
		return $out if $out ne '';
		usleep(50_000);
	}
	return undef;
}

# Seconds between the end of attempt K and the start of attempt K+1 of run
# ID, for each K.
sub gaps
{
	my ($id) = @_;
	my $out = val(
		qq{SELECT string_agg(round(extract(epoch FROM n.started_at - a.finished_at), 3)::text,
		                     ',' ORDER BY a.attempt)
		   FROM jobs.attempts a
		   JOIN jobs.attempts n ON n.run_id = a.run_id AND n.attempt = a.attempt + 1
		   WHERE a.run_id = $id});
	my @g = split /,/, $out;
	note "gaps between the attempts of run $id: @g";
	return @g;
}

# --- Defaults: 3 attempts, 1 s base, factor 2, 1 h cap --------------------------
is(val('SHOW zapjobs.default_max_attempts'), '3',
	'zapjobs.default_max_attempts is 3 by default');
my $def = enqueue('alice', 'SELECT always_fails()');
is( val(qq{SELECT concat_ws('|', max_attempts, retry_base, retry_factor, retry_max_delay)
	        FROM jobs.runs WHERE id = $def}),
	'3|00:00:01|2|01:00:00',
	'a run enqueued without them gets max_attempts 3, retry_base 1 s, factor 2, cap 1 h');

# Between attempts it waits in awaiting_retry, due again at next_retry_at =
# run_at, 0.5 to 1 times the delay (1 s after attempt 1) after the attempt
# ended.
# (The window is 0.5 to 1 s: polled every 50 ms, it cannot be missed; if it
# was, "missed" ends the wait.)
my $aw = poll_row(
	qq{SELECT CASE
	     WHEN r.status = 'awaiting_retry' AND r.attempt = 1 AND a.run_id IS NOT NULL
	       THEN concat_ws('|', r.attempt, r.next_retry_at = r.run_at,
	                      round(extract(epoch FROM r.next_retry_at - a.finished_at), 3))
	     WHEN r.attempt > 1 OR r.status IN ('completed', 'failed', 'cancelled')
	       THEN 'missed' END
	   FROM jobs.runs r
	   LEFT JOIN jobs.attempts a ON a.run_id = r.id AND a.attempt = r.attempt
	   WHERE r.id = $def});
ok(defined $aw && $aw ne 'missed',
	'after attempt 1 failed the run is awaiting_retry')
  or diag(explain(zj_run($node, $def, qw(status attempt next_retry_at run_at))));
$aw = '||' if !defined $aw || $aw eq 'missed';
my ($aw_attempt, $aw_same, $aw_delay) = split /\|/, $aw, -1;
note "awaiting_retry after attempt 1: next_retry_at - finished_at = $aw_delay s";
is($aw_same, 't', '... with next_retry_at set and run_at = next_retry_at');
ok($aw_delay ne '' && $aw_delay >= 0.45 && $aw_delay <= 1.1,
	'... due 0.5 to 1 s after the attempt ended')
  or diag("next_retry_at - finished_at = $aw_delay s");

is(zj_wait($node, $def, user => 'alice'), 'failed',
	'a run that always fails ends failed');
my $r = zj_run($node, $def, qw(attempt error_sqlstate error_message));
is($r->{attempt}, '3', '... after 3 attempts (the default)');
is($r->{error_message}, 'attempt 3 failed', '... jobs.runs has the last error');
is( attempts_of($def),
	"1|failed|P0001|attempt 1 failed\n"
	  . "2|failed|P0001|attempt 2 failed\n"
	  . "3|failed|P0001|attempt 3 failed",
	'... and jobs.attempts one row per attempt, each with its error');
is( val(qq{SELECT count(*) FROM jobs.attempts
	       WHERE run_id = $def AND (started_at IS NULL OR finished_at < started_at
	                                OR worker_pid IS NULL)}),
	'0',
	'... with consistent times and worker pids');
my @g = gaps($def);
ok(@g == 2 && $g[0] >= 0.48 && $g[1] >= 0.98,
	'... spaced by at least half of 1 s and 2 s')
  or diag("gaps: @g");

# --- Fails twice, then succeeds ---------------------------------------------------
my $flaky = enqueue('alice', 'SELECT flaky() AS attempt',
	retry_base => "'50 ms'");
is(zj_wait($node, $flaky, user => 'alice'), 'completed',
	'a run that fails twice then succeeds ends completed');
$r = zj_run($node, $flaky, qw(attempt output));
is($r->{attempt}, '3', '... on attempt 3');
is($r->{output}, '{"attempt": 3}', '... with the output of attempt 3');
is(val('SELECT last_value FROM flaky_calls'), '3', '... the job ran 3 times');
is( attempts_of($flaky),
	"1|failed|P0001|flaky failure on attempt 1\n"
	  . "2|failed|P0001|flaky failure on attempt 2",
	'... 2 rows in jobs.attempts, each with its error');
is( $node->safe_psql(
		'postgres', "SELECT count(*) FROM jobs.attempts WHERE run_id = $flaky",
		extra_params => [ '-U', 'alice' ]),
	'2',
	'... which the owner sees');
is( $node->safe_psql(
		'postgres', "SELECT count(*) FROM jobs.attempts WHERE run_id = $flaky",
		extra_params => [ '-U', 'bob' ]),
	'0',
	'... and another role does not');

# --- Backoff: 200 ms base, factor 2 ---------------------------------------------------
my $back = enqueue('alice', 'SELECT always_fails()',
	retry_base => "'200 ms'",
	retry_factor => 2,
	max_attempts => 4);
is(zj_wait($node, $back, user => 'alice'), 'failed',
	'run with 200 ms base and factor 2 fails in the end');
is(zj_run($node, $back, 'attempt')->{attempt}, '4', '... after its 4 attempts');
@g = gaps($back);
is(scalar @g, 3, '... 3 gaps between 4 attempts') or diag(attempts_of($back));
for my $k (0 .. 2)
{
	my $delay = 0.2 * 2**$k;
	my $gap = $g[$k] // -1;
	# Jitter in [0.5, 1]; 20 ms slack for when the times were taken.
	cmp_ok($gap, '>=', 0.5 * $delay - 0.02,
		"... gap after attempt @{[$k + 1]} at least half of $delay s");
	# The launcher promotes due runs within its poll interval (1 s).
	cmp_ok($gap, '<', $delay + 3,
		"... gap after attempt @{[$k + 1]} not much more than $delay s");
}

# --- retry_max_delay caps the delay ---------------------------------------------------
# Uncapped, the delays would be 5-10 s and 10-20 s.
my $cap = enqueue('alice', 'SELECT always_fails()',
	retry_base => "'10 s'",
	retry_factor => 2,
	retry_max_delay => "'300 ms'",
	max_attempts => 3);
is(zj_wait($node, $cap, user => 'alice'), 'failed',
	'run with a 10 s base capped at 300 ms fails in the end');
is(zj_run($node, $cap, 'attempt')->{attempt}, '3', '... after 3 attempts');
@g = gaps($cap);
ok(@g == 2 && $g[0] >= 0.13 && $g[1] >= 0.13 && $g[0] < 3 && $g[1] < 3,
	'... spaced by 0.15 to 0.3 s (plus the launcher\'s latency), not 5 s or more')
  or diag("gaps: @g");

# --- Out of attempts ------------------------------------------------------------------
my $once = enqueue('alice', 'SELECT always_fails()', max_attempts => 1);
is(zj_wait($node, $once, user => 'alice'), 'failed', 'max_attempts 1: failed');
is(zj_run($node, $once, 'attempt')->{attempt}, '1', '... after 1 attempt');
is(attempts_of($once), '1|failed|P0001|attempt 1 failed', '... one jobs.attempts row');

# --- Non-retryable SQLSTATEs fail at once -----------------------------------------------
my %nonretry = (
	'42601' => 'SELEC 1',
	'42P01' => 'SELECT * FROM no_such_table',
	'42501' => 'SELECT * FROM secret',
);
my %nr_id;
$nr_id{$_} = enqueue('alice', $nonretry{$_},
	max_attempts => 5, retry_base => "'10 ms'")
  for sort keys %nonretry;
for my $state (sort keys %nonretry)
{
	my $id = $nr_id{$state};
	is(zj_wait($node, $id, user => 'alice'), 'failed',
		"$state ($nonretry{$state}) with max_attempts 5: failed");
	$r = zj_run($node, $id, qw(attempt error_sqlstate));
	is($r->{error_sqlstate}, $state, "... with $state");
	is($r->{attempt}, '1', '... at once, after 1 attempt');
	is(val("SELECT count(*) FROM jobs.attempts WHERE run_id = $id"),
		'1', '... one jobs.attempts row');
}

# --- zapjobs.non_retryable_sqlstates ------------------------------------------------------
my $div = enqueue('alice', 'SELECT 1/0 AS x',
	max_attempts => 2, retry_base => "'10 ms'");
is(zj_wait($node, $div, user => 'alice'), 'failed', 'division by zero fails');
$r = zj_run($node, $div, qw(attempt error_sqlstate));
is($r->{error_sqlstate}, '22012', '... with 22012');
is($r->{attempt}, '2', '... after being retried (22012 is retryable by default)');

$node->safe_psql('postgres',
	q{ALTER SYSTEM SET zapjobs.non_retryable_sqlstates = '42, 0A000, 3D000, 3F000, 22012'});
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
ok( $node->poll_query_until(
		'postgres',
		q{SELECT current_setting('zapjobs.non_retryable_sqlstates') LIKE '%22012%'}),
	'zapjobs.non_retryable_sqlstates changed with ALTER SYSTEM and a reload');
$div = enqueue('alice', 'SELECT 1/0 AS x',
	max_attempts => 5, retry_base => "'10 ms'");
is(zj_wait($node, $div, user => 'alice'), 'failed', 'division by zero fails');
$r = zj_run($node, $div, qw(attempt error_sqlstate));
is($r->{error_sqlstate}, '22012', '... with 22012');
is($r->{attempt}, '1', '... at once once 22012 is listed, despite max_attempts 5');
# A full code is not its class: 22P02 is still retryable.
my $cast = enqueue('alice', q{SELECT 'x'::int AS x},
	max_attempts => 2, retry_base => "'10 ms'");
is(zj_wait($node, $cast, user => 'alice'), 'failed', 'invalid input syntax fails');
$r = zj_run($node, $cast, qw(attempt error_sqlstate));
is($r->{error_sqlstate}, '22P02', '... with 22P02');
is($r->{attempt}, '2', '... after a retry (only 22012 of class 22 is listed)');

$node->safe_psql('postgres',
	'ALTER SYSTEM RESET zapjobs.non_retryable_sqlstates');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
ok( $node->poll_query_until(
		'postgres',
		q{SELECT current_setting('zapjobs.non_retryable_sqlstates') NOT LIKE '%22012%'}),
	'zapjobs.non_retryable_sqlstates reset');
$div = enqueue('alice', 'SELECT 1/0 AS x',
	max_attempts => 2, retry_base => "'10 ms'");
is(zj_wait($node, $div, user => 'alice'), 'failed', 'division by zero fails');
is(zj_run($node, $div, 'attempt')->{attempt}, '2', '... and is retried again');

# --- jobs.retry() ------------------------------------------------------------------------
my $later = enqueue('alice', 'SELECT x FROM later_table', max_attempts => 5);
is(zj_wait($node, $later, user => 'alice'), 'failed',
	'a run on a missing table fails');
is(zj_run($node, $later, 'attempt')->{attempt}, '1', '... at once (42P01)');
$node->safe_psql(
	'postgres', q{
	CREATE TABLE later_table (x int);
	INSERT INTO later_table VALUES (7);
	GRANT SELECT ON later_table TO alice;
});

my ($rc, $out, $err) = psql_as('bob', "SELECT jobs.retry($later)");
isnt($rc, 0, 'jobs.retry() by a role that is not a member of the owner fails');
like($err, qr/ERROR:  42704:  ?run \d+ does not exist/,
	'... as for an unknown run: which ids exist stays hidden') or diag($err);
is(zj_run($node, $later, 'status')->{status}, 'failed', '... the run stays failed');

is( $node->safe_psql(
		'postgres', qq{
	BEGIN;
	SELECT jobs.retry($later);
	SELECT concat_ws('|', status, attempt, max_attempts) FROM jobs.runs WHERE id = $later;
	COMMIT;},
		extra_params => [ '-U', 'alice' ]),
	"t\npending|1|5",
	'jobs.retry() of a failed run returns true and makes it pending');
is(zj_wait($node, $later, user => 'alice'), 'completed',
	'... then it runs and completes');
$r = zj_run($node, $later, qw(attempt output));
is($r->{attempt}, '2', '... on attempt 2');
is($r->{output}, '{"x": 7}', '... with its output');
is($node->safe_psql('postgres', "SELECT jobs.retry($later)",
		extra_params => [ '-U', 'alice' ]),
	'f', 'jobs.retry() of a completed run returns false');
is(zj_run($node, $later, 'status')->{status}, 'completed', '... and leaves it completed');

# A run out of attempts gets one more.
is( $node->safe_psql(
		'postgres', qq{
	BEGIN;
	SELECT jobs.retry($def);
	SELECT concat_ws('|', status, attempt, max_attempts) FROM jobs.runs WHERE id = $def;
	COMMIT;},
		extra_params => [ '-U', 'alice' ]),
	"t\npending|3|4",
	'jobs.retry() of a run out of attempts allows one more');
is(zj_wait($node, $def, user => 'alice'), 'failed', '... which fails again');
is(zj_run($node, $def, 'attempt')->{attempt}, '4', '... on attempt 4');
is(val("SELECT count(*) FROM jobs.attempts WHERE run_id = $def"),
	'4', '... with 4 jobs.attempts rows');

# --- Invalid retry arguments ------------------------------------------------------------
my $before = val('SELECT count(*) FROM jobs.runs');
my %bad = (
	'retry_factor 0.5' => 'retry_factor => 0.5',
	'retry_factor 0' => 'retry_factor => 0',
	'retry_factor -2' => 'retry_factor => -2',
	'negative retry_base' => "retry_base => '-1 s'",
	'negative retry_max_delay' => "retry_max_delay => '-1 s'",
	'max_attempts 0' => 'max_attempts => 0',
	'max_attempts -1' => 'max_attempts => -1',
	'max_attempts 1001' => 'max_attempts => 1001',
);
for my $k (sort keys %bad)
{
	($rc, $out, $err) =
	  psql_as('alice', "SELECT jobs.enqueue('SELECT 1', $bad{$k})");
	isnt($rc, 0, "enqueue with $k fails");
	like($err, qr/ERROR:/, "... with an ERROR") or diag($err);
}
is(val('SELECT count(*) FROM jobs.runs'), $before,
	'... and none of them inserted a run');

$node->stop;
done_testing();
