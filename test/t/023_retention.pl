# Retention: finished runs, with their logs and attempts, are removed after
# zapjobs.keep_completed (completed, cancelled) and zapjobs.keep_failed,
# unless their job definition or queue keeps them longer (0: forever);
# jobs.purge removes on demand; jobs.stats still counts what was removed.
use strict;
use warnings;
use lib 'test/perl';

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZapjobsTest;

my $node = zj_new_node('retention',
	conf => "zapjobs.keep_completed = '2s'\nzapjobs.keep_failed = '25s'\n");
$node->safe_psql('postgres', q{
	CREATE ROLE plain LOGIN;
	SELECT jobs.set_queue_retention('forever', '0', '0');
	SELECT jobs.define('kept_job', 'SELECT 3');
	UPDATE jobs.definitions SET keep_completed = '1 hour' WHERE name = 'kept_job';});

my @done = map { zj_enqueue($node, "SELECT jobs.log('info', 'line $_'); SELECT $_") } 1 .. 5;
my $failed = zj_enqueue($node, 'SELECT 1/0', max_attempts => 2, retry_base => "'0'");
my $cancelled = zj_enqueue($node, 'SELECT 1', run_at => "now() + interval '1 hour'");
my $forever = zj_enqueue($node, 'SELECT 1', queue => 'forever');
my $kept = $node->safe_psql('postgres', q{SELECT jobs.trigger('kept_job')});
is($node->safe_psql('postgres', "SELECT jobs.cancel($cancelled)"), 't', 'a run cancelled');
is(zj_wait($node, $_), 'completed', "run $_ completed") for @done, $forever, $kept;
is(zj_wait($node, $failed), 'failed', 'a run failed after two attempts');
my $ids = join(',', @done);
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs.logs WHERE run_id IN ($ids)"),
	'5', 'the completed runs logged');
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs.attempts WHERE run_id = $failed"),
	'2', 'the failed run has its attempts');
my $stats = q{SELECT coalesce(name, '-') || ':' || completed || '/' || failed || '/' || cancelled
	FROM jobs.stats ORDER BY name NULLS FIRST};
my $before = $node->safe_psql('postgres', $stats);

ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM jobs.runs WHERE id IN ($ids, $cancelled)"),
	'completed and cancelled runs are removed after keep_completed');
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs.logs WHERE run_id IN ($ids)"),
	'0', '... with their logs');
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs.runs WHERE id = $failed"),
	'1', 'the failed run is still kept (keep_failed is longer)');
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM jobs.runs WHERE id = $failed"),
	'... and removed after keep_failed');
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs.attempts WHERE run_id = $failed"),
	'0', '... with its attempts');
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs.runs WHERE id IN ($forever, $kept)"),
	'2', 'runs of a queue kept forever and of a definition kept an hour stay');
is($node->safe_psql('postgres', $stats), $before, 'jobs.stats counts the removed runs as before');
is( $node->safe_psql('postgres', q{SELECT sum(completed) || '/' || sum(failed) || '/' || sum(cancelled)
		FROM jobs.run_stats}),
	'5/1/1', 'jobs.run_stats holds them, per hour');

# Settings out of range are refused, wherever they are written.
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT jobs.set_queue_retention('q', '7000 years', NULL)});
like($err, qr/retention must be between 0 and 100 years/, 'a queue cannot keep runs 7000 years');
($rc, $out, $err) = $node->psql('postgres',
	q{UPDATE jobs.definitions SET keep_completed = '-1 day' WHERE name = 'kept_job'});
like($err, qr/retention must be between 0 and 100 years/, 'nor a definition -1 day');

# jobs.purge: for the DBA; on demand, by status.
($rc, $out, $err) = $node->psql('postgres', q{SELECT jobs.purge('0')},
	extra_params => [ '-U', 'plain' ]);
like($err, qr/permission denied for function purge/, 'jobs.purge is not for every role');
($rc, $out, $err) = $node->psql('postgres', q{SELECT jobs.purge('-1 day')});
like($err, qr/older_than must be an interval of at least 0/, 'a negative age is refused');
($rc, $out, $err) = $node->psql('postgres', q{SELECT jobs.purge('0', 'running')});
like($err, qr/status must be completed, failed or cancelled/, 'only finished runs are purged');
is($node->safe_psql('postgres', q{SELECT jobs.purge('0', 'failed')}), '0', 'no failed run left to purge');
is($node->safe_psql('postgres', q{SELECT jobs.purge('0')}), '2', 'purge removes the kept runs');
is($node->safe_psql('postgres', q{SELECT count(*) FROM jobs.runs}), '0', 'nothing left');
is( $node->safe_psql('postgres', q{SELECT sum(completed) FROM jobs.run_stats}), '7',
	'... and they are counted too');

done_testing();
