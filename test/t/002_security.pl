# Security: a job runs with exactly its owner's privileges, a role sees
# only its own runs, and roles that cannot log in get no jobs run.
use strict;
use warnings;
use lib 'test/perl';

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZapjobsTest;

my $node = zj_new_node('security', max_workers => 4);
my $su = $node->safe_psql('postgres', 'SELECT current_user');

$node->safe_psql(
	'postgres', qq{
	CREATE TABLE secret (x int);
	INSERT INTO secret VALUES (1);
	REVOKE ALL ON secret FROM PUBLIC;
	REVOKE CONNECT ON DATABASE postgres FROM PUBLIC;
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	CREATE ROLE carol LOGIN;
	CREATE ROLE dave LOGIN;
	CREATE ROLE erin LOGIN;
	CREATE ROLE frank LOGIN;
	CREATE ROLE nologin_role NOLOGIN;
	CREATE ROLE noconnect LOGIN;
	GRANT CONNECT ON DATABASE postgres TO alice, bob, carol, dave, erin, frank, nologin_role;
});

# --- Escalation attempts fail; the job sees only alice. ---------------------
my %attempt = (
	reset_role => 'RESET ROLE; SELECT count(*) FROM secret',
	set_role => qq{SET ROLE "$su"},
	set_session_auth => qq{SET SESSION AUTHORIZATION "$su"},
	set_config_role => qq{SELECT set_config('role', '$su', false)},
	read_secret => 'SELECT count(*) FROM secret',
);
my %id;
for my $k (sort keys %attempt)
{
	$id{$k} = zj_enqueue($node, $attempt{$k}, user => 'alice');
}
my $whoami = zj_enqueue($node,
	'SELECT current_user AS cu, session_user AS su', user => 'alice');

