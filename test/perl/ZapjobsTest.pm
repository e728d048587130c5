# Helpers shared by the zapjobs TAP tests (test/t/*.pl).
#
# Every test starts with `use lib 'test/perl'; use ZapjobsTest;` (prove runs
# from the repository root).
package ZapjobsTest;

use strict;
use warnings;

use Encode ();
use Exporter 'import';
use IPC::Run ();
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(
  zj_new_node zj_enqueue zj_wait zj_run zj_wait_final zj_wait_status
  zj_unfinished_count zj_final_statuses zj_sql zj_psql_verbose
  zj_listen zj_listen_drain zj_listen_until zj_listen_quit zj_listen_events
  zj_cmd_env zj_cmd zj_cmd_start zj_cmd_until zj_cmd_finish zj_flag_jobs
);

# Final statuses of a run.
sub zj_final_statuses { return qw(completed failed cancelled) }

# zj_new_node(NAME, preload => 1, extension => 1, max_workers => 4, conf => '')
#
# A started node.  By default it preloads zapjobs (serving every database
# with the extension) and has the extension created in 'postgres'.
sub zj_new_node
{
	my ($name, %opt) = @_;
	my $preload = exists $opt{preload} ? $opt{preload} : 1;
	my $extension = exists $opt{extension} ? $opt{extension} : 1;
	my $max_workers = $opt{max_workers} // 4;

	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	my $conf = "max_worker_processes = 16\n"
	  . "log_line_prefix = '%m [%p] %b %u '\n";
	$conf .=
	    "shared_preload_libraries = 'zapjobs'\n"
	  . "zapjobs.max_workers = $max_workers\n"
	  if $preload;
	$conf .= $opt{conf} if defined $opt{conf};
	$node->append_conf('postgresql.conf', $conf);
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION zapjobs') if $extension;
	# Its launcher starts at the commit: wait for it, as tests read its PID.
	$node->poll_query_until('postgres',
		'SELECT launcher_pid IS NOT NULL FROM jobs.pool')
	  or die 'no launcher after CREATE EXTENSION'
	  if $extension && $preload;
	return $node;
}

# Quote a string as an SQL literal.
sub _lit
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

# zj_enqueue(NODE, COMMAND, user => ROLE, run_at => SQL, input => JSON, ...)
#
# Enqueue one run and return its id.  Options named like jobs.enqueue's
# arguments are passed through as literals (queue, name, kind, input,
# workflow, on_parent_failure) or
# as SQL expressions (all others: run_at, timeout, max_attempts,
# retry_base...).  With user => ROLE, psql connects as that role; with
# db => NAME, to that database (default postgres).
sub zj_enqueue
{
	my ($node, $command, %opt) = @_;
	my $db = delete $opt{db} // 'postgres';
	my @args = (_lit($command));
	my %literal = map { $_ => 1 } qw(queue name kind input user workflow on_parent_failure);
	for my $k (qw(queue name kind workflow on_parent_failure))
	{
		push @args, "$k => " . _lit($opt{$k}) if defined $opt{$k};
	}
	push @args, "input => " . _lit($opt{input}) . "::jsonb"
	  if defined $opt{input};
	for my $k (sort grep { !$literal{$_} } keys %opt)
	{
		push @args, "$k => $opt{$k}" if defined $opt{$k};
	}
	my @extra = defined $opt{user} ? (extra_params => [ '-U', $opt{user} ]) : ();
	my $id = $node->safe_psql($db,
		'SELECT jobs.enqueue(' . join(', ', @args) . ')', @extra);
	die "jobs.enqueue returned '$id'" unless $id =~ /^\d+$/;
	return $id;
}

# zj_sql(NODE, SQL, user => ROLE): the output of SQL, as superuser or ROLE.
sub zj_sql
{
	my ($node, $sql, %opt) = @_;
	my @extra = defined $opt{user} ? (extra_params => [ '-U', $opt{user} ]) : ();
	return $node->safe_psql('postgres', $sql, @extra);
}

# zj_psql_verbose(NODE, ROLE, SQL): (exit code, stdout, stderr) of SQL run
# as ROLE, errors with their SQLSTATE ("ERROR:  42501: ...").
sub zj_psql_verbose
{
	my ($node, $user, $sql) = @_;
	return $node->psql('postgres', "\\set VERBOSITY verbose\n$sql",
		extra_params => [ '-U', $user ]);
}

