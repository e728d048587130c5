# Queues and limits: paused queues, queue and job-name concurrency limits
# (and removing them), who may change them; dedupe keys (also under
# concurrent enqueues); the jobs.workers view (pids, states, heartbeats,
# counts, visibility).
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

my $node = zj_new_node('queues', max_workers => 4);
$node->safe_psql('postgres', q{
	CREATE SCHEMA t;
	GRANT USAGE ON SCHEMA t TO PUBLIC;
	CREATE TABLE t.done (run_id bigint NOT NULL, queue text NOT NULL);
	GRANT INSERT, SELECT ON t.done TO PUBLIC;
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	CREATE ROLE carol LOGIN;
	GRANT pg_read_all_stats TO carol;});
my $su = $node->safe_psql('postgres', 'SELECT current_user');

# wait_for_sql(SQL, EXPECTED, SECONDS, USER): poll SQL until it returns
# EXPECTED or SECONDS pass.  Returns the seconds it took, or undef.
sub wait_for_sql
{
	my ($sql, $expected, $seconds, $user) = @_;
	my @extra = defined $user ? (extra_params => [ '-U', $user ]) : ();
	my $t0 = time;
	while (time - $t0 < $seconds)
	{
		my ($rc, $out) = $node->psql('postgres', $sql, @extra);
		return time - $t0 if $rc == 0 && $out eq $expected;
		usleep(50_000);
	}
	return undef;
}

# Enqueue N runs (one statement) with the given extra enqueue arguments.
sub enqueue_n
{
	my ($n, $command, $args) = @_;
	$command =~ s/'/''/g;
	$node->safe_psql('postgres', qq{
		SELECT count(jobs.enqueue('$command', $args)) FROM generate_series(1, $n)});
}

# Sample, until every run matching WHERE is final (60 s at most), how many
# of them are 'running' and how many worker sessions are active on a query
# containing TAG.  Returns (max running, max active sessions, samples).
sub sample_concurrency
{
	my ($where, $tag) = @_;
	my $out = $node->safe_psql('postgres', qq{
	CREATE TEMP TABLE samples (running int, active int);
	DO \$\$
	DECLARE
	  c int; s int; u int;
	  deadline timestamptz := clock_timestamp() + interval '60 s';
	BEGIN
	  LOOP
	    PERFORM pg_stat_clear_snapshot();
	    SELECT count(*) FILTER (WHERE status = 'running'),
	           count(*) FILTER (WHERE status NOT IN $final)
	      INTO c, u FROM jobs.runs WHERE $where;
	    SELECT count(*) INTO s FROM pg_stat_activity
	      WHERE backend_type = 'zapjobs worker' AND state = 'active'
	        AND query LIKE '%$tag%';
	    INSERT INTO samples VALUES (c, s);
	    COMMIT;
	    EXIT WHEN u = 0 OR clock_timestamp() > deadline;
	    PERFORM pg_sleep(0.01);
	  END LOOP;
	END \$\$;
	SELECT max(running) || ' ' || max(active) || ' ' || count(*) FROM samples;});
	return split / /, $out;
}

# Largest number of runs matching WHERE running at once, from their
# started_at and finished_at (each start, looked at 50 ms later).
sub overlap
{
	my ($where) = @_;
	return $node->safe_psql('postgres', qq{
	SELECT max((SELECT count(*) FROM jobs.runs s
	            WHERE ($where) AND s.started_at <= r.started_at + interval '50 ms'
	              AND s.finished_at > r.started_at + interval '50 ms'))
	FROM jobs.runs r WHERE ($where)});
}

# --- Pause and resume -----------------------------------------------------------
$node->safe_psql('postgres', "SELECT jobs.pause_queue('q1')");
is($node->safe_psql('postgres', "SELECT paused FROM jobs.queues WHERE name = 'q1'"),
	't', 'pause_queue: jobs.queues says q1 is paused');
enqueue_n(20, q{INSERT INTO t.done VALUES (jobs.current_run_id(), 'q1')}, "queue => 'q1'");
enqueue_n(10, q{INSERT INTO t.done VALUES (jobs.current_run_id(), 'other')},
	"queue => 'other'");
