# NOTIFY has no access control: any role may send a payload on job_update
# that looks like a run's event.  Every real event comes from the launcher,
# whose PID jobs.pool shows; a forged one comes from another process.
use strict;
use warnings;
use lib 'test/perl';

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZapjobsTest;

my $node = zj_new_node('event_sender');
$node->safe_psql('postgres', 'CREATE ROLE mallory LOGIN');
my $l = zj_listen($node);
my $id = zj_enqueue($node, 'SELECT 1');
is(zj_wait($node, $id), 'completed', 'a run completed');
ok( zj_listen_until($l, sub { grep { $_->{status} eq 'completed' } zj_listen_events($l, $id, 'run') }),
	'its events arrived');
my $launcher = $node->safe_psql('postgres', 'SELECT launcher_pid FROM jobs.pool');
like($launcher, qr/^\d+$/, "jobs.pool shows the launcher's PID ($launcher)");
is( $node->safe_psql('postgres',
		"SELECT backend_type FROM pg_stat_activity WHERE pid = $launcher"),
	'zapjobs launcher', 'that PID is the launcher');
my @real = zj_listen_events($l, $id, 'run');
is(scalar(grep { $_->{_pid} ne $launcher } @real), 0,
	'every event of the run was sent by the launcher');

# A forged completion, from an ordinary role.
$node->safe_psql('postgres',
	q{SELECT pg_notify('job_update', '{"type":"run","id":424242,"status":"completed"}')},
	extra_params => [ '-U', 'mallory' ]);
ok(zj_listen_until($l, sub { scalar zj_listen_events($l, 424242, 'run') }), 'the forged event arrived');
my ($forged) = zj_listen_events($l, 424242, 'run');
isnt($forged->{_pid}, $launcher, 'its sender is not the launcher: a client can tell');
zj_listen_quit($l);

done_testing();
