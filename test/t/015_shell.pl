# Shell jobs (kind => 'shell'): /bin/sh -c in a child of a worker, in its
# own process group, with stdin from /dev/null, working directory /tmp and a
# clean environment (ZAPJOBS_RUN_ID, ZAPJOBS_ATTEMPT, ZAPJOBS_INPUT, no PG*
# variables); stdout lines logged at info and stderr lines at warning while
# the child runs, published as log events; the ::progress, ::output and
# ::log protocol; exit codes and signals as failures; timeouts, jobs.cancel,
# pg_terminate_backend, a worker crash and a shutdown leave no process of
# the group behind (checked by process group in /proc); 10 MB of output and
# odd bytes; who may enqueue shell jobs, membership checked again at start,
# and zapjobs.shell_enabled.
use strict;
use warnings;
use lib 'test/perl';

use Encode ();
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use ZapjobsTest;

my $node = zj_new_node('shell', max_workers => 4,
	conf => "# a worker's crash (section 9) restarts the server\nrestart_after_crash = on\n");

$node->safe_psql(
	'postgres', q{
	CREATE ROLE dave LOGIN;
	CREATE ROLE erin LOGIN;
	CREATE ROLE shellers NOLOGIN;
	CREATE ROLE frank LOGIN;
	GRANT pg_execute_server_program TO erin;
	GRANT pg_execute_server_program TO shellers;
	GRANT shellers TO frank;
});

sub val { return zj_sql($node, $_[0]) }

# Enqueue a shell job (as superuser unless user => ROLE).
sub shell
{
	my ($command, %opt) = @_;
	return zj_enqueue($node, $command, kind => 'shell', %opt);
}

my %final = map { $_ => 1 } zj_final_statuses();

# --- Helpers: logs -------------------------------------------------------------

# Run ID's log lines, "level|message", one a line in order.
sub logs_of
{
	my ($id) = @_;
	return val(
		qq{SELECT string_agg(level || '|' || message, E'\\n' ORDER BY id)
		   FROM jobs.logs WHERE run_id = $id});
}

# Wait until run ID has a log line matching the LIKE pattern PAT; returns
# the first such message (undef after the deadline).
sub wait_log_like
{
	my ($id, $pat) = @_;
	$pat =~ s/'/''/g;
	$node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM jobs.logs WHERE run_id = $id AND message LIKE '$pat'")
	  or return undef;
	return val(
		"SELECT message FROM jobs.logs WHERE run_id = $id AND message LIKE '$pat' ORDER BY id LIMIT 1"
	);
}

# Wait until run ID is running; true if it is.
sub wait_running
{
	my ($id) = @_;
	return $node->poll_query_until('postgres',
		"SELECT status FROM jobs.runs WHERE id = $id", 'running');
}

# Seconds the last attempt of run ID took (finished_at - started_at).
sub run_secs
{
	my ($id) = @_;
	return val(
		"SELECT round(extract(epoch FROM finished_at - started_at), 3) FROM jobs.runs WHERE id = $id"
	);
}

# --- Helpers: process groups ----------------------------------------------------
#
# Live (not zombie) processes of process group PGID, as "pid:comm:state",
# read from /proc.  Orphaned grandchildren that died are zombies of PID 1
# until it reaps them (a container's PID 1 may never do it), so zombies
# do not count.
my %pgids_seen;

sub group_members
{
	my ($pgid) = @_;
	my @live;
	return () unless defined $pgid;
	opendir(my $dh, '/proc') or die "cannot read /proc: $!";
	for my $pid (grep { /^\d+$/ } readdir $dh)
	{
		open(my $fh, '<', "/proc/$pid/stat") or next;
		my $stat = <$fh>;
		close $fh;
		# pid (comm) state ppid pgrp session ...; comm may contain ')'.
		next
		  unless defined $stat
		  && $stat =~ /^\d+ \((.*)\) (\S) (-?\d+) (-?\d+) (-?\d+) /s;
		my ($comm, $state, $pgrp) = ($1, $2, $4);
		push @live, "$pid:$comm:$state"
		  if $pgrp == $pgid && $state ne 'Z' && $state ne 'X';
	}
	closedir $dh;
	return @live;
}

# Wait up to SECS seconds until group PGID has no live process; returns
# (gone?, seconds waited).
sub wait_group_gone
{
	my ($pgid, $secs) = @_;
	my $t0 = time();
	return (0, 0) unless defined $pgid;
	while (group_members($pgid))
	{
		return (0, time() - $t0) if time() - $t0 > $secs;
		sleep(0.05);
	}
	return (1, time() - $t0);
}

# Wait up to SECS seconds until group PGID has at least N live processes;
# returns them.
sub wait_group_size
{
	my ($pgid, $n, $secs) = @_;
	my $t0 = time();
	my @m;
	return () unless defined $pgid;
	while ((@m = group_members($pgid)) < $n && time() - $t0 < $secs)
	{
		sleep(0.05);
	}
	return @m;
}

