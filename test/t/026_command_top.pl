# zapjobs top, driven in tmux (send-keys, capture-pane): the screen shows a
# running job's bar moving, the queues with their counts and pause state,
# the last hour's failures and the workers; Enter opens a run with its log
# tail; a cancel from the keyboard asks first and takes effect; p pauses a
# queue; / filters; the last minute's throughput counts finished runs; the
# screen follows a resize; q and Ctrl-C leave and give the terminal back
# (the alternate screen left, echo and canonical mode restored).
# Also watch on a terminal: the progress bar redrawn in place.
use strict;
use warnings;
use lib 'test/perl';

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZapjobsTest;

my $node = zj_new_node('command_top');
# 10,000 steps of 50 ms: the percent moves by 0.1 about every half second.
zj_flag_jobs($node, total => 10000, log_every => 10, pause => 0.05);

my $sock = PostgreSQL::Test::Utils::tempdir() . '/tmux';

# Start a command in a new tmux window of 160x40; after it exits the window
# shows "EXIT=<code>" and "TTY=<modes>", the terminal's echo and canonical
# modes as the shell then finds them ("icanon echo" when restored).
sub tmux_start
{
	my ($name, $cmd) = @_;
	# SHELL: tmux runs the window's command with it, and without it falls
	# back to the account's shell, which for a service user is nologin. Bash,
	# not dash: dash dies of the Ctrl-C that top handles and exits 130 from,
	# and the window would go with it before showing EXIT=130.
	local %ENV = (%ENV, zj_cmd_env($node), TERM => 'xterm-256color', LANG => 'C.UTF-8',
		SHELL => '/bin/bash');
	delete $ENV{NO_COLOR};
	my @new = -S $sock ? ('new-window', '-n', $name) : ('new-session', '-d', '-s', 'zj', '-n', $name, '-x', 160, '-y', 40);
	my $modes = q{stty -a | tr -s ' ;' '\n\n' | grep -x -e icanon -e -icanon -e echo -e -echo | tr '\n' ' '};
	system('tmux', '-S', $sock, @new, "$cmd; echo EXIT=\$?; echo TTY=\$($modes); sleep 600") == 0
	  or die "tmux failed";
	return "zj:$name";
}

sub screen
{
	my ($target) = @_;
	return scalar `tmux -S $sock capture-pane -p -t $target`;
}

sub press
{
	my ($target, @keys) = @_;
	system('tmux', '-S', $sock, 'send-keys', '-t', $target, @keys) == 0 or die;
}

# Wait until the screen matches a regex, or a sub given the capture returns
# true (60 s at most); returns the last capture.
sub screen_until
{
	my ($target, $want) = @_;
	my $ok = ref $want eq 'CODE' ? $want : sub { $_[0] =~ $want };
	my $deadline = time() + 60;
	my $s = screen($target);
	while (!$ok->($s) && time() < $deadline)
	{
		select(undef, undef, undef, 0.1);
		$s = screen($target);
	}
	return $s;
}

# A tmux format of the window (#{alternate_on}: 1 while the program is on
# the alternate screen).
sub pane_format
{
	my ($target, $format) = @_;
	my $v = `tmux -S $sock display-message -p -t $target '$format'`;
	chomp $v;
	return $v;
}

my $slow = zj_enqueue($node, q{SELECT public.slow('stop1')}, name => 'slow_copy');
$node->safe_psql('postgres', q{SELECT jobs.pause_queue('reports')});
my $held = zj_enqueue($node, 'SELECT 1', queue => 'reports');
my $broken = zj_enqueue($node, 'SELECT 1/0', name => 'broken', max_attempts => 1);
is(zj_wait($node, $broken), 'failed', 'a run failed');
zj_wait_status($node, $slow, 'running');

