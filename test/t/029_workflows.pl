# Workflows on a running server: chains, a diamond with its events, a
# fan-out and fan-in, a parent failing after its retries, a clean-up step,
# cancelling a workflow with a run running, races between an enqueue and
# the end of its parent, a job owner working at REPEATABLE READ, and
# dependents across a server crash.
use strict;
use warnings;
use lib 'test/perl';

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZapjobsTest;

my $node = zj_new_node('workflows');
zj_flag_jobs($node);
$node->safe_psql('postgres', q{CREATE TABLE trail (run bigint, at timestamptz DEFAULT clock_timestamp())});

# A chain of 50: each run starts after the one before it completed.
my $chain = $node->safe_psql('postgres', q{
	DO $$
	DECLARE prev bigint;
	BEGIN
		PERFORM jobs.pause_queue('chain');
		FOR i IN 1..50 LOOP
			prev := jobs.enqueue('INSERT INTO trail (run) VALUES (jobs.current_run_id())',
			                     queue => 'chain', workflow => 'chain',
			                     depends_on => CASE WHEN prev IS NULL THEN NULL ELSE ARRAY[prev] END);
		END LOOP;
	END $$;
	SELECT max(id) FROM jobs.runs WHERE workflow = 'chain'});
is($node->safe_psql('postgres', q{SELECT count(*) FILTER (WHERE status = 'waiting') || '/' ||
	count(*) FILTER (WHERE status = 'pending') FROM jobs.runs WHERE workflow = 'chain'}),
	'49/1', 'a chain: the head pending, the rest waiting');
$node->safe_psql('postgres', q{SELECT jobs.resume_queue('chain')});
is(zj_wait($node, $chain), 'completed', 'the chain ran to its end');
is($node->safe_psql('postgres', q{SELECT count(*) FROM jobs.runs c JOIN jobs.dependencies d ON d.run_id = c.id
	JOIN jobs.runs p ON p.id = d.parent_id WHERE c.workflow = 'chain' AND c.started_at < p.finished_at}),
	'0', 'no step started before its parent finished');
is($node->safe_psql('postgres', q{SELECT string_agg(run::text, ',' ORDER BY at) = string_agg(run::text, ',' ORDER BY run)
	FROM trail}), 't', 'the steps ran in order');

# A diamond, watched: the events say waiting, then pending, and carry the workflow.
my $l = zj_listen($node);
$node->safe_psql('postgres', q{SELECT jobs.pause_queue('hold')});
my $top = zj_enqueue($node, 'SELECT 1 AS top', queue => 'hold', workflow => 'diamond');
my $mids = $node->safe_psql('postgres', qq{SELECT jobs.enqueue_many('SELECT jobs.input() AS i',
	ARRAY['{"n": 1}', '{"n": 2}']::jsonb[], depends_on => ARRAY[$top])});
my ($m1, $m2) = $mids =~ /(\d+)/g;
my $fanin = zj_enqueue($node, q{SELECT jobs.parent_outputs() AS p}, depends_on => "ARRAY[$m1, $m2]");
$node->safe_psql('postgres', q{SELECT jobs.resume_queue('hold')});
is(zj_wait($node, $fanin), 'completed', 'the diamond completed');
ok(zj_listen_until($l, sub { grep { $_->{status} eq 'completed' } zj_listen_events($l, $fanin, 'run') }),
	'the fan-in\'s events arrived');
my @states = map { $_->{status} } zj_listen_events($l, $fanin, 'run');
is_deeply(\@states, [qw(waiting pending running completed)], 'its events: waiting, pending, running, completed');
is_deeply([ map { $_->{workflow} } zj_listen_events($l, $fanin, 'run') ], [ ('diamond') x 4 ],
	'each carries the workflow it joined from its parents');
zj_listen_quit($l);
is(zj_run($node, $fanin, 'output')->{output}, qq({"p": {"$m1": {"i": {"n": 1}}, "$m2": {"i": {"n": 2}}}}),
	'the fan-in read its parents\' outputs');