ok(zj_wait_final($node, "queue = 'other'"), 'runs of another queue finish');
is( $node->safe_psql('postgres',
		"SELECT status || ':' || count(*) FROM jobs.runs WHERE queue = 'other' GROUP BY status"),
	'completed:10', '... all 10 completed');
is( $node->safe_psql('postgres',
		"SELECT status || ':' || count(*) FROM jobs.runs WHERE queue = 'q1' GROUP BY status"),
	'pending:20', 'the 20 runs of the paused queue q1 (enqueued first) stay pending');
is($node->safe_psql('postgres', "SELECT count(*) FROM t.done WHERE queue = 'q1'"),
	'0', '... and none of them ran');

# A run already running when its queue is paused goes on.
my $running = zj_enqueue($node, 'SELECT pg_sleep(1)', queue => 'q1b');
ok($node->poll_query_until('postgres',
		"SELECT status FROM jobs.runs WHERE id = $running", 'running'),
	'a run of q1b is running');
$node->safe_psql('postgres', "SELECT jobs.pause_queue('q1b')");
is(zj_wait($node, $running, timeout => '30 s'), 'completed',
	'... and completes although q1b was paused meanwhile');
$node->safe_psql('postgres', "SELECT jobs.resume_queue('q1b')");

$node->safe_psql('postgres', "SELECT jobs.resume_queue('q1')");
ok(zj_wait_final($node, "queue = 'q1'"), 'after resume_queue the runs of q1 finish');
is( $node->safe_psql('postgres',
		"SELECT status || ':' || count(*) FROM jobs.runs WHERE queue = 'q1' GROUP BY status"),
	'completed:20', '... all 20 completed');
is($node->safe_psql('postgres', "SELECT count(*) FROM t.done WHERE queue = 'q1'"),
	'20', '... each with its effect');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM jobs.queues WHERE name = 'q1' AND paused"),
	'0', 'q1 is no longer paused');

# --- Queue concurrency ------------------------------------------------------------
$node->safe_psql('postgres', "SELECT jobs.set_queue_concurrency('q2', 2)");
is( $node->safe_psql('postgres',
		"SELECT max_concurrency FROM jobs.queues WHERE name = 'q2'"),
	'2', 'set_queue_concurrency: jobs.queues holds the limit');
enqueue_n(20, q{SELECT pg_sleep(0.2), 'q2lim' AS tag}, "queue => 'q2', name => 'q2a'");
my ($max_running, $max_active, $samples) =
  sample_concurrency("name = 'q2a'", 'q2lim');
note "q2 limit 2: max running $max_running, max active $max_active, $samples samples";
cmp_ok($samples, '>', 20, 'concurrency was sampled while the runs ran');
cmp_ok($max_running, '<=', 2, "never more than 2 runs of q2 'running' at once");
cmp_ok($max_active, '<=', 2, 'never more than 2 workers busy with q2 jobs at once');
is( $node->safe_psql('postgres',
		"SELECT status || ':' || count(*) FROM jobs.runs WHERE name = 'q2a' GROUP BY status"),
	'completed:20', 'all 20 runs of q2 completed');
is(overlap("name = 'q2a'"), '2',
	'their started_at/finished_at overlap 2 at most (and 2 at times)');

# Removing the limit restores parallelism.
$node->safe_psql('postgres', "SELECT jobs.set_queue_concurrency('q2', NULL)");
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs.queues WHERE name = 'q2'"),
	'0', 'set_queue_concurrency(q2, NULL) removed the limit');
enqueue_n(16, q{SELECT pg_sleep(0.3), 'q2free' AS tag}, "queue => 'q2', name => 'q2b'");
($max_running, $max_active, $samples) = sample_concurrency("name = 'q2b'", 'q2free');
note "q2 without limit: max running $max_running, max active $max_active";
ok(zj_wait_final($node, "name = 'q2b'"), 'the runs of q2 without limit finished');
cmp_ok(overlap("name = 'q2b'"), '>', 2, '... more than 2 at once');

