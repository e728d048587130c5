# zapjobs_cron live: pg_cron's jobs fire and leave pg_cron's run history;
# cron.schedule_in_database runs a job in another database as its user
# (errors come back, cancel and the worker's end stop it there, a revoked
# CONNECT is reported); pg_cron's settings take effect at a reload; @restart
# fires after a restart; a dump restores the jobs; and next to the real
# pg_cron (Debian's postgresql-15-cron): both preloaded start, and either
# extension refuses to be installed over the other.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZapjobsTest;

my $node = zj_new_node('cron', max_workers => 4);
sub dq { my ($sql, $db) = @_; return $node->safe_psql($db // 'postgres', $sql); }
sub wait_for { my ($sql, $db) = @_; return $node->poll_query_until($db // 'postgres', $sql); }

dq('CREATE EXTENSION zapjobs_cron');
dq('CREATE TABLE ticks (at timestamptz DEFAULT clock_timestamp())');

# --- Jobs fire, history in pg_cron's words ------------------------------------
my $tick = dq(q{SELECT cron.schedule('tick', '1 second', 'INSERT INTO ticks DEFAULT VALUES')});
ok(wait_for('SELECT count(*) >= 2 FROM ticks'), "a '1 second' job fires every second");
ok(wait_for(qq{SELECT count(*) >= 2 FROM cron.job_run_details
	WHERE jobid = $tick AND status = 'succeeded' AND job_pid > 0 AND end_time >= start_time}),
	'its runs are in cron.job_run_details as succeeded, with pid and times');
dq(q{SELECT cron.schedule('boom', '1 second', 'SELECT 1/0')});
ok(wait_for(q{SELECT count(*) > 0 FROM cron.job_run_details d JOIN jobs.runs r ON r.id = d.runid
	WHERE d.status = 'failed' AND d.return_message = 'division by zero'
	  AND r.attempt = 1 AND r.max_attempts = 1}),
	'a failing job: failed once, no retry, the error as return_message');
dq(q{SELECT cron.unschedule('boom')});
dq(q{SELECT cron.schedule('slow', '1 second', 'SELECT pg_sleep(60)')});
ok(wait_for(q{SELECT count(*) = 1 FROM cron.job_run_details WHERE command = 'SELECT pg_sleep(60)'
	AND status = 'running'}), 'a run under way is running');
dq(q{SELECT cron.unschedule('slow')});
dq(q{SELECT jobs.cancel(runid) FROM cron.job_run_details WHERE status = 'running'
	AND command = 'SELECT pg_sleep(60)'});
ok(wait_for(q{SELECT count(*) = 0 FROM cron.job_run_details WHERE status IN ('running', 'starting')
	AND command = 'SELECT pg_sleep(60)'}), 'cancelled, it ends');

# --- Another database ----------------------------------------------------------
dq('CREATE DATABASE other');
dq('CREATE ROLE alice LOGIN; GRANT USAGE ON SCHEMA cron TO alice');
dq('CREATE TABLE hits (who text, db text); GRANT INSERT ON hits TO alice', 'other');
dq(q{SELECT cron.schedule_in_database('remote', '1 second',
	'INSERT INTO hits VALUES (current_user, current_database())', 'other', 'alice')});
ok(wait_for(q{SELECT count(*) >= 2 FROM hits WHERE who = 'alice' AND db = 'other'}, 'other'),
	'a job scheduled in another database runs there, as its user');
is(dq(q{SELECT DISTINCT database || ' ' || username || ' ' || status FROM cron.job_run_details
	WHERE jobid = (SELECT jobid FROM cron.job WHERE jobname = 'remote') AND status = 'succeeded'}),
	'other alice succeeded', 'its history names the database and the user');
dq(q{SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = 'remote'});

dq(q{SELECT cron.schedule_in_database('remote-fail', '1 second', 'SELECT 1/0', 'other', 'alice')});
ok(wait_for(q{SELECT count(*) > 0 FROM cron.job_run_details d JOIN jobs.runs r ON r.id = d.runid
	WHERE d.status = 'failed' AND d.return_message = 'division by zero'
	  AND r.error_sqlstate = '22012' AND d.database = 'other'}),
	"a job's error in another database comes back with its SQLSTATE");
dq(q{SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = 'remote-fail'});

my $remote_in_other = q{(SELECT count(*) FROM pg_stat_activity
	WHERE datname = 'other' AND backend_type = 'zapjobs remote job')};
dq(q{SELECT cron.schedule_in_database('remote-slow', '1 second', 'SELECT pg_sleep(300)', 'other', 'alice')});
ok(wait_for("SELECT $remote_in_other = 1"), 'a long job in another database: one process there');
dq(q{SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = 'remote-slow'});
my $run = dq(q{SELECT runid FROM cron.job_run_details WHERE status = 'running'
	AND command = 'SELECT pg_sleep(300)'});
dq("SELECT jobs.cancel($run)");
ok(wait_for("SELECT $remote_in_other = 0"), '... cancelled, the process there ends');
is(zj_wait($node, $run), 'cancelled', '... and the run is cancelled');

dq(q{SELECT cron.schedule_in_database('remote-slow2', '1 second', 'SELECT pg_sleep(300)', 'other', 'alice')});
ok(wait_for("SELECT $remote_in_other = 1"), 'again a long job there');
dq(q{SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = 'remote-slow2'});
dq(q{SELECT pg_terminate_backend(worker_pid) FROM jobs.runs
	WHERE status = 'running' AND command LIKE '%pg_sleep(300)%'});
ok(wait_for("SELECT $remote_in_other = 0"), 'its worker here terminated: the process there ends too');

dq(q{SELECT cron.schedule_in_database('remote-revoked', '1 second', 'SELECT 1', 'other', 'alice')});
dq('REVOKE CONNECT ON DATABASE other FROM PUBLIC');
ok(wait_for(q{SELECT count(*) > 0 FROM cron.job_run_details WHERE status = 'failed'
	AND return_message = 'permission denied for database "other"'}),
	'CONNECT revoked after scheduling: the run fails and says why');
dq(q{SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = 'remote-revoked'});
dq('GRANT CONNECT ON DATABASE other TO PUBLIC');

# A role granted schedule_in_database, as pg_cron's DBAs grant it.
dq('GRANT EXECUTE ON FUNCTION cron.schedule_in_database(text, text, text, text, text, boolean) TO alice');
$node->safe_psql('postgres', q{SELECT cron.schedule_in_database('alice-own', '1 second',
	$$INSERT INTO hits VALUES ('granted', current_database())$$, 'other')},
	extra_params => [ '-U', 'alice' ]);
ok(wait_for(q{SELECT count(*) > 0 FROM hits WHERE who = 'granted'}, 'other'),
	'a role granted schedule_in_database runs its own job in another database');
$node->safe_psql('postgres', q{SELECT cron.unschedule('alice-own')}, extra_params => [ '-U', 'alice' ]);

# --- pg_cron's settings, at a reload ---------------------------------------------
dq($_) for ('ALTER SYSTEM SET cron.max_running_jobs = 2',
	q{ALTER SYSTEM SET cron.timezone = 'Europe/Paris'}, 'ALTER SYSTEM SET cron.log_run = off');
dq('SELECT pg_reload_conf()');
ok(wait_for(q{SELECT max_concurrency = 2 FROM jobs.queues WHERE name = 'cron'}),
	'cron.max_running_jobs: the concurrency of queue cron, at a reload');
ok(wait_for(qq{SELECT timezone = 'Europe/Paris' FROM jobs.definitions WHERE name = 'cron job $tick'}),
	'cron.timezone: the time zone of cron jobs, at a reload');
ok(wait_for(qq{SELECT keep_completed = '1 second' AND keep_failed = '1 second'
	FROM jobs.definitions WHERE name = 'cron job $tick'}),
	'cron.log_run = off: their finished runs expire at once');
ok(wait_for(qq{SELECT count(*) = 0 FROM jobs.runs WHERE name = 'cron job $tick'
	AND finished_at < now() - interval '15 seconds'}), '... and retention removes them');
my $later = dq(q{SELECT cron.schedule('later', '0 3 * * *', 'SELECT 3')});
is(dq(qq{SELECT timezone || ' ' || keep_completed FROM jobs.definitions WHERE name = 'cron job $later'}),
	'Europe/Paris 00:00:01', 'a job scheduled after the reload gets them too');
dq("ALTER SYSTEM RESET cron.$_") for qw(log_run timezone max_running_jobs);
dq('SELECT pg_reload_conf()');
ok(wait_for(qq{SELECT keep_completed IS NULL AND timezone = 'GMT' FROM jobs.definitions
	WHERE name = 'cron job $tick'}), 'settings reset: back to the defaults');
dq(q{SELECT cron.unschedule('tick')});

# --- @restart fires once after a restart -----------------------------------------
dq(q{CREATE TABLE restarts (at timestamptz DEFAULT now());
	SELECT cron.schedule('on-restart', '@restart', 'INSERT INTO restarts DEFAULT VALUES')});
$node->restart;
ok(wait_for('SELECT count(*) = 1 FROM restarts'), '@restart fires after the restart');
dq(q{SELECT cron.schedule('probe', '1 second', 'INSERT INTO ticks DEFAULT VALUES')});
dq('TRUNCATE ticks');
ok(wait_for('SELECT count(*) >= 2 FROM ticks'), '(schedules go on)');
is(dq('SELECT count(*) FROM restarts'), '1', '... and only once');
dq(q{SELECT cron.unschedule('probe')});

# --- A dump restores the jobs ------------------------------------------------------
dq(q{SELECT cron.schedule_in_database('dumped', '0 4 * * *', 'SELECT 4', 'other', 'alice')});
# A job of this database runs in the database it is restored into.
my $jobs_sql = q{SELECT jobid, schedule, command, nullif(database, current_database()), username, active, jobname
	FROM cron.job ORDER BY jobid};
my $before = dq($jobs_sql);
my $dump = $node->basedir . '/cron.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-d', 'postgres', '-f', $dump ], 'pg_dump');
dq('CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '-d', 'restored', $dump ], 'pg_restore');
is(dq($jobs_sql, 'restored'), $before, 'cron.job is the same after a restore');
my $next = dq(q{SELECT cron.schedule('next', '0 5 * * *', 'SELECT 5')}, 'restored');
ok($next > (split /\|/, (split /\n/, $before)[-1])[0], 'job ids go on after the restore');

# --- Next to pg_cron ------------------------------------------------------------------
SKIP:
{
	my $pkglibdir = $node->config_data('--pkglibdir');
	skip "pg_cron is not installed in $pkglibdir (Debian: postgresql-15-cron)", 6
	  unless -f "$pkglibdir/pg_cron.so";
	my $both = zj_new_node('both',
		conf => "shared_preload_libraries = 'zapjobs,pg_cron'\ncron.database_name = 'postgres'\n");
	ok(1, 'a server with zapjobs and pg_cron both preloaded starts');
	is($both->safe_psql('postgres', q{SELECT count(*) FROM pg_settings WHERE name = 'cron.database_name'}),
		'1', "pg_cron's settings are pg_cron's (zapjobs defines none of them)");
	$both->safe_psql('postgres', 'CREATE EXTENSION pg_cron');
	my ($rc, $out, $err) = $both->psql('postgres', 'CREATE EXTENSION zapjobs_cron');
	like($err, qr/zapjobs_cron cannot be installed where pg_cron is installed.*HINT:.*DROP EXTENSION pg_cron/s,
		'zapjobs_cron refuses to install where pg_cron is, and says what to do');
	$both->safe_psql('postgres', 'DROP EXTENSION pg_cron');
	$both->safe_psql('postgres', 'CREATE EXTENSION zapjobs_cron');
	ok(1, '... and installs once pg_cron is gone');
	($rc, $out, $err) = $both->psql('postgres', 'CREATE EXTENSION pg_cron');
	isnt($rc, 0, 'pg_cron cannot be installed over zapjobs_cron');
	like($err, qr/schema "cron" already exists/, '... its schema is taken');
	$both->stop;
}

$node->stop;
done_testing();
