# The zapjobs command against a real preloaded server: every subcommand and
# its --help, the exit codes of watch and enqueue --wait (completed, failed
# after retries, cancelled), enqueue's options reaching the run, --json
# parsed, plain output without escape codes (in a pipe, and on a terminal
# with --plain or NO_COLOR), forged events ignored, a reconnect after the
# client's backend is terminated, another role's run "not found", and the
# errors a person can cause (one line on stderr, a non-zero exit, nothing
# changed).
use strict;
use warnings;
use lib 'test/perl';

use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZapjobsTest;

my $node = zj_new_node('command');
$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	CREATE ROLE mallory LOGIN;
});
zj_flag_jobs($node);

# Run a command line on a terminal: script(1) gives it a pseudo-terminal as
# stdin and stdout.  Returns (exit code, the bytes it wrote).
sub on_tty
{
	my ($cmdline, %env) = @_;
	my ($in, $out, $err) = ('', '', '');
	local %ENV = (%ENV, zj_cmd_env($node), TERM => 'xterm', SHELL => '/bin/sh');
	delete $ENV{NO_COLOR};
	%ENV = (%ENV, %env);
	IPC::Run::run([ 'script', '-qec', $cmdline, '/dev/null' ],
		'<', \$in, '>', \$out, '2>', \$err, IPC::Run::timeout(180));
	return ($? >> 8, $out);
}

# One line on stderr, starting with "zapjobs: ".
sub one_error_line
{
	my ($err, $re, $what) = @_;
	like($err, qr/\Azapjobs: [^\n]*$re[^\n]*\n\z/, "$what: one line on stderr");
}

# --- help, version, usage errors --------------------------------------------------

my ($rc, $out, $err) = zj_cmd($node, ['--version']);
is($rc, 0, '--version exits 0');
like($out, qr/^zapjobs \d+\.\d+$/m, '--version prints the version');
($rc, $out) = zj_cmd($node, ['help']);
is($rc, 0, 'help exits 0');
like($out, qr/zapjobs $_\b/, "help lists $_")
  for qw(watch enqueue trigger top ls show logs cancel retry pause resume schedules workers stats);
like($out, qr/Exit codes: 0 success/, 'help documents the exit codes');
($rc, $out) = zj_cmd($node, [ 'help', 'enqueue' ]);
like($out, qr/--max-attempts N/, 'help enqueue shows its options');
($rc, $out) = zj_cmd($node, [ 'watch', '--help' ]);
is($rc, 0, 'watch --help exits 0');
like($out, qr/0 completed, 1 failed, 2 cancelled/, 'watch --help shows its exit codes');
# --help of every subcommand, with no server to connect to (it needs none).
for my $sub (qw(watch enqueue trigger top web ls show logs cancel retry pause resume
	schedules workers stats))
{
	($rc, $out, $err) = zj_cmd($node, [ $sub, '--help' ], env => { PGPORT => $node->port + 1 });
	is($rc, 0, "$sub --help exits 0");
	like($out, qr/\AUsage:\n  zapjobs \Q$sub\E(?: |\n)/, "$sub --help: its usage line names it");
	is($err, '', "$sub --help: nothing on stderr");
}
($rc, $out, $err) = zj_cmd($node, ['frobnicate']);
is($rc, 3, 'an unknown command exits 3');
one_error_line($err, qr/unknown command "frobnicate"/, 'unknown command');
($rc, $out, $err) = zj_cmd($node, [ 'ls', '--wait' ]);
is($rc, 3, 'an option the command does not take exits 3');
one_error_line($err, qr/--wait/, 'foreign option');
($rc, $out, $err) = zj_cmd($node, [ 'watch', 'abc' ]);
is($rc, 3, 'a run id that is no number exits 3');
($rc, $out, $err) = zj_cmd($node, [ 'top', '--json' ]);
is($rc, 3, 'an option of another subcommand exits 3');
one_error_line($err, qr/option --json does not apply here/, 'foreign long option');
($rc, $out, $err) = zj_cmd($node, [ 'watch', '0' ], env => { PGPORT => $node->port + 1 });
is($rc, 3, 'a bad run id is refused before connecting (no server needed)');
($rc, $out, $err) = zj_cmd($node, [ 'logs', '1', '-f', '--json' ]);
is($rc, 3, 'logs -f --json exits 3');
($rc, $out, $err) = zj_cmd($node, ['top']);
is($rc, 3, 'top without a terminal exits 3');
one_error_line($err, qr/top: needs a terminal/, 'top in a pipe');
($rc, $out, $err) = zj_cmd($node, [ 'ls', '--status', 'bogus' ]);
is($rc, 3, 'an unknown status exits 3');
one_error_line($err, qr/unknown status "bogus"/, 'unknown status');

