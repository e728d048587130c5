# One install serves every database with the extension: CREATE EXTENSION
# in a new database while the server runs, three databases each with its
# own runs, schedules, limits, views and listeners, one pool shared fairly,
# templates and closed databases left alone, DROP EXTENSION and DROP
# DATABASE with runs running, and zapjobs.database as a filter.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use ZapjobsTest;

my $node = zj_new_node('dbs', max_workers => 3);

sub dbq { my ($db, $sql) = @_; return $node->safe_psql($db, $sql); }

# Our processes connected to a database.
sub ours_in
{
	my ($db) = @_;
	return dbq('postgres', qq{SELECT count(*) FROM pg_stat_activity
		WHERE datname = '$db' AND backend_type LIKE 'zapjobs%'});
}

sub wait_ours_gone
{
	my ($db) = @_;
	return $node->poll_query_until('postgres',
		qq{SELECT count(*) = 0 FROM pg_stat_activity
		   WHERE datname = '$db' AND backend_type LIKE 'zapjobs%'});
}

# --- CREATE EXTENSION while the server runs ----------------------------------
dbq('postgres', "CREATE DATABASE db$_") for 1 .. 3;
dbq('postgres', 'CREATE DATABASE plain');
ok(wait_ours_gone("db$_"), "db$_ without the extension: no process of ours there")
  for 1 .. 3;
for my $i (1 .. 3)
{
	my $t0 = time();
	dbq("db$i", 'CREATE EXTENSION zapjobs');
	my $id = zj_enqueue($node, "SELECT $i", db => "db$i", name => "job-db$i");
	is(zj_wait($node, $id, db => "db$i", timeout => '30 s'), 'completed',
		"db$i: a run enqueued right after CREATE EXTENSION completes");
	note(sprintf("db%d: CREATE EXTENSION to completed run: %.0f ms", $i, 1000 * (time() - $t0)));
}
is(ours_in('plain'), '0', 'a database without the extension has no process of ours');
is(dbq('postgres', q{SELECT count(*) FROM pg_stat_activity
	WHERE backend_type = 'zapjobs launcher'}), '4', 'one launcher per database with the extension');