my $t = tmux_start('top', 'zapjobs top');
my $bar = qr/^\s*$slow\s+slow_copy\s+\S+\s+\[[#.]+\]\s+([\d.]+)%\s+\S+\s+\S+\s+row (\d+)/m;
my $s = screen_until($t, $bar);
like($s, $bar, 'the running run is shown with its bar, percent, ETA and message');
my ($pct1, $row1) = $s =~ $bar ? ($1, $2) : (-1, 0);
$s = screen_until($t, sub { $_[0] =~ $bar && $1 > $pct1 });
my ($pct2, $row2) = $s =~ $bar ? ($1, $2) : (-1, 0);
cmp_ok($pct2, '>', $pct1, "the bar moves: the same run at $pct1%, then $pct2%");
cmp_ok($row2, '>', $row1, "and its message with it (row $row1, then $row2)");
like($s, qr/^reports\s+1\s+0\s+0\s+0\s+PAUSED$/m, 'a paused queue with its pending run');
like($s, qr/^default\s+0\s+0\s+0\s+1\s+active$/m, 'a queue with its running run');
like($s, qr/^\s*$broken\s+broken\s+1 failed\s+failed\s+\S+\s+division by zero$/m,
	'the failure of the last hour, with its error');
like($s, qr/failures in the last hour: 1/, 'counted in the title');
like($s, qr/^WORKERS\s+\d+ \S+ (running|idle|starting)/m, 'the workers');
like($s, qr/q quit/, 'the keys are shown');

# Enter opens the selected run (the first running one) with its log tail.
press($t, 'Enter');
$s = screen_until($t, qr/^\d\d:\d\d:\d\d info +batch \d+/m);
like($s, qr/^run $slow  slow_copy  running  attempt 1\/3/m, 'Enter opens the run');
like($s, qr/^LOG\n.*info +batch \d+/ms, 'with its log lines');
my ($batch1) = $s =~ /.*batch (\d+)/s;
$s = screen_until($t, qr/batch (?!$batch1\b)\d+\s*\n\s*\n/);
like($s, qr/batch (?!$batch1\b)\d+/, 'the log tail is live');

# Cancel asks first: "n" keeps the run, "y" cancels it.
press($t, 'c');
$s = screen_until($t, qr/Cancel run $slow\? \(y\/n\)/);
like($s, qr/Cancel run $slow\? \(y\/n\)/, 'c asks first');
press($t, 'n');
$s = screen_until($t, qr/run $slow not cancelled/);
like($s, qr/run $slow not cancelled/, 'n keeps it');
is(zj_run($node, $slow, 'status')->{status}, 'running', 'the run still runs');
press($t, 'c');
screen_until($t, qr/Cancel run $slow\?/);
press($t, 'y');
$s = screen_until($t, qr/^run $slow cancelled$/m);
like($s, qr/^run $slow cancelled$/m, 'y cancels it');
ok(zj_wait_status($node, $slow, 'cancelled'), 'the run is cancelled');
$s = screen_until($t, qr/^run $slow  slow_copy  cancelled/m);
like($s, qr/^run $slow  slow_copy  cancelled/m, 'the opened run shows it');

# Back to the list; p on the queues list resumes the paused queue.
press($t, 'Escape');
$s = screen_until($t, qr/RUNNING \(0\)/);
like($s, qr/RUNNING \(0\)/, 'Escape goes back; nothing runs now');
press($t, 'Tab');
screen_until($t, qr/^reports\s+.*PAUSED/m);
press($t, 'p');
$s = screen_until($t, qr/queue reports resumed/);
like($s, qr/queue reports resumed/, 'p resumes the selected paused queue');
is(zj_wait($node, $held), 'completed', 'and its run runs');

# r on the failures list retries the selected failed run.
press($t, 'Tab');
press($t, 'r');
$s = screen_until($t, qr/run $broken queued again/);
like($s, qr/run $broken queued again/, 'r retries the selected failed run');
ok(zj_wait_status($node, $broken, 'failed') && zj_run($node, $broken, 'attempt')->{attempt} == 2,
	'it ran once more (and failed again)');

# The last minute's throughput: the held run completed and the retried one
# failed since top started (the failure before it is not counted).
my $rate = qr/last (?:minute|\d+ s): (\d+) completed, (\d+) failed/;
$s = screen_until($t, sub { $_[0] =~ $rate && $1 >= 1 && $2 >= 1 });
my ($done, $fails) = $s =~ $rate ? ($1, $2) : (0, 0);
cmp_ok($done, '>=', 1, "the throughput counts the completed run ($done)");
cmp_ok($fails, '>=', 1, "and the failed attempt ($fails)");

# The filter.
my $slow2 = zj_enqueue($node, q{SELECT public.slow('stop2')}, name => 'slow_copy');
zj_wait_status($node, $slow2, 'running');
$s = screen_until($t, qr/^\s*$slow2\s+slow_copy/m);
press($t, '/');
# (tmux captures no trailing blanks: the prompt ends the line.)
my $prompt = qr/filter \(name, queue or owner\):$/m;
like(screen_until($t, $prompt), $prompt, '/ asks for a filter');
press($t, '-l', 'nomatch');
press($t, 'Enter');
$s = screen_until($t, qr/filter: nomatch/);
like($s, qr/RUNNING \(0\)/, 'a filter that matches nothing hides the run');
press($t, '/');
screen_until($t, qr/filter \(name, queue or owner\): nomatch/);
press($t, 'BSpace') for 1 .. 7;
press($t, '-l', 'slow_');
press($t, 'Enter');
$s = screen_until($t, qr/filter: slow_/);
like($s, qr/RUNNING \(1\).*^\s*$slow2\s+slow_copy/ms, 'a matching filter shows it');

# A resize redraws the screen for the new size.
system('tmux', '-S', $sock, 'resize-window', '-t', $t, '-x', 100, '-y', 24) == 0 or die;
$s = screen_until($t, qr/\A(?:[^\n]*\n){23}arrows move/);
my @lines = split /\n/, $s;
like($lines[23] // '', qr/^arrows move/, 'after a resize the key line is on the new last row');
ok(!grep({ length($_) > 100 } @lines), 'and no line is wider than the window');

press($t, 'q');
$s = screen_until($t, qr/EXIT=\d+/);
like($s, qr/EXIT=0/, 'q quits with exit code 0');
unlike($s, qr/RUNNING/, 'and gives the terminal back');
is(pane_format($t, '#{alternate_on}'), '0', 'the alternate screen is left');
like(screen_until($t, qr/^TTY=/m), qr/^TTY=icanon echo *$/m, 'echo and canonical mode are back');

my $t2 = tmux_start('top2', 'zapjobs top');
screen_until($t2, qr/RUNNING/);
press($t2, 'C-c');
$s = screen_until($t2, qr/EXIT=\d+/);
like($s, qr/EXIT=130/, 'Ctrl-C leaves top with 130');
unlike($s, qr/RUNNING/, 'and gives the terminal back');
is(pane_format($t2, '#{alternate_on}'), '0', 'the alternate screen is left after Ctrl-C');
like(screen_until($t2, qr/^TTY=/m), qr/^TTY=icanon echo *$/m,
	'echo and canonical mode are back after Ctrl-C');
$node->safe_psql('postgres', q{INSERT INTO public.flags VALUES ('stop2')});
is(zj_wait($node, $slow2), 'completed', 'the second slow run completed');

# watch on a terminal: a bar redrawn in place, the outcome in color.
my $slow3 = zj_enqueue($node, q{SELECT public.slow('stop3')}, name => 'slow_copy');
my $t3 = tmux_start('watch', "zapjobs watch $slow3");
$s = screen_until($t3, qr/^\d\d:\d\d:\d\d info +batch 10\n\[/m);
like($s, qr/^\[[#.]{20}\]\s+[\d.]+%\s+\d+\/10000\s+ETA \S+\s+attempt 1\/3\s+row \d+/m,
	'watch on a terminal draws a progress bar');
like($s, qr/^\d\d:\d\d:\d\d info +batch 10$/m, 'log lines above it');
is(scalar(() = $s =~ /^\[[#.]{20}\]/mg), 1, 'one progress line, redrawn in place');
$node->safe_psql('postgres', q{INSERT INTO public.flags VALUES ('stop3')});
$s = screen_until($t3, qr/EXIT=\d+/);
like($s, qr/^run $slow3 completed in \S+\nEXIT=0$/m, 'the outcome replaces the bar; exit 0');

system('tmux', '-S', $sock, 'kill-server');
$node->stop;
done_testing();