for my $k (sort keys %attempt)
{
	is(zj_wait($node, $id{$k}, user => 'alice'), 'failed', "$k: run failed");
	my $r = zj_run($node, $id{$k});
	is($r->{error_sqlstate}, '42501', "$k: failed with 42501")
	  or diag("error: " . ($r->{error_message} // '<none>'));
	like($r->{error_message}, qr/permission denied/, "$k: permission denied");
}
is(zj_wait($node, $whoami, user => 'alice'), 'completed', 'whoami completed');
is( $node->safe_psql(
		'postgres',
		"SELECT output = '{\"cu\":\"alice\",\"su\":\"alice\"}'::jsonb FROM jobs.runs WHERE id = $whoami"),
	't',
	'job runs with current_user = session_user = alice')
  or diag(zj_run($node, $whoami)->{output});
is( $node->safe_psql(
		'postgres', "SELECT owner::text FROM jobs.runs WHERE id = $whoami"),
	'alice', 'owner is alice');
is($node->safe_psql('postgres', 'SELECT count(*) FROM secret'),
	'1', 'secret untouched');

# --- Visibility ---------------------------------------------------------------
my $bob1 = zj_enqueue($node, 'SELECT 1 AS one', user => 'bob');
my $bob2 = zj_enqueue($node, 'SELECT 2 AS two', user => 'bob');
is(zj_wait($node, $bob2, user => 'bob'), 'completed', 'bob run completed');
is( $node->safe_psql(
		'postgres', 'SELECT count(*) FROM jobs.runs',
		extra_params => [ '-U', 'bob' ]),
	'2',
	'bob sees only his 2 runs');
is( $node->safe_psql(
		'postgres', "SELECT count(*) FROM jobs.runs WHERE owner <> 'alice'::regrole",
		extra_params => [ '-U', 'alice' ]),
	'0',
	'alice sees no run of another role');
is( $node->safe_psql(
		'postgres', 'SELECT count(*) FROM jobs.runs',
		extra_params => [ '-U', 'alice' ]),
	scalar(keys %attempt) + 1,
	'alice sees her own runs');
my ($rc, $out, $err) = $node->psql('postgres', "SELECT jobs.wait($bob1, '1 s')",
	extra_params => [ '-U', 'alice' ]);
isnt($rc, 0, "jobs.wait on bob's run as alice errors");
like($err, qr/does not exist/, "... saying the run does not exist") or diag($err);
($rc, $out, $err) = $node->psql('postgres',
	"UPDATE jobs.runs SET status = 'pending' WHERE id = $bob1",
	extra_params => [ '-U', 'alice' ]);
like($err, qr/permission denied/, 'alice cannot update jobs.runs');
($rc, $out, $err) = $node->psql('postgres',
	"INSERT INTO jobs.runs (command, status, owner, timeout) VALUES ('SELECT 1', 'pending', '$su', '1 h')",
	extra_params => [ '-U', 'alice' ]);
like($err, qr/permission denied/, 'alice cannot insert into jobs.runs');

# --- Roles that cannot log in cannot enqueue -----------------------------------
($rc, $out, $err) = $node->psql('postgres',
	"SET ROLE nologin_role; SELECT jobs.enqueue('SELECT 1')");
isnt($rc, 0, 'NOLOGIN role cannot enqueue');
like($err, qr/cannot log in/, '... error says it cannot log in') or diag($err);
($rc, $out, $err) = $node->psql('postgres',
	"SET ROLE noconnect; SELECT jobs.enqueue('SELECT 1')");
isnt($rc, 0, 'role without CONNECT cannot enqueue');
like($err, qr/may not connect/, '... error says it may not connect') or diag($err);
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM jobs.runs WHERE owner::text IN ('nologin_role', 'noconnect')"),
	'0',
	'no run was created for them');

# --- Workers are sessions of the owner ---------------------------------------
# Hold an advisory lock so alice's job blocks while we look at it.
my $locker = $node->background_psql('postgres');
$locker->query_safe('SELECT pg_advisory_lock(4242)');
my $blocked = zj_enqueue($node,
	'SELECT pg_advisory_lock_shared(4242) AS got', user => 'alice');
ok( $node->poll_query_until(
		'postgres', qq{
	SELECT count(*) FROM pg_stat_activity
	WHERE backend_type = 'zapjobs worker' AND usename = 'alice'
	  AND state = 'active' AND query LIKE '%pg_advisory_lock_shared(4242)%'}, '1'),
	'the worker running alice\'s job shows as alice in pg_stat_activity');
is( $node->safe_psql(
		'postgres', qq{
	SELECT count(*) FROM pg_stat_activity a JOIN jobs.runs r ON r.worker_pid = a.pid
	WHERE r.id = $blocked AND r.status = 'running'
	  AND a.backend_type = 'zapjobs worker' AND a.usename = 'alice'}),
	'1',
	'jobs.runs.worker_pid is that worker');
is( $node->safe_psql(
		'postgres', qq{
	SELECT count(*) FROM pg_stat_activity a
	WHERE a.backend_type = 'zapjobs worker' AND a.usename IS DISTINCT FROM
	  (SELECT owner::text FROM jobs.runs r WHERE r.worker_pid = a.pid AND r.status = 'running')
	  AND a.state = 'active'}),
	'0',
	'every active worker runs as the owner of its run');
$locker->query_safe('SELECT pg_advisory_unlock(4242)');
$locker->quit;
is(zj_wait($node, $blocked), 'completed', 'blocked job completed');

# --- Losing LOGIN/CONNECT or being dropped after enqueueing --------------------
my $carol = zj_enqueue($node, 'SELECT current_user AS cu',
	user => 'carol', run_at => "now() + '3 s'");
my $erin = zj_enqueue($node, 'SELECT current_user AS cu',
	user => 'erin', run_at => "now() + '3 s'");
my $frank = zj_enqueue($node, 'SELECT current_user AS cu',
	user => 'frank', run_at => "now() + '3 s'");
is(zj_run($node, $carol)->{status}, 'scheduled', 'carol run scheduled');
$node->safe_psql(
	'postgres', q{
	ALTER ROLE carol NOLOGIN;
	REVOKE CONNECT ON DATABASE postgres FROM erin;
	DROP ROLE erin;
	REVOKE CONNECT ON DATABASE postgres FROM frank;
});
my @alice_more = map {
	zj_enqueue($node, "SELECT $_ AS n", user => 'alice',
		run_at => "now() + '3 s'")
} 1 .. 3;

for my $a (@alice_more)
{
	is(zj_wait($node, $a), 'completed', "alice run $a completes");
}
is(zj_wait($node, $carol), 'failed', 'run of carol (now NOLOGIN) failed');
my $r = zj_run($node, $carol, qw(status error_sqlstate error_message started_at));
is($r->{error_sqlstate}, '28000', '... with 28000');
like($r->{error_message}, qr/carol.*log in/, '... saying carol cannot log in');
ok(!defined $r->{started_at}, '... and was never started');

is(zj_wait($node, $erin), 'failed', 'run of dropped erin failed');
$r = zj_run($node, $erin, qw(status error_sqlstate error_message started_at));
is($r->{error_sqlstate}, '42704', '... with 42704');
like($r->{error_message}, qr/does not exist/, '... saying the role does not exist');
ok(!defined $r->{started_at}, '... and was never started');

is(zj_wait($node, $frank), 'failed', 'run of frank (lost CONNECT) failed');
$r = zj_run($node, $frank, qw(status error_sqlstate error_message started_at));
is($r->{error_sqlstate}, '42501', '... with 42501');
like($r->{error_message}, qr/CONNECT/, '... saying frank has no CONNECT');
ok(!defined $r->{started_at}, '... and was never started');

# The same while the role still has an idle worker connected: dave runs a
# job, so a worker logged in as dave stays; then dave loses LOGIN.  The idle
# worker must not run dave's next job.
my $dave1 = zj_enqueue($node, 'SELECT 1 AS one', user => 'dave');
is(zj_wait($node, $dave1), 'completed', 'dave run completed');
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'zapjobs worker' AND usename = 'dave'"),
	'a worker of dave is connected');
my $dave2 = zj_enqueue($node, 'SELECT current_user AS cu',
	user => 'dave', run_at => "now() + '2 s'");
$node->safe_psql('postgres', 'ALTER ROLE dave NOLOGIN');
my $dave_alive = $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'zapjobs worker' AND usename = 'dave'");
is(zj_wait($node, $dave2), 'failed',
	'run of dave (NOLOGIN, worker still connected) failed');
$r = zj_run($node, $dave2, qw(status error_sqlstate error_message started_at));
is($r->{error_sqlstate}, '28000', '... with 28000')
  or diag("dave workers connected at NOLOGIN time: $dave_alive; run: "
	  . join('', explain($r)));
ok(!defined $r->{started_at}, '... and was never started');
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'zapjobs worker' AND usename = 'dave'",
		'0'),
	'the workers of dave left');

$node->stop;
done_testing();