# Fan-out and fan-in: 2,000 runs, then one that waits for all of them.
$node->safe_psql('postgres', q{SELECT jobs.pause_queue('hold')});
my $extract = zj_enqueue($node, 'SELECT 1', queue => 'hold', workflow => 'etl');
$node->safe_psql('postgres', qq{CREATE TABLE fan AS SELECT unnest(jobs.enqueue_many('SELECT 1',
	array_fill(NULL::jsonb, ARRAY[2000]), depends_on => ARRAY[$extract])) AS id});
my $load = zj_enqueue($node, 'SELECT count(*) AS n FROM jsonb_object_keys(jobs.parent_outputs())',
	depends_on => q{(SELECT array_agg(id) FROM fan)});
is($node->safe_psql('postgres', "SELECT waiting_for FROM jobs.runs WHERE id = $load"), '2000',
	'the fan-in waits for 2,000 parents');
$node->safe_psql('postgres', q{SELECT jobs.resume_queue('hold')});
is(zj_wait($node, $load), 'completed', 'the fan-in ran after the fan-out');
is(zj_run($node, $load, 'output')->{output}, '{"n": 2000}', 'with the outputs of all 2,000 parents');
my ($lag) = $node->safe_psql('postgres', qq{SELECT extract(epoch FROM l.started_at - max(p.finished_at)) * 1000
	FROM jobs.runs l, jobs.runs p WHERE l.id = $load AND p.id IN (SELECT id FROM fan) GROUP BY l.started_at});
ok($lag >= 0, 'the fan-in started after its last parent finished');
note(sprintf('fan-in started %.1f ms after its last parent finished', $lag));
is($node->safe_psql('postgres', q{SELECT status, runs, done FROM jobs.workflows WHERE name = 'etl'}),
	'completed|2002|2002', 'jobs.workflows: the workflow done, 2,002 of 2,002');

# A parent failing after its retries: its child waits through them, then is
# cancelled; a clean-up step runs and sees the failed parent's NULL output.
$node->safe_psql('postgres', q{SELECT jobs.pause_queue('hold')});
my $flaky = zj_enqueue($node, 'SELECT 1/0', max_attempts => 3, retry_base => q{'10 ms'}, retry_factor => 1,
	queue => 'hold');
my $child = zj_enqueue($node, 'SELECT 1', depends_on => "ARRAY[$flaky]");
my $cleanup = zj_enqueue($node, 'SELECT jobs.parent_outputs() AS p', depends_on => "ARRAY[$flaky]",
	on_parent_failure => 'run');
$node->safe_psql('postgres', q{SELECT jobs.resume_queue('hold')});
is(zj_wait($node, $flaky), 'failed', 'the parent failed after its attempts');
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs.attempts WHERE run_id = $flaky"), '3',
	'three attempts');
is(zj_wait($node, $child), 'cancelled', 'its child ended cancelled');
like(zj_run($node, $child, 'error_message')->{error_message}, qr/^parent run $flaky failed$/,
	'naming the parent');
is(zj_wait($node, $cleanup), 'completed', 'the clean-up step ran anyway');
is(zj_run($node, $cleanup, 'output')->{output}, qq({"p": {"$flaky": null}}), 'and saw no output');

# Cancelling a workflow interrupts its running run and cancels what waits.
my $busy = zj_enqueue($node, q{SELECT public.wait_flag('never')}, workflow => 'doomed');
my $after = zj_enqueue($node, 'SELECT 1', depends_on => "ARRAY[$busy]");
my $cleanup2 = zj_enqueue($node, 'SELECT 1', depends_on => "ARRAY[$after]", on_parent_failure => 'run');
zj_wait_status($node, $busy, 'running');
is($node->safe_psql('postgres', q{SELECT jobs.cancel_workflow('doomed')}), '3',
	'jobs.cancel_workflow cancels the running run and its two dependents');
is(zj_wait($node, $busy), 'cancelled', 'the running run was interrupted');
is(zj_wait($node, $after), 'cancelled', 'what waited for it was cancelled');
is(zj_wait($node, $cleanup2), 'cancelled', 'clean-up steps too: a cancel is no failure to clean up after');