# --- connecting as psql does ------------------------------------------------------

($rc, $out, $err) = zj_cmd($node, ['ls'], env => { PGPORT => $node->port + 1 });
is($rc, 5, 'no server there: exit 5');
one_error_line($err, qr/could not connect/, 'server down');
$node->safe_psql('postgres', 'CREATE DATABASE plain');
($rc, $out, $err) = zj_cmd($node, [ '-d', 'plain', 'ls' ]);
is($rc, 5, 'a database without the extension: exit 5');
one_error_line($err, qr/extension is not installed in database "plain".*CREATE EXTENSION zapjobs/,
	'extension missing, with the hint');
($rc, $out) = zj_cmd($node, [ '-d', 'dbname=postgres port=' . $node->port, 'stats' ],
	env => { PGDATABASE => 'plain', PGPORT => '1' });
is($rc, 0, '-d takes a conninfo string (before the subcommand, as in psql)');
($rc, $out) = zj_cmd($node,
	[ 'stats', '-d', 'postgresql:///postgres?host=' . $node->host . '&port=' . $node->port ],
	env => { PGDATABASE => 'plain' });
is($rc, 0, '-d takes a URI');
($rc, $out) = zj_cmd($node, [ 'stats', '-h', $node->host, '-p', $node->port ],
	env => { PGHOST => '/nonexistent', PGPORT => '1' });
is($rc, 0, '-h and -p');

# Passwords: wrong one, ~/.pgpass, a service file.
$node->safe_psql('postgres', q{CREATE ROLE carol LOGIN PASSWORD 'sesame'});
my $hba = $node->data_dir . '/pg_hba.conf';
my $hba_text = slurp_file($hba);
open(my $fh, '>', $hba) or die;
print $fh "local all carol scram-sha-256\n$hba_text";
close($fh);
$node->reload;
($rc, $out, $err) = zj_cmd($node, [ '-w', 'ls' ], user => 'carol', env => { PGPASSWORD => 'wrong' });
is($rc, 5, 'a wrong password: exit 5');
one_error_line($err, qr/password authentication failed/, 'wrong password');
my $pgpass = PostgreSQL::Test::Utils::tempdir() . '/pgpass';
open($fh, '>', $pgpass) or die;
print $fh "*:*:*:carol:sesame\n";
close($fh);
chmod 0600, $pgpass;
($rc, $out, $err) = zj_cmd($node, [ '-w', 'ls' ], user => 'carol', env => { PGPASSFILE => $pgpass });
is($rc, 0, 'the password comes from a password file') or diag($err);
my $services = PostgreSQL::Test::Utils::tempdir() . '/services';
open($fh, '>', $services) or die;
printf $fh "[jobs]\nhost=%s\nport=%s\ndbname=postgres\nuser=carol\n", $node->host, $node->port;
close($fh);
($rc, $out, $err) = zj_cmd($node, [ '-d', 'service=jobs', '-w', 'ls' ],
	env => { PGSERVICEFILE => $services, PGPASSFILE => $pgpass, PGHOST => '/nonexistent' });