# zj_wait(NODE, ID, user => ROLE, timeout => '60 s'): jobs.wait's result.
sub zj_wait
{
	my ($node, $id, %opt) = @_;
	my $timeout = $opt{timeout} // '120 s';
	my @extra = defined $opt{user} ? (extra_params => [ '-U', $opt{user} ]) : ();
	return $node->safe_psql($opt{db} // 'postgres',
		"SELECT jobs.wait($id, timeout => " . _lit($timeout) . ")", @extra);
}

# zj_run(NODE, ID, COLUMNS...): the run's columns (as superuser), as a
# hash ref; NULL becomes undef.
sub zj_run
{
	my ($node, $id, @cols) = @_;
	@cols = qw(status error_sqlstate error_message output worker_pid)
	  unless @cols;
	# Newlines flattened, NULL marked, fields split on \x02.
	my $sel = join(', ',
		map { "coalesce(replace(($_)::text, E'\\n', ' '), '<NULL>')" } @cols);
	my $out = $node->safe_psql('postgres',
		"SELECT $sel FROM jobs.runs WHERE id = $id",
		extra_params => [ '-F', "\x02" ]);
	my @vals = split /\x02/, $out, -1;
	die "run $id not found" unless @vals == @cols;
	my %h;
	@h{@cols} = map { $_ eq '<NULL>' ? undef : $_ } @vals;
	return \%h;
}

# Number of runs matching WHERE that are not final.
sub zj_unfinished_count
{
	my ($node, $where) = @_;
	$where //= 'true';
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM jobs.runs WHERE status NOT IN "
		  . "('completed', 'failed', 'cancelled') AND ($where)");
}

# Wait until every run matching WHERE is final; returns poll success.
sub zj_wait_final
{
	my ($node, $where) = @_;
	$where //= 'true';
	return $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM jobs.runs WHERE status NOT IN "
		  . "('completed', 'failed', 'cancelled') AND ($where)");
}

# Wait until run ID has STATUS; returns poll success.
sub zj_wait_status
{
	my ($node, $id, $status) = @_;
	return $node->poll_query_until('postgres',
		"SELECT status FROM jobs.runs WHERE id = $id", $status);
}

# --- A LISTEN job_update session and the events it receives -------------------
#
# zj_listen(NODE[, DB]): a session listening on job_update, as a hash ref with
# {events} (decoded payloads, in arrival order, each with _bytes, its
# size, _received, the time it was read, and _pid, the sender), {bad} (payloads that are not
# strict UTF-8 JSON objects with a "type") and {raw} (every payload).  A
# listener lives for one test section: a background psql session has a
# fixed time budget.
my $zj_json = JSON::PP->new;