# --- Job-name concurrency --------------------------------------------------------
$node->safe_psql('postgres', "SELECT jobs.set_job_concurrency('nm', 1)");
is( $node->safe_psql('postgres',
		"SELECT max_concurrency FROM jobs.job_limits WHERE name = 'nm'"),
	'1', 'set_job_concurrency: jobs.job_limits holds the limit');
enqueue_n(8, q{SELECT pg_sleep(0.2), 'nmlim' AS tag}, "name => 'nm', queue => 'n1'");
enqueue_n(8, q{SELECT pg_sleep(0.2), 'othername' AS tag}, "name => 'other', queue => 'n1'");
($max_running, $max_active, $samples) =
  sample_concurrency("queue = 'n1' AND name = 'nm'", 'nmlim');
note "nm limit 1: max running $max_running, max active $max_active";
cmp_ok($max_running, '<=', 1, "never more than 1 run named nm 'running' at once");
cmp_ok($max_active, '<=', 1, 'never more than 1 worker busy with an nm job at once');
ok(zj_wait_final($node, "queue = 'n1'"), 'all runs named nm and other finished');
is( $node->safe_psql('postgres',
		"SELECT status || ':' || count(*) FROM jobs.runs WHERE queue = 'n1' GROUP BY status"),
	'completed:16', '... all 16 completed');
is(overlap("queue = 'n1' AND name = 'nm'"), '1', 'runs named nm never overlapped');
cmp_ok(overlap("queue = 'n1'"), '>', 1,
	'runs of another name ran alongside them');

$node->safe_psql('postgres', "SELECT jobs.set_job_concurrency('nm', NULL)");
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs.job_limits"),
	'0', 'set_job_concurrency(nm, NULL) removed the limit');
enqueue_n(12, q{SELECT pg_sleep(0.3)}, "name => 'nm', queue => 'n2'");
ok(zj_wait_final($node, "queue = 'n2'"), 'runs named nm without limit finished');
cmp_ok(overlap("queue = 'n2'"), '>', 1, '... several at once');

# --- Who may manage queues, and invalid arguments -----------------------------------
for my $call (
	"jobs.pause_queue('q1')",
	"jobs.resume_queue('q1')",
	"jobs.set_queue_concurrency('q1', 3)",
	"jobs.set_job_concurrency('nm', 3)")
{
	my ($rc, $out, $err) = $node->psql('postgres', "SELECT $call",
		extra_params => [ '-U', 'alice' ]);
	isnt($rc, 0, "non-superuser cannot call $call");
	like($err, qr/permission denied for function/, '... permission denied for function')
	  or diag($err);
}
for my $case (
	[ "jobs.pause_queue('')",                 qr/empty/ ],
	[ "jobs.resume_queue('')",                qr/empty/ ],
	[ "jobs.set_queue_concurrency('', 2)",    qr/empty/ ],
	[ "jobs.set_queue_concurrency('q3', 0)",  qr/max_concurrency/ ],
	[ "jobs.set_queue_concurrency('q3', -1)", qr/max_concurrency/ ],
	[ "jobs.set_job_concurrency('', 1)",      qr/empty/ ],
	[ "jobs.set_job_concurrency('nm', 0)",    qr/max_concurrency/ ])
{
	my ($call, $re) = @$case;
	my ($rc, $out, $err) = $node->psql('postgres', "SELECT $call");
	isnt($rc, 0, "$call fails");
	like($err, qr/ERROR:.*$re/, '... with a clear error') or diag($err);
}
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM jobs.queues WHERE name IN ('', 'q1', 'q3') AND (paused OR max_concurrency IS NOT NULL)"),
	'0', 'the failed calls changed no queue');
is($node->safe_psql('postgres', 'SELECT count(*) FROM jobs.job_limits'),
	'0', '... and set no job limit');

