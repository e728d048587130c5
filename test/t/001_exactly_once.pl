# Exactly-once execution: many runs, several workers, no run executed twice
# or lost.  A duplicate execution would violate effects' primary key and
# fail that run.
use strict;
use warnings;
use lib 'test/perl';

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZapjobsTest;

my $node = zj_new_node('exactly_once', max_workers => 4);
$node->safe_psql('postgres', 'CREATE TABLE effects (k int PRIMARY KEY)');

# 2,000 runs enqueued in one transaction.
$node->safe_psql('postgres',
	q{SELECT count(jobs.enqueue(format('INSERT INTO effects VALUES (%s)', g)))
	  FROM generate_series(1, 2000) g});
is($node->safe_psql('postgres', 'SELECT count(*) FROM jobs.runs'),
	'2000', '2000 runs enqueued');

ok(zj_wait_final($node), 'all 2000 runs reach a final status');
is( $node->safe_psql(
		'postgres', 'SELECT status, count(*) FROM jobs.runs GROUP BY 1 ORDER BY 1'),
	'completed|2000',
	'2000 completed, none failed or cancelled');
is($node->safe_psql('postgres', 'SELECT count(*) FROM effects'),
	'2000', 'each run had its effect');
is( $node->safe_psql(
		'postgres',
		'SELECT count(*) FROM generate_series(1, 2000) g WHERE g NOT IN (SELECT k FROM effects)'),
	'0',
	'no effect missing');
cmp_ok(
	$node->safe_psql(
		'postgres', 'SELECT count(DISTINCT worker_pid) FROM jobs.runs'),
	'>', 1, 'more than one worker executed runs');
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) FROM jobs.runs
		  WHERE attempt <> 1 OR started_at IS NULL OR finished_at IS NULL
		     OR finished_at < started_at OR worker_pid IS NULL}),
	'0',
	'every run executed once with consistent bookkeeping');

# 200 more runs from 4 concurrent sessions, each committing its enqueues one
# by one while the others do the same and workers are claiming.
my @runs;
for my $s (0 .. 3)
{
	my $sql = '';
	for my $i (1 .. 50)
	{
		my $k = 10000 + $s * 50 + $i;
		$sql .= "SELECT jobs.enqueue('INSERT INTO effects VALUES ($k)');\n";
	}
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1',
			'-d', $node->connstr('postgres'), '-f', '-'
		],
		'<', \$sql, '>', \$out, '2>', \$err,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	push @runs, [ $h, \$out, \$err ];
}
for my $r (@runs)
{
	my ($h, $out, $err) = @$r;
	$h->finish;
	is($h->result(0), 0, 'concurrent enqueue session succeeded')
	  or diag("stderr: $$err");
	my @ids = grep { /^\d+$/ } split /\n/, $$out;
	is(scalar @ids, 50, 'session enqueued 50 runs');
}

ok(zj_wait_final($node), 'all 2200 runs reach a final status');
is( $node->safe_psql(
		'postgres', 'SELECT status, count(*) FROM jobs.runs GROUP BY 1 ORDER BY 1'),
	'completed|2200',
	'2200 completed, none failed');
is($node->safe_psql('postgres', 'SELECT count(*) FROM effects'),
	'2200', 'each of the 200 concurrent runs had its effect once');
is( $node->safe_psql(
		'postgres',
		'SELECT count(*) FROM jobs.runs WHERE attempt <> 1'),
	'0', 'every run executed exactly one attempt');

$node->stop;
done_testing();
