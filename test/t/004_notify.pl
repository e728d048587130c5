# Events: every state change of a run is published with NOTIFY on
# job_update, in order, as valid JSON that fits in a notification.
use strict;
use warnings;
use lib 'test/perl';

use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use ZapjobsTest;

my $node = zj_new_node('notify', max_workers => 2,
	conf => "# single attempts: these tests look at one attempt's events\nzapjobs.default_max_attempts = 1\n");

my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN job_update');

my $ok_id = zj_enqueue($node, 'SELECT 1 AS one',
	name => qq{we"ird\\name \x{2713}}, queue => 'q1');
my $fail_id = zj_enqueue($node, 'SELECT 1/0');
my $sched_id = zj_enqueue($node, 'SELECT 2 AS two', run_at => "now() + '2 s'");
# An error message far longer than a notification can carry, with
# characters JSON must escape.
my $long_id = zj_enqueue($node,
	q{DO $$ BEGIN RAISE EXCEPTION '%', repeat(E'"q\\\\b\\n\\t\u00e9', 4000); END $$});
# A long message of 3-byte characters: cutting it must respect characters.
my $mb_id = zj_enqueue($node,
	q{DO $$ BEGIN RAISE EXCEPTION '%', repeat(E'\u20ac', 5000); END $$});
my @ids = ($ok_id, $fail_id, $sched_id, $long_id, $mb_id);

my %final = map { $_ => 1 } zj_final_statuses();
my (%events, @bad_json, @too_long, @raw);
my $nrun = 0;    # run events (worker events share the channel)
my $json = JSON::PP->new->utf8;

# Collect notifications until every run has published a final status.
sub collect
{
	my ($output) = @_;
	for my $line (split /\n/, $output)
	{
		next
		  unless $line =~
		  /^Asynchronous notification "job_update" with payload "(.*)" received from server process with PID \d+\.$/;
		my $payload = $1;
		push @raw, $payload;
		push @too_long, $payload if length($payload) >= 8000;
		my $ev = eval { $json->decode($payload) };
		if (!defined $ev || ref $ev ne 'HASH')
		{
			push @bad_json, $payload;
			next;
		}
		next unless ($ev->{type} // '') eq 'run';
		$nrun++;
		push @{ $events{ $ev->{id} } }, $ev;
	}
}

sub all_final
{
	for my $id (@ids)
	{
		my $evs = $events{$id} or return 0;
		return 0 unless $final{ $evs->[-1]{status} };
	}
	return 1;
}

# jobs.wait in the listening session itself: notifications arrive with
# its results.
for my $id (@ids)
{
	collect(scalar $listener->query("SELECT jobs.wait($id, '120 s')"));
}
my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
while (!all_final() && time() < $deadline)
{
	# The launcher publishes shortly after the commit: poll.
	collect(scalar $listener->query('SELECT pg_sleep(0.1)'));
}
$listener->quit;
ok(all_final(), 'a final event was received for every run')
  or diag(explain(\%events));

is(scalar @bad_json, 0, 'every payload is valid JSON')
  or diag(explain(\@bad_json));
is(scalar @too_long, 0, 'every payload is shorter than 8000 bytes')
  or diag('lengths: ' . join(', ', map { length } @too_long));
is($nrun, 16, '16 run notifications, one per state change');

sub statuses_of
{
	my ($id) = @_;
	return join(',', map { $_->{status} } @{ $events{$id} || [] });
}

is(statuses_of($ok_id), 'pending,running,completed',
	'completing run: pending, running, completed');
is(statuses_of($fail_id), 'pending,running,failed',
	'failing run: pending, running, failed');
is(statuses_of($sched_id), 'scheduled,pending,running,completed',
	'scheduled run: scheduled, pending, running, completed');
is(statuses_of($long_id), 'pending,running,failed',
	'run with a long error: pending, running, failed');

# Payload contents.
my @keys = qw(type id name queue status attempt max_attempts at run_at
  started_at finished_at);
my @missing;
for my $id (@ids)
{
	for my $ev (@{ $events{$id} || [] })
	{
		for my $k (@keys)
		{
			push @missing, "$id/$ev->{status}/$k" unless exists $ev->{$k};
		}
		push @missing, "$id/$ev->{status}/type=$ev->{type}"
		  unless ($ev->{type} // '') eq 'run';
	}
}
is_deeply(\@missing, [], 'every payload has the documented keys');

my ($ok_done) = grep { $_->{status} eq 'completed' } @{ $events{$ok_id} };
is($ok_done->{name}, qq{we"ird\\name \x{2713}}, 'name survives JSON escaping');
is($ok_done->{queue}, 'q1', 'queue is the run\'s');
ok(defined $ok_done->{started_at} && defined $ok_done->{finished_at},
	'completed event has started_at and finished_at');
is($ok_done->{attempt}, 1, 'attempt is 1');
is($ok_done->{max_attempts}, 1, 'max_attempts is 1');
ok(!exists $ok_done->{error}, 'completed event has no error');
my ($ok_running) = grep { $_->{status} eq 'running' } @{ $events{$ok_id} };
ok(defined $ok_running->{started_at} && !defined $ok_running->{finished_at},
	'running event has started_at, no finished_at');

my ($failed) = grep { $_->{status} eq 'failed' } @{ $events{$fail_id} };
is($failed->{sqlstate}, '22012', 'failed event carries the sqlstate');
ok(!exists $ok_done->{sqlstate}, 'completed event has no sqlstate');

# Any role may LISTEN: payloads must not leak error texts (or commands).
my ($long_failed) = grep { $_->{status} eq 'failed' } @{ $events{$long_id} };
is($long_failed->{sqlstate}, 'P0001', 'long error: sqlstate');
is_deeply([ grep { /division by zero|SELECT 1|\xe2\x82\xac/ } @raw ],
	[], 'no payload carries an error message or a command');
my $sched_first = $events{$sched_id}[0];
ok(defined $sched_first->{run_at}, 'scheduled event has run_at');

# Events match the table.
is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(status, ',' ORDER BY id) FROM jobs.runs WHERE id IN ("
		  . join(',', @ids) . ")"),
	join(',', map { $events{$_}[-1]{status} } sort { $a <=> $b } @ids),
	'last event of each run is its status in jobs.runs');

# A transaction that changes more than 1024 runs publishes a summary per
# status instead of one event per run; later changes are per run again.
my $bulk = $node->background_psql('postgres');
$bulk->query_safe('LISTEN job_update');
$node->safe_psql('postgres',
	q{SELECT count(jobs.enqueue('SELECT 1', name => 'bulk')) FROM generate_series(1, 1500)});
my (@summaries, %bulk_done);
my $bulk_deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
while ((!@summaries || keys %bulk_done < 1500) && time() < $bulk_deadline)
{
	for my $line (split /\n/, scalar $bulk->query('SELECT pg_sleep(0.1)'))
	{
		next unless $line =~ /payload "(.*)" received from server/;
		my $ev = $json->decode($1);
		push @summaries, $ev if $ev->{type} eq 'runs';
		$bulk_done{ $ev->{id} } = 1
		  if $ev->{type} eq 'run' && $ev->{status} eq 'completed';
	}
}
$bulk->quit;
is(scalar @summaries, 1, 'one summary event for the bulk enqueue');
is($summaries[0]{status}, 'pending', 'summary: status pending');
is($summaries[0]{count}, 1500, 'summary: count of runs');
is($summaries[0]{last_id} - $summaries[0]{first_id}, 1499, 'summary: id range');
is($summaries[0]{name}, 'bulk', 'summary: common name');
is(scalar keys %bulk_done, 1500, 'each bulk run then reports its completion');

$node->stop;
done_testing();