# --- Each database its own runs, events, views and schedules -----------------
my %listen = map { $_ => zj_listen($node, $_) } qw(db1 db2 db3);
my %ids;
for my $db (qw(db1 db2 db3))
{
	$ids{$db} = [ map { zj_enqueue($node, "SELECT $_", db => $db, name => "ev-$db") } 1 .. 5 ];
}
for my $db (qw(db1 db2 db3))
{
	my $last = $ids{$db}[-1];
	is(zj_wait($node, $last, db => $db), 'completed', "$db: its runs complete");
	ok( zj_listen_until(
			$listen{$db},
			sub {
				grep { ($_->{status} // '') eq 'completed' && ($_->{id} // '') eq $last }
				  @{ $listen{$db}{events} };
			}
		),
		"$db: its listener sees its last run complete");
}
for my $db (qw(db1 db2 db3))
{
	my @foreign = grep { defined $_->{name} && $_->{name} =~ /^(?:ev|job)-(db\d)$/ && $1 ne $db }
	  @{ $listen{$db}{events} };
	is(scalar @foreign, 0, "$db: its listener saw no event of another database");
	my @mine = grep { ($_->{name} // '') eq "ev-$db" } @{ $listen{$db}{events} };
	ok(scalar @mine >= 5, "$db: ... and the events of its own runs");
}
zj_listen_quit($_) for values %listen;

# Run ids are per database: the same id exists in each, views show their own.
is(dbq('db2', "SELECT string_agg(DISTINCT name, ',') FROM jobs.runs"), 'ev-db2,job-db2',
	'db2: jobs.runs holds only its own runs');
my %launcher = map { $_ => dbq($_, 'SELECT launcher_pid FROM jobs.pool') } qw(db1 db2);
isnt($launcher{db1}, $launcher{db2}, 'each database has its own launcher in jobs.pool');
is(dbq('postgres', "SELECT datname FROM pg_stat_activity WHERE pid = $launcher{db1}"),
	'db1', "db1's launcher is connected to db1");

# A schedule of the same name in db1 and db3, none in db2: each fires in
# its own database, with its own command.
for my $db (qw(db1 db3))
{
	dbq($db, qq{CREATE TABLE ticks (db text); SELECT jobs.schedule('tick', 'every 1 second',
		'INSERT INTO ticks VALUES (current_database())')});
}
for my $db (qw(db1 db3))
{
	ok($node->poll_query_until($db, q{SELECT count(*) >= 2 FROM jobs.runs
		WHERE name = 'tick' AND status = 'completed'}), "$db: its schedule fires");
	is(dbq($db, q{SELECT string_agg(DISTINCT db, ',') FROM ticks}), $db,
		"$db: its schedule ran in $db");
}
is(dbq('db2', q{SELECT count(*) FROM jobs.runs WHERE name = 'tick'}), '0',
	'db2: no run of the others\' schedules');
dbq($_, q{SELECT jobs.unschedule('tick')}) for qw(db1 db3);

# Limits are per database: a paused queue in db1 holds db1's runs only.
dbq('db1', q{SELECT jobs.pause_queue('q')});
my $held = zj_enqueue($node, 'SELECT 1', db => 'db1', queue => 'q');
my $free = zj_enqueue($node, 'SELECT 1', db => 'db2', queue => 'q');
is(zj_wait($node, $free, db => 'db2'), 'completed', "db2: queue q runs while db1's is paused");
is(dbq('db1', "SELECT status FROM jobs.runs WHERE id = $held"), 'pending',
	"db1: its paused queue holds its run");
dbq('db1', q{SELECT jobs.resume_queue('q')});
is(zj_wait($node, $held, db => 'db1'), 'completed', 'db1: resumed, the run completes');

# --- One pool shared fairly --------------------------------------------------
# db1 floods: 60 runs of 0.3 s for 3 workers.  db3's one run must not wait
# for the flood to drain: it completes while db1 still has runs pending.
dbq('db1', q{SELECT count(jobs.enqueue('SELECT pg_sleep(0.3)', name => 'flood')) FROM generate_series(1, 60)});
ok($node->poll_query_until('db1', q{SELECT count(*) = 3 FROM jobs.runs
	WHERE name = 'flood' AND status = 'running'}), 'db1: the flood holds every worker');
# Workers serve their role at least a second before they may be retired.
ok($node->poll_query_until('postgres', q{SELECT count(*) = 3 FROM pg_stat_activity
	WHERE backend_type = 'zapjobs worker' AND datname = 'db1'
	AND backend_start < now() - interval '1.2 s'}), 'db1: its workers have served a while');
is(dbq('db3', q{SELECT count(*) FROM jobs.workers w JOIN pg_stat_activity a ON a.pid = w.pid
	WHERE a.datname <> 'db3'}), '0', "db3: jobs.workers shows none of db1's workers");
is(dbq('db1', q{SELECT count(*) FROM jobs.workers WHERE state = 'running'}), '3',
	"db1: jobs.workers shows its three");
my $t0 = time();
my $fair = zj_enqueue($node, 'SELECT 1', db => 'db3', name => 'fair');
is(zj_wait($node, $fair, db => 'db3'), 'completed', 'db3: its run completes during the flood');
note(sprintf('db3 run during db1 flood: %.0f ms from enqueue to completed', 1000 * (time() - $t0)));
my $finished = dbq('db3', "SELECT finished_at FROM jobs.runs WHERE id = $fair");
ok(dbq('db1', qq{SELECT count(*) FROM jobs.runs WHERE name = 'flood'
	AND (finished_at IS NULL OR finished_at > '$finished')}) >= 10,
	'... long before the flood drained');
ok($node->poll_query_until('db1', q{SELECT count(*) = 0 FROM jobs.runs
	WHERE name = 'flood' AND status <> 'completed'}, 't'), 'db1: the flood completes');

# --- Templates and closed databases are left alone ----------------------------
dbq('template1', 'CREATE EXTENSION zapjobs');
ok(wait_ours_gone('template1'), 'template1 with the extension: no process of ours');
dbq('postgres', 'CREATE DATABASE fromtpl TEMPLATE template1');
my $tid = zj_enqueue($node, 'SELECT 1', db => 'fromtpl');
is(zj_wait($node, $tid, db => 'fromtpl', timeout => '30 s'), 'completed',
	'a database copied from a template with the extension is served');
dbq('template1', 'DROP EXTENSION zapjobs');

dbq('postgres', 'ALTER DATABASE fromtpl ALLOW_CONNECTIONS false');
ok(wait_ours_gone('fromtpl'), 'a database that refuses connections loses our processes');
dbq('postgres', 'ALTER DATABASE fromtpl ALLOW_CONNECTIONS true');
$tid = zj_enqueue($node, 'SELECT 2', db => 'fromtpl');
is(zj_wait($node, $tid, db => 'fromtpl', timeout => '30 s'), 'completed',
	'... and is served again when it accepts them');

# --- Statements that need a database to themselves ----------------------------
# A user who may not drop it must not interrupt its jobs by trying.
dbq('postgres', 'CREATE ROLE mallory LOGIN');
my $guarded = zj_enqueue($node, 'SELECT pg_sleep(3)', db => 'db1');
zj_wait_status_db('db1', $guarded, 'running');
my ($drc, $dout, $derr) = $node->psql('postgres', 'DROP DATABASE db1', extra_params => [ '-U', 'mallory' ]);
like($derr, qr/must be owner of database db1/, 'a non-owner cannot drop db1');
($drc, $dout, $derr) = $node->psql('postgres', 'BEGIN; DROP DATABASE db1');
like($derr, qr/cannot run inside a transaction block/, 'nor can DROP DATABASE in a transaction block');
is(zj_wait($node, $guarded, db => 'db1'), 'completed', '... and the running job was not interrupted');

# RENAME and a copy of a served database work (our processes step aside).
dbq('postgres', 'ALTER DATABASE fromtpl RENAME TO renamed');
$tid = zj_enqueue($node, 'SELECT 3', db => 'renamed');
is(zj_wait($node, $tid, db => 'renamed', timeout => '30 s'), 'completed',
	'a served database can be renamed, and is served under its new name');
dbq('postgres', 'CREATE DATABASE copied TEMPLATE renamed');
$tid = zj_enqueue($node, 'SELECT 4', db => 'copied');
is(zj_wait($node, $tid, db => 'copied', timeout => '30 s'), 'completed',
	'a copy of a served database is served');
$tid = zj_enqueue($node, 'SELECT 5', db => 'renamed');
is(zj_wait($node, $tid, db => 'renamed', timeout => '30 s'), 'completed',
	'... and so is the original, again');

# --- DROP EXTENSION and DROP DATABASE with runs running -----------------------
my $long = zj_enqueue($node, 'SELECT pg_sleep(300)', db => 'db3');
zj_wait_status_db('db3', $long, 'running');
$t0 = time();
dbq('db3', 'DROP EXTENSION zapjobs');
ok(time() - $t0 < 5, sprintf('DROP EXTENSION with a run running returns at once (%.2f s)', time() - $t0));
ok(wait_ours_gone('db3'), '... and our processes leave db3');

$long = zj_enqueue($node, 'SELECT pg_sleep(300)', db => 'db2');
zj_wait_status_db('db2', $long, 'running');
$t0 = time();
dbq('postgres', 'DROP DATABASE db2');
ok(time() - $t0 < 4, sprintf('DROP DATABASE with a run running returns at once (%.2f s)', time() - $t0));
is(dbq('postgres', "SELECT count(*) FROM pg_database WHERE datname = 'db2'"), '0', 'db2 is gone');
my $after = zj_enqueue($node, 'SELECT 1', db => 'db1');
is(zj_wait($node, $after, db => 'db1'), 'completed', 'db1 is still served');
$after = zj_enqueue($node, 'SELECT 1');
is(zj_wait($node, $after), 'completed', 'postgres is still served');

# CREATE EXTENSION again in db3: served again.
dbq('db3', 'CREATE EXTENSION zapjobs');
$after = zj_enqueue($node, 'SELECT 1', db => 'db3');
is(zj_wait($node, $after, db => 'db3', timeout => '30 s'), 'completed',
	'db3: CREATE EXTENSION again, served again');

$node->stop;

# --- zapjobs.database as a filter (old configurations) ------------------------
my $old = zj_new_node('filter', conf => "zapjobs.database = 'postgres'\n");
$old->safe_psql('postgres', 'CREATE DATABASE other');
$old->safe_psql('other', 'CREATE EXTENSION zapjobs');
my ($rc, $out, $err) = $old->psql('other', q{SELECT jobs.enqueue('SELECT 1')});
like($err, qr/WARNING:  no zapjobs workers serve database "other"/,
	'zapjobs.database set: another database is told no worker serves it');
my $id = zj_enqueue($old, 'SELECT 1');
is(zj_wait($old, $id), 'completed', '... and the named database is served');
is($old->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
	WHERE datname = 'other' AND backend_type LIKE 'zapjobs%'}), '0',
	'... and no process of ours is in the other');
$old->stop;

done_testing();

sub zj_wait_status_db
{
	my ($db, $id, $status) = @_;
	return $node->poll_query_until($db, "SELECT status FROM jobs.runs WHERE id = $id", $status);
}