# A job printing "pgid N" (its process group, from /proc) and leaving two
# sleeps (a background grandchild and the foreground one) in its group.
my $sleeper =
  q{echo "pgid $(cut -d' ' -f5 /proc/$$/stat) self $$"; sleep 600 & sleep 600};

# The process group run ID printed ("pgid N"), once logged; checks that it
# is the shell's own group (pgid = the shell's pid) and remembers it for
# the clean-up.
sub pgid_of
{
	my ($id, $what) = @_;
	my $line = wait_log_like($id, 'pgid %');
	my ($pgid, $self) =
	  defined $line && $line =~ /^pgid (\d+) self (\d+)$/ ? ($1, $2) : ();
	ok(defined $pgid && $pgid == $self && $pgid > 1,
		"$what: the shell leads its own process group")
	  or diag('log line: ' . ($line // '<none>'));
	$pgids_seen{$pgid} = 1 if defined $pgid;
	return $pgid;
}

# Leave no process of ours behind, whatever happened: SIGKILL the groups
# the jobs reported that still have live members.
END
{
	for my $pgid (keys %pgids_seen)
	{
		kill '-KILL', $pgid if $pgid > 1 && group_members($pgid);
	}
}

# --- (1) A simple shell job: output, levels, environment --------------------------
my $basic_cmd = <<'EOS';
echo hello
echo oops >&2
echo "run_id=$ZAPJOBS_RUN_ID"
echo "attempt=$ZAPJOBS_ATTEMPT"
echo "input=$ZAPJOBS_INPUT"
echo "pwd=$(pwd)"
echo "stdin=$(readlink /proc/$$/fd/0)"
cat
echo "cat returned $?"
echo "pg_vars=$(env | grep -c '^PG')"
env | grep '^PG'
echo "env=$(env | cut -d= -f1 | sort | tr '\n' ' ')"
echo "path=$PATH"
echo "proc self=$$ pgid=$(cut -d' ' -f5 /proc/$$/stat) sid=$(cut -d' ' -f6 /proc/$$/stat) ppid=$PPID"
exit 0
EOS
my $t0 = time();
my $basic = shell($basic_cmd, input => '{"a":1}', timeout => "'60 s'",
	name => 'basic_shell');
is(zj_wait($node, $basic), 'completed', 'a shell job printing to stdout and stderr completes');
my $basic_secs = time() - $t0;
ok($basic_secs < 30, '... promptly (cat of stdin returned at once)')
  or diag("took $basic_secs s");
is(val("SELECT kind FROM jobs.runs WHERE id = $basic"), 'shell', '... kind is shell');
my %lines;
for (split /\n/, logs_of($basic) // '')
{
	my ($lvl, $msg) = split /\|/, $_, 2;
	push @{ $lines{$msg} }, $lvl;
}
note('log of the basic job: ' . (logs_of($basic) // '<none>'));
is_deeply($lines{hello}, ['info'], "... stdout line 'hello' logged at info");
is_deeply($lines{oops}, ['warning'], "... stderr line 'oops' logged at warning");
ok(exists $lines{"run_id=$basic"}, '... ZAPJOBS_RUN_ID is the run id');
ok(exists $lines{'attempt=1'}, '... ZAPJOBS_ATTEMPT is 1');
my ($input_line) = grep { /^input=/ } keys %lines;
my $input_json = defined $input_line ? substr($input_line, 6) : undef;
is_deeply(
	(defined $input_json ? eval { JSON::PP->new->decode($input_json) } : undef),
	{ a => 1 },
	'... ZAPJOBS_INPUT is the input as JSON')
  or diag('input line: ' . ($input_line // '<none>'));
ok(exists $lines{'pwd=/tmp'}, '... the working directory is /tmp');
ok(exists $lines{'stdin=/dev/null'}, '... stdin is /dev/null');
ok(exists $lines{'cat returned 0'}, '... cat of stdin returned at once');
ok(exists $lines{'pg_vars=0'}, '... no PG* variable in its environment');
is(scalar(grep { /^PG/ } keys %lines), 0, '... (env | grep ^PG printed nothing)');
ok(exists $lines{'path=/usr/local/bin:/usr/bin:/bin'}, '... PATH is /usr/local/bin:/usr/bin:/bin');
my ($env_line) = grep { /^env=/ } keys %lines;
my @env_names = defined $env_line ? split(' ', substr($env_line, 4)) : ();
note("environment names: @env_names");
my %env_ok = map { $_ => 1 }
  qw(PATH HOME LANG PWD OLDPWD SHLVL _ ZAPJOBS_RUN_ID ZAPJOBS_ATTEMPT ZAPJOBS_INPUT);
is_deeply([ grep { !$env_ok{$_} && !/^LC_/ } @env_names ],
	[], '... nothing else from the server environment')
  or diag("environment names: @env_names");
ok(scalar(grep { $_ eq 'ZAPJOBS_RUN_ID' } @env_names), '... (the environment was read)');
my ($proc_line) = grep { /^proc / } keys %lines;
my %proc = defined $proc_line ? ($proc_line =~ /(\w+)=(\d+)/g) : ();
my $basic_worker = val("SELECT worker_pid FROM jobs.runs WHERE id = $basic");
ok(defined $proc{self} && $proc{pgid} == $proc{self} && $proc{sid} == $proc{self},
	'... the shell is in its own session and process group (setsid)')
  or diag('proc line: ' . ($proc_line // '<none>'));
is($proc{ppid}, $basic_worker, '... a child of the worker that ran the run');
is( val(qq{SELECT count(*) FROM jobs.logs WHERE run_id = $basic
	       AND level NOT IN ('info', 'warning')}),
	'0', '... no lines at other levels');

# Input NULL: ZAPJOBS_INPUT empty; attempts: ZAPJOBS_ATTEMPT counts them.
my $att = shell(q{echo "input=[$ZAPJOBS_INPUT] attempt $ZAPJOBS_ATTEMPT"; exit 3},
	max_attempts => 2, retry_base => "'100 ms'");
is(zj_wait($node, $att), 'failed', 'a shell job failing twice with 2 attempts fails');
is( val(qq{SELECT string_agg(attempt || '|' || message, ',' ORDER BY id)
	       FROM jobs.logs WHERE run_id = $att AND message LIKE 'input=%'}),
	'1|input=[] attempt 1,2|input=[] attempt 2',
	'... ZAPJOBS_ATTEMPT is 1, then 2; ZAPJOBS_INPUT is empty without input');
is( val(qq{SELECT string_agg(attempt || '|' || outcome || '|' || error_sqlstate, ','
	                         ORDER BY attempt)
	       FROM jobs.attempts WHERE run_id = $att}),
	'1|failed|38000,2|failed|38000', '... 2 failed attempts with 38000');

# --- (2) Live output, progress and the protocol ------------------------------------
my $live_cmd = <<'EOS';
for i in 1 2 3 4 5; do
  echo "line $i"
  echo "::progress $i/5 step $i"
  sleep 1
done
echo '::log error boom'
echo '::output {"done":true}'
EOS
my $l = zj_listen($node);
my $live = shell($live_cmd, name => 'live_shell', max_attempts => 1);
my ($seen_view, $seen_view_prog);
my $deadline = time() + 90;
while (time() < $deadline)
{
	my ($status, $nlogs, $cur) = split /\|/, val(
		qq{SELECT concat_ws('|', r.status,
		                    (SELECT count(*) FROM jobs.logs g WHERE g.run_id = r.id),
		                    coalesce(a.progress_current::text, ''))
		   FROM jobs.runs r LEFT JOIN jobs.active a ON a.id = r.id
		   WHERE r.id = $live}), -1;
	if (   $status eq 'running'
		&& $nlogs >= 1
		&& $cur ne ''
		&& $cur >= 1
		&& $cur < 5)
	{
		$seen_view //= "$nlogs lines, progress $cur";
	}
	zj_listen_drain($l, 'SELECT pg_sleep(0.1)');
	last if $final{$status};
}
is(zj_wait($node, $live), 'completed', 'a job printing lines and progress for 5 s completes');
ok(defined $seen_view,
	'... while it ran, jobs.logs had lines and jobs.active showed progress below 5')
  and note("seen while running: $seen_view");
ok( zj_listen_until(
		$l, sub { grep { $_->{status} eq 'completed' } zj_listen_events($l, $live, 'run') }),
	'... its completed event arrives');
zj_listen_quit($l);
is_deeply($l->{bad}, [], '... payloads are strict UTF-8 JSON objects with a "type"');
my $fin = val("SELECT extract(epoch FROM finished_at) FROM jobs.runs WHERE id = $live");
my @log_ev = zj_listen_events($l, $live, 'log');
my @prog_ev = zj_listen_events($l, $live, 'progress');
my ($first_log) = @log_ev;
my ($first_prog) = @prog_ev;
ok(defined $first_log && $first_log->{_received} < $fin - 1,
	'... log events arrived on LISTEN job_update while it ran (over 1 s before its end)')
  or diag(
	'first log event ' . ($first_log ? $fin - $first_log->{_received} : 'none') . ' s before the end');
ok(defined $first_prog && $first_prog->{_received} < $fin - 1,
	'... progress events too')
  or diag('first progress event '
	  . ($first_prog ? $fin - $first_prog->{_received} : 'none')
	  . ' s before the end');
ok(scalar(grep { defined $_->{current} && $_->{current} < 5 && $_->{_received} < $fin - 0.5 } @prog_ev),
	'... with progress below 5 before the end');
is( join(',', map { ($_->{level} // '') . ':' . ($_->{message} // '') } @log_ev),
	'info:line 1,info:line 2,info:line 3,info:line 4,info:line 5,error:boom',
	'... the log events: 5 lines at info and the ::log line at error, in order');
my @cur = map { $_->{current} // -1 } @prog_ev;
is_deeply([ grep { $cur[$_] < $cur[ $_ - 1 ] } 1 .. $#cur ], [],
	'... progress events never go backwards') or diag("currents: @cur");
my $last_prog = $prog_ev[-1] // {};
is( join('|', map { $_ // 'null' } @{$last_prog}{qw(current total message)}),
	'5|5|step 5', '... the last progress event is 5 of 5, "step 5"');
is(logs_of($live),
	join("\n", (map { "info|line $_" } 1 .. 5), 'error|boom'),
	'jobs.logs: the 5 lines and "boom" at error, no protocol lines');
my $r = zj_run($node, $live,
	qw(output progress_current progress_total progress_message));
is($r->{output}, '{"done": true}', '::output set the output');
is( join('|', map { $_ // 'null' } @{$r}{qw(progress_current progress_total progress_message)}),
	'5|5|step 5', 'jobs.runs keeps progress 5 of 5, "step 5"');

# Protocol odds: ::progress without a total, levels, invalid ::output JSON.
my $proto = shell(<<'EOS');
echo '::progress 3'
echo '::log warning careful'
echo '::log notice fyi'
echo '::log debug dbg'
echo '::output {not json'
echo 'plain'
EOS
is(zj_wait($node, $proto), 'completed', 'a job with ::progress N, ::log levels and bad ::output completes');
$r = zj_run($node, $proto, qw(output progress_current progress_total));
is($r->{progress_current}, '3', '... ::progress 3 sets progress_current');
is($r->{progress_total}, undef, '... without a total');
is($r->{output}, undef, '... invalid ::output JSON sets no output');
my $proto_log = logs_of($proto) // '';
note("protocol job log: $proto_log");
like($proto_log, qr/^warning\|careful$/m, '... ::log warning careful at warning');
like($proto_log, qr/^notice\|fyi$/m, '... ::log notice fyi at notice');
like($proto_log, qr/^debug\|dbg$/m, '... ::log debug dbg at debug');
like($proto_log, qr/^info\|plain$/m, '... a plain line at info');
like($proto_log, qr/^warning\|.*(output|json|JSON)/m,
	'... a warning line about the invalid ::output');

# --- (3) Failing exit codes -----------------------------------------------------------
my $bad = shell(q{echo out; echo bad >&2; exit 3}, max_attempts => 1);
is(zj_wait($node, $bad), 'failed', 'a shell job exiting with 3 fails');
$r = zj_run($node, $bad, qw(attempt error_sqlstate error_message error_detail));
is($r->{attempt}, '1', '... after 1 attempt');
is($r->{error_sqlstate}, '38000', '... with SQLSTATE 38000');
like($r->{error_message} // '', qr/\bcode 3\b/, '... the message names exit code 3')
  or diag(explain($r));
like($r->{error_detail} // '', qr/\bbad\b/, '... the detail has the stderr line');
unlike($r->{error_detail} // '', qr/\bout\b/, '... but not the stdout line');

my $many = shell(q{for i in $(seq 1 15); do echo "err $i" >&2; done; exit 4},
	max_attempts => 1);
is(zj_wait($node, $many), 'failed', 'a job writing 15 stderr lines and exiting 4 fails');
my $detail = val("SELECT error_detail FROM jobs.runs WHERE id = $many");
my @dl = grep { /err \d+/ } split /\n/, $detail;
note("detail: $detail");
like($detail, qr/err 15/, '... the detail has the last stderr line');
ok(@dl >= 1 && @dl <= 10 && $detail !~ /err 1(?!\d)/,
	'... and at most the last 10 lines (not the first)');
like(val("SELECT error_message FROM jobs.runs WHERE id = $many"),
	qr/\bcode 4\b/, '... code 4');

my $nocmd = shell(q{zj_no_such_command_015}, max_attempts => 1);
is(zj_wait($node, $nocmd), 'failed', 'a command that does not exist fails');
$r = zj_run($node, $nocmd, qw(error_sqlstate error_message error_detail));
like($r->{error_message} // '', qr/\bcode 127\b/, '... exit code 127');
like($r->{error_detail} // '', qr/not found/, '... the shell\'s "not found" in the detail');

# --- (4) Death by a signal ------------------------------------------------------------------
my $k9 = shell(q{echo before; kill -9 $$; echo after}, max_attempts => 1);
is(zj_wait($node, $k9), 'failed', 'a shell killing itself with SIGKILL fails');
$r = zj_run($node, $k9, qw(error_sqlstate error_message));
like($r->{error_message} // '', qr/signal 9\b/, '... the message names signal 9')
  or diag(explain($r));
note("message: " . ($r->{error_message} // ''));
like($r->{error_message} // '', qr/Killed/i, '... and its name');
is(logs_of($k9), 'info|before', '... what it printed before is logged');

my $k15 = shell(q{kill -TERM $$}, max_attempts => 1);
is(zj_wait($node, $k15), 'failed', 'a shell killing itself with SIGTERM fails');
like(val("SELECT error_message FROM jobs.runs WHERE id = $k15"),
	qr/signal 15\b/, '... the message names signal 15');

# --- (5) Timeout and cancel kill the whole group ---------------------------------------
my $to = shell($sleeper, timeout => "'1 s'", max_attempts => 1);
is(zj_wait($node, $to, timeout => '60 s'), 'failed',
	'a shell job leaving sleeps behind, over its 1 s timeout, fails');
$r = zj_run($node, $to, qw(error_sqlstate error_message));
like($r->{error_message} // '', qr/timed out/, '... timed out') or diag(explain($r));
is($r->{error_sqlstate}, '57014', '... 57014 as for SQL jobs');
my $secs = run_secs($to);
note("the timed-out job ran $secs s");
ok($secs >= 0.9 && $secs < 6, '... within a few seconds of its start') or diag("ran $secs s");
my $to_pgid = pgid_of($to, 'timed-out job');
my ($gone, $waited) = wait_group_gone($to_pgid, 10);
ok($gone, '... no process of its group is left (the background sleep died too)')
  or diag("left: @{[group_members($to_pgid)]}");

# A group that ignores SIGTERM gets SIGKILL after the grace period.
my $stubborn = shell(q{trap '' TERM; } . $sleeper, timeout => "'1 s'", max_attempts => 1);
is(zj_wait($node, $stubborn, timeout => '60 s'), 'failed',
	'a job whose processes ignore SIGTERM, over its 1 s timeout, fails');
like(val("SELECT error_message FROM jobs.runs WHERE id = $stubborn"),
	qr/timed out/, '... timed out');
$secs = run_secs($stubborn);
note("the SIGTERM-ignoring job ran $secs s");
ok($secs >= 0.9 && $secs < 10, '... within the timeout, grace (2 s) and a few seconds')
  or diag("ran $secs s");
my $st_pgid = pgid_of($stubborn, 'SIGTERM-ignoring job');
($gone, $waited) = wait_group_gone($st_pgid, 10);
ok($gone, '... no process of its group is left (SIGKILL after the grace)')
  or diag("left: @{[group_members($st_pgid)]}");

# Cancel of a running shell job.
my $cj = shell($sleeper, max_attempts => 3);
ok(wait_running($cj), 'a shell job leaving sleeps behind is running');
my $cj_pgid = pgid_of($cj, 'job to cancel');
my @members = wait_group_size($cj_pgid, 3, 20);
ok(@members >= 3, '... its group has the shell and both sleeps') or diag("members: @members");
is(val("SELECT shell_pgid FROM jobs.runs WHERE id = $cj"),
	$cj_pgid, '... jobs.runs.shell_pgid is its process group');
my $tc = time();
is(val("SELECT jobs.cancel($cj)"), 't', 'jobs.cancel() of it returns true');
is(zj_wait($node, $cj, timeout => '60 s'), 'cancelled', '... it becomes cancelled');
my $cancel_secs = time() - $tc;
note(sprintf('cancelled after %.2f s', $cancel_secs));
ok($cancel_secs < 8, '... within a few seconds') or diag("took $cancel_secs s");
($gone, $waited) = wait_group_gone($cj_pgid, 10);
ok($gone, '... no process of its group is left')
  or diag("left: @{[group_members($cj_pgid)]}");
$r = zj_run($node, $cj, qw(attempt shell_pgid));
is($r->{attempt}, '1', '... not retried');
note('shell_pgid after the end: ' . ($r->{shell_pgid} // 'NULL'));

# A cancel of a job ignoring SIGTERM.
my $cs = shell(q{trap '' TERM; } . $sleeper, max_attempts => 1);
ok(wait_running($cs), 'a shell job ignoring SIGTERM is running');
my $cs_pgid = pgid_of($cs, 'SIGTERM-ignoring job to cancel');
wait_group_size($cs_pgid, 3, 20);
is(val("SELECT jobs.cancel($cs)"), 't', 'jobs.cancel() of it returns true');
is(zj_wait($node, $cs, timeout => '60 s'), 'cancelled', '... it becomes cancelled');
($gone, $waited) = wait_group_gone($cs_pgid, 10);
ok($gone, '... no process of its group is left')
  or diag("left: @{[group_members($cs_pgid)]}");

# --- (6) Lots of output, long lines, odd bytes -------------------------------------------
# Peak memory (VmHWM, kB) of process PID.
sub hwm_kb
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/status") or return undef;
	while (<$fh>)
	{
		return $1 if /^VmHWM:\s+(\d+)\s+kB/;
	}
	return undef;
}

# The peak memory of every zapjobs worker now, after resetting it to the
# current memory (writing 5 to clear_refs) where the kernel lets us.
sub worker_hwms
{
	my %h;
	for my $pid (split /\n/,
		val(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'zapjobs worker'}))
	{
		if (open(my $fh, '>', "/proc/$pid/clear_refs"))
		{
			print $fh "5\n";
			close $fh;
		}
		my $kb = hwm_kb($pid);
		$h{$pid} = $kb if defined $kb;
	}
	return \%h;
}

# Check that the worker that ran run ID grew its peak memory by less than
# LIMIT_KB over BEFORE (from worker_hwms()).
sub check_hwm
{
	my ($id, $before, $limit_kb, $what) = @_;
	my $pid = val("SELECT worker_pid FROM jobs.runs WHERE id = $id");
	my $after = hwm_kb($pid);
  SKIP:
	{
		skip "$what: worker $pid was not there before or is gone", 1
		  unless defined $before->{$pid} && defined $after;
		my $grew = $after - $before->{$pid};
		note("$what: worker $pid peak memory $before->{$pid} kB -> $after kB");
		ok($grew < $limit_kb, "$what: the worker's peak memory grew by less than $limit_kb kB")
		  or diag("grew by $grew kB");
	}
	return;
}

my $hwm = worker_hwms();
$t0 = time();
my $big = shell(q{head -c 10000000 /dev/urandom | base64; echo after >&2},
	max_attempts => 1, timeout => "'5 min'");
is(zj_wait($node, $big, timeout => '300 s'), 'completed',
	'a job printing 10 MB (175439 lines of base64) completes');
note(sprintf('it took %.1f s', time() - $t0));
my $n = val("SELECT count(*) FROM jobs.logs WHERE run_id = $big");
ok($n >= 2 && $n <= 1001, '... at most 1001 lines are logged') or diag("$n lines");
my $dropped = val(
	qq{SELECT string_agg(level || '|' || message, E'\\n') FROM jobs.logs
	   WHERE run_id = $big AND message LIKE '%dropped%'});
like($dropped // '', qr/^warning\|\d+ log lines dropped/, '... one warning saying lines were dropped')
  or diag("dropped lines: " . ($dropped // '<none>'));
is( val(qq{SELECT message LIKE '%dropped%' FROM jobs.logs WHERE run_id = $big
	       ORDER BY id DESC LIMIT 1}),
	't', '... as the last line');
is( val(qq{SELECT count(*) FROM jobs.logs WHERE run_id = $big AND message NOT LIKE '%dropped%'
	       AND message !~ '^[A-Za-z0-9+/=]{1,76}\$'}),
	'0', '... the kept lines are whole base64 lines');
if (($dropped // '') =~ /\|(\d+) log lines dropped/)
{
	is($1 + $n - 1, 175440,
		'... kept + dropped = all 175439 stdout lines and the stderr line');
}
check_hwm($big, $hwm, 10240, '10 MB of lines');

$hwm = worker_hwms();
$t0 = time();
my $yes = shell(q{yes | head -c 10000000}, max_attempts => 1, timeout => "'5 min'");
is(zj_wait($node, $yes, timeout => '300 s'), 'completed',
	'a job printing 5,000,000 short lines (10 MB) completes');
note(sprintf('it took %.1f s', time() - $t0));
$n = val("SELECT count(*) FROM jobs.logs WHERE run_id = $yes");
ok($n >= 2 && $n <= 1001, '... at most 1001 lines are logged') or diag("$n lines");
like(val("SELECT message FROM jobs.logs WHERE run_id = $yes ORDER BY id DESC LIMIT 1"),
	qr/^4999000 log lines dropped/, '... the last one says 4999000 lines were dropped');
check_hwm($yes, $hwm, 10240, '5,000,000 lines');

$hwm = worker_hwms();
my $long = shell(q{head -c 10000000 /dev/zero | tr '\0' x; echo; echo done},
	max_attempts => 1, timeout => "'5 min'");
is(zj_wait($node, $long, timeout => '300 s'), 'completed',
	'a job printing one line of 10 MB completes');
# The line is cut into pieces of 2,000 bytes: the log's bound applies.
is( val(qq{SELECT max(octet_length(message)) <= 2000 FROM jobs.logs WHERE run_id = $long}),
	't', '... its logged lines are cut (at most 2,000 bytes each)');
note('long line job: '
	  . val(qq{SELECT count(*) || ' lines, longest ' || max(octet_length(message))
	           FROM jobs.logs WHERE run_id = $long}));
$n = val("SELECT count(*) FROM jobs.logs WHERE run_id = $long");
ok($n >= 1 && $n <= 1001, '... at most 1001 lines are logged') or diag("$n lines");
check_hwm($long, $hwm, 10240, 'one 10 MB line');

my $odd = shell(q{printf 'a\377b\000c\n'; printf 'caf\303\251\n'; printf 'no newline'});
is(zj_wait($node, $odd), 'completed', 'a job printing invalid UTF-8, NUL and a last line without newline completes');
my @odd = split /\n/, val(
	qq{SELECT string_agg(encode(convert_to(message, 'UTF8'), 'hex'), E'\\n' ORDER BY id)
	   FROM jobs.logs WHERE run_id = $odd});
my @odd_text = map {
	my $b = pack('H*', $_);
	my $c = eval { Encode::decode('UTF-8', $b, Encode::FB_CROAK) };
	defined $c ? $c : "<invalid: $_>"
} @odd;
note('odd lines: ' . join(' / ', map { Encode::encode('UTF-8', $_) } @odd_text));
is(scalar @odd_text, 3, '... 3 lines logged');
like($odd_text[0] // '', qr/^a.b.?c$/, '... the bad bytes replaced, the line valid text');
is($odd_text[0], 'a?b?c', '... by "?" each');
is($odd_text[1], "caf\x{e9}", '... valid UTF-8 kept as is');
is($odd_text[2], 'no newline', '... the last line without a newline is logged');

# --- (7) Who may run shell jobs ---------------------------------------------------------
my ($rc, $out, $err) = zj_psql_verbose($node, 'dave',
	q{SELECT jobs.enqueue('echo hi', kind => 'shell')});
isnt($rc, 0, 'a role without pg_execute_server_program cannot enqueue a shell job');
like($err, qr/ERROR:  42501:/, '... 42501') or diag($err);
like($err, qr/shell/, '... the message is about shell jobs');
is(val(q{SELECT count(*) FROM jobs.runs WHERE owner = 'dave'::regrole}), '0', '... nothing enqueued');
my $dave_sql = zj_enqueue($node, 'SELECT 1', user => 'dave');
is(zj_wait($node, $dave_sql, user => 'dave'), 'completed', '... SQL jobs of that role still work');

my $marker = "/tmp/zj015_marker_$$";
my $erin = shell(qq{touch $marker.erin; echo "hi from \$ZAPJOBS_RUN_ID"}, user => 'erin');
is(zj_wait($node, $erin, user => 'erin'), 'completed', 'a member of pg_execute_server_program runs a shell job');
ok(-e "$marker.erin", '... it ran');
is(logs_of($erin), "info|hi from $erin", '... its output is logged');
my $frank = shell(q{echo frank}, user => 'frank');
is(zj_wait($node, $frank, user => 'frank'), 'completed',
	'a member through another role runs a shell job');

my $rev = shell(qq{touch $marker.revoked; echo ran},
	user => 'erin', run_at => "now() + interval '3 s'");
val('REVOKE pg_execute_server_program FROM erin');
is(zj_run($node, $rev, 'status')->{status}, 'scheduled',
	'a shell job of erin is scheduled in 3 s; pg_execute_server_program revoked meanwhile');
ok(zj_wait_final($node, "id = $rev"), '... the run ends');
$r = zj_run($node, $rev, qw(status attempt error_sqlstate error_message));
is($r->{status}, 'failed', '... failed');
is($r->{error_sqlstate}, '42501', '... with 42501');
like($r->{error_message} // '', qr/shell jobs/, '... a message about shell jobs')
  or diag(explain($r));
note('message: ' . ($r->{error_message} // ''));
is($r->{attempt}, '1', '... at once, not retried');
ok(!-e "$marker.revoked", '... and the command did not run');
is(val("SELECT count(*) FROM jobs.logs WHERE run_id = $rev AND message = 'ran'"), '0',
	'... (no output)');
($rc, $out, $err) = zj_psql_verbose($node, 'erin',
	q{SELECT jobs.enqueue('echo hi', kind => 'shell')});
like($err, qr/ERROR:  42501:/, '... and erin can no longer enqueue shell jobs') or diag($err);

# zapjobs.shell_enabled = off.
my $off_run = shell(qq{touch $marker.off; echo ran}, run_at => "now() + interval '3 s'",
	max_attempts => 1);
val('ALTER SYSTEM SET zapjobs.shell_enabled = off');
val('SELECT pg_reload_conf()');
ok($node->poll_query_until('postgres', 'SHOW zapjobs.shell_enabled', 'off'),
	'zapjobs.shell_enabled = off after a reload');
($rc, $out, $err) = $node->psql('postgres',
	"\\set VERBOSITY verbose\nSELECT jobs.enqueue('echo hi', kind => 'shell')");
isnt($rc, 0, '... enqueue of a shell job is refused, also for a superuser');
like($err, qr/ERROR:  0A000:.*disabled/, '... 0A000, shell jobs are disabled') or diag($err);
ok(zj_wait_final($node, "id = $off_run"), '... a shell run enqueued before and due now ends');
$r = zj_run($node, $off_run, qw(status error_sqlstate error_message));
is($r->{status}, 'failed', '... failed') or diag(explain($r));
is($r->{error_sqlstate}, '0A000', '... with 0A000');
ok(!-e "$marker.off", '... without running');
my $sql_off = zj_enqueue($node, 'SELECT 1');
is(zj_wait($node, $sql_off), 'completed', '... SQL jobs still run');
val('ALTER SYSTEM RESET zapjobs.shell_enabled');
val('SELECT pg_reload_conf()');
ok($node->poll_query_until('postgres', 'SHOW zapjobs.shell_enabled', 'on'),
	'zapjobs.shell_enabled reset to on');
my $on = shell(q{echo back});
is(zj_wait($node, $on), 'completed', '... shell jobs run again');
unlink "$marker.erin", "$marker.revoked", "$marker.off";
END { unlink map { "/tmp/zj015_marker_$$.$_" } qw(erin revoked off term crash) }

# --- (8) A worker terminated while its child runs --------------------------------------
# If the run is started again (a retry after the fault), it ends at once
# instead of leaving sleeps nobody knows the group of.
sub sleeper_once
{
	my ($m) = @_;
	return qq{if [ -e $m ]; then echo again; exit 0; fi; touch $m; } . $sleeper;
}
my $tj = shell(sleeper_once("$marker.term"), max_attempts => 1);
ok(wait_running($tj), 'a shell job leaving sleeps behind is running');
my $tj_pgid = pgid_of($tj, 'job whose worker is terminated');
@members = wait_group_size($tj_pgid, 3, 20);
ok(@members >= 3, '... its group has the shell and both sleeps') or diag("members: @members");
my $tj_worker = val("SELECT worker_pid FROM jobs.runs WHERE id = $tj");
is(val("SELECT pg_terminate_backend($tj_worker)"), 't', 'pg_terminate_backend() of its worker');
($gone, $waited) = wait_group_gone($tj_pgid, 20);
ok($gone, '... no process of its group is left')
  or diag("left: @{[group_members($tj_pgid)]}");
note(sprintf('group gone %.2f s after the terminate', $waited));
ok(zj_wait_final($node, "id = $tj"), '... the run ends');
note('status: ' . zj_run($node, $tj, 'status')->{status} . ', log: ' . logs_of($tj));
my $after = shell(q{echo still here});
is(zj_wait($node, $after), 'completed', 'a shell job after that completes');

# --- (9) A worker crash (SIGKILL): the launcher's reaper kills the group ------------
my $kj = shell(sleeper_once("$marker.crash"), max_attempts => 1);
ok(wait_running($kj), 'a shell job leaving sleeps behind is running');
my $kj_pgid = pgid_of($kj, 'job whose worker is killed');
@members = wait_group_size($kj_pgid, 3, 20);
ok(@members >= 3, '... its group has the shell and both sleeps') or diag("members: @members");
my $kj_worker = val("SELECT worker_pid FROM jobs.runs WHERE id = $kj");
ok(kill('KILL', $kj_worker), 'SIGKILL of its worker (a crash: the server restarts)');
($gone, $waited) = wait_group_gone($kj_pgid, 60);
ok($gone, '... no process of its group is left after the restart')
  or diag("left: @{[group_members($kj_pgid)]}");
note(sprintf('group gone %.2f s after the kill', $waited));
ok(zj_wait_final($node, "id = $kj"), '... the run ends');
note('status: ' . zj_run($node, $kj, 'status')->{status} . ', log: ' . logs_of($kj));
$after = shell(q{echo still here});
is(zj_wait($node, $after), 'completed', 'a shell job after the restart completes');

# --- (10) Shutdown while a child runs -------------------------------------------------
my $sj = shell($sleeper, max_attempts => 1);
ok(wait_running($sj), 'a shell job leaving sleeps behind is running');
my $sj_pgid = pgid_of($sj, 'job running at shutdown');
@members = wait_group_size($sj_pgid, 3, 20);
ok(@members >= 3, '... its group has the shell and both sleeps') or diag("members: @members");
$node->stop('fast');
($gone, $waited) = wait_group_gone($sj_pgid, 10);
ok($gone, 'after a fast shutdown no process of its group is left')
  or diag("left: @{[group_members($sj_pgid)]}");
is_deeply([ map { group_members($_) } sort keys %pgids_seen ],
	[], 'no process of any shell job of this test is left');

done_testing();