sub zj_listen
{
	my ($node, $db) = @_;
	my $psql = $node->background_psql($db // 'postgres');
	$psql->query_safe('LISTEN job_update');
	return { psql => $psql, events => [], bad => [], raw => [] };
}

# zj_listen_drain(L, SQL): run SQL (default SELECT 1) in the listener and
# collect the notifications that arrived; returns the query's own output.
sub zj_listen_drain
{
	my ($l, $sql) = @_;
	my $out = $l->{psql}->query($sql // 'SELECT 1');
	my @rest;
	for my $line (split /\n/, $out)
	{
		if ($line !~
			/^Asynchronous notification "job_update" with payload "(.*)" received from server process with PID (\d+)\.$/
		  )
		{
			push @rest, $line;
			next;
		}
		my ($raw, $pid) = ($1, $2);
		push @{ $l->{raw} }, $raw;
		my $chars = eval {
			Encode::decode('UTF-8', $raw, Encode::FB_CROAK | Encode::LEAVE_SRC);
		};
		my $ev = defined $chars ? eval { $zj_json->decode($chars) } : undef;
		if (!defined $ev || ref $ev ne 'HASH' || !defined $ev->{type})
		{
			push @{ $l->{bad} }, $raw;
			next;
		}
		$ev->{_bytes} = length $raw;
		$ev->{_pid} = $pid;
		$ev->{_received} = time();
		push @{ $l->{events} }, $ev;
	}
	return join("\n", @rest);
}

# zj_listen_until(L, COND): drain L until COND->() is true or the deadline
# passed; returns COND->().
sub zj_listen_until
{
	my ($l, $cond) = @_;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	zj_listen_drain($l);
	while (!$cond->() && time() < $deadline)
	{
		# The launcher publishes shortly after the change: poll.
		zj_listen_drain($l, 'SELECT pg_sleep(0.05)');
	}
	return $cond->();
}

# zj_listen_events(L, ID, TYPE): the events of type TYPE about run ID that
# L collected, in arrival order.
sub zj_listen_events
{
	my ($l, $id, $type) = @_;
	return grep {
		     $_->{type} eq $type
		  && defined $_->{id}
		  && $_->{id} eq $id
	} @{ $l->{events} };
}

# zj_listen_quit(L): collect what is left and close the session.
sub zj_listen_quit
{
	my ($l) = @_;
	zj_listen_drain($l);
	$l->{psql}->quit;
	return;
}

# zj_flag_jobs(NODE, total => 100000, log_every => 10, pause => 0.05): jobs
# that run until a test sets a flag (INSERT INTO public.flags VALUES (...)):
# public.wait_flag(flag) only waits; public.slow(flag) reports progress
# i/total with message 'row i' every pause seconds and logs 'batch i' every
# log_every steps.
sub zj_flag_jobs
{
	my ($node, %opt) = @_;
	my $total = $opt{total} // 100000;
	my $every = $opt{log_every} // 10;
	my $pause = $opt{pause} // 0.05;
	$node->safe_psql('postgres', qq{
		CREATE TABLE public.flags (name text PRIMARY KEY);
		GRANT SELECT ON public.flags TO PUBLIC;
		CREATE FUNCTION public.wait_flag(flag text) RETURNS void LANGUAGE plpgsql AS \$\$
		BEGIN
			WHILE NOT EXISTS (SELECT FROM public.flags WHERE name = flag) LOOP
				PERFORM pg_sleep(0.02);
			END LOOP;
		END \$\$;
		CREATE FUNCTION public.slow(flag text) RETURNS void LANGUAGE plpgsql AS \$\$
		DECLARE i int := 0;
		BEGIN
			WHILE NOT EXISTS (SELECT FROM public.flags WHERE name = flag) LOOP
				i := i + 1;
				PERFORM jobs.progress(i, $total, 'row ' || i);
				IF i % $every = 0 THEN PERFORM jobs.log('info', 'batch ' || i); END IF;
				PERFORM pg_sleep($pause);
			END LOOP;
		END \$\$;
	});
	return;
}

# --- The zapjobs command --------------------------------------------------------
#
# The command is installed into pg_config --bindir, which `make installcheck`
# puts first on PATH.

# zj_cmd_env(NODE, user => ROLE): the environment the command connects with
# (as psql would: PG* variables), to the node's jobs database.
sub zj_cmd_env
{
	my ($node, %opt) = @_;
	my %env = (
		PGHOST => $node->host,
		PGPORT => $node->port,
		PGDATABASE => 'postgres',
		PGAPPNAME => $opt{appname} // 'zapjobs-test');
	$env{PGUSER} = $opt{user} if defined $opt{user};
	return %env;
}

# zj_cmd(NODE, [ARGS], user => ROLE, env => {...}, stdin => TEXT): run the
# command to its end (3 minutes at most); returns (exit code, stdout, stderr).
sub zj_cmd
{
	my ($node, $args, %opt) = @_;
	my ($out, $err) = ('', '');
	my $in = $opt{stdin} // '';
	local %ENV = (%ENV, zj_cmd_env($node, %opt), %{ $opt{env} // {} });
	IPC::Run::run([ 'zapjobs', @$args ], '<', \$in, '>', \$out, '2>', \$err,
		IPC::Run::timeout(180));
	return ($? >> 8, $out, $err);
}

# zj_cmd_start(NODE, [ARGS], ...): start the command in the background;
# returns a handle whose {out} and {err} grow as it writes.
sub zj_cmd_start
{
	my ($node, $args, %opt) = @_;
	my $c = { out => '', err => '', in => '' };
	local %ENV = (%ENV, zj_cmd_env($node, %opt), %{ $opt{env} // {} });
	$c->{timer} = IPC::Run::timeout(180);
	$c->{h} = IPC::Run::start([ 'zapjobs', @$args ], '<', \$c->{in},
		'>', \$c->{out}, '2>', \$c->{err}, $c->{timer});
	return $c;
}

# zj_cmd_until(C, COND, SECONDS): pump C's output until COND->() holds or
# the deadline passes (default 60 s); returns COND->().
sub zj_cmd_until
{
	my ($c, $cond, $seconds) = @_;
	my $deadline = time() + ($seconds // 60);
	while (!$cond->() && time() < $deadline && $c->{h}->pumpable)
	{
		eval { $c->{h}->pump_nb; };
		select(undef, undef, undef, 0.05) unless $cond->();
	}
	eval { $c->{h}->pump_nb; } if $c->{h}->pumpable;
	return $cond->();
}

# zj_cmd_finish(C): wait for C to exit (3 minutes at most); its exit code.
sub zj_cmd_finish
{
	my ($c) = @_;
	$c->{h}->finish;
	return $c->{h}->result(0);
}

1;
