# Rate limits against the wall clock: with 4 workers claiming at once, no
# window of the limit's length ever holds more starts than it allows, per
# queue and per job name; the next start follows the moment a slot frees;
# changing a limit keeps the starts still in the window; removing it lets
# the rest start at once.
use strict;
use warnings;
use lib 'test/perl';

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZapjobsTest;

my $node = zj_new_node('rate_limits', max_workers => 4);

# The most starts in any window of length $per seconds, over runs matching $where.
sub most_in_window
{
	my ($where, $per) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT max(n) FROM (SELECT (SELECT count(*) FROM jobs.runs b WHERE $where
		                            AND b.started_at >= a.started_at
		                            AND b.started_at < a.started_at + interval '$per s') AS n
		                      FROM jobs.runs a WHERE $where) w});
}

# A queue: 5 starts per second, 40 runs, 4 workers.
$node->safe_psql('postgres', q{SELECT jobs.set_queue_rate('api', 5, '1 second')});
my $ids = $node->safe_psql('postgres', q{SELECT jobs.enqueue_many('SELECT pg_sleep(0.01)',
	array_fill(NULL::jsonb, ARRAY[40]), queue => 'api')});
my ($last) = reverse($ids =~ /(\d+)/g);
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 40 FROM jobs.runs WHERE queue = 'api' AND status = 'completed'}),
	'40 runs of a queue limited to 5 a second completed');
is(most_in_window(q{queue = 'api'}, 1), '5', 'no second-long window holds more than 5 starts');
my $spread = $node->safe_psql('postgres', q{SELECT extract(epoch FROM max(started_at) - min(started_at))
	FROM jobs.runs WHERE queue = 'api'});
cmp_ok($spread, '>=', 7, "the 40 starts spread over at least 7 s ($spread s)");
# Each start after the first five waited for the slot of the start five before it.
my $lag = $node->safe_psql('postgres', q{
	WITH s AS (SELECT started_at, lag(started_at, 5) OVER (ORDER BY started_at) AS prev
	             FROM jobs.runs WHERE queue = 'api')
	SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY
	       extract(epoch FROM started_at - prev - interval '1 s') * 1000)::numeric, 1)
	  FROM s WHERE prev IS NOT NULL});
note("a start followed the slot it waited for by $lag ms (median)");
cmp_ok($lag, '>=', 0, 'never before the slot freed');

# A job name, across queues: 3 starts per 2 seconds.
$node->safe_psql('postgres', q{SELECT jobs.set_job_rate('mail', 3, '2 seconds');
	SELECT jobs.enqueue_many('SELECT 1', array_fill(NULL::jsonb, ARRAY[6]), name => 'mail', queue => q)
	  FROM unnest(ARRAY['q1', 'q2']) q});
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 12 FROM jobs.runs WHERE name = 'mail' AND status = 'completed'}),
	'12 runs of a job name limited to 3 per 2 s completed');
is(most_in_window(q{name = 'mail'}, 2), '3', 'no 2-second window holds more than 3 of its starts');

# Change and removal: a limit of 2 an hour lets 2 of 5 runs start; raised to
# 3, it keeps those 2 starts and lets one more; removed, the rest start.
$node->safe_psql('postgres', q{SELECT jobs.set_queue_rate('hourly', 2, '1 hour')});
my @h = $node->safe_psql('postgres', q{SELECT unnest(jobs.enqueue_many('SELECT 1',
	array_fill(NULL::jsonb, ARRAY[5]), queue => 'hourly'))}) =~ /(\d+)/g;
# Which of the runs start first is up to the workers racing for them.
my $hourly = q{SELECT count(*) FILTER (WHERE status = 'completed') || '/' || count(*) FILTER (WHERE status = 'pending')
	FROM jobs.runs WHERE queue = 'hourly'};
ok($node->poll_query_until('postgres', $hourly, '2/3'), 'two runs of the hour completed, three wait');
$node->safe_psql('postgres', q{SELECT jobs.set_queue_rate('hourly', 3, '1 hour')});
ok($node->poll_query_until('postgres', $hourly, '3/2'), 'raised to 3: one more started');
is($node->safe_psql('postgres', q{SELECT count(*) FROM jobs.rate_starts
	WHERE name = 'hourly' AND started_at > now() - interval '1 hour'}), '3',
	'and only one: the window holds the two earlier starts and this one, and is full');
$node->safe_psql('postgres', q{SELECT jobs.set_queue_rate('hourly', NULL, NULL)});
is(zj_wait($node, $h[$_]), 'completed', "removed: run $_ of the hour started at once") for 0 .. 4;
is($node->safe_psql('postgres', q{SELECT count(*) FROM jobs.rate_limits}), '2',
	'the removed limit is gone, the others stay');

done_testing();
