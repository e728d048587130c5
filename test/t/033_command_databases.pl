# The zapjobs command against a second database: each database with the
# extension has a launcher of its own, which sends that database's events,
# so `zapjobs -d db2 watch` must trust db2's launcher (jobs.pool there),
# show each progress event it sends, and still ignore a forged job_update
# sent in db2.
use strict;
use warnings;
use lib 'test/perl';

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZapjobsTest;

my $node = zj_new_node('command_dbs');
$node->safe_psql('postgres', q{
	CREATE ROLE mallory LOGIN;
	CREATE DATABASE db2;
});
$node->safe_psql('db2', q{
	CREATE EXTENSION zapjobs;
	CREATE TABLE public.flags (name text PRIMARY KEY);
	CREATE FUNCTION public.wait_flag(flag text) RETURNS void LANGUAGE plpgsql AS $$
	BEGIN
		WHILE NOT EXISTS (SELECT FROM public.flags WHERE name = flag) LOOP
			PERFORM pg_sleep(0.02);
		END LOOP;
	END $$;
});
ok($node->poll_query_until('db2', 'SELECT launcher_pid IS NOT NULL FROM jobs.pool'),
	'db2 has a launcher of its own');
my $launcher1 = $node->safe_psql('postgres', 'SELECT launcher_pid FROM jobs.pool');
my $launcher2 = $node->safe_psql('db2', 'SELECT launcher_pid FROM jobs.pool');
isnt($launcher2, $launcher1, "db2's launcher is another process than postgres's");

my ($rc, $out, $err) = zj_cmd($node, [ '-d', 'db2', 'workers', '--json' ]);
is($rc, 0, '-d db2 workers exits 0');
like($out, qr/"launcher_pid"\s*:\s*$launcher2\b/, "and shows db2's launcher");

# A run in db2 that waits for a flag, then reports eight progress steps
# 0.3 s apart (events are sent at most every 100 ms per run: each step
# gets its own).
my $steps = q{SELECT public.wait_flag('go');
	DO $$BEGIN
	FOR i IN 1..8 LOOP
		PERFORM jobs.progress(i, 8, 'step ' || i);
		PERFORM pg_sleep(0.3);
	END LOOP; END$$};
($rc, $out, $err) = zj_cmd($node, [ '-d', 'db2', 'enqueue', '--name', 'db2_steps', $steps ]);
is($rc, 0, '-d db2 enqueue exits 0') or diag($err);
my ($id) = $out =~ /\A(\d+)\n\z/;
ok(defined $id, 'it prints the run id');
is($node->safe_psql('db2', "SELECT name FROM jobs.runs WHERE id = $id"), 'db2_steps',
	'the run is in db2');

# The watch, in a pipe: plain lines, one per event.
my $w = zj_cmd_start($node, [ '-d', 'db2', 'watch', $id ]);
ok(zj_cmd_until($w, sub { $w->{out} =~ /^run $id running, attempt 1 of 3$/m }),
	'the watch in db2 sees the run running');

# A forged progress event and a forged completion, sent in db2 by a role
# that is not the launcher; a listener there proves they were delivered.
my $l = zj_listen($node, 'db2');
$node->safe_psql('db2',
	qq{SELECT pg_notify('job_update', '{"type":"progress","id":$id,"current":7,"total":8,"message":"FORGED"}');
	   SELECT pg_notify('job_update', '{"type":"run","id":$id,"status":"completed"}')},
	extra_params => [ '-U', 'mallory' ]);
ok(zj_listen_until($l, sub { grep { ($_->{message} // '') eq 'FORGED' } @{ $l->{events} } }),
	'the forged events reached listeners in db2');
my ($forged) = grep { ($_->{message} // '') eq 'FORGED' } @{ $l->{events} };
isnt($forged->{_pid}, $launcher2, 'sent by another backend than the launcher');

$node->safe_psql('db2', q{INSERT INTO public.flags VALUES ('go')});
is(zj_cmd_finish($w), 0, 'the watch exits 0 when the run completes');
like($w->{out}, qr/^run $id completed in \S+\n\z/m, 'and ends with the outcome');
unlike($w->{out}, qr/FORGED/, 'the forged progress was not shown');

# Untrusted events only make the watch read the row, at most once a
# second, and a row read prints a progress line only with a new state (at
# most one here): three distinct steps or more (of eight) prove the
# launcher's events were trusted.
my %seen;
$seen{$1}++ while $w->{out} =~ /^progress [\d.]+% (\d)\/8 .*attempt 1\/3: step \1$/mg;
cmp_ok(scalar(keys %seen), '>=', 3,
	'a progress line per event from db2\'s launcher (steps seen: '
	  . join(',', sort keys %seen) . ')');
zj_listen_quit($l);

$node->stop;
done_testing();