is($rc, 0, 'a service file names the server') or diag($err);

# --- enqueue and watch: exit codes ------------------------------------------------

($rc, $out, $err) = zj_cmd($node, [ 'enqueue', 'SELECT 1' ]);
is($rc, 0, 'enqueue exits 0');
like($out, qr/^\d+\n\z/, 'enqueue prints the run id, alone');
my $first = $out + 0;
is(zj_wait($node, $first), 'completed', 'that run completes');

($rc, $out, $err) = zj_cmd($node, [ 'enqueue', '--wait', '--name', 'ok_job', 'SELECT pg_sleep(0.2)' ]);
is($rc, 0, 'enqueue --wait: a completed run exits 0');
like($out, qr/\A(\d+)\n.*^run \1 running, attempt 1 of 3\n.*^run \1 completed in /ms,
	'it prints the id, the start and the outcome');
unlike($out, qr/\e/, 'no escape codes in a pipe');

($rc, $out, $err) = zj_cmd($node,
	[ 'enqueue', '--wait', '--max-attempts', '2', 'SELECT 1/0' ]);
is($rc, 1, 'a run failed after its retries exits 1');
like($out, qr/attempt 1 of 2 failed: division by zero \[SQLSTATE 22012\]; retrying in/,
	'the failed attempt is reported, and the retry');
like($out, qr/failed after 2 attempts in [^:]+: division by zero \[SQLSTATE 22012\]$/m,
	'the final line has the error and its SQLSTATE');
my ($failed) = $out =~ /\A(\d+)/;
($rc, $out, $err) = zj_cmd($node,
	[ 'enqueue', '--wait', '--max-attempts', '3', 'SELECT 1/0' ]);
is(scalar(() = $out =~ /^run \d+ attempt [12] of 3 failed: division by zero \[SQLSTATE 22012\]; retrying in \S+$/mg),
	2, 'each of two retries is told once');

# A job's escape codes and broken bytes do not reach the terminal.
($rc, $out) = zj_cmd($node, [ 'enqueue', '--wait',
	q{SELECT jobs.log('info', E'red \\x1b[31m C1 \\u009b end'), jobs.progress(1, 2, E'msg\\x1b]0;title\\x07')} ]);