# --- dedupe_key --------------------------------------------------------------------
# enqueue_key(COMMAND, KEY, EXTRA, USER): run id.
sub enqueue_key
{
	my ($command, $key, $extra, $user) = @_;
	$extra = defined $extra ? ", $extra" : '';
	my @u = defined $user ? (extra_params => [ '-U', $user ]) : ();
	return $node->safe_psql('postgres',
		"SELECT jobs.enqueue('$command', dedupe_key => '$key'$extra)", @u);
}
my $later = q{run_at => now() + interval '1 hour'};
my $k1 = enqueue_key('SELECT 1', 'k1', $later);
like($k1, qr/^\d+$/, 'dedupe: first enqueue with key k1');
is(enqueue_key('SELECT 2', 'k1', $later), $k1,
	'dedupe: same key while the run is unfinished (scheduled): same id');
is( $node->safe_psql('postgres', "SELECT count(*) FROM jobs.runs WHERE dedupe_key = 'k1'"),
	'1', '... and one row');
my $k1_alice = enqueue_key('SELECT 1', 'k1', $later, 'alice');
isnt($k1_alice, $k1, 'dedupe: same key enqueued by another role: a separate run');
is(enqueue_key('SELECT 1', 'k1', $later, 'alice'), $k1_alice,
	'... which alice dedupes on her own');
is( $node->safe_psql('postgres', "SELECT count(*) FROM jobs.runs WHERE dedupe_key = 'k1'"),
	'2', '... two rows in all');
is($node->safe_psql('postgres', "SELECT jobs.cancel($k1)"), 't',
	'dedupe: cancelled the scheduled run');
my $k1_new = enqueue_key('SELECT 1', 'k1', $later);
isnt($k1_new, $k1, 'dedupe: after the cancel (final), the same key gives a new run');

my $k2 = enqueue_key('SELECT pg_sleep(1.5)', 'k2');
ok($node->poll_query_until('postgres', "SELECT status FROM jobs.runs WHERE id = $k2",
		'running'), 'dedupe: the run with key k2 is running');
is(enqueue_key('SELECT 1', 'k2'), $k2, 'dedupe: same key while it runs: same id');
is(zj_wait($node, $k2), 'completed', 'dedupe: the k2 run completed');
my $k2_new = enqueue_key('SELECT 1', 'k2');
isnt($k2_new, $k2, 'dedupe: same key after it finished: a new id');
is(zj_wait($node, $k2_new), 'completed', '... which runs');
is( $node->safe_psql('postgres', "SELECT count(*) FROM jobs.runs WHERE dedupe_key = 'k2'"),
	'2', '... two k2 runs in all');

