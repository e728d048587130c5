# Logs and views: jobs.log() and RAISE NOTICE/INFO/WARNING inside a job
# land in jobs.logs (kept when the job fails) and as "log" events; long and
# odd messages make valid, bounded payloads; logs per run are bounded by
# zapjobs.max_log_lines; jobs.active, jobs.history, jobs.failures and
# jobs.stats show what happened, each to the roles that may see the runs.
use strict;
use warnings;
use lib 'test/perl';

use Encode ();
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use ZapjobsTest;

my $node = zj_new_node('logs_views', max_workers => 4,
	conf => "# single attempts unless a test asks for more\nzapjobs.default_max_attempts = 1\n");

$node->safe_psql(
	'postgres', q{
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	CREATE ROLE carol LOGIN;
	GRANT alice TO carol;
});

sub val { return zj_sql($node, $_[0]) }
sub val_as { return zj_sql($node, $_[1], user => $_[0]) }

# --- Helpers: a LISTEN job_update session (zj_listen in ZapjobsTest) ------------

# Events of run ID of other kinds than "run" that did not arrive between
# its "running" event and its final one (as "type:position" strings).
sub out_of_order
{
	my ($l, $id) = @_;
	my %final = map { $_ => 1 } zj_final_statuses();
	my ($running, $end, @other);
	my $i = 0;
	for my $ev (@{ $l->{events} })
	{
		if (defined $ev->{id} && $ev->{id} eq $id)
		{
			if ($ev->{type} eq 'run')
			{
				$running //= $i if $ev->{status} eq 'running';
				$end //= $i if $final{ $ev->{status} };
			}
			else
			{
				push @other, [ $ev->{type}, $i ];
			}
		}
		$i++;
	}
	return map { "$_->[0]:$_->[1]" }
	  grep {
		     !defined $running
		  || $_->[1] < $running
		  || !defined $end
		  || $_->[1] > $end
	  } @other;
}

# Wait until run ID has at least N log lines (they are written by the
# launcher shortly after the job writes them).
sub wait_logs
{
	my ($id, $n) = @_;
	return $node->poll_query_until('postgres',
		"SELECT count(*) >= $n FROM jobs.logs WHERE run_id = $id");
}

# Run ID's log lines, "level|message", one a line in order.
sub logs_of
{
	my ($id) = @_;
	return val(
		qq{SELECT string_agg(level || '|' || message, E'\\n' ORDER BY id)
		   FROM jobs.logs WHERE run_id = $id});
}

# Wait until run ID is running; true if it is.
sub wait_running
{
	my ($id) = @_;
	return $node->poll_query_until('postgres',
		"SELECT status FROM jobs.runs WHERE id = $id", 'running');
}

