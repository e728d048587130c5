# Definitions and schedules: an every-second schedule fires on time and
# keeps next_run_at, last_run_at and last_status up to date; a schedule
# whose runs outlast its interval never has two runs unfinished and counts
# the ticks it skips; after the server was down for several ticks a
# schedule runs once, then keeps its cadence; pause and resume; jobs.define,
# jobs.trigger (the definition's settings, a disabled definition, the
# caller's search_path) and jobs.drop; settings jobs.enqueue refuses are
# refused by jobs.define and jobs.schedule; defining or dropping a job does
# not remove a job limit its role may not manage; invalid schedules and time
# zones fail at once; pg_dump and a restore into another server bring
# definitions and schedules back working.
use strict;
use warnings;
use lib 'test/perl';

use File::Spec;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use ZapjobsTest;

my $final = q{('completed', 'failed', 'cancelled')};

my $node = zj_new_node('schedules', max_workers => 4);
$node->safe_psql('postgres', q{
	CREATE SCHEMA t;
	CREATE TABLE t.ticks (at timestamptz NOT NULL);
	CREATE TABLE t.catch (at timestamptz NOT NULL);
	CREATE TABLE t.paused (at timestamptz NOT NULL);
	CREATE TABLE t.dumped (at timestamptz NOT NULL);
	CREATE TABLE public.plain (src text NOT NULL);
	CREATE ROLE alice LOGIN;});

# --- Helpers ---------------------------------------------------------------------

sub val { my ($n, $sql) = @_; return $n->safe_psql('postgres', $sql) }

