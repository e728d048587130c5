# Dump and restore.  A database with runs in every state (pending in paused
# queues and behind a full rate window, scheduled, running, completed with
# a log, failed after its attempts, cancelled, awaiting a retry, waiting
# for parents), a schedule, a queue limit, a rate limit's ring and
# workflows is dumped while two jobs run, and restored into new servers
# whose launcher serves the database while the restore loads it: with
# pg_dump -Fc and pg_restore; with pg_dumpall and psql, the session kept
# open a while; and in two steps, the runs first and the rest once the
# parents they hold have ended (the race of a restore that loads
# jobs.dependencies after jobs.runs), the rate ring before its limit (as
# pg_restore --jobs may).  In every one, each run ends up in a truthful
# state: nothing starts while the restoring session lasts, the runs dumped
# "running" are reaped with their attempt recorded and retried or failed
# by their policy, paused queues and limits hold, children run after their
# parents and none is left waiting, the schedule fires, new ids follow the
# restored ones, and the database goes on serving.
use strict;
use warnings;
use lib 'test/perl';

use File::Spec;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use ZapjobsTest;

my $t0 = time();
my $dir = PostgreSQL::Test::Utils::tempdir();

sub val
{
	my ($node, $sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

# --- The source ------------------------------------------------------------------------

my $src = zj_new_node('dump_src');
val($src, q{
	CREATE ROLE app LOGIN;
	CREATE TABLE public.effects (tag text NOT NULL, run bigint,
	                             at timestamptz NOT NULL DEFAULT clock_timestamp());
	CREATE TABLE public.ok (x int);
	GRANT ALL ON public.effects, public.ok TO PUBLIC;
	SELECT jobs.pause_queue(q) FROM unnest(ARRAY['held', 'race', 'tickq']) q;
	SELECT jobs.set_queue_concurrency('narrow', 1);
	SELECT jobs.set_queue_rate('hourly', 2, '1 hour');
	SELECT jobs.schedule('tick', 'every 1 second',
	    'INSERT INTO public.effects (tag, run) VALUES (''tick'', jobs.current_run_id())',
	    queue => 'tickq');});

# An effect that names its run.
sub effect { my ($tag) = @_; return qq{INSERT INTO public.effects (tag, run) VALUES ('$tag', jobs.current_run_id())} }

my %id;
$id{done} = zj_enqueue($src, q{SELECT jobs.log('info', 'written on the source'); } . effect('done')
	  . q{; SELECT 42 AS answer}, user => 'app', workflow => 'wf');
$id{broken} = zj_enqueue($src, 'SELECT 1/0', max_attempts => 2, retry_base => q{'10 ms'}, retry_factor => 1);
$id{doomed} = zj_enqueue($src, effect('doomed'), run_at => q{now() + interval '1 day'});
val($src, "SELECT jobs.cancel($id{doomed})");
$id{later} = zj_enqueue($src, effect('later'), run_at => q{now() + interval '1 day'});
# Fails while public.ok is empty; retried in about an hour.
$id{again} = zj_enqueue($src, effect('again') . q{; SELECT 1 / (SELECT count(*) FROM public.ok)::int AS x},
	max_attempts => 3, retry_base => q{'1 hour'});
$id{held} = zj_enqueue($src, effect('held'), queue => 'held', workflow => 'wf', user => 'app');
$id{held_child} = zj_enqueue($src, effect('held_child'), depends_on => "ARRAY[$id{held}]", user => 'app');
my @hourly = val($src, q{SELECT unnest(jobs.enqueue_many('INSERT INTO public.effects (tag) VALUES (''hourly'')',
	array_fill(NULL::jsonb, ARRAY[4]), queue => 'hourly'))}) =~ /(\d+)/g;
# The race: parents in a paused queue, children waiting for them.
$id{rp} = zj_enqueue($src, 'SELECT 1 AS rp', queue => 'race', workflow => 'race');
$id{rf} = zj_enqueue($src, 'SELECT 1/0', queue => 'race', max_attempts => 1, workflow => 'race');
my @rc = val($src, qq{SELECT unnest(jobs.enqueue_many('SELECT jobs.parent_outputs() AS p',
	ARRAY['{}', '{}', '{}']::jsonb[], depends_on => ARRAY[$id{rp}]))}) =~ /(\d+)/g;
$id{rfc} = zj_enqueue($src, 'SELECT 1', depends_on => "ARRAY[$id{rf}]");
$id{rfclean} = zj_enqueue($src, 'SELECT 2 AS cleaned', depends_on => "ARRAY[$id{rf}]", on_parent_failure => 'run');
$id{both} = zj_enqueue($src, 'SELECT 1', depends_on => "ARRAY[$id{rp}, $id{later}]");

# Two jobs running while the dump is taken: both wait for a lock the test holds.
my $locker = $src->background_psql('postgres');
$locker->query_safe('SELECT pg_advisory_lock(4242)');
my $blocked = 'SELECT pg_advisory_xact_lock(4242); ';
$id{busy} = zj_enqueue($src, $blocked . effect('busy'), max_attempts => 3, retry_base => q{'10 ms'});
ok(zj_wait_status($src, $id{busy}, 'running'), 'source: a job runs');
$id{busy_last} = zj_enqueue($src, $blocked . effect('busy_last'), max_attempts => 1);
$id{busy_child} = zj_enqueue($src, effect('busy_child'), depends_on => "ARRAY[$id{busy}]");
ok($src->poll_query_until('postgres', q{SELECT count(*) = 2 FROM pg_locks
	WHERE locktype = 'advisory' AND objid = 4242 AND NOT granted}),
	'source: two jobs running, waiting for the lock');

is(zj_wait($src, $id{done}), 'completed', 'source: a run completed');
is(zj_wait($src, $id{broken}), 'failed', 'source: a run failed');
ok(zj_wait_status($src, $id{again}, 'awaiting_retry'), 'source: a run awaits its retry');
ok($src->poll_query_until('postgres', q{SELECT count(*) FILTER (WHERE status = 'completed') || '/'
	|| count(*) FILTER (WHERE status = 'pending') FROM jobs.runs WHERE queue = 'hourly'}, '2/2'),
	'source: the rate window is full after two of four runs');
ok($src->poll_query_until('postgres', q{SELECT count(*) = 1 FROM jobs.runs WHERE name = 'tick'}),
	'source: the schedule ticked (its run waits in a paused queue)');
is(val($src, q{SELECT string_agg(DISTINCT status, ',' ORDER BY status) FROM jobs.runs}),
	'awaiting_retry,cancelled,completed,failed,pending,running,scheduled,waiting',
	'source: runs in every state');

# Everything but the two running jobs stands still now; this is what a
# restore must bring back.
my $max_id = val($src, 'SELECT max(id) FROM jobs.runs');
my $max_log = val($src, 'SELECT max(id) FROM jobs.logs');
my @moving = ($id{busy}, $id{busy_last}, $id{busy_child});
my $fingerprint = q{
	SELECT string_agg(concat_ws(':', r.id, r.status, r.attempt, r.max_attempts, r.waiting_for,
	                            r.queue, r.owner, r.workflow, r.name, r.crashes,
	                            extract(epoch FROM r.run_at), extract(epoch FROM r.next_retry_at),
	                            extract(epoch FROM r.started_at), extract(epoch FROM r.finished_at),
	                            r.output, r.error_sqlstate, r.error_message, r.has_dependents),
	                  E'\n' ORDER BY r.id)
	  FROM jobs.runs r WHERE r.id <= %s AND r.id <> ALL (ARRAY[%s]::bigint[])};
sub fingerprint
{
	my ($node, @skip) = @_;
	return val($node, sprintf($fingerprint, $max_id, join(',', @moving, @skip)));
}
my $counts = qq{SELECT concat_ws('/',
	(SELECT count(*) FROM jobs.runs WHERE id <= $max_id),
	(SELECT count(*) FROM jobs.logs WHERE id <= $max_log),
	(SELECT string_agg(concat_ws('.', run_id, attempt, outcome, error_sqlstate), ','
	                   ORDER BY run_id, attempt) FROM jobs.attempts
	  WHERE run_id <> ALL (ARRAY[@{[ join(',', @moving) ]}]::bigint[])),
	(SELECT count(*) FROM jobs.dependencies),
	(SELECT string_agg(concat_ws(',', name, owner, schedule, queue, paused), ';' ORDER BY name)
	   FROM jobs.definitions),
	(SELECT string_agg(concat_ws(',', name, max_concurrency, paused), ';' ORDER BY name) FROM jobs.queues),
	(SELECT string_agg(concat_ws(',', scope, name, runs, per, next_slot), ';') FROM jobs.rate_limits),
	(SELECT string_agg(extract(epoch FROM started_at)::text, ',' ORDER BY slot) FROM jobs.rate_starts))};
my $src_print = fingerprint($src);
my $src_counts = val($src, $counts);
note "source runs:\n$src_print\ncounts: $src_counts";

my $dumpfile = File::Spec->catfile($dir, 'postgres.dump');
my $allfile = File::Spec->catfile($dir, 'all.sql');
$src->command_ok([ 'pg_dump', '-Fc', '-d', 'postgres', '-f', $dumpfile ], 'pg_dump -Fc');
$src->command_ok([ 'pg_dumpall', '-f', $allfile ], 'pg_dumpall');
$locker->quit;
note sprintf('source filled and dumped in %.1f s', time() - $t0);

# --- What every restored database must show ----------------------------------------------

# The runs dumped running are reaped: the attempt each was in is recorded
# as interrupted; one is retried and completes, then its child runs; the
# other had no attempt left and fails.
sub check_running
{
	my ($node, $label) = @_;
	is(zj_wait($node, $id{busy}), 'completed', "$label: the run dumped running was reaped and ran again");
	is(val($node, "SELECT attempt || '/' || crashes FROM jobs.runs WHERE id = $id{busy}"), '2/1',
		"$label: ... in its second attempt, the first counted as interrupted by a restart");
	is(val($node, "SELECT outcome || ' ' || error_sqlstate FROM jobs.attempts WHERE run_id = $id{busy}"),
		'interrupted 57P02', "$label: ... and recorded in jobs.attempts");
	is(zj_wait($node, $id{busy_last}), 'failed', "$label: the one with no attempt left failed");
	is(val($node, "SELECT count(*) FROM jobs.attempts WHERE run_id = $id{busy_last}"), '1',
		"$label: ... with its attempt recorded");
	is(zj_wait($node, $id{busy_child}), 'completed', "$label: the child of the reaped run ran after it");
	is(val($node, qq{SELECT c.started_at >= p.finished_at FROM jobs.runs c, jobs.runs p
		WHERE c.id = $id{busy_child} AND p.id = $id{busy}}), 't', "$label: ... not before");
}

# After the restore has had time to act: what stands still stayed as it
# was, then each goes on when its cause goes away.
sub check_restored
{
	my ($node, $label, @skip) = @_;
	check_running($node, $label);
	is(fingerprint($node, @skip), fingerprint($src, @skip),
		"$label: every other run is as it was dumped (paused, rate-limited, scheduled, waiting, final)");
	is(val($node, $counts), $src_counts,
		"$label: runs, logs, attempts, dependencies, definitions, queues and the rate ring came back");
	is(val($node, "SELECT message FROM jobs.logs WHERE run_id = $id{done}"), 'written on the source',
		"$label: a run's log line");

	# New ids follow the restored ones, and the database serves.
	my $new = zj_enqueue($node, effect('new'));
	cmp_ok($new, '>', $max_id, "$label: a new run's id follows the restored ones");
	is(zj_wait($node, $new), 'completed', "$label: and it runs");

	# The schedule: its run waits in a paused queue; resumed, it runs, and
	# the schedule fires on.
	val($node, q{SELECT jobs.resume_queue('tickq')});
	ok($node->poll_query_until('postgres', qq{SELECT count(*) >= 3 FROM public.effects
		WHERE tag = 'tick' AND run > $max_id}), "$label: the schedule fires");
	is(val($node, q{SELECT count(*) FROM jobs.runs WHERE name = 'tick' AND status = 'waiting'}), '0',
		"$label: ... into new runs");

	# The paused queue, resumed: the parent, then its child.
	val($node, q{SELECT jobs.resume_queue('held')});
	is(zj_wait($node, $id{held_child}), 'completed', "$label: resumed, the paused queue's run and its child ran");
	is(val($node, qq{SELECT c.started_at >= p.finished_at AND p.status = 'completed'
		FROM jobs.runs c, jobs.runs p WHERE c.id = $id{held_child} AND p.id = $id{held}}), 't',
		"$label: ... the child after its parent");

	# The rate window is still full; one more slot lets exactly one more start.
	val($node, q{SELECT jobs.set_queue_rate('hourly', 3, '1 hour')});
	ok($node->poll_query_until('postgres', q{SELECT count(*) FILTER (WHERE status = 'completed') || '/'
		|| count(*) FILTER (WHERE status = 'pending') FROM jobs.runs WHERE queue = 'hourly'}, '3/1'),
		"$label: the restored rate window let one more run start when raised to 3");
	is(val($node, q{SELECT count(*) FROM jobs.rate_starts WHERE name = 'hourly'
		AND started_at > now() - interval '1 hour'}), '3', "$label: ... and is full again");

	# The run awaiting its retry, once due, completes.
	val($node, qq{INSERT INTO public.ok VALUES (1);
		UPDATE jobs.runs SET run_at = now(), next_retry_at = now() WHERE id = $id{again}});
	is(zj_wait($node, $id{again}), 'completed', "$label: the run awaiting a retry ran when due");
	is(val($node, "SELECT attempt FROM jobs.runs WHERE id = $id{again}"), '2', "$label: ... in its second attempt");

	# The queue limit holds.
	my @narrow = map { zj_enqueue($node, 'SELECT pg_sleep(0.2)', queue => 'narrow') } 1 .. 2;
	is(zj_wait($node, $_), 'completed', "$label: a run of the limited queue ran") for @narrow;
	is(val($node, qq{SELECT b.started_at >= a.finished_at FROM jobs.runs a, jobs.runs b
		WHERE a.id = $narrow[0] AND b.id = $narrow[1]}), 't', "$label: ... one at a time");

	# The race's parents: the child of the completed one reads its output,
	# the failed one's are cancelled, or run as clean-up steps.
	val($node, q{SELECT jobs.resume_queue('race')});
	check_race($node, $label);
	is(val($node, q{SELECT status || ' ' || runs || ' ' || done FROM jobs.workflows WHERE name = 'wf'}),
		'completed 3 3', "$label: the workflow completed");
}

# The race's runs after their parents ended: nothing is left waiting but
# the run whose other parent is scheduled tomorrow.
sub check_race
{
	my ($node, $label) = @_;
	is(zj_wait($node, $_), 'completed', "$label: child $_ of the race's completed parent ran") for @rc;
	is(zj_run($node, $rc[0], 'output')->{output}, qq({"p": {"$id{rp}": {"rp": 1}}}),
		"$label: ... with its parent's output");
	is(zj_wait($node, $id{rfc}), 'cancelled', "$label: the failed parent's child was cancelled");
	is(zj_run($node, $id{rfc}, 'error_message')->{error_message}, "parent run $id{rf} failed",
		"$label: ... naming its parent");
	is(zj_wait($node, $id{rfclean}), 'completed', "$label: its clean-up step ran");
	is(val($node, "SELECT status || ' ' || waiting_for FROM jobs.runs WHERE id = $id{both}"), 'waiting 1',
		"$label: the run with another parent scheduled tomorrow waits for that one only");
	# The launcher may be the one to count a run again (after the restore
	# it saw): wait for it, with a deadline.
	ok($node->poll_query_until('postgres', q{SELECT count(*) FROM jobs.runs WHERE status = 'waiting'}, '1'),
		"$label: no other run is left waiting")
	  or diag(val($node, q{SELECT string_agg(id || ' ' || coalesce(queue, '') || ' ' || waiting_for, ', ')
		FROM jobs.runs WHERE status = 'waiting'}));
}

# --- pg_dump -Fc into pg_restore ---------------------------------------------------------

my $t = time();
my $restored = zj_new_node('dump_restored', extension => 0);
val($restored, 'CREATE ROLE app LOGIN');
$restored->command_ok([ 'pg_restore', '-d', 'postgres', $dumpfile ], 'pg_restore into a new server');
ok($restored->log_contains(qr/zapjobs starts no run in database "postgres" until this session ends/),
	'pg_restore: the restoring session held runs');
check_restored($restored, 'pg_restore');
$restored->stop;
note sprintf('pg_restore: restored and checked in %.1f s', time() - $t);

# --- pg_dumpall into psql, the session kept open ----------------------------------------

$t = time();
my $all = zj_new_node('dumpall_restored', extension => 0);
# psql goes on past errors, as when a dump is restored with psql -f.
my $restorer = $all->background_psql('postgres', on_error_stop => 0);
my ($out) = $restorer->query("\\i $allfile");
my @errors = grep { /ERROR/ } split /\n/, $restorer->{stderr};
is_deeply(\@errors, [ grep { /role "\w+" already exists/ } @errors ],
	'pg_dumpall: restored by psql, only existing roles refused') or diag(join("\n", @errors));
$restorer->{stderr} = '';
# While that session lasts: a queue resumed by someone else still starts
# nothing, and the run dumped running is not reaped.
val($all, q{SELECT jobs.resume_queue('held')});
ok(eval { $all->wait_for_log(qr/zapjobs launcher: a restore is loading database "postgres"/); 1 },
	'pg_dumpall: the launcher saw the restore');
is(val($all, "SELECT status FROM jobs.runs WHERE id = $id{held}"), 'pending',
	'pg_dumpall: while the restoring session lasts, a resumed queue starts nothing');
is(val($all, "SELECT status FROM jobs.runs WHERE id = $id{busy}"), 'running',
	'pg_dumpall: ... and nothing is reaped');
$restorer->quit;
is(zj_wait($all, $id{held}), 'completed', 'pg_dumpall: the session ended, the resumed queue ran');
val($all, q{SELECT jobs.pause_queue('held')});
check_restored($all, 'pg_dumpall', $id{held}, $id{held_child});
$all->stop;
note sprintf('pg_dumpall: restored and checked in %.1f s', time() - $t);

# --- pg_restore in two steps: the runs, then the rest -------------------------------------

# The race pg_restore leaves open: runs load and commit first, the edges
# later.  Here the first step ends before the second begins: the race's
# parents (their queue is not paused yet) end in between, with no edge to
# their children.  The step that loads the edges counts them again.
$t = time();
my $staged = zj_new_node('staged_restored', extension => 0);
val($staged, 'CREATE ROLE app LOGIN');
# First everything but data, and the runs; then the other data.
my ($list) = run_command([ 'pg_restore', '-l', $dumpfile ]);
my @items = grep { /^\d+;/ } split /\n/, $list;
my $first = sub { $_[0] !~ /TABLE DATA|SEQUENCE SET/ || $_[0] =~ /TABLE DATA jobs runs / };
my @first = grep { $first->($_) } @items;
# The rate ring before its limits, as pg_restore --jobs may load them (the
# archive orders no table's data after another's): the foreign key
# refuses the ring.
my @rest = sort { ($b =~ /rate_starts/) <=> ($a =~ /rate_starts/) } grep { !$first->($_) } @items;
PostgreSQL::Test::Utils::append_to_file("$dir/first.list", join("\n", @first) . "\n");
PostgreSQL::Test::Utils::append_to_file("$dir/rest.list", join("\n", @rest) . "\n");
$staged->command_ok([ 'pg_restore', '-d', 'postgres', '-L', "$dir/first.list", $dumpfile ],
	'two steps: the runs restored');
is(zj_wait($staged, $id{rp}), 'completed', 'two steps: a race parent completed before its edges came');
is(zj_wait($staged, $id{rf}), 'failed', 'two steps: another failed');
is(zj_wait($staged, $id{held}), 'completed', 'two steps: so did a parent of the paused queue');
is(val($staged, "SELECT status FROM jobs.runs WHERE id = $rc[0]"), 'waiting', 'two steps: their children wait');
$staged->command_fails_like([ 'pg_restore', '-d', 'postgres', '-L', "$dir/rest.list", $dumpfile ],
	qr/COPY failed for table "rate_starts".*violates foreign key constraint/s,
	'two steps: the rest restored, but for the rate ring, loaded before its limit');
ok($staged->log_contains(qr/zapjobs counted again the parents of \d+ waiting run\(s\) after dependencies were loaded/),
	'two steps: the waiting runs were counted again when the edges came');
check_race($staged, 'two steps');
is(zj_wait($staged, $id{held_child}), 'completed', 'two steps: the paused queue\'s child ran');
check_running($staged, 'two steps');
cmp_ok(zj_enqueue($staged, 'SELECT 1'), '>', $max_id, 'two steps: new ids follow the restored ones');
# The limit without its ring: the ring comes back, its slots free (the
# starts it held are lost with it), and the limit holds from there.
is(val($staged, q{SELECT count(*) FROM jobs.rate_starts}), '0', 'two steps: the rate ring was lost');
my $hourly_done = val($staged, q{SELECT count(*) FROM jobs.runs WHERE queue = 'hourly' AND status = 'completed'});
val($staged, q{SELECT jobs.enqueue_many('SELECT 1', array_fill(NULL::jsonb, ARRAY[3]), queue => 'hourly')});
ok($staged->poll_query_until('postgres', q{SELECT count(*) FILTER (WHERE status = 'completed') || '/'
	|| count(*) FILTER (WHERE status = 'pending') FROM jobs.runs WHERE queue = 'hourly'},
	($hourly_done + 2) . '/1'), 'two steps: the limit without its ring lets two of three new runs start');
ok($staged->log_contains(qr/zapjobs rate limit of queue "hourly" lacked 2 of its slots; they count as free/),
	'two steps: ... its slots made again');
is(val($staged, q{SELECT count(*) FROM jobs.rate_starts WHERE started_at > now() - interval '1 hour'}), '2',
	'two steps: ... and the window holds their starts');
note sprintf('two steps: restored and checked in %.1f s', time() - $t);
note sprintf('031 total %.1f s', time() - $t0);

done_testing();