# Concurrent enqueues with one key: six sessions wait on an advisory lock
# inside their transaction, then all enqueue at once.
my $gate = $node->background_psql('postgres');
$gate->query_safe('SELECT pg_advisory_lock(777)');
my @clients;
for my $i (1 .. 6)
{
	# One -c string: one transaction, holding the shared lock until it ends.
	my $sql = qq{SELECT pg_advisory_xact_lock_shared(777);
SELECT jobs.enqueue('SELECT $i', dedupe_key => 'kc', run_at => now() + interval '1 hour')};
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', $sql ],
		'<', \undef, '>', \$out, '2>', \$err,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	push @clients, [ $h, \$out, \$err ];
}
ok( $node->poll_query_until('postgres', q{
	SELECT count(*) FROM pg_stat_activity
	WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'}, '6'),
	'dedupe: six sessions are ready to enqueue with key kc');
$gate->query_safe('SELECT pg_advisory_unlock(777)');
my %ids;
for my $c (@clients)
{
	my ($h, $out, $err) = @$c;
	$h->finish;
	is($h->result(0), 0, 'dedupe: concurrent enqueue succeeded') or diag("stderr: $$err");
	$ids{$_}++ for grep { /^\d+$/ } split /\n/, $$out;
}
is(scalar(keys %ids), 1, 'dedupe: all six sessions got the same run id')
  or diag explain \%ids;
is( $node->safe_psql('postgres', "SELECT count(*) FROM jobs.runs WHERE dedupe_key = 'kc'"),
	'1', 'dedupe: one run with key kc');
$gate->quit;
$node->safe_psql('postgres',
	"SELECT count(jobs.cancel(id)) FROM jobs.runs WHERE status = 'scheduled'");

# --- jobs.workers ---------------------------------------------------------------------
my $long = zj_enqueue($node, 'SELECT pg_sleep(5)');
ok( $node->poll_query_until('postgres', qq{
	SELECT count(*) FROM jobs.runs r JOIN pg_stat_activity a ON a.pid = r.worker_pid
	WHERE r.id = $long AND r.status = 'running' AND a.wait_event = 'PgSleep'}, '1'),
	'workers: a long job is running');
my $wpid = $node->safe_psql('postgres', "SELECT worker_pid FROM jobs.runs WHERE id = $long");
ok( $node->poll_query_until('postgres', q{
	SELECT count(*) FROM (SELECT pid FROM jobs.workers) w
	FULL JOIN (SELECT pid FROM pg_stat_activity WHERE backend_type = 'zapjobs worker') a
	USING (pid) WHERE w.pid IS NULL OR a.pid IS NULL}, '0'),
	'workers: one row per worker process of pg_stat_activity, same pids');
is($node->safe_psql('postgres', 'SELECT count(*) - count(DISTINCT pid) FROM jobs.workers'),
	'0', 'workers: no pid twice');
is( $node->safe_psql('postgres',
		"SELECT state || ' ' || run_id || ' ' || role FROM jobs.workers WHERE pid = $wpid"),
	"running $long $su", 'workers: the busy worker is running the run, as its owner');
my ($hb0, $rc0) = split /\|/, $node->safe_psql('postgres',
	"SELECT last_heartbeat, runs_completed FROM jobs.workers WHERE pid = $wpid");
ok(defined wait_for_sql(qq{
	SELECT last_heartbeat > '$hb0'::timestamptz AND state = 'running' AND run_id = $long
	FROM jobs.workers WHERE pid = $wpid}, 't', 3),
	'workers: last_heartbeat advances within 3 s while the job runs');
is(zj_wait($node, $long), 'completed', 'workers: the long job completed');
ok(defined wait_for_sql(qq{
	SELECT state || ' ' || coalesce(run_id::text, '-') || ' ' || runs_completed
	FROM jobs.workers WHERE pid = $wpid}, 'idle - ' . ($rc0 + 1), 10),
	'workers: then the worker is idle, with runs_completed one more')
  or diag $node->safe_psql('postgres', 'SELECT * FROM jobs.workers');

is($node->safe_psql('postgres', "SELECT pg_terminate_backend($wpid)"),
	't', 'workers: terminated the idle worker');
ok(defined wait_for_sql("SELECT count(*) FROM jobs.workers WHERE pid = $wpid", '0', 10),
	'workers: its row disappears');

# Visibility: alice has an idle worker, the superuser a busy one.
my $alice_run = zj_enqueue($node, 'SELECT 1', user => 'alice');
is(zj_wait($node, $alice_run, user => 'alice'), 'completed', 'alice\'s run completed');
my $su_run = zj_enqueue($node, 'SELECT pg_sleep(3)');
ok($node->poll_query_until('postgres', "SELECT status FROM jobs.runs WHERE id = $su_run",
		'running'), 'a superuser job is running');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM jobs.workers WHERE run_id = $su_run AND role = '$su'::regrole"),
	'1', 'the superuser sees its busy worker');
is( $node->safe_psql('postgres',
		"SELECT count(*) > 0 FROM jobs.workers WHERE role = 'alice'::regrole"),
	't', '... and alice\'s');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM jobs.workers WHERE role <> 'alice'::regrole",
		extra_params => [ '-U', 'alice' ]),
	'0', 'alice sees no worker of another role');
is( $node->safe_psql('postgres',
		"SELECT count(*) > 0 FROM jobs.workers WHERE role = 'alice'::regrole",
		extra_params => [ '-U', 'alice' ]),
	't', 'alice sees her own worker');
is( $node->safe_psql('postgres', 'SELECT count(*) FROM jobs.workers',
		extra_params => [ '-U', 'bob' ]),
	'0', 'bob (no workers, not a member) sees none');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM jobs.workers WHERE run_id = $su_run",
		extra_params => [ '-U', 'carol' ]),
	'1', 'carol (pg_read_all_stats) sees the superuser\'s worker');
is(zj_wait($node, $su_run), 'completed', 'the superuser job completed');

$node->stop;
done_testing();
