# zapjobs web in a real browser: Debian's chromium driven by puppeteer-core
# (test/browser/web.test.js, live.js and runs.js; run-tests.sh installs it
# from npm).  The overview loads; a running job's bar moves and a log line
# appears without a reload; cancelling from the page ends the run cancelled;
# hostile strings render as text; the overview's counts catch up with a run
# cancelled; several runs selected, or all matching a filter, are cancelled or
# retried; filters and the page of the runs list are in the URL, which shows
# the same rows elsewhere; a page whose zapjobs web was stopped and started
# again shows, without a reload, what changed meanwhile; a flood of events
# redraws the runs list and a run's page at most ten times a second; the
# status indicator on another origin's page shows a running job and turns red
# when one fails.  Screenshots are saved in tmp_check/screenshots.
use strict;
use warnings;
use lib 'test/perl';

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZapjobsTest;

plan skip_all => 'test/browser/node_modules is missing: run test/run-tests.sh (it runs npm ci)'
  unless -d 'test/browser/node_modules/puppeteer-core';

my $node = zj_new_node('web_browser');
zj_flag_jobs($node, total => 600, log_every => 5, pause => 0.1);
$node->safe_psql('postgres', 'CREATE ROLE sharer LOGIN');

my $port = PostgreSQL::Test::Cluster::get_free_port();
my $app_port = PostgreSQL::Test::Cluster::get_free_port();
my $own_port = PostgreSQL::Test::Cluster::get_free_port();    # the script's own zapjobs web
my $web = zj_cmd_start($node, [ 'web', '--listen', "127.0.0.1:$port",
	'--allow-origin', "http://127.0.0.1:$app_port" ]);
ok(zj_cmd_until($web, sub { $web->{err} =~ /zapjobs web: http/ }), 'zapjobs web started')
  or diag($web->{err});

my $shots = "$PostgreSQL::Test::Utils::tmp_check/screenshots";
mkdir $shots;
my ($out, $err) = ('', '');
# Checks that fail wait for their deadlines: the script may take long then,
# and what it printed until a timeout still counts.
my $in_time = eval {
	local %ENV = (%ENV, zj_cmd_env($node));
	IPC::Run::run([ 'node', 'test/browser/web.test.js', "http://127.0.0.1:$port", $app_port, $shots,
			$own_port ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(600));
	1;
};
ok($in_time, 'the browser checks ended within 10 minutes') or diag($@);
my @lines = grep { /^(not )?ok - / } split /\n/, $out;
note("browser test: $_") for split /\n/, $err;    # its figures (redraws, events a second)
ok(@lines >= 89, 'the browser checks ran') or diag("stdout:\n$out\nstderr:\n$err");
for my $line (@lines)
{
	my ($not, $what) = $line =~ /^(not )?ok - (.*)$/;
	ok(!$not, $what);
}
ok(-s "$shots/$_", "screenshot $_ saved") for qw(overview.png run.png indicator.png);

$node->safe_psql('postgres', q{INSERT INTO public.flags VALUES ('stop_live')});
$web->{h}->signal('TERM');
$web->{timer}->reset;    # it ran as long as the browser: a minute to stop from now
$web->{timer}->start(60);
is(zj_cmd_finish($web), 0, 'zapjobs web stopped');
$node->stop;
done_testing();
