# Live progress: jobs.progress() and jobs.count_items() inside a running
# job are seen by other sessions while the job runs, in jobs.active and as
# "progress" events on job_update (in order, coalesced to about 10 a
# second, the final state always published); the last progress is kept in
# jobs.runs, also when the job fails or rolls back; outside a job both
# functions do nothing; a tight loop of calls is cheap; and
# zapjobs.event_detail = 'minimal' keeps messages out of the payloads.
use strict;
use warnings;
use lib 'test/perl';

use Encode ();
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use ZapjobsTest;

my $node = zj_new_node('progress', max_workers => 2,
	conf => "# single attempts: these tests look at one attempt\nzapjobs.default_max_attempts = 1\n");

sub val { return zj_sql($node, $_[0]) }

# --- Helpers: a LISTEN job_update session (zj_listen in ZapjobsTest) ------------

# Events of TYPE about run ID (with their position in arrival order).
sub events_of
{
	my ($l, $id, $type) = @_;
	my @r;
	my $i = 0;
	for my $ev (@{ $l->{events} })
	{
		push @r, { %$ev, _pos => $i }
		  if ($ev->{type} eq $type && defined $ev->{id} && $ev->{id} eq $id);
		$i++;
	}
	return @r;
}

# The run event of run ID with a final status, or undef.
sub final_event
{
	my ($l, $id) = @_;
	my %final = map { $_ => 1 } zj_final_statuses();
	my ($ev) = grep { $final{ $_->{status} // '' } } events_of($l, $id, 'run');
	return $ev;
}

# Drain L until run ID's final run event arrived (or the deadline passed).
sub drain_until_final
{
	my ($l, $id) = @_;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	zj_listen_drain($l);
	while (!defined final_event($l, $id) && time() < $deadline)
	{
		# Events are sent by the launcher shortly after the change.
		zj_listen_drain($l, 'SELECT pg_sleep(0.05)');
	}
	return defined final_event($l, $id);
}

# Seconds run ID's last attempt took.
sub run_secs
{
	my ($id) = @_;
	return val(
		"SELECT extract(epoch FROM finished_at - started_at) FROM jobs.runs WHERE id = $id"
	);
}

# --- A job watched while it runs -----------------------------------------------------
# 20 steps of 0.2 s; every 5th item fails.
my $loop_job = q{DO $$
BEGIN
  FOR i IN 1..20 LOOP
    PERFORM jobs.progress(i, 20, 'step ' || i);
    PERFORM jobs.count_items(1, CASE WHEN i % 5 = 0 THEN 0 ELSE 1 END,
                                CASE WHEN i % 5 = 0 THEN 1 ELSE 0 END);
    PERFORM pg_sleep(0.2);
  END LOOP;
END $$};

my $listener = zj_listen($node);
my $watcher = $node->background_psql('postgres');
my $id = zj_enqueue($node, $loop_job, name => 'looper');

# Poll jobs.active from the second session while the run goes on, and drain
# the listener between polls (recording how many progress events had
# arrived while the run was still running).
my (@samples, $progress_while_running, $final_seen);
$progress_while_running = 0;
my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
while (time() < $deadline)
{
	zj_listen_drain($listener);
	my $n_progress = scalar events_of($listener, $id, 'progress');
	my $row = $watcher->query_safe(
		qq{SELECT concat_ws('|', status, coalesce(progress_current::text, ''),
		                    coalesce(progress_total::text, ''),
		                    coalesce(progress_message, ''),
		                    coalesce(percent::text, ''),
		                    coalesce(extract(epoch FROM eta)::text, ''),
		                    coalesce(items_processed::text, ''),
		                    coalesce(items_succeeded::text, ''),
		                    coalesce(items_failed::text, ''),
		                    coalesce(extract(epoch FROM elapsed)::text, ''))
		   FROM jobs.active WHERE id = $id});
	my $status =
	  $watcher->query_safe("SELECT status FROM jobs.runs WHERE id = $id");
	if ($status eq 'running')
	{
		$progress_while_running = $n_progress;
	}
	elsif ($status ne 'pending')
	{
		$final_seen = $status;
		last;
	}
	if ($row ne '')
	{
		my %s;
		@s{qw(status current total message percent eta processed succeeded failed elapsed)}
		  = split /\|/, $row, -1;
		push @samples, \%s if $s{status} eq 'running';
	}
}
$watcher->quit;
is($final_seen, 'completed', 'the progress loop completed');
note(scalar(@samples) . ' samples of jobs.active while running');

# (a) jobs.active while it ran.
my @seen = map { $_->{current} } grep { $_->{current} ne '' } @samples;
my @distinct;
for my $c (@seen)
{
	push @distinct, $c if !@distinct || $distinct[-1] != $c;
}
cmp_ok(scalar @distinct, '>=', 3,
	'jobs.active showed at least 3 distinct progress values while running')
  or diag("seen: @seen");
my $monotonic = 1;
for my $i (1 .. $#seen)
{
	$monotonic = 0 if $seen[$i] < $seen[ $i - 1 ];
}
ok($monotonic, '... never decreasing') or diag("seen: @seen");
my @with_total = grep { $_->{current} ne '' && $_->{current} > 0 } @samples;
ok(@with_total, 'some samples had progress with a total');
is_deeply(
	[ grep { $_->{total} ne '20' } @with_total ], [],
	'... progress_total is 20 in all of them');
is_deeply(
	[ grep { $_->{message} ne "step $_->{current}" } @with_total ], [],
	'... progress_message matches progress_current ("step N")');
is_deeply(
	[
		grep {
			     $_->{percent} eq ''
			  || $_->{percent} < 0
			  || $_->{percent} > 100
			  || abs($_->{percent} - $_->{current} * 100 / 20) > 1
		} @with_total
	],
	[],
	'... percent is non-null and current/total in percent');
my @later = grep { $_->{current} >= 3 } @with_total;
ok(@later, 'some samples were taken at step 3 or later');
is_deeply(
	[
		grep { $_->{current} < 20 && ($_->{eta} eq '' || $_->{eta} < 0) }
		  @later
	],
	[],
	'... eta is non-null and not negative in those before the last step');
# At step N, items_processed is N - 1 or N (count_items follows progress).
is_deeply(
	[
		grep {
			     $_->{processed} eq ''
			  || $_->{processed} > $_->{current}
			  || $_->{processed} < $_->{current} - 1
		} @later
	],
	[],
	'... items_processed follows the steps');
is_deeply(
	[
		grep {
			     $_->{succeeded} eq ''
			  || $_->{failed} eq ''
			  || $_->{succeeded} + $_->{failed} != $_->{processed}
		} @later
	],
	[],
	'... items_succeeded + items_failed = items_processed');
is_deeply([ grep { $_->{elapsed} eq '' || $_->{elapsed} < 0 } @samples ],
	[], 'elapsed is set while running');

# (b) Events.
ok(drain_until_final($listener, $id), 'the final run event arrived');
zj_listen_quit($listener);
is_deeply($listener->{bad}, [],
	'every payload is strict UTF-8 JSON with a "type"');
my @progress = events_of($listener, $id, 'progress');
my @currents = map { $_->{current} } @progress;
note("progress events: @currents");
cmp_ok($progress_while_running, '>=', 3,
	'at least 3 progress events arrived while the run was running');
my $nondecreasing = 1;
for my $i (1 .. $#progress)
{
	$nondecreasing = 0 if $progress[$i]{current} < $progress[ $i - 1 ]{current};
}
ok($nondecreasing, 'progress events arrive in order (current never decreases)')
  or diag("currents: @currents");
my $secs = run_secs($id);
cmp_ok(scalar @progress, '<=', int($secs * 10) + 3,
	"at most ~10 progress events a second ($secs s)");
my $last = $progress[-1] // {};
is($last->{current}, 20, 'the last progress event has current 20');
is($last->{total}, 20, '... total 20');
is($last->{message}, 'step 20', '... message "step 20"');
is($last->{name}, 'looper', '... the job name');
is_deeply([ map { $_->{current} } grep { ($_->{name} // '') ne 'looper' } @progress ],
	[], 'every progress event carries the job name');
is_deeply(
	[
		map { $_->{current} }
		  grep { ($_->{message} // '') ne "step $_->{current}" } @progress
	],
	[],
	'every progress event carries its step\'s message');
is(
	join('/', map { $_ // 'null' } @$last{qw(processed succeeded failed)}),
	'20/16/4', '... items 20 processed, 16 succeeded, 4 failed');
ok(defined $last->{percent} && abs($last->{percent} - 100) < 0.01,
	'... percent 100')
  or diag(explain($last));
my $done = final_event($listener, $id);
is($done->{status}, 'completed', 'the final run event is "completed"');
ok(@progress && $done->{_pos} > $progress[-1]{_pos},
	'... and arrives after the last progress event');
my ($started) = grep { $_->{status} eq 'running' } events_of($listener, $id, 'run');
ok(@progress && $started && $started->{_pos} < $progress[0]{_pos},
	'the run\'s running event arrives before its first progress event');
my @run_types = grep { $_->{type} eq 'run' } @{ $listener->{events} };
ok(@run_types >= 3, 'run events carry "type": "run"');

# (c) The last progress is kept in jobs.runs.
my $r = zj_run($node, $id,
	qw(status progress_current progress_total progress_message
	  items_processed items_succeeded items_failed));
is_deeply(
	$r,
	{
		status => 'completed',
		progress_current => 20,
		progress_total => 20,
		progress_message => 'step 20',
		items_processed => 20,
		items_succeeded => 16,
		items_failed => 4
	},
	'jobs.runs keeps the final progress and item counts');
is(val("SELECT count(*) FROM jobs.active WHERE id = $id"),
	'0', 'the completed run is no longer in jobs.active');

# --- (d) Progress is not transactional ------------------------------------------------
my $fail = zj_enqueue($node,
	q{DO $$ BEGIN
	    PERFORM jobs.progress(7, 10, 'before failure');
	    PERFORM jobs.count_items(3, 2, 1);
	    RAISE EXCEPTION 'boom';
	  END $$}, max_attempts => 1);
is(zj_wait($node, $fail), 'failed', 'a job that sets progress and then fails fails');
$r = zj_run($node, $fail,
	qw(progress_current progress_total progress_message
	  items_processed items_succeeded items_failed));
is_deeply(
	$r,
	{
		progress_current => 7,
		progress_total => 10,
		progress_message => 'before failure',
		items_processed => 3,
		items_succeeded => 2,
		items_failed => 1
	},
	'... its progress and items survive the rollback in jobs.runs');
my $sub = zj_enqueue($node,
	q{DO $$ BEGIN
	    PERFORM jobs.progress(1, 10, 'first');
	    BEGIN
	      PERFORM jobs.progress(5, 10, 'in a subtransaction');
	      PERFORM jobs.count_items(5);
	      RAISE EXCEPTION 'rolled back';
	    EXCEPTION WHEN raise_exception THEN NULL;
	    END;
	  END $$});
is(zj_wait($node, $sub), 'completed',
	'a job that sets progress in a subtransaction it rolls back completes');
$r = zj_run($node, $sub,
	qw(progress_current progress_total progress_message items_processed));
is_deeply(
	$r,
	{
		progress_current => 5,
		progress_total => 10,
		progress_message => 'in a subtransaction',
		items_processed => 5
	},
	'... the progress set in the rolled-back subtransaction is kept');

# Progress without a total, and a message cut to 200 bytes on a character
# boundary ('a' and 150 two-byte characters: 301 bytes).
my $cut = zj_enqueue($node,
	q{SELECT jobs.progress(3, NULL, 'a' || repeat(chr(233), 150))});
is(zj_wait($node, $cut), 'completed', 'a job sets a 301-byte progress message');
is( val(qq{SELECT concat_ws('|', progress_current, coalesce(progress_total::text, 'null'),
	                       octet_length(progress_message) BETWEEN 190 AND 200,
	                       starts_with('a' || repeat(chr(233), 150), progress_message))
	       FROM jobs.runs WHERE id = $cut}),
	'3|null|t|t',
	'... progress without a total is kept; the message is cut to a prefix of at most 200 bytes');

# --- (e) Outside a job, and invalid arguments --------------------------------------------
my ($rc, $out, $err) = $node->psql('postgres',
	q{SELECT jobs.progress(1, 2, 'outside'); SELECT 'done'});
is($rc, 0, 'jobs.progress() outside a job succeeds');
like($out, qr/done\z/, '... and the session goes on');
like($err, qr/NOTICE:  jobs\.progress\(\) does nothing outside a running job/,
	'... with a notice');
($rc, $out, $err) = $node->psql('postgres',
	q{SELECT jobs.count_items(5, 4, 1); SELECT 'done'});
is($rc, 0, 'jobs.count_items() outside a job succeeds');
like($err, qr/NOTICE:  .*does nothing outside a running job/, '... with a notice');
is(val('SELECT count(*) FROM jobs.active'), '0',
	'... and neither created anything in jobs.active');

for my $bad ('jobs.progress(-1, 10)', 'jobs.progress(1, -10)',
	'jobs.count_items(-1)')
{
	my $bid = zj_enqueue($node, "SELECT $bad", max_attempts => 1);
	is(zj_wait($node, $bid), 'failed', "a job calling $bad fails");
	is(zj_run($node, $bid, 'error_sqlstate')->{error_sqlstate},
		'22023', '... with 22023');
}

for my $bad ('jobs.progress(-1, 10)', 'jobs.count_items(1, -1)')
{
	($rc, $out, $err) =
	  $node->psql('postgres', "\\set VERBOSITY verbose\nSELECT $bad");
	isnt($rc, 0, "$bad outside a job is an error too");
	like($err, qr/ERROR:  22023:/, '... 22023') or diag($err);
}

# --- (f) A tight loop ---------------------------------------------------------------------
$listener = zj_listen($node);
my $t0 = time();
my $tight = zj_enqueue($node,
	q{DO $$ BEGIN
	    FOR i IN 1..200000 LOOP
	      PERFORM jobs.progress(i, 200000, 'tight');
	    END LOOP;
	  END $$}, name => 'tight');
is(zj_wait($node, $tight, timeout => '300 s'), 'completed',
	'a job calling jobs.progress() 200000 times completes');
note(sprintf('tight loop: %.2f s from enqueue to completion; ran %s s',
		time() - $t0, run_secs($tight)));
is(zj_run($node, $tight, 'progress_current')->{progress_current},
	'200000', '... progress_current is 200000');
ok(drain_until_final($listener, $tight), '... its final run event arrived');
zj_listen_quit($listener);
is_deeply($listener->{bad}, [], '... all payloads valid');
@progress = events_of($listener, $tight, 'progress');
$secs = run_secs($tight);
cmp_ok(scalar @progress, '<=', int($secs * 10) + 3,
	"... at most ~10 progress events a second (ran $secs s)");
is(($progress[-1] // {})->{current}, 200000,
	'... the last progress event has current 200000');
is(val(q{SELECT 1}), '1', 'the server is fine');

# --- (g) zapjobs.event_detail = 'minimal' ----------------------------------------------
# Waits (with a deadline) until a run's events show the setting took
# effect: CHECK(listener, id) true.  Returns the last run's id.
sub run_until
{
	my ($command, $check) = @_;
	my $deadline = time() + 60;
	my $rid;
	while (1)
	{
		my $l = zj_listen($node);
		$rid = zj_enqueue($node, $command, max_attempts => 1);
		zj_wait($node, $rid);
		drain_until_final($l, $rid);
		zj_listen_quit($l);
		return ($rid, $l) if $check->($l, $rid) || time() > $deadline;
	}
}

my $detail_job = q{DO $$ BEGIN
	PERFORM jobs.progress(1, 2, 'secret progress');
	PERFORM jobs.log('info', 'secret log');
	PERFORM 1/0;
  END $$};
sub has_messages
{
	my ($l, $rid) = @_;
	my @p = events_of($l, $rid, 'progress');
	return @p && exists $p[-1]{message};
}

val(q{ALTER SYSTEM SET zapjobs.event_detail = 'minimal'});
val(q{SELECT pg_reload_conf()});
my ($mid, $ml) = run_until($detail_job, sub { !has_messages(@_) });
my @mp = events_of($ml, $mid, 'progress');
ok(@mp, "event_detail 'minimal': progress events are still published");
is_deeply([ grep { exists $_->{message} } @mp ], [],
	'... without "message"');
is(($mp[-1] // {})->{current}, 1, '... with current');
is_deeply([ grep { exists $_->{message} } events_of($ml, $mid, 'log') ], [],
	'... log events without "message"');
my $mfinal = final_event($ml, $mid) // {};
is($mfinal->{status}, 'failed', '... the run event says failed');
ok(!exists $mfinal->{sqlstate}, '... without sqlstate');
is_deeply([ grep { /secret/ } @{ $ml->{raw} } ], [],
	'... no payload carries the messages');

val(q{ALTER SYSTEM RESET zapjobs.event_detail});
val(q{SELECT pg_reload_conf()});
my ($fid, $fl) = run_until($detail_job, \&has_messages);
@mp = events_of($fl, $fid, 'progress');
is(($mp[-1] // {})->{message}, 'secret progress',
	"event_detail reset to 'full': progress events carry the message again");
is((final_event($fl, $fid) // {})->{sqlstate}, '22012',
	'... and the failed run event its sqlstate');

$node->stop;
done_testing();