# Races: children enqueued while their parents end, in both orders, by
# several clients at once.  None may be left waiting.
my @clients = map {
	$node->background_psql('postgres')
} 1 .. 4;
for my $c (@clients)
{
	$c->query_safe(q{
		DO $$ DECLARE p bigint; BEGIN
			FOR i IN 1..150 LOOP
				p := jobs.enqueue('SELECT 1', workflow => 'race');
				PERFORM pg_sleep(random() * 0.002);
				PERFORM jobs.enqueue('SELECT 1', depends_on => ARRAY[p], workflow => 'race');
				COMMIT;
			END LOOP;
		END $$;});
}
$_->quit for @clients;
ok($node->poll_query_until('postgres',
		q{SELECT done = runs FROM jobs.workflows WHERE name = 'race'}),
	'600 children enqueued as their parents ended: all finished');
is($node->safe_psql('postgres', q{SELECT status, runs, completed FROM jobs.workflows WHERE name = 'race'}),
	'completed|1200|1200', 'and all completed');

# A job owner working at REPEATABLE READ: its run's end still sees a child
# enqueued after its snapshot was taken (the job's first statement takes
# it; the job then waits on an advisory lock the test holds).
$node->safe_psql('postgres', q{CREATE ROLE rr LOGIN; ALTER ROLE rr SET default_transaction_isolation = 'repeatable read'});
my $holder = $node->background_psql('postgres');
$holder->query_safe('SELECT pg_advisory_lock(4242)');
my $rr = zj_enqueue($node, q{SELECT pg_advisory_lock(4242); SELECT current_setting('transaction_isolation') AS iso},
	user => 'rr');
ok($node->poll_query_until('postgres',
		q{SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND NOT granted)}),
	'the repeatable-read job has its snapshot and waits');
my $rr_child = zj_enqueue($node, 'SELECT 1', user => 'rr', depends_on => "ARRAY[$rr]");
$holder->query_safe('SELECT pg_advisory_unlock(4242)');
$holder->quit;
is(zj_wait($node, $rr), 'completed', 'the repeatable-read run completed');
is(zj_run($node, $rr, 'output')->{output}, '{"iso": "repeatable read"}', 'at REPEATABLE READ');
is(zj_run($node, $rr, 'attempt')->{attempt}, '1', 'in one attempt: the mark of its row did not fail it');
is(zj_wait($node, $rr_child), 'completed', 'and released its child enqueued while it ran');

# Across a crash: a parent running when the server crashed runs again, and
# its child waits for it; a parent that completed just before a crash has
# released its child in the same commit.
my $p1 = zj_enqueue($node, q{SELECT public.wait_flag('crash1')});
my $c1 = zj_enqueue($node, 'SELECT 1', depends_on => "ARRAY[$p1]");
zj_wait_status($node, $p1, 'running');
$node->safe_psql('postgres', q{SELECT jobs.pause_queue('held')});
my $p2 = zj_enqueue($node, 'SELECT 2 AS two');
my $c2 = zj_enqueue($node, 'SELECT jobs.parent_outputs() AS p', queue => 'held', depends_on => "ARRAY[$p2]");
is(zj_wait($node, $p2), 'completed', 'a parent completed');
is(zj_run($node, $c2, 'status')->{status}, 'pending', 'its child became pending in the same commit');
$node->stop('immediate');
$node->start;
is(zj_run($node, $c1, 'status')->{status}, 'waiting', 'after the crash, the child of the interrupted run waits');
$node->safe_psql('postgres', q{INSERT INTO public.flags VALUES ('crash1'); SELECT jobs.resume_queue('held')});
is(zj_wait($node, $p1), 'completed', 'the interrupted parent ran again and completed');
is(zj_wait($node, $c1), 'completed', 'then its child');
is(zj_wait($node, $c2), 'completed', 'the child released before the crash ran');
is(zj_run($node, $c2, 'output')->{output}, qq({"p": {"$p2": {"two": 2}}}), 'with its parent\'s output');

done_testing();