is($rc, 0, 'a job printing escape codes completes');
like($out, qr/^\d\d:\d\d:\d\d info +red \?\[31m C1 \? end$/m, 'escape codes and C1 controls shown as ?');
unlike($out, qr/[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]/, 'no control character is printed');

my $w = zj_cmd_start($node, [ 'enqueue', '--wait', q{SELECT public.wait_flag('never')} ]);
ok(zj_cmd_until($w, sub { $w->{out} =~ /running, attempt 1/ }), 'a long run is running');
my ($long) = $w->{out} =~ /\A(\d+)/;
($rc, $out) = zj_cmd($node, [ 'cancel', $long ]);
is($rc, 0, 'cancel exits 0');
is($out, "run $long cancelled\n", 'cancel says so');
is(zj_cmd_finish($w), 2, 'the watch of a cancelled run exits 2');
like($w->{out}, qr/^run $long cancelled after /m, 'and says it was cancelled');

($rc, $out) = zj_cmd($node, [ 'watch', $first ]);
is($rc, 0, 'watch of a run that has already completed exits 0 at once');
like($out, qr/^run $first completed in /m, 'with its outcome');
($rc, $out) = zj_cmd($node, [ 'watch', $failed ]);
is($rc, 1, 'watch of a failed run exits 1');
($rc, $out) = zj_cmd($node, [ 'watch', $long ]);
is($rc, 2, 'watch of a cancelled run exits 2');
like($out, qr/^run $long cancelled after /m, 'with its outcome');
my $victim = zj_enqueue($node, q{SELECT public.wait_flag('never')});
$w = zj_cmd_start($node, [ 'watch', $victim ]);
ok(zj_cmd_until($w, sub { $w->{out} =~ /^run $victim running, attempt 1/m }), 'watch ID of a running run');
($rc, $out) = zj_cmd($node, [ 'cancel', $victim ]);
is(zj_cmd_finish($w), 2, 'watch ID exits 2 when the run is cancelled meanwhile');
like($w->{out}, qr/^run $victim cancelled after /m, 'and says so');

# --- progress and log lines, plain ----------------------------------------------

my $progress_job = q{DO $$BEGIN
	FOR i IN 1..4 LOOP
		PERFORM jobs.progress(i, 4, 'step ' || i);
		PERFORM jobs.count_items(10);
		PERFORM jobs.log('info', 'did step ' || i);
		PERFORM pg_sleep(0.15);
	END LOOP; END$$};
($rc, $out, $err) = zj_cmd($node, [ 'enqueue', '--wait', '--name', 'progress_job', $progress_job ]);
is($rc, 0, 'a job with progress completes');
like($out, qr/^progress 50\.0% 2\/4 items 20 .*attempt 1\/3: step 2$/m, 'a progress line per event');
like($out, qr/^\d\d:\d\d:\d\d info +did step 3$/m, 'log lines as they come');
my @lines = split /\n/, $out;
ok(index($out, 'did step 4') < index($out, 'completed in'), 'the log lines come before the outcome');
unlike($out, qr/[\e\r]/, 'plain output has no escape codes or carriage returns');

# On a terminal the bar is redrawn in place and the outcome is in color;
# --plain and NO_COLOR print the plain lines there too.
my $tty_job = q{zapjobs enqueue --wait 'SELECT jobs.progress(1, 2), pg_sleep(0.5)'};
($rc, $out) = on_tty($tty_job);
is($rc, 0, 'enqueue --wait on a terminal');
like($out, qr/\e\[/, 'on a terminal it writes escape codes (the bar, the color)');
($rc, $out) = on_tty($tty_job =~ s/--wait/--wait --plain/r);
is($rc, 0, '--plain on a terminal');
like($out, qr/^progress 50\.0% 1\/2 .*\n.*^run \d+ completed in /ms, 'prints the plain lines');
unlike($out, qr/\e/, '--plain: no escape code on a terminal');
($rc, $out) = on_tty($tty_job, NO_COLOR => 1);
is($rc, 0, 'NO_COLOR on a terminal');
like($out, qr/^progress 50\.0% 1\/2 .*\n.*^run \d+ completed in /ms, 'prints the plain lines');
unlike($out, qr/\e/, 'NO_COLOR: no escape code on a terminal');

# --- forged events are ignored -------------------------------------------------

$w = zj_cmd_start($node, [ 'enqueue', '--wait', q{SELECT jobs.progress(1, 2, 'real'); SELECT public.wait_flag('f1'); SELECT jobs.log('info', 'after the flag')} ]);
ok(zj_cmd_until($w, sub { $w->{out} =~ /: real$/m }), 'the real progress arrived');
($long) = $w->{out} =~ /\A(\d+)/;
$node->safe_psql('postgres',
	qq{SELECT pg_notify('job_update', '{"type":"progress","id":$long,"current":2,"total":2,"message":"FORGED"}');
	   SELECT pg_notify('job_update', '{"type":"run","id":$long,"status":"completed"}')},
	extra_params => [ '-U', 'mallory' ]);
$node->safe_psql('postgres', q{INSERT INTO public.flags VALUES ('f1')});
is(zj_cmd_finish($w), 0, 'the run completed');
like($w->{out}, qr/after the flag.*completed in/s, 'and the watch saw the events after the forged ones');
unlike($w->{out}, qr/FORGED/, "a forged progress event is not shown");

# --- reconnecting ----------------------------------------------------------------

$w = zj_cmd_start($node, [ 'enqueue', '--wait', q{SELECT public.wait_flag('f2')} ],
	appname => 'zj-watch-reconnect');
ok(zj_cmd_until($w, sub { $w->{out} =~ /running, attempt 1/ }), 'watching a long run');
# Terminate the watch's backend and finish the run at once: it ends while
# the command is disconnected, and must still be reported.
$node->safe_psql('postgres', q{
	SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	 WHERE application_name = 'zj-watch-reconnect';
	INSERT INTO public.flags VALUES ('f2')});
is(zj_cmd_finish($w), 0, 'after the reconnect the watch exits with the outcome');
like($w->{err}, qr/connection to the server lost; reconnecting\n.*reconnected/s,
	'it said it lost the connection and reconnected');
like($w->{out}, qr/completed in/, 'and reported the final state');

# --- trigger ---------------------------------------------------------------------

$node->safe_psql('postgres',
	q{SELECT jobs.define('echo_input', 'SELECT jobs.set_output(jobs.input())')});
($rc, $out, $err) = zj_cmd($node, [ 'trigger', 'echo_input', '--input', '{"x": 1}', '--wait' ]);
is($rc, 0, 'trigger --wait exits 0 when the run completes');
my ($trig) = $out =~ /\A(\d+)/;
is($node->safe_psql('postgres', "SELECT output FROM jobs.runs WHERE id = $trig"),
	'{"x": 1}', 'the input reached the job');
($rc, $out, $err) = zj_cmd($node, [ 'trigger', 'no_such_job' ]);
is($rc, 4, 'trigger of an unknown job exits 4');
one_error_line($err, qr/job "no_such_job" does not exist/, 'unknown job');

# --- enqueue --after: a run waiting for others ---------------------------------

$node->safe_psql('postgres', q{SELECT jobs.pause_queue('cli_hold')});
my $parent = zj_enqueue($node, 'SELECT 41 AS a', queue => 'cli_hold');
($rc, $out, $err) = zj_cmd($node, [ 'enqueue', '--after', "$parent", '--workflow', 'cli',
	'SELECT jobs.parent_outputs() AS p' ]);
is($rc, 0, 'enqueue --after exits 0');
my $after = $out + 0;
is($node->safe_psql('postgres', "SELECT status || ' ' || workflow FROM jobs.runs WHERE id = $after"),
	'waiting cli', 'the run waits for its parent, in its workflow');
($rc, $out, $err) = zj_cmd($node, [ 'trigger', 'echo_input', '--after', "$parent, $after",
	'--on-parent-failure', 'run' ]);
is($rc, 0, 'trigger --after exits 0');
my $trig_after = $out + 0;
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs.dependencies WHERE run_id = $trig_after"), '2',
	'trigger --after: two parents');
$node->safe_psql('postgres', q{SELECT jobs.resume_queue('cli_hold')});
($rc, $out) = zj_cmd($node, [ 'watch', "$after" ]);
is($rc, 0, 'watch of the waiting run exits 0 once it completed');
is(zj_run($node, $after, 'output')->{output}, qq({"p": {"$parent": {"a": 41}}}), 'with its parent\'s output');
is(zj_wait($node, $trig_after), 'completed', 'the triggered run completed after both');

# --- bad input changes nothing --------------------------------------------------

my $count = $node->safe_psql('postgres', 'SELECT count(*) FROM jobs.runs');
($rc, $out, $err) = zj_cmd($node, [ 'enqueue', '--input', '{bad', 'SELECT 1' ]);
is($rc, 3, 'malformed --input exits 3');
one_error_line($err, qr/invalid input syntax for type json/, 'malformed --input');
($rc, $out, $err) = zj_cmd($node, [ 'enqueue', '--priority', 'high', 'SELECT 1' ]);
is($rc, 3, 'a priority that is no number exits 3');
($rc, $out, $err) = zj_cmd($node, [ 'enqueue', '--timeout', 'soon', 'SELECT 1' ]);
is($rc, 3, 'a timeout that is no interval exits 3');
($rc, $out, $err) = zj_cmd($node, [ 'enqueue', '--kind', 'perl', 'SELECT 1' ]);
isnt($rc, 0, 'an unknown kind fails');
($rc, $out, $err) = zj_cmd($node, [ 'enqueue', '--after', '1,x', 'SELECT 1' ]);
is($rc, 3, 'an --after id that is no number exits 3');
one_error_line($err, qr/invalid input syntax for type bigint/, 'a bad --after');
($rc, $out, $err) = zj_cmd($node, [ 'enqueue', '--after', '1', '--on-parent-failure', 'ignore', 'SELECT 1' ]);
is($rc, 3, 'a bad --on-parent-failure exits 3');
is($node->safe_psql('postgres', 'SELECT count(*) FROM jobs.runs'), $count, 'no run was created');

# --- enqueue's options reach the run ------------------------------------------

($rc, $out, $err) = zj_cmd($node, [ 'enqueue', '--queue', 'cli_opts', '--priority', '7',
	'--run-at', '2031-02-03 04:05:06+00', '--timeout', '5 min', '--max-attempts', '4',
	'--name', 'opts_job', '--input', '{"k": 2}', 'SELECT 2' ]);
is($rc, 0, 'enqueue with every option exits 0') or diag($err);
my $opts = $out + 0;
is_deeply(
	zj_run($node, $opts, qw(queue priority max_attempts name kind command status input),
		q{timeout = interval '5 min'}, q{run_at = '2031-02-03 04:05:06+00'}),
	{
		queue => 'cli_opts',
		priority => 7,
		max_attempts => 4,
		name => 'opts_job',
		kind => 'sql',
		command => 'SELECT 2',
		status => 'scheduled',
		input => '{"k": 2}',
		q{timeout = interval '5 min'} => 'true',
		q{run_at = '2031-02-03 04:05:06+00'} => 'true'
	},
	'--queue, --priority, --run-at, --timeout, --max-attempts, --name and --input reach the run');
($rc, $out) = zj_cmd($node, [ 'ls', '--json', '--queue', 'cli_opts' ]);
is_deeply([ map { $_->{id} } @{ decode_json($out) } ], [$opts], 'ls --queue lists that queue only');
($rc, $out) = zj_cmd($node, [ 'ls', '--queue', 'cli_opts' ]);
like($out, qr/^\s*$opts\s+opts_job\s+cli_opts\s/m, 'ls --queue as a table');
is(scalar(() = $out =~ /^\s*\d+\s/mg), 1, 'with one row');
zj_cmd($node, [ 'cancel', $opts ]);

($rc, $out, $err) = zj_cmd($node, [ 'enqueue', '--wait', '--kind', 'shell',
	'echo "from $ZAPJOBS_RUN_ID"' ]);
is($rc, 0, 'enqueue --wait --kind shell: the shell run completes') or diag($err);
my ($shell) = $out =~ /\A(\d+)/;
like($out, qr/^\d\d:\d\d:\d\d info +from $shell$/m, 'its output comes as log lines');
is(zj_run($node, $shell, 'kind')->{kind}, 'shell', 'the run is a shell run');

# --- ls, show, logs, stats, workers, schedules: tables and JSON ------------------------

($rc, $out) = zj_cmd($node, [ 'ls', '--json' ]);
is($rc, 0, 'ls --json exits 0');
my $runs = decode_json($out);
ok(@$runs >= 8, 'ls --json lists the runs');
is($runs->[0]{id}, (sort { $b <=> $a } map { $_->{id} } @$runs)[0], 'newest first');
($rc, $out) = zj_cmd($node, [ 'ls', '--json', '--status', 'failed' ]);
$runs = decode_json($out);
ok(@$runs >= 1 && !grep({ $_->{status} ne 'failed' } @$runs), 'ls --status filters');
($rc, $out) = zj_cmd($node, [ 'ls', '--json', '--name', 'progress_job', '--limit', '1' ]);
$runs = decode_json($out);
is(scalar @$runs, 1, 'ls --name and --limit');
is($runs->[0]{name}, 'progress_job', 'the named run');
($rc, $out) = zj_cmd($node, ['ls']);
like($out, qr/^\s*id\s+name\s+queue\s+owner\s+status/m, 'ls prints a table with a header');
like($out, qr/^\s*$failed\s.*failed\s+2\/2.*division by zero/m, 'a row per run, aligned');

($rc, $out) = zj_cmd($node, [ 'show', '--json', $failed ]);
is($rc, 0, 'show --json exits 0');
my $shown = decode_json($out);
is($shown->{run}{id}, $failed, 'show --json has the run');
is($shown->{run}{command}, 'SELECT 1/0', 'with every column');
is(scalar @{ $shown->{attempts} }, 2, 'and every attempt');
is($shown->{attempts}[0]{error_sqlstate}, '22012', 'with its error');
($rc, $out) = zj_cmd($node, [ 'show', $failed ]);
like($out, qr/^command\s+SELECT 1\/0$/m, 'show prints the columns');
like($out, qr/^\s*2\s+failed\s.*22012\s+division by zero$/m, 'and the attempts');
my ($progress_run) = map { $_->{id} } @{ decode_json((zj_cmd($node, [ 'ls', '--json', '--name', 'progress_job' ]))[1]) };
($rc, $out) = zj_cmd($node, [ 'show', $progress_run ]);
like($out, qr/info\s+did step 4$/m, 'show prints the last log lines');

($rc, $out) = zj_cmd($node, [ 'logs', $progress_run ]);
is(scalar(() = $out =~ /did step/g), 4, 'logs prints every line');
($rc, $out) = zj_cmd($node, [ 'logs', '--json', $progress_run ]);
is(decode_json($out)->[3]{message}, 'did step 4', 'logs --json');
$w = zj_cmd_start($node, [ 'enqueue', q{SELECT jobs.log('info', 'one'); SELECT public.wait_flag('f3'); SELECT jobs.log('info', 'two')} ]);
ok(zj_cmd_until($w, sub { $w->{out} =~ /^\d+$/m }), 'a run that logs twice');
zj_cmd_finish($w);
my ($logged) = $w->{out} =~ /(\d+)/;
my $f = zj_cmd_start($node, [ 'logs', '-f', $logged ]);
ok(zj_cmd_until($f, sub { $f->{out} =~ /info +one$/m }), 'logs -f prints the lines so far');
$node->safe_psql('postgres', q{INSERT INTO public.flags VALUES ('f3')});
is(zj_cmd_finish($f), 0, 'logs -f ends with the run');
like($f->{out}, qr/one\n.*two\n\z/s, 'and printed the new line');
unlike($f->{out}, qr/completed/, 'logs -f prints log lines only');

($rc, $out) = zj_cmd($node, [ 'stats', '--json' ]);
my ($ok_stats) = grep { ($_->{name} // '') eq 'ok_job' } @{ decode_json($out) };
is($ok_stats->{completed}, 1, 'stats --json counts per name');
($rc, $out) = zj_cmd($node, ['stats']);
like($out, qr/^ok_job\s+0\s+0\s+0\s+0\s+1\s/m, 'stats prints a table');
($rc, $out) = zj_cmd($node, [ 'workers', '--json' ]);
my $workers = decode_json($out);
ok($workers->{pool}{launcher_pid} > 0, 'workers --json has the pool');
ok(ref $workers->{workers} eq 'ARRAY', 'and the workers');
($rc, $out) = zj_cmd($node, ['workers']);
like($out, qr/^\d+ of 4 workers running/m, 'workers prints the pool');
$node->safe_psql('postgres', q{SELECT jobs.schedule('nightly', '0 3 * * *', 'SELECT 1')});
($rc, $out) = zj_cmd($node, [ 'schedules', '--json' ]);
my ($nightly) = @{ decode_json($out) };
is($nightly->{schedule}, '0 3 * * *', 'schedules --json');
($rc, $out) = zj_cmd($node, ['schedules']);
like($out, qr/^nightly\s+\S+\s+0 3 \* \* \*\s.*active/m, 'schedules prints a table');

# --- steering ------------------------------------------------------------------

my $later = zj_enqueue($node, 'SELECT 1', run_at => "now() + interval '1 hour'");
($rc, $out, $err) = zj_cmd($node, [ 'cancel', $later, '999999' ]);
is($rc, 4, 'cancel with an unknown id exits 4');
one_error_line($err, qr/run 999999 not found/, 'unknown run id');
is(zj_run($node, $later, 'status')->{status}, 'scheduled', 'and cancelled nothing');
($rc, $out) = zj_cmd($node, [ 'cancel', $later, $first ]);
is($rc, 1, 'cancel of a finished run exits 1');
like($out, qr/^run $later cancelled\nrun $first not cancelled \(it is completed\)$/m,
	'each run says what became of it');
($rc, $out) = zj_cmd($node, [ 'retry', $later ]);
is($rc, 0, 'retry of a cancelled run exits 0');
is($out, "run $later queued again\n", 'retry says so');
($rc, $out) = zj_cmd($node, [ 'retry', $first ]);
is($rc, 1, 'retry of a completed run exits 1');

($rc, $out) = zj_cmd($node, [ 'pause', 'reports' ]);
is($rc, 0, 'pause exits 0');
is($node->safe_psql('postgres', q{SELECT paused FROM jobs.queues WHERE name = 'reports'}),
	't', 'the queue is paused');
($rc, $out) = zj_cmd($node, [ 'resume', 'reports' ]);
is($rc, 0, 'resume exits 0');
is($node->safe_psql('postgres', q{SELECT count(*) FROM jobs.queues WHERE name = 'reports' AND paused}),
	'0', 'the queue runs again');

# --- another role's runs -----------------------------------------------------------

my $secret = zj_enqueue($node, q{SELECT 'alice secret'}, user => 'alice');
is(zj_wait($node, $secret), 'completed', "alice's run completed");
for my $cmd ([ 'show', $secret ], [ 'watch', $secret ], [ 'logs', $secret ],
	[ 'cancel', $secret ], [ 'retry', $secret ])
{
	($rc, $out, $err) = zj_cmd($node, $cmd, user => 'bob');
	is($rc, 4, "bob: $cmd->[0] of alice's run exits 4");
	one_error_line($err, qr/run $secret not found/, "bob: $cmd->[0]");
	unlike($out . $err, qr/alice/, 'nothing of it leaks');
}
($rc, $out) = zj_cmd($node, [ 'ls', '--json' ], user => 'bob');
is($out, "[]\n", 'bob lists no runs');
($rc, $out) = zj_cmd($node, [ 'ls', '--json' ], user => 'alice');
is(scalar @{ decode_json($out) }, 1, 'alice lists hers');
($rc, $out, $err) = zj_cmd($node, [ 'pause', 'default' ], user => 'bob');
is($rc, 5, 'bob may not pause a queue: exit 5');
one_error_line($err, qr/permission denied/, 'pause without the privilege');

# --- Ctrl-C ------------------------------------------------------------------------

$w = zj_cmd_start($node, [ 'enqueue', '--wait', q{SELECT public.wait_flag('f4')} ]);
ok(zj_cmd_until($w, sub { $w->{out} =~ /running, attempt 1/ }), 'watching a run');
$w->{h}->signal('INT');
is(zj_cmd_finish($w), 130, 'Ctrl-C ends the watch with 130');
$node->safe_psql('postgres', q{INSERT INTO public.flags VALUES ('f4')});

$node->stop;
done_testing();