# Check that the rows of a view come newest first by finished_at.
sub newest_first
{
	my ($sql) = @_;
	my @t = split /\n/, val($sql);
	for my $i (1 .. $#t)
	{
		return 0 if $t[$i] > $t[ $i - 1 ];
	}
	return 1;
}

# --- (a) jobs.log() inside a job ---------------------------------------------------------
my $l = zj_listen($node);
my $lg = zj_enqueue($node,
	q{SELECT jobs.log('info', 'hello from a job', '{"k": 1, "s": "x"}');
	  SELECT jobs.log('WARNING', 'second line')}, name => 'logger');
is(zj_wait($node, $lg), 'completed', 'a job writing two log lines completes');
ok(wait_logs($lg, 2), '... its lines arrive in jobs.logs');
is( val(qq{SELECT string_agg(concat_ws('|', attempt, level, message, context::text),
	                         E'\\n' ORDER BY id)
	       FROM jobs.logs WHERE run_id = $lg}),
	qq{1|info|hello from a job|{"k": 1, "s": "x"}\n1|warning|second line},
	'... with attempt, level (lower case), message and context, in order');
is( val(qq{SELECT bool_and(l.at BETWEEN r.started_at AND r.finished_at + interval '5 s')
	       FROM jobs.logs l JOIN jobs.runs r ON r.id = l.run_id WHERE l.run_id = $lg}),
	't', '... timestamped while the job ran');
ok(zj_listen_until($l, sub { zj_listen_events($l, $lg, 'log') >= 2 }),
	'... and published as 2 log events');
ok( zj_listen_until(
		$l, sub { grep { $_->{status} eq 'completed' } zj_listen_events($l, $lg, 'run') }),
	'... and the run\'s completed event');
zj_listen_quit($l);
is_deeply($l->{bad}, [], '... payloads are strict UTF-8 JSON with a "type"');
my @le = zj_listen_events($l, $lg, 'log');
is(join('|', map { $_->{level} // 'null' } @le), 'info|warning', '... levels');
is(join('|', map { $_->{message} // 'null' } @le),
	'hello from a job|second line', '... messages');
is(join('|', map { $_->{name} // 'null' } @le), 'logger|logger', '... job name');
ok(!grep({ !defined $_->{at} } @le), '... with "at"');
is_deeply([ out_of_order($l, $lg) ], [],
	'... the log events come between the run\'s running and completed events');

my ($rc, $out, $err) =
  $node->psql('postgres', q{SELECT jobs.log('info', 'outside'); SELECT 'done'});
is($rc, 0, 'jobs.log() outside a job succeeds');
like($err, qr/NOTICE:  .*outside a running job/, '... with a notice');
is(val(q{SELECT count(*) FROM jobs.logs WHERE message = 'outside'}), '0',
	'... and writes nothing');

# --- (b) Logs of failing and rolled-back jobs are kept ---------------------------------------
my $f = zj_enqueue($node,
	q{DO $$ BEGIN
	    PERFORM jobs.log('info', 'line 1');
	    PERFORM jobs.log('notice', 'line 2', '{"n": 2}');
	    PERFORM jobs.log('error', 'line 3');
	    RAISE EXCEPTION 'job failed after logging';
	  END $$}, max_attempts => 1);
is(zj_wait($node, $f), 'failed', 'a job that logs 3 lines and raises fails');
ok(wait_logs($f, 3), '... its log lines arrive');
is( val(qq{SELECT string_agg(level || '|' || message, E'\\n' ORDER BY id)
	       FROM (SELECT * FROM jobs.logs WHERE run_id = $f ORDER BY id LIMIT 3) s}),
	"info|line 1\nnotice|line 2\nerror|line 3",
	'... the 3 lines are kept, in order');
note('all log lines of the failed run: ' . logs_of($f));

my $retried = zj_enqueue($node,
	q{DO $$ BEGIN PERFORM jobs.log('info', 'trying'); PERFORM 1/0; END $$},
	max_attempts => 2, retry_base => "'100 ms'");
is(zj_wait($node, $retried), 'failed', 'a failing job with 2 attempts fails');
ok(wait_logs($retried, 2), '... its log lines arrive');
is( val(qq{SELECT string_agg(attempt || '|' || message, ',' ORDER BY id)
	       FROM jobs.logs WHERE run_id = $retried AND message = 'trying'}),
	'1|trying,2|trying',
	'... one line per attempt, with the attempt number');

my $rolled = zj_enqueue($node,
	q{DO $$ BEGIN
	    BEGIN
	      PERFORM jobs.log('info', 'in a rolled-back block');
	      RAISE EXCEPTION 'undo';
	    EXCEPTION WHEN raise_exception THEN NULL;
	    END;
	  END $$});
is(zj_wait($node, $rolled), 'completed',
	'a job that logs in a subtransaction it rolls back completes');
ok(wait_logs($rolled, 1), '... and its line is kept');
is(logs_of($rolled), 'info|in a rolled-back block', '... as written');

# --- (c) RAISE and server notices --------------------------------------------------------
my $raise = zj_enqueue($node,
	q{DO $$ BEGIN
	    RAISE NOTICE 'n1 %', 1;
	    RAISE INFO 'i1';
	    RAISE WARNING 'w1';
	    PERFORM jobs.log('info', 'explicit');
	    DROP TABLE IF EXISTS zj_no_such_table;
	    RAISE NOTICE 'n2';
	  END $$});
is(zj_wait($node, $raise), 'completed', 'a job raising notices completes');
ok(wait_logs($raise, 6), '... its 6 lines arrive');
is( logs_of($raise),
	join("\n",
		'notice|n1 1', 'info|i1',
		'warning|w1', 'info|explicit',
		'notice|table "zj_no_such_table" does not exist, skipping', 'notice|n2'),
	'... RAISE NOTICE/INFO/WARNING and server notices land in order with their levels');

# --- (e) Long, multibyte and odd messages ---------------------------------------------------
$l = zj_listen($node);
# 20000 bytes each, of 2-, 3- and 4-byte characters.
my %big = (233 => 10000, 8364 => 6667, 128512 => 5000);
my $big = zj_enqueue($node,
	join('; ',
		map { "SELECT jobs.log('info', repeat(chr($_), $big{$_}))" }
		  sort { $a <=> $b } keys %big));
is(zj_wait($node, $big), 'completed',
	'a job logging 20000-byte messages of multibyte characters completes');
ok(wait_logs($big, 3), '... its 3 lines arrive');
for my $cp (sort { $a <=> $b } keys %big)
{
	is( val(qq{SELECT count(*) FROM jobs.logs
	           WHERE run_id = $big AND octet_length(message) > 12
	             AND message LIKE '% [truncated]'
	             AND starts_with(repeat(chr($cp), $big{$cp}), left(message, -12))}),
		'1',
		"... the U+" . sprintf('%04X', $cp) . " line is kept, cut to a prefix of the message and marked");
}
ok(zj_listen_until($l, sub { zj_listen_events($l, $big, 'log') >= 3 }),
	'... 3 log events published');
my @big = zj_listen_events($l, $big, 'log');

my $odd_msg = qq{a"b\\c\n\t\x01\x1f\x7f</script>\x{2028}};
my $odd = zj_enqueue($node,
	q{SELECT jobs.log('info', E'a"b\\\\c\\n\\t' || chr(1) || chr(31) || chr(127)
	                     || '</script>' || chr(8232), '{"q": "x\\"y"}')});
is(zj_wait($node, $odd), 'completed', 'a job logging quotes and control characters completes');
ok(wait_logs($odd, 1), '... its line arrives');
is( val(qq{SELECT message = E'a"b\\\\c\\n\\t' || chr(1) || chr(31) || chr(127)
	                     || '</script>' || chr(8232)
	              AND context->>'q' = 'x"y'
	       FROM jobs.logs WHERE run_id = $odd}),
	't', '... stored as written, with its context');
ok(zj_listen_until($l, sub { zj_listen_events($l, $odd, 'log') >= 1 }),
	'... published as a log event');
ok( zj_listen_until(
		$l, sub { grep { $_->{status} eq 'completed' } zj_listen_events($l, $odd, 'run') }),
	'... and the run\'s completed event');
zj_listen_quit($l);
is_deeply([ map { out_of_order($l, $_) } $big, $odd ], [],
	'the log events of both runs come between their running and completed events');
is_deeply($l->{bad}, [], 'all payloads are strict UTF-8 JSON objects with a "type"');

for my $ev (@big)
{
	cmp_ok($ev->{_bytes}, '<', 8000, 'a long log event is under 8000 bytes');
	ok($ev->{truncated}, '... marked "truncated"') or diag(explain({ %$ev, message => '...' }));
	my $m = $ev->{message} // '';
	ok($m =~ /^([\x{e9}]+|[\x{20ac}]+|[\x{1f600}]+)(?:\x{2026}|\.\.\.)?$/,
		'... its message is non-empty, cut between characters of the original')
	  or diag('message starts with ' . substr($m, 0, 20));
}
my ($oe) = zj_listen_events($l, $odd, 'log');
is(($oe // {})->{message}, $odd_msg,
	'quotes, backslashes and control characters survive JSON escaping');
ok(!($oe // {})->{truncated}, '... not marked truncated');

($rc, $out, $err) = $node->psql('postgres',
	"\\set VERBOSITY verbose\nSELECT jobs.log('loud', 'x')");
isnt($rc, 0, 'jobs.log() with an unknown level is an error (outside a job too)');
like($err, qr/ERROR:  22023:/, '... 22023') or diag($err);
my $badlevel = zj_enqueue($node, q{SELECT jobs.log('fatal', 'x')});
is(zj_wait($node, $badlevel), 'failed', 'jobs.log() with level "fatal" fails the job');
is(zj_run($node, $badlevel, 'error_sqlstate')->{error_sqlstate}, '22023', '... with 22023');

# --- (f) Views ------------------------------------------------------------------------------
$node->safe_psql('postgres', q{SELECT jobs.pause_queue('held')});
my @a_ok = map { zj_enqueue($node, 'SELECT 1 AS one', name => 'stat_a') } 1 .. 3;
my @a_fail = map { zj_enqueue($node, 'SELECT 1/0', name => 'stat_a') } 1 .. 2;
my $b_ok = zj_enqueue($node, 'SELECT 1', name => 'stat_b');
my $b_sched = zj_enqueue($node, 'SELECT 1', name => 'stat_b',
	run_at => "now() + interval '1 hour'");
my $b_held = zj_enqueue($node, 'SELECT 1', name => 'stat_b', queue => 'held');
my $b_cancel = zj_enqueue($node, 'SELECT 1', name => 'stat_b',
	run_at => "now() + interval '1 hour'");
val("SELECT jobs.cancel($b_cancel)");
my $b_retry = zj_enqueue($node, 'SELECT 1/0', name => 'stat_b',
	max_attempts => 3, retry_base => "'1 hour'");
my $c_run = zj_enqueue($node,
	q{SELECT jobs.progress(1, 4, 'sleeping'); SELECT pg_sleep(60)},
	name => 'stat_c');
ok(zj_wait_final($node, "name = 'stat_a' OR id = $b_ok"),
	'view runs: the completed and failed runs are done');
ok( $node->poll_query_until('postgres',
		"SELECT status FROM jobs.runs WHERE id = $b_retry", 'awaiting_retry'),
	'... one run is awaiting a retry');
ok(wait_running($c_run), '... one is running');

# jobs.stats
my $stats_cols =
  q{concat_ws('|', scheduled, pending, running, awaiting_retry, completed, failed,
              cancelled, completed_today, failed_today, finished_last_minute,
              avg_duration IS NOT NULL)};
is(val("SELECT $stats_cols FROM jobs.stats WHERE name = 'stat_a'"),
	'0|0|0|0|3|2|0|3|2|5|t',
	'jobs.stats for stat_a: 3 completed, 2 failed (today, last minute), average duration');
is(val("SELECT $stats_cols FROM jobs.stats WHERE name = 'stat_b'"),
	'1|1|0|1|1|0|1|1|0|2|t',
	'jobs.stats for stat_b: scheduled, pending, awaiting_retry, completed, cancelled one each');
is(val("SELECT concat_ws('|', running, completed, failed) FROM jobs.stats WHERE name = 'stat_c'"),
	'1|0|0', 'jobs.stats for stat_c: 1 running');
is(val("SELECT count(*) FROM jobs.stats WHERE name IN ('stat_a', 'stat_b', 'stat_c')"),
	'3', '... one row per name');

# jobs.active
is( val(qq{SELECT string_agg(id || '|' || status, ',' ORDER BY id) FROM jobs.active
	       WHERE name IN ('stat_a', 'stat_b', 'stat_c')}),
	"$b_held|pending,$c_run|running",
	'jobs.active lists the pending and the running run, not scheduled, awaiting or finished ones');
is( val(qq{SELECT concat_ws('|', queue, owner = current_user::regrole, attempt, started_at IS NOT NULL,
	                       elapsed > interval '0', progress_current, progress_total,
	                       progress_message, round(percent), eta IS NULL OR eta >= interval '0')
	       FROM jobs.active WHERE id = $c_run}),
	'default|t|1|t|t|1|4|sleeping|25|t',
	'... the running run with its live progress, percent and elapsed time');
is( val(qq{SELECT concat_ws('|', queue, status, started_at IS NULL, progress_current IS NULL,
	                       percent IS NULL)
	       FROM jobs.active WHERE id = $b_held}),
	'held|pending|t|t|t', '... the pending run without progress');

# jobs.history
is( val(q{SELECT count(*) FROM jobs.history
	      WHERE status NOT IN ('completed', 'failed', 'cancelled')}),
	'0', 'jobs.history has only finished runs');
is( val(q{SELECT string_agg(id::text, ',' ORDER BY id) FROM jobs.history}),
	val(q{SELECT string_agg(id::text, ',' ORDER BY id) FROM jobs.runs
	      WHERE status IN ('completed', 'failed', 'cancelled')}),
	'... all of them');
ok(newest_first(q{SELECT extract(epoch FROM finished_at) FROM jobs.history}),
	'... newest first');
is( val(qq{SELECT concat_ws('|', name, queue, owner = current_user::regrole, status, attempt,
	                       created_at IS NOT NULL,
	                       started_at IS NOT NULL, duration = finished_at - started_at,
	                       error_sqlstate, error_message, output::text)
	       FROM jobs.history WHERE id = $a_fail[0]}),
	'stat_a|default|t|failed|1|t|t|t|22012|division by zero',
	'... a failed run with its error');
is( val(qq{SELECT concat_ws('|', status, output::text) FROM jobs.history WHERE id = $a_ok[0]}),
	'completed|{"one": 1}', '... a completed run with its output');

# jobs.failures
is( val(qq{SELECT string_agg(concat_ws('|', run_id, name, attempt, outcome, error_sqlstate,
	                                   error_message, run_status), ',' ORDER BY run_id)
	       FROM jobs.failures
	       WHERE name IN ('stat_a', 'stat_b', 'stat_c')}),
	join(',',
		"$a_fail[0]|stat_a|1|failed|22012|division by zero|failed",
		"$a_fail[1]|stat_a|1|failed|22012|division by zero|failed",
		"$b_retry|stat_b|1|failed|22012|division by zero|awaiting_retry"),
	'jobs.failures lists the failed attempts with their run status');
is( val(qq{SELECT count(*) FROM jobs.failures WHERE run_id = $retried}),
	'2', '... every failed attempt of a run');
ok(newest_first(q{SELECT extract(epoch FROM finished_at) FROM jobs.failures}),
	'... newest first');

val("SELECT jobs.cancel($c_run)");
is(zj_wait($node, $c_run), 'cancelled', 'the running view run is cancelled');
$node->safe_psql('postgres', q{SELECT jobs.resume_queue('held')});
is(zj_wait($node, $b_held), 'completed', 'the held run completes once its queue resumes');

# --- (g) Row-level security on the views -------------------------------------------------
my $a1 = zj_enqueue($node, q{SELECT jobs.log('info', 'alice 1')},
	user => 'alice', name => 'alice_job');
my $a2 = zj_enqueue($node,
	q{DO $$ BEGIN PERFORM jobs.log('info', 'alice 2'); PERFORM 1/0; END $$},
	user => 'alice', name => 'alice_job');
my $a3 = zj_enqueue($node,
	q{SELECT jobs.progress(1, 2, 'alice running'); SELECT pg_sleep(60)},
	user => 'alice', name => 'alice_job');
my $b1 = zj_enqueue($node, q{SELECT jobs.log('info', 'bob 1')},
	user => 'bob', name => 'bob_job');
is(zj_wait($node, $a1, user => 'alice'), 'completed', "alice's logging run completes");
is(zj_wait($node, $a2, user => 'alice'), 'failed', "alice's failing run fails");
is(zj_wait($node, $b1, user => 'bob'), 'completed', "bob's run completes");
ok(wait_running($a3), "alice's sleeping run is running");
ok(wait_logs($a1, 1) && wait_logs($a2, 1) && wait_logs($b1, 1), 'their log lines arrived');
# The running run's progress is live in jobs.active (as superuser).
ok( $node->poll_query_until('postgres',
		"SELECT progress_current FROM jobs.active WHERE id = $a3", '1'),
	"... alice's running run shows its progress");

my $alice_ids = "$a1, $a2, $a3";
my %view_sql = (
	'jobs.history' => "SELECT count(*) FROM jobs.history WHERE id IN ($alice_ids)",
	'jobs.failures' => "SELECT count(*) FROM jobs.failures WHERE run_id IN ($alice_ids)",
	'jobs.active' => "SELECT count(*) FROM jobs.active WHERE id IN ($alice_ids)",
	'jobs.stats' =>
	  "SELECT coalesce(sum(completed + failed + running), 0) FROM jobs.stats WHERE name = 'alice_job'",
	'jobs.logs' => "SELECT count(*) FROM jobs.logs WHERE run_id IN ($alice_ids)",
	'jobs.attempts' => "SELECT count(*) FROM jobs.attempts WHERE run_id IN ($alice_ids)",
	'jobs.runs' => "SELECT count(*) FROM jobs.runs WHERE id IN ($alice_ids)");
my %alice_sees = (
	'jobs.history' => 2,
	'jobs.failures' => 1,
	'jobs.active' => 1,
	'jobs.stats' => 3,
	'jobs.logs' => 2,
	'jobs.attempts' => 1,
	'jobs.runs' => 3);
for my $v (sort keys %view_sql)
{
	is(val_as('bob', $view_sql{$v}), '0', "bob sees none of alice's rows in $v");
	is(val_as('carol', $view_sql{$v}), $alice_sees{$v},
		"carol (a member of alice) sees alice's $alice_sees{$v} in $v");
	is(val_as('alice', $view_sql{$v}), $alice_sees{$v},
		"alice sees her $alice_sees{$v} in $v");
}
# Without a filter bob sees only his own rows.
is( val_as('bob',
		q{SELECT count(*) FROM jobs.history WHERE owner <> 'bob'::regrole}),
	'0', 'bob sees only his own runs in jobs.history');
is( val_as('bob',
		q{SELECT count(*) FROM jobs.active WHERE owner <> 'bob'::regrole}),
	'0', '... and in jobs.active');
is( val_as('bob',
		q{SELECT string_agg(name || '|' || completed, ',') FROM jobs.stats}),
	'bob_job|1', '... and jobs.stats counts only his runs');
is(val_as('bob', "SELECT count(*) FROM jobs.logs WHERE run_id = $b1"),
	'1', '... and sees his own log line');
is( val_as('carol',
		"SELECT concat_ws('|', progress_current, progress_total, progress_message) FROM jobs.active WHERE id = $a3"
	),
	'1|2|alice running',
	"carol sees the live progress of alice's running run");
is(val_as('alice', "SELECT jobs.cancel($a3)"), 't', "alice cancels her running run");
is(zj_wait($node, $a3, user => 'alice'), 'cancelled', '... it is cancelled');

# --- (d) Bounded logs ----------------------------------------------------------------------------
# The limit is SUSET: set it for the server and reload.  Run a 50-line job
# until a run sees the new limit (it applies to runs started after the
# reload reaches the workers).
# Run ID's log is PREFIX 1..5 and a warning that DROPPED lines were dropped.
sub check_bounded
{
	my ($id, $prefix, $dropped, $what) = @_;
	my @lines = split /\n/, logs_of($id);
	is(join(',', @lines[ 0 .. 4 ]), join(',', map { "$prefix $_" } 1 .. 5), $what);
	is(scalar @lines, 6, '... and one line more');
	like(
		$lines[-1],
		qr/^warning\|$dropped log lines dropped \(zapjobs\.max_log_lines( is 5)?\)$/,
		"... a warning that $dropped lines were dropped");
	return;
}

val(q{ALTER SYSTEM SET zapjobs.max_log_lines = 5});
val(q{SELECT pg_reload_conf()});
my $chatty_job = q{DO $$ BEGIN
	FOR i IN 1..50 LOOP PERFORM jobs.log('info', 'line ' || i); END LOOP;
  END $$};
my $deadline = time() + 60;
my ($chatty, $tries);
while (1)
{
	$tries++;
	$chatty = zj_enqueue($node, $chatty_job);
	is(zj_wait($node, $chatty), 'completed', "a job logging 50 lines completes (try $tries)");
	$node->poll_query_until('postgres',
		qq{SELECT count(*) >= 50 OR bool_or(message LIKE '%dropped%')
		   FROM jobs.logs WHERE run_id = $chatty});
	last
	  if val("SELECT count(*) FROM jobs.logs WHERE run_id = $chatty") < 50
	  || time() > $deadline;
}
check_bounded($chatty, 'info|line', 45,
	'with zapjobs.max_log_lines = 5: the first 5 lines');

my $noisy = zj_enqueue($node,
	q{DO $$ BEGIN FOR i IN 1..12 LOOP RAISE NOTICE 'notice %', i; END LOOP; END $$});
is(zj_wait($node, $noisy), 'completed', 'a job raising 12 notices completes');
ok( $node->poll_query_until('postgres',
		"SELECT bool_or(message LIKE '%dropped%') FROM jobs.logs WHERE run_id = $noisy"),
	'... its dropped-lines warning arrives');
check_bounded($noisy, 'notice|notice', 7,
	'... notices count towards the limit too: the first 5');

val(q{ALTER SYSTEM RESET zapjobs.max_log_lines});
val(q{SELECT pg_reload_conf()});

$node->stop;
done_testing();