# wait_for(NODE, SQL, EXPECTED, SECONDS): poll SQL (every 50 ms) until it
# returns EXPECTED or SECONDS pass.  Returns the seconds it took, or undef
# (and shows the last output).
sub wait_for
{
	my ($n, $sql, $expected, $seconds) = @_;
	my $t0 = time;
	my ($rc, $out, $err);
	while (time - $t0 < $seconds)
	{
		($rc, $out, $err) = $n->psql('postgres', $sql);
		return time - $t0 if $rc == 0 && $out eq $expected;
		usleep(50_000);
	}
	diag("after ${seconds}s, '$sql' gave '" . ($out // '') . "' ("
		  . ($err // '') . "), not '$expected'");
	return undef;
}

# (exit code, stdout, stderr) of SQL as superuser, errors with their
# SQLSTATE ("ERROR:  22023: ...") and detail.
sub psql_verbose
{
	my ($n, $sql) = @_;
	return $n->psql('postgres', "\\set VERBOSITY verbose\n$sql");
}

# The runs of schedule NAME created after the server time AFTER (SQL
# expression), as [id, created_at - run_at, run_at, created_at, status] in
# created_at order; times as epoch seconds.
sub runs_of
{
	my ($n, $name, $after) = @_;
	$after //= "'-infinity'";
	my $out = val($n, qq{
	SELECT id, extract(epoch FROM created_at - run_at),
	       extract(epoch FROM run_at), extract(epoch FROM created_at), status
	FROM jobs.runs WHERE name = '$name' AND created_at > $after
	ORDER BY created_at, id});
	return [ map { [ split /\|/ ] } grep { length } split /\n/, $out ];
}

# The definition NAME's column COL (text; '' for NULL).
sub def_col
{
	my ($n, $name, $col) = @_;
	return val($n, "SELECT ($col)::text FROM jobs.definitions WHERE name = '$name'");
}

# --- (1) An every-second schedule fires on time -------------------------------------
val($node,
	q{SELECT jobs.schedule('tick', 'every 1 second', 'INSERT INTO t.ticks VALUES (now())')});
is( val($node, q{
	SELECT concat_ws(' ', schedule, enabled, paused, next_run_at IS NOT NULL)
	FROM jobs.definitions WHERE name = 'tick'}),
	'every 1 second t f t',
	'tick: jobs.schedule created the definition with its schedule and a next_run_at');

# Follow three ticks: read next_run_at (a due time), wait until the run of
# that tick exists, and compare when it was enqueued and started with the
# due time.
my $tick_t0 = val($node, "SELECT created_at FROM jobs.definitions WHERE name = 'tick'");
my @late;
for my $i (1 .. 3)
{
	my $due = def_col($node, 'tick', 'next_run_at');
	ok(defined wait_for($node, qq{
		SELECT count(*) > 0 FROM jobs.runs
		WHERE name = 'tick' AND run_at >= '$due'::timestamptz}, 't', 5),
		"tick: the run due at $due was enqueued");
	my ($lag, $run_at) = split /\|/, val($node, qq{
		SELECT extract(epoch FROM created_at - '$due'::timestamptz), run_at
		FROM jobs.runs WHERE name = 'tick' AND run_at >= '$due'::timestamptz
		ORDER BY run_at LIMIT 1});
	note "tick $i: due $due, run_at $run_at, enqueued ${lag}s after the due time";
	cmp_ok($lag, '<=', 1.2, "tick $i: enqueued within about a second of its due time");
	cmp_ok($lag, '>=', -0.05, "tick $i: ... and not before it");
	push @late, $lag;
}
ok(defined wait_for($node, qq{
	SELECT count(*) >= 3 FROM jobs.runs
	WHERE name = 'tick' AND status = 'completed'
	  AND created_at <= '$tick_t0'::timestamptz + interval '6 s'}, 't', 10),
	'tick: at least 3 runs were enqueued within 6 s of jobs.schedule, and completed');
is( val($node, q{
	SELECT count(*) FROM (SELECT created_at - lag(created_at) OVER (ORDER BY created_at) AS gap
	                      FROM jobs.runs WHERE name = 'tick') g
	WHERE gap < interval '0.5 s' OR gap > interval '2 s'}),
	'0', 'tick: consecutive runs were enqueued about a second apart');
is( val($node, q{
	SELECT count(*) FROM jobs.runs
	WHERE name = 'tick' AND started_at > created_at + interval '1.5 s'}),
	'0', 'tick: every run started within a moment of being enqueued');
my $ticks_done = val($node,
	"SELECT count(*) FROM jobs.runs WHERE name = 'tick' AND status = 'completed'");
cmp_ok(val($node, 'SELECT count(*) FROM t.ticks'), '>=', $ticks_done,
	'tick: each completed run inserted its row');

# next_run_at advances; last_run_at and last_run_id follow the latest run,
# last_status is set.
my $next0 = def_col($node, 'tick', 'next_run_at');
ok(defined wait_for($node, qq{
	SELECT next_run_at > '$next0'::timestamptz FROM jobs.definitions WHERE name = 'tick'},
	't', 5), 'tick: next_run_at advances');
ok(defined wait_for($node, q{
	SELECT d.last_run_id = (SELECT max(id) FROM jobs.runs WHERE name = 'tick')
	       AND d.last_run_at = r.run_at AND d.next_run_at > d.last_run_at
	       AND d.last_status IN ('pending', 'running', 'completed')
	FROM jobs.definitions d JOIN jobs.runs r ON r.id = d.last_run_id
	WHERE d.name = 'tick'}, 't', 5),
	'tick: last_run_id is its latest run, last_run_at its time, last_status is set')
  or diag(val($node, "SELECT * FROM jobs.definitions WHERE name = 'tick'"));
# What last_status shows while the schedule ticks (for the record).
note 'tick: last_status over 2 s: ' . val($node, q{
	CREATE TEMP TABLE st (s text);
	DO $$
	BEGIN
	  FOR i IN 1 .. 40 LOOP
	    INSERT INTO st SELECT last_status FROM jobs.definitions WHERE name = 'tick';
	    COMMIT;
	    PERFORM pg_sleep(0.05);
	  END LOOP;
	END $$;
	SELECT string_agg(s || ' ' || n, ', ') FROM (SELECT s, count(*) n FROM st GROUP BY s) x;});
is(def_col($node, 'tick', 'skipped_ticks'), '0', 'tick: no tick was skipped');

# Paused, its last run finished: last_status says how it ended.
val($node, "SELECT jobs.pause('tick')");
ok(zj_wait_final($node, "name = 'tick'"), 'tick: paused, its last run finished');
ok(defined wait_for($node, q{
	SELECT d.last_status = 'completed' AND r.status = 'completed'
	       AND d.last_run_id = (SELECT max(id) FROM jobs.runs WHERE name = 'tick')
	FROM jobs.definitions d JOIN jobs.runs r ON r.id = d.last_run_id
	WHERE d.name = 'tick'}, 't', 5),
	'tick: last_status becomes completed once its last run completed')
  or diag(val($node, "SELECT * FROM jobs.definitions WHERE name = 'tick'"));

my $tick_max = val($node, "SELECT max(id) FROM jobs.runs WHERE name = 'tick'");
val($node, "SELECT jobs.resume('tick')");
ok(defined wait_for($node,
		"SELECT count(*) > 0 FROM jobs.runs WHERE name = 'tick' AND id > $tick_max", 't', 5),
	'tick: resumed, it fires again');
is(val($node, "SELECT jobs.unschedule('tick')"), 't', 'tick: jobs.unschedule returns true');
is(val($node, "SELECT count(*) FROM jobs.definitions WHERE name = 'tick'"),
	'0', 'tick: the definition is gone');
ok(zj_wait_final($node, "name = 'tick'"), 'tick: its last runs finished');
my $tick_last = val($node, "SELECT max(id) FROM jobs.runs WHERE name = 'tick'");
# Observation window (nothing may happen): 2.5 ticks.
usleep(2_500_000);
is(val($node, "SELECT count(*) FROM jobs.runs WHERE name = 'tick' AND id > $tick_last"),
	'0', 'tick: no run after jobs.unschedule');

# --- (2) Skip on overlap ---------------------------------------------------------------
# Every second, a job of 3 s.  Sampled every 10 ms for 8 s: never two
# unfinished runs of it.
val($node, q{SELECT jobs.schedule('slow', 'every 1 second', 'SELECT pg_sleep(3)')});
my $sample = val($node, qq{
	CREATE TEMP TABLE samples (unfinished int, running int);
	DO \$\$
	DECLARE
	  u int; r int;
	  deadline timestamptz := clock_timestamp() + interval '8 s';
	BEGIN
	  LOOP
	    SELECT count(*) FILTER (WHERE status NOT IN $final),
	           count(*) FILTER (WHERE status = 'running')
	      INTO u, r FROM jobs.runs WHERE name = 'slow';
	    INSERT INTO samples VALUES (u, r);
	    COMMIT;
	    EXIT WHEN clock_timestamp() > deadline;
	    PERFORM pg_sleep(0.01);
	  END LOOP;
	END \$\$;
	SELECT max(unfinished) || ' ' || max(running) || ' ' || count(*) FROM samples;});
my ($max_unfinished, $max_running, $samples) = split / /, $sample;
note "slow: max unfinished $max_unfinished, max running $max_running, $samples samples";
cmp_ok($samples, '>', 100, 'slow: sampled often while the schedule fired');
is($max_unfinished, '1', 'slow: never more than one unfinished run (and one at times)');
is($max_running, '1', 'slow: one running at times');
my $skipped = def_col($node, 'slow', 'skipped_ticks');
note "slow: skipped_ticks $skipped";
cmp_ok($skipped, '>=', 3, 'slow: skipped_ticks counts the ticks that found a run going');
isnt(def_col($node, 'slow', 'last_skipped_at'), '', 'slow: last_skipped_at is set');
ok(defined wait_for($node, qq{
	SELECT skipped_ticks > $skipped FROM jobs.definitions WHERE name = 'slow'}, 't', 5),
	'slow: skipped_ticks keeps growing');
# From the runs' own times: none started before the previous one finished.
is( val($node, q{
	SELECT count(*) FROM jobs.runs a JOIN jobs.runs b
	  ON a.name = 'slow' AND b.name = 'slow' AND a.id < b.id
	WHERE b.created_at < coalesce(a.finished_at, 'infinity')}),
	'0', 'slow: every run was enqueued after the previous one had finished');
cmp_ok(val($node, "SELECT count(*) FROM jobs.runs WHERE name = 'slow'"), '>=', 2,
	'slow: it ran several times');
is(val($node, "SELECT jobs.unschedule('slow')"), 't', 'slow: unscheduled');
ok(zj_wait_final($node, "name = 'slow'"), 'slow: its last run finished');

# --- (3) Catch-up after a stop ------------------------------------------------------------
# Every 2 seconds; the server is down for 6 s (three ticks or more are
# missed); after the start the schedule runs once, then every 2 s again.
val($node, q{SELECT jobs.schedule('catchup', 'every 2 seconds', 'INSERT INTO t.catch VALUES (now())')});
ok(defined wait_for($node,
		"SELECT count(*) >= 2 FROM jobs.runs WHERE name = 'catchup' AND status = 'completed'",
		't', 10),
	'catchup: ran twice before the stop');
# Stop between two ticks, its last run finished (a run left unfinished by
# the stop would rightly make the first tick after the start a skip).
ok(defined wait_for($node, qq{
	SELECT count(*) = 0 AND (SELECT next_run_at > clock_timestamp() + interval '1 s'
	                         FROM jobs.definitions WHERE name = 'catchup')
	FROM jobs.runs WHERE name = 'catchup' AND status NOT IN $final}, 't', 10),
	'catchup: between two ticks, nothing unfinished');
my ($due_before, $skipped_before) = split /\|/,
  val($node, "SELECT next_run_at, skipped_ticks FROM jobs.definitions WHERE name = 'catchup'");
$node->stop;
# The downtime itself: nothing to wait for, the server is down.
usleep(6_000_000);
$node->start;
my $started = val($node, 'SELECT pg_postmaster_start_time()');
note "catchup: due at $due_before, server started again at $started";
ok(defined wait_for($node, qq{
	SELECT count(*) >= 4 FROM jobs.runs
	WHERE name = 'catchup' AND created_at > '$started'::timestamptz AND status = 'completed'},
		't', 15),
	'catchup: after the start it runs again, and on');
my $after = runs_of($node, 'catchup', "'$started'::timestamptz");
my $started_epoch = val($node, "SELECT extract(epoch FROM '$started'::timestamptz)");
note 'catchup: runs after the start (id, created_at - run_at, run_at, created_at): '
  . join('; ', map { join(' ', @$_) } @$after);
my @created = map { $_->[3] } @$after;
cmp_ok($created[0] - $started_epoch, '<', 3,
	'catchup: the first run (the catch-up) came right after the start');
cmp_ok($created[1] - $created[0], '>', 1.8,
	'catchup: exactly one run for the missed ticks: the next came a whole interval later');
my @gaps = map { $created[$_] - $created[ $_ - 1 ] } 1 .. $#created;
note 'catchup: gaps between the runs after the start: ' . join(' ', @gaps);
is(scalar(grep { $_ < 1.8 || $_ > 3 } @gaps), 0, 'catchup: then one every 2 seconds');
is( val($node, qq{
	SELECT count(*) FROM jobs.runs WHERE name = 'catchup'
	AND created_at BETWEEN '$started'::timestamptz
	                   AND to_timestamp($created[0]) + interval '1.5 s'}),
	'1', 'catchup: one run in the first moments after the start');
cmp_ok(def_col($node, 'catchup', 'extract(epoch FROM next_run_at - now())'), '<=', 2.1,
	'catchup: next_run_at is the next tick after now');
note 'catchup: skipped_ticks before the stop ' . $skipped_before . ', now '
  . def_col($node, 'catchup', 'skipped_ticks');
is(val($node, "SELECT jobs.unschedule('catchup')"), 't', 'catchup: unscheduled');
ok(zj_wait_final($node, "name = 'catchup'"), 'catchup: its last run finished');

# --- (4) Pause and resume --------------------------------------------------------------
val($node, q{SELECT jobs.schedule('pz', 'every 1 second', 'INSERT INTO t.paused VALUES (now())')});
ok(defined wait_for($node,
		"SELECT count(*) >= 2 FROM jobs.runs WHERE name = 'pz' AND status = 'completed'",
		't', 10), 'pz: runs every second');
is(val($node, "SELECT jobs.pause('pz')"), 't', 'pz: jobs.pause returns true');
my $paused_at = val($node, 'SELECT clock_timestamp()');    # after its commit
is(def_col($node, 'pz', 'paused'), 'true', 'pz: paused');
ok(zj_wait_final($node, "name = 'pz'"), 'pz: runs enqueued before the pause finished');
# Observation window (nothing may happen): three ticks while paused.
usleep(3_000_000);
is(val($node, qq{
	SELECT count(*) FROM jobs.runs WHERE name = 'pz' AND created_at > '$paused_at'::timestamptz}),
	'0', 'pz: no run was enqueued during 3 s of pause');
is(val($node, "SELECT jobs.resume('pz')"), 't', 'pz: jobs.resume returns true');
my $resumed_at = val($node, 'SELECT clock_timestamp()');
is(def_col($node, 'pz', 'paused'), 'false', 'pz: resumed');
ok(defined wait_for($node, qq{
	SELECT count(*) >= 2 FROM jobs.runs
	WHERE name = 'pz' AND created_at > '$resumed_at'::timestamptz AND status = 'completed'},
		't', 5), 'pz: after jobs.resume it runs again');
is( val($node, qq{
	SELECT count(*) FROM jobs.runs WHERE name = 'pz'
	AND created_at BETWEEN '$resumed_at'::timestamptz AND '$resumed_at'::timestamptz + interval '1.5 s'}),
	'1', 'pz: one run in the first 1.5 s after the resume (no burst for the paused ticks)');
is(val($node, "SELECT jobs.unschedule('pz')"), 't', 'pz: unscheduled');
ok(zj_wait_final($node, "name = 'pz'"), 'pz: its last run finished');

# --- (5) define, trigger, drop --------------------------------------------------------------
val($node, q{
	SELECT jobs.define('d1', 'SELECT jobs.input() AS got, current_user AS who',
	                   queue => 'dq', priority => 7, max_attempts => 5,
	                   timeout => '42 s', max_concurrency => 2,
	                   description => 'a defined job')});
is( val($node, q{
	SELECT concat_ws('|', command, kind, queue, priority, max_attempts, timeout,
	                 max_concurrency, description, enabled, schedule IS NULL, next_run_at IS NULL)
	FROM jobs.definitions WHERE name = 'd1'}),
	'SELECT jobs.input() AS got, current_user AS who|sql|dq|7|5|00:00:42|2|a defined job|t|t|t',
	'define: the definition holds its settings, no schedule');
is(val($node, "SELECT max_concurrency FROM jobs.job_limits WHERE name = 'd1'"), '2',
	'define: max_concurrency is a limit on runs named d1');
my $su = val($node, 'SELECT current_user');
is(def_col($node, 'd1', 'owner'), $su, 'define: owned by the role that defined it');
my $t1 = val($node, q{SELECT jobs.trigger('d1', '{"a": 1}')});
like($t1, qr/^\d+$/, 'trigger: returns a run id');
is(zj_wait($node, $t1), 'completed', 'trigger: the run completed');
my $r = zj_run($node, $t1,
	qw(name kind command queue priority max_attempts timeout input output));
is_deeply(
	$r,
	{
		name => 'd1',
		kind => 'sql',
		command => 'SELECT jobs.input() AS got, current_user AS who',
		queue => 'dq',
		priority => 7,
		max_attempts => 5,
		timeout => '00:00:42',
		input => '{"a": 1}',
		output => qq({"got": {"a": 1}, "who": "$su"})
	},
	'trigger: the run has the definition\'s name, command, queue, priority, '
	  . 'max_attempts and timeout, and the input')
  or diag explain $r;
my $t2 = val($node, q{SELECT jobs.trigger('d1')});
is(zj_wait($node, $t2), 'completed', 'trigger without input: completed');
is(zj_run($node, $t2, 'input')->{input}, undef, '... with no input');

# Redefining changes what later triggers get.
val($node, q{SELECT jobs.define('d1', 'SELECT 2 AS two', queue => 'dq2', priority => 3)});
my $t3 = val($node, q{SELECT jobs.trigger('d1', '{"b": 2}')});
is(zj_wait($node, $t3), 'completed', 'trigger after redefine: completed');
$r = zj_run($node, $t3, qw(command queue priority output));
is_deeply($r, { command => 'SELECT 2 AS two', queue => 'dq2', priority => 3, output => '{"two": 2}' },
	'trigger after redefine: the new command and settings')
  or diag explain $r;

# A disabled definition cannot be triggered.
val($node, q{SELECT jobs.define('d1', 'SELECT 2 AS two', enabled => false)});
is(def_col($node, 'd1', 'enabled'), 'false', 'define enabled => false: disabled');
my $before = val($node, "SELECT count(*) FROM jobs.runs WHERE name = 'd1'");
my ($rc, $out, $err) = psql_verbose($node, q{SELECT jobs.trigger('d1')});
isnt($rc, 0, 'trigger of a disabled definition fails');
like($err, qr/ERROR:.*disabled/, '... saying it is disabled') or diag($err);
is(val($node, "SELECT count(*) FROM jobs.runs WHERE name = 'd1'"), $before,
	'... and enqueues nothing');

is(val($node, q{SELECT jobs.drop('d1')}), 't', 'drop: returns true');
is(val($node, "SELECT count(*) FROM jobs.definitions WHERE name = 'd1'"), '0',
	'drop: the definition is gone');
is(val($node, "SELECT count(*) FROM jobs.job_limits WHERE name = 'd1'"), '0',
	'drop: ... and its limit');
($rc, $out, $err) = psql_verbose($node, q{SELECT jobs.trigger('d1')});
isnt($rc, 0, 'trigger of a dropped definition fails');
like($err, qr/ERROR:.*d1/, '... naming it') or diag($err);
($rc, $out, $err) = $node->psql('postgres', q{SELECT jobs.drop('d1')});
ok($rc != 0 || $out eq 'f', 'drop of a missing definition: false or an error')
  or diag("rc $rc out $out err $err");

# Commands name tables as the caller would (the default search_path), as
# with jobs.enqueue: a triggered run and a scheduled one.
val($node, q{SELECT jobs.define('unq', 'INSERT INTO plain VALUES (''triggered'')')});
my $tu = val($node, q{SELECT jobs.trigger('unq')});
is(zj_wait($node, $tu), 'completed',
	'trigger: a command naming a table of the caller\'s search_path completes')
  or diag explain zj_run($node, $tu, qw(status error_message search_path));
val($node, q{SELECT jobs.schedule('unq_s', 'every 1 second', 'INSERT INTO plain VALUES (''scheduled'')')});
ok(defined wait_for($node,
		"SELECT count(*) > 0 FROM jobs.runs WHERE name = 'unq_s' AND status IN $final", 't', 5),
	'schedule: a run of a command naming a table of the default search_path finished');
is( val($node,
		"SELECT status FROM jobs.runs WHERE name = 'unq_s' AND status IN $final ORDER BY id LIMIT 1"),
	'completed', '... and completed');
val($node, q{SELECT jobs.unschedule('unq_s'); SELECT jobs.drop('unq')});
ok(zj_wait_final($node, "name IN ('unq', 'unq_s')"), 'unq, unq_s: runs finished');

# Settings jobs.enqueue refuses are refused when defined, not written into
# the runs the launcher enqueues.
for my $case (
	[ q{jobs.define('badset', 'SELECT 1', max_attempts => 0)},               'max_attempts' ],
	[ q{jobs.define('badset', 'SELECT 1', timeout => '-5 s')},               'timeout' ],
	[ q{jobs.define('badset', 'SELECT 1', queue => '')},                     'queue' ],
	[ q{jobs.schedule('badset', 'every 1 hour', 'SELECT 1', max_attempts => 0)}, 'max_attempts' ],
	[ q{jobs.schedule('badset', 'every 1 hour', 'SELECT 1', timeout => '-5 s')}, 'timeout' ])
{
	my ($call, $what) = @$case;
	my ($rc, $out, $err) = $node->psql('postgres', "SELECT $call");
	isnt($rc, 0, "$call fails") or val($node, q{SELECT jobs.drop('badset')});
	like($err, qr/ERROR:.*$what/, "... about $what") or diag($err);
}
is(val($node, "SELECT count(*) FROM jobs.definitions WHERE name = 'badset'"), '0',
	'... and no definition with invalid settings exists');

# A role without EXECUTE on jobs.set_job_concurrency cannot remove the
# DBA's job limit by defining or dropping a job of that name.
val($node, q{SELECT jobs.set_job_concurrency('etl', 2)});
$node->psql('postgres', q{SELECT jobs.define('etl', 'SELECT 1')},
	extra_params => [ '-U', 'alice' ]);
is(val($node, "SELECT max_concurrency FROM jobs.job_limits WHERE name = 'etl'"), '2',
	'alice\'s jobs.define of the name leaves the DBA\'s job limit alone');
$node->psql('postgres', q{SELECT jobs.drop('etl')}, extra_params => [ '-U', 'alice' ]);
is(val($node, "SELECT max_concurrency FROM jobs.job_limits WHERE name = 'etl'"), '2',
	'... and so does her jobs.drop');
val($node, q{SELECT jobs.drop('etl'); SELECT jobs.set_job_concurrency('etl', NULL)});

# jobs.drop also removes a schedule: its runs stop.
val($node, q{SELECT jobs.schedule('dropme', 'every 1 second', 'SELECT 1')});
ok(defined wait_for($node, "SELECT count(*) > 0 FROM jobs.runs WHERE name = 'dropme'", 't', 5),
	'drop: a scheduled definition fired');
is(val($node, q{SELECT jobs.drop('dropme')}), 't', 'drop: dropped it');
ok(zj_wait_final($node, "name = 'dropme'"), 'drop: its runs finished');
my $dropme_last = val($node, "SELECT max(id) FROM jobs.runs WHERE name = 'dropme'");
# Observation window (nothing may happen): 2.5 ticks.
usleep(2_500_000);
is(val($node, "SELECT count(*) FROM jobs.runs WHERE name = 'dropme' AND id > $dropme_last"),
	'0', 'drop: no run of a dropped schedule');

# --- (6) Invalid schedules and time zones fail at once -------------------------------------------
for my $case (
	[ '61 * * * *',      1 ],
	[ '* 25 * * *',      3 ],
	[ '0 0 32 * *',      5 ],
	[ '0 0 * 13 *',      7 ],
	[ '0 0 * * foo',     9 ],
	[ '*/0 * * * *',     3 ],
	[ '* * * *',         undef ],
	[ '* * * * * *',     undef ],
	[ '@fortnightly',    undef ],
	[ 'every banana',    undef ],
	[ 'every 0 seconds', undef ],
	[ '',                undef ])
{
	my ($expr, $pos) = @$case;
	($rc, $out, $err) = psql_verbose($node,
		"SELECT jobs.schedule('bad', '$expr', 'SELECT 1')");
	isnt($rc, 0, "schedule '$expr' fails");
	like($err, qr/ERROR:  22023: invalid schedule "\Q$expr\E"/,
		'... with 22023 invalid schedule') or diag($err);
	like($err, qr/DETAIL:  At character \d+|DETAIL:  at character \d+/i,
		'... and the position') or diag($err);
	like($err, qr/at character $pos\b/i, "... at character $pos") or diag($err)
	  if defined $pos;
}
($rc, $out, $err) = psql_verbose($node,
	"SELECT jobs.schedule('bad', '0 3 * * *', 'SELECT 1', timezone => 'Mars/Olympus_Mons')");
isnt($rc, 0, 'schedule with an unknown time zone fails');
like($err, qr/ERROR:  22023: time zone "Mars\/Olympus_Mons" is not recognized/,
	'... with 22023 time zone is not recognized') or diag($err);
($rc, $out, $err) = psql_verbose($node,
	"SELECT jobs.next_run('61 * * * *', now())");
like($err, qr/ERROR:  22023: invalid schedule/, 'next_run of an invalid schedule fails too')
  or diag($err);
is(val($node, "SELECT count(*) FROM jobs.definitions WHERE name = 'bad'"), '0',
	'the failed calls created no definition');

# --- (7) pg_dump and restore ---------------------------------------------------------------------
# A definition, a cron schedule in a time zone that will not fire during
# the test, a paused schedule, and an every-second schedule that is firing
# while the dump is taken.
val($node, q{
	SELECT jobs.define('d_def', 'SELECT jobs.input() AS got', queue => 'dumpq', priority => 4,
	                   max_attempts => 2, timeout => '7 s', description => 'kept by pg_dump');
	SELECT jobs.schedule('d_nightly', '30 3 * * 1-5', 'SELECT 1', timezone => 'Europe/London');
	SELECT jobs.schedule('d_paused', 'every 1 hour', 'SELECT 1');
	SELECT jobs.pause('d_paused');
	SELECT jobs.schedule('d_tick', 'every 1 second', 'INSERT INTO t.dumped VALUES (now())');});
ok(defined wait_for($node,
		"SELECT count(*) >= 2 FROM jobs.runs WHERE name = 'd_tick' AND status = 'completed'",
		't', 10), 'dump: d_tick fires on the source server');
my $defs_sql = q{
	SELECT string_agg(concat_ws('|', name, owner, command, kind, queue, priority, max_attempts,
	                            timeout, max_concurrency, description, enabled, schedule,
	                            timezone, paused), E'\n' ORDER BY name)
	FROM jobs.definitions};

my $bindir = $node->config_data('--bindir');
my $dumpfile = File::Spec->catfile(PostgreSQL::Test::Utils::tempdir(), 'zapjobs.sql');
$node->command_ok(
	[ "$bindir/pg_dump", '-d', $node->connstr('postgres'), '-f', $dumpfile ],
	'dump: pg_dump of the database');
my $defs_src = val($node, $defs_sql);
note "definitions dumped:\n$defs_src";
my $dump = slurp_file($dumpfile);
like($dump, qr/CREATE EXTENSION IF NOT EXISTS zapjobs/, 'dump: has CREATE EXTENSION');
like($dump, qr/COPY jobs\.definitions /, 'dump: has the data of jobs.definitions');
$node->stop;

my $copy = zj_new_node('restored', max_workers => 4, extension => 0);
$copy->command_ok(
	[
		"$bindir/psql", '-X', '-q', '-1', '-v', 'ON_ERROR_STOP=1',
		'-d', $copy->connstr('postgres'), '-f', $dumpfile
	],
	'dump: restored into a fresh server with psql (one transaction)');
my $restored_at = val($copy, 'SELECT clock_timestamp()');
is(val($copy, $defs_sql), $defs_src, 'restore: the definitions came back as they were');
is(def_col($copy, 'd_tick', 'schedule'), 'every 1 second', 'restore: d_tick is scheduled');
ok(defined wait_for($copy, qq{
	SELECT count(*) >= 3 FROM jobs.runs
	WHERE name = 'd_tick' AND created_at > '$restored_at'::timestamptz AND status = 'completed'},
		't', 30), 'restore: d_tick fires on the restored server');
ok(defined wait_for($copy, qq{
	SELECT count(*) >= 3 FROM t.dumped WHERE at > '$restored_at'::timestamptz}, 't', 5),
	'restore: ... with its effects');
ok(defined wait_for($copy, qq{
	SELECT d.next_run_at > '$restored_at'::timestamptz
	       AND d.last_run_at > '$restored_at'::timestamptz
	       AND r.created_at > '$restored_at'::timestamptz AND d.last_status IS NOT NULL
	FROM jobs.definitions d JOIN jobs.runs r ON r.id = d.last_run_id
	WHERE d.name = 'd_tick'}, 't', 5),
	'restore: its next_run_at, last_run_at and last_run_id move on');
is( val($copy, qq{
	SELECT count(*) FROM jobs.runs WHERE name IN ('d_paused', 'd_nightly')}),
	'0', 'restore: the paused and the nightly schedules did not fire');
like(def_col($copy, 'd_nightly', 'next_run_at'), qr/\d/, 'restore: d_nightly has a next_run_at');
is( val($copy, q{
	SELECT jobs.next_run('30 3 * * 1-5', updated_at, 'Europe/London') = next_run_at
	FROM jobs.definitions WHERE name = 'd_nightly'}),
	't', 'restore: ... its next tick in its time zone');
my $dt = val($copy, q{SELECT jobs.trigger('d_def', '{"restored": true}')});
is(zj_wait($copy, $dt), 'completed', 'restore: d_def can be triggered');
$r = zj_run($copy, $dt, qw(queue priority max_attempts timeout output));
is_deeply($r,
	{ queue => 'dumpq', priority => 4, max_attempts => 2, timeout => '00:00:07',
	  output => '{"got": {"restored": true}}' },
	'restore: ... and its run has the definition\'s settings') or diag explain $r;
val($copy, q{SELECT jobs.resume('d_paused')});
is(def_col($copy, 'd_paused', 'paused'), 'false', 'restore: the paused schedule can be resumed');
is(val($copy, "SELECT jobs.unschedule('d_tick')"), 't', 'restore: d_tick can be unscheduled');

# --- @reboot: once after each server start, not after a launcher restart ---
val($copy, q{CREATE TABLE boots (at timestamptz DEFAULT now());
	SELECT jobs.schedule('at_boot', '@reboot', 'INSERT INTO boots DEFAULT VALUES')});
is(def_col($copy, 'at_boot', 'next_run_at'), '', '@reboot: no next time of its own');
$copy->restart;
ok($copy->poll_query_until('postgres', 'SELECT count(*) FROM boots', '1'),
	'@reboot: fired after the server started');
is(def_col($copy, 'at_boot', 'next_run_at'), '', '@reboot: ... and has no next time again');
my $old_launcher = val($copy, 'SELECT launcher_pid FROM jobs.pool');
val($copy, "SELECT pg_terminate_backend($old_launcher)");
ok($copy->poll_query_until('postgres',
	"SELECT launcher_pid IS NOT NULL AND launcher_pid <> $old_launcher FROM jobs.pool"),
	'@reboot: the launcher was restarted (by the supervisor)');
# The new launcher looks at @reboot schedules before it fires any other:
# once a schedule made after its start has fired, it has looked.
val($copy, q{SELECT jobs.schedule('after_restart', 'every 1 second', 'SELECT 1')});
ok($copy->poll_query_until('postgres', q{SELECT count(*) > 0 FROM jobs.runs WHERE name = 'after_restart'}),
	'@reboot: the new launcher fires schedules');
is(val($copy, 'SELECT count(*) FROM boots'), '1', '@reboot: ... and did not fire it again');
val($copy, q{SELECT jobs.unschedule('after_restart')});
$copy->restart;
ok($copy->poll_query_until('postgres', 'SELECT count(*) FROM boots', '2'),
	'@reboot: fired again after the next server start');

$copy->stop;
done_testing();
