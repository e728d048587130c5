# zapjobs web over HTTP, against a real preloaded server: status codes and
# JSON shapes of the API, keyset paging, CSRF and read-only refusals, basic
# auth with hashed passwords, CORS only for the indicator's origin, the
# security headers, /metrics as Prometheus text, /healthz both ways, the
# event stream: real events pushed, forged ones dropped, a stalled browser
# told to resync without holding up the others, a heartbeat every 15 s,
# "event: counts" when the counts change; the owner filter to a superuser's
# dashboard and to one under row-level security.
use strict;
use warnings;
use lib 'test/perl';

use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use MIME::Base64;
use Socket qw(SOL_SOCKET SO_RCVBUF pack_sockaddr_in inet_aton);
use Time::HiRes ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZapjobsTest;

my $node = zj_new_node('web_http');
$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	CREATE ROLE mallory LOGIN;
});
zj_flag_jobs($node);

my $http = HTTP::Tiny->new(timeout => 30);

# Start zapjobs web with ARGS (after a hash ref of zj_cmd_start's options,
# such as user => ROLE); returns (handle, base URL) once it listens.
sub start_web
{
	my %opt = ref $_[0] eq 'HASH' ? %{ shift @_ } : ();
	my (@args) = @_;
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $w = zj_cmd_start($node, [ 'web', '--listen', "127.0.0.1:$port", @args ], %opt);
	my $base = "http://127.0.0.1:$port";
	my ($i) = grep { $args[$_] eq '--base-path' } 0 .. $#args;
	my $path = defined $i ? $args[ $i + 1 ] : '';
	ok(zj_cmd_until($w, sub { $w->{err} =~ m{zapjobs web: http://127\.0\.0\.1:$port} }),
		"zapjobs web @args started");
	return ($w, "$base$path");
}

sub get_json
{
	my ($url, %h) = @_;
	my $res = $http->get($url, { headers => \%h });
	my $json = eval { decode_json($res->{content}) };
	return ($res, $json);
}

sub post
{
	my ($url, $body, %h) = @_;
	my $res = $http->post($url, { headers => { 'Content-Type' => 'application/json', %h },
		content => $body // '' });
	return ($res, eval { decode_json($res->{content}) });
}

my ($w, $base) = start_web();

# --- pages and headers ---------------------------------------------------------

my $res = $http->get("$base/");
is($res->{status}, 200, 'the page loads');
like($res->{headers}{'content-type'}, qr{^text/html}, 'as HTML');
like($res->{headers}{'content-security-policy'}, qr/default-src 'none'; script-src 'self'/,
	'with a Content-Security-Policy');
is($res->{headers}{'x-content-type-options'}, 'nosniff', 'and nosniff');
is($http->get("$base/app.js")->{status}, 200, 'the script loads');
is($http->get("$base/indicator.js")->{status}, 200, 'the indicator loads');
($res) = get_json("$base/no/such/page");
is($res->{status}, 404, 'an unknown page is 404');
is($http->request('PUT', "$base/api/overview")->{status}, 405, 'PUT is 405');

# --- healthz -------------------------------------------------------------------

$res = $http->get("$base/healthz");
is($res->{status}, 200, '/healthz is 200');
is($res->{content}, "ok\n", 'and says ok');

# --- the API -------------------------------------------------------------------

my $failed = zj_enqueue($node, 'SELECT 1/0', max_attempts => 2, retry_base => "'10 ms'");
is(zj_wait($node, $failed), 'failed', 'a run failed twice');
my $done = zj_enqueue($node, q{SELECT jobs.log('info', 'line ' || i) FROM generate_series(1, 3) i},
	name => 'logger');
is(zj_wait($node, $done), 'completed', 'a run logged three lines');
zj_enqueue($node, 'SELECT 1', name => 'many', queue => 'bulk') for 1 .. 7;
zj_wait_final($node, "name = 'many'");

my ($r, $j) = get_json("$base/api/overview");
is($r->{status}, 200, 'GET /api/overview');
is_deeply([ sort keys %$j ], [qw(counts counts_at failures now pool queues throughput workers)],
	'overview: counts, throughput, queues, failures, workers, pool');
is(scalar @{ $j->{throughput} }, 60, 'throughput: 60 minutes');
ok(grep({ $_->{completed} > 0 } @{ $j->{throughput} }), 'with the runs that completed');
ok(grep({ $_->{run_id} == $failed } @{ $j->{failures} }), 'the failure is in the recent failures');

($r, $j) = get_json("$base/api/runs?limit=3");
is($r->{status}, 200, 'GET /api/runs');
is(scalar @{ $j->{runs} }, 3, 'a page of 3');
ok($j->{next}, 'and where the next starts');
my @seen = map { $_->{id} } @{ $j->{runs} };
my $pages = 1;
while ($j->{next})
{
	($r, $j) = get_json("$base/api/runs?limit=3&before=$j->{next}");
	push @seen, map { $_->{id} } @{ $j->{runs} };
	$pages++;
}
is(scalar @seen, 9, 'keyset paging reaches every run once');
is_deeply(\@seen, [ sort { $b <=> $a } @seen ], 'newest first, without repeats');
($r, $j) = get_json("$base/api/runs?status=failed");
is_deeply([ map { $_->{id} } @{ $j->{runs} } ], [$failed], 'filter by status');
($r, $j) = get_json("$base/api/runs?queue=bulk&name=many");
is(scalar @{ $j->{runs} }, 7, 'filter by queue and name');
($r, $j) = get_json("$base/api/runs?q=generate_series");
is_deeply([ map { $_->{id} } @{ $j->{runs} } ], [$done], 'text search');
($r, $j) = get_json("$base/api/runs?from=2999-01-01");
is(scalar @{ $j->{runs} }, 0, 'time range');
($r, $j) = get_json("$base/api/runs?from=yesterday-ish");
is($r->{status}, 400, 'a bad time is 400');
like($j->{error}, qr/invalid input syntax/, 'with the reason');

($r, $j) = get_json("$base/api/runs/$failed");
is($r->{status}, 200, 'GET /api/runs/ID');
is($j->{run}{command}, 'SELECT 1/0', 'every column');
is(scalar @{ $j->{attempts} }, 2, 'every attempt');
is($j->{attempts}[1]{error_sqlstate}, '22012', 'with its error');
($r, $j) = get_json("$base/api/runs/$done");
is(scalar @{ $j->{logs} }, 3, 'the log lines');
my $first_log = $j->{logs}[0]{id};
($r, $j) = get_json("$base/api/runs/$done/logs?after=$first_log");
is_deeply([ map { $_->{message} } @$j ], [ 'line 2', 'line 3' ], 'logs after a line');
my $child = zj_enqueue($node, 'SELECT 1', depends_on => "ARRAY[$done, $failed]",
	on_parent_failure => 'run', workflow => 'web');
is(zj_wait($node, $child), 'completed', 'a run waited for two others');
($r, $j) = get_json("$base/api/runs/$child");
my @want = map { "$_->[0] $_->[1]" } sort { $a->[0] <=> $b->[0] } ([ $failed, 'failed' ], [ $done, 'completed' ]);
is_deeply([ map { "$_->{id} $_->{status}" } @{ $j->{parents} } ], \@want,
	'a run lists the runs it waited for, with their status');
is($j->{run}{workflow}, 'web', 'and its workflow');
($r, $j) = get_json("$base/api/runs/$done");
is_deeply([ map { $_->{id} } @{ $j->{children} } ], [$child], 'a parent lists the runs waiting for it');
($r, $j) = get_json("$base/api/runs/999999");
is($r->{status}, 404, 'an unknown run is 404');
($r, $j) = get_json("$base/api/runs/abc");
is($r->{status}, 404, 'a run id that is no number is 404');
($r, $j) = get_json("$base/api/queues");
is($r->{status}, 200, 'GET /api/queues');
is(ref $j, 'ARRAY', 'a list of queues');
$node->safe_psql('postgres', q{SELECT jobs.schedule('nightly', '0 3 * * *', 'SELECT 1')});
($r, $j) = get_json("$base/api/definitions");
is($j->[0]{schedule}, '0 3 * * *', 'GET /api/definitions');
($r, $j) = get_json("$base/api/workers");
ok($j->{pool}{launcher_pid} > 0 && ref $j->{workers} eq 'ARRAY', 'GET /api/workers');
($r, $j) = get_json("$base/api/active");
is_deeply([ sort keys %$j ], [qw(pending recent running)], 'GET /api/active');

# --- actions: CSRF --------------------------------------------------------------

my $later = zj_enqueue($node, 'SELECT 1', run_at => "now() + interval '1 hour'");
($r, $j) = post("$base/api/runs/cancel", encode_json({ ids => [$later] }));
is($r->{status}, 403, 'a POST without the CSRF token is 403');
like($j->{error}, qr/CSRF/, 'and says why');
($r, $j) = post("$base/api/runs/cancel", encode_json({ ids => [$later] }), 'X-CSRF-Token' => 'guess');
is($r->{status}, 403, 'a wrong token is 403');
is(zj_run($node, $later, 'status')->{status}, 'scheduled', 'nothing was cancelled');
(undef, my $session) = get_json("$base/api/session");
my %csrf = ('X-CSRF-Token' => $session->{csrf});
like($session->{csrf}, qr/^[0-9a-f]{64}$/, 'GET /api/session gives the token');
($r, $j) = post("$base/api/runs/cancel", encode_json({ ids => [$later] }), %csrf);
is($r->{status}, 200, 'with the token, cancel answers 200');
is_deeply($j, { changed => 1, matched => 1 }, 'one run cancelled');
is(zj_run($node, $later, 'status')->{status}, 'cancelled', 'it is cancelled');
($r, $j) = post("$base/api/runs/retry", encode_json({ filter => { status => 'failed' } }), %csrf);
is($j->{changed}, 1, 'retry of all matching a filter');
($r, $j) = post("$base/api/runs/retry", 'not json', %csrf);
is($r->{status}, 400, 'a body that is not JSON is 400');
($r, $j) = post("$base/api/queues/bulk/pause", '', %csrf);
is_deeply($j, { queue => 'bulk', paused => JSON::PP::true }, 'pause a queue');
is($node->safe_psql('postgres', q{SELECT paused FROM jobs.queues WHERE name = 'bulk'}), 't',
	'it is paused');
($r, $j) = post("$base/api/queues/bulk/resume", '', %csrf);
ok(!$j->{paused}, 'resume it');
($r, $j) = post("$base/api/definitions/nightly/trigger", '', %csrf);
ok($j->{run_id} > 0, 'trigger a definition');
is(zj_wait($node, $j->{run_id}), 'completed', 'its run completes');
($r, $j) = post("$base/api/definitions/nosuch/trigger", '', %csrf);
is($r->{status}, 404, 'trigger of an unknown job is 404');
($r, $j) = post("$base/api/definitions/nightly/pause", '', %csrf);
ok($j->{paused}, 'pause a schedule');
($r, $j) = post("$base/api/queues/a%2Fb/pause", '', %csrf);
is_deeply($j, { queue => 'a/b', paused => JSON::PP::true }, 'a queue name with a slash');
($r, $j) = post("$base/api/queues/a%2Fb/resume", '', %csrf);
ok(!$j->{paused}, 'resumed');
my $all = $node->safe_psql('postgres', 'SELECT count(*) FROM jobs.runs');
($r, $j) = get_json("$base/api/runs?limit=$all");
ok(@{ $j->{runs} } == $all && !defined $j->{next}, 'no next page when the page holds the last run');
# The list reads finished runs and runs on their way through different
# indexes: pages interleave them by id.
my $sched = zj_enqueue($node, 'SELECT 1', queue => 'bulk', run_at => "now() + interval '1 hour'");
$node->safe_psql('postgres', q{SELECT jobs.enqueue('SELECT 1', queue => 'bulk')
	FROM generate_series(1, 2)});
zj_wait_final($node, "queue = 'bulk' AND id <> $sched");
my @ids = split /\n/, $node->safe_psql('postgres', 'SELECT id FROM jobs.runs ORDER BY id DESC');
($r, $j) = get_json("$base/api/runs?limit=500");
is_deeply([ map { $_->{id} } @{ $j->{runs} } ], \@ids, 'every run, whatever its state, newest first');
my @bulk = split /\n/, $node->safe_psql('postgres',
	q{SELECT id FROM jobs.runs WHERE queue = 'bulk' ORDER BY id DESC});
my @paged;
my $next = '';
do
{
	($r, $j) = get_json("$base/api/runs?queue=bulk&limit=2&before=$next");
	push @paged, map { $_->{id} } @{ $j->{runs} };
	$next = $j->{next} // '';
} while ($next ne '' && @paged < 100);
is_deeply(\@paged, \@bulk, 'pages of one queue: its scheduled run among its finished ones');
($r, $j) = get_json("$base/api/runs?status=scheduled&queue=bulk");
is_deeply([ map { $_->{id} } @{ $j->{runs} } ], [$sched], 'and that run alone by its state');
($r, $j) = get_json("$base/api/runs?status=nosuch");
is_deeply($j->{runs}, [], 'a state that does not exist lists nothing');
$node->safe_psql('postgres', "SELECT jobs.cancel($sched)");

# --- metrics --------------------------------------------------------------------

# Scrape /metrics: (response, {name => type}, [lines that are no sample, HELP
# or TYPE], {name => [[{label => value}, value], ...]}).
sub scrape
{
	my $res = $http->get("$base/metrics");
	my (%types, @bad, %samples);
	for my $line (split /\n/, $res->{content})
	{
		if ($line =~ /^# TYPE (\w+) (counter|gauge|histogram)$/) { $types{$1} = $2; next; }
		next if $line =~ /^# HELP \w+ .+$/;
		if ($line =~ /^(\w+)(\{[a-z_]+="(?:[^"\\]|\\.)*"(?:,[a-z_]+="(?:[^"\\]|\\.)*")*\})? (-?[0-9.e+]+|\+Inf)$/)
		{
			my ($name, $labels, $value) = ($1, $2 // '', $3);
			my %l = $labels =~ /([a-z_]+)="((?:[^"\\]|\\.)*)"/g;
			push @{ $samples{$name} }, [ \%l, $value ];
			next;
		}
		push @bad, $line;
	}
	return ($res, \%types, \@bad, \%samples);
}

# A run not finished in a queue of its own: the gauges count it once the
# dashboard's counting thread has been round (every 2 s or so).
my $gauged = zj_enqueue($node, 'SELECT 1', queue => 'metricsq', run_at => "now() + interval '1 hour'");
my ($types, $bad, $samples);
my $deadline = time() + 60;
for (;;)
{
	($res, $types, $bad, $samples) = scrape();
	last if grep({ ($_->[0]{queue} // '') eq 'metricsq' } @{ $samples->{zapjobs_runs} // [] })
	  || time() > $deadline;
	select(undef, undef, undef, 0.2);
}
is($res->{status}, 200, '/metrics is 200');
like($res->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4}, 'Prometheus text');
is_deeply($bad, [], 'every line is a sample, HELP or TYPE');
is_deeply([ grep { !/^zapjobs_/ } keys %$types ], [], 'every name starts with zapjobs_');
is($types->{$_}, 'gauge', "$_ is a gauge") for qw(zapjobs_runs zapjobs_queue_lag_seconds zapjobs_workers);
is($types->{zapjobs_runs_finished_total}, 'counter', 'finished runs: a counter');
is($types->{zapjobs_attempt_failures_total}, 'counter', 'failures: a counter');
is($types->{zapjobs_run_duration_seconds}, 'histogram', 'durations: a histogram');

my @runs = @{ $samples->{zapjobs_runs} // [] };
is_deeply([ grep { join(',', sort keys %{ $_->[0] }) ne 'queue,status' } @runs ], [],
	'zapjobs_runs: every sample labelled by status and queue');
is_deeply([ map { "$_->[0]{status} $_->[1]" } grep { $_->[0]{queue} eq 'metricsq' } @runs ],
	['scheduled 1'], 'the scheduled run is counted under its status and queue');
my %workers = map { ($_->[0]{state} // '?') => $_->[1] } @{ $samples->{zapjobs_workers} // [] };
ok(exists $workers{busy} && exists $workers{idle}, 'zapjobs_workers: busy and idle')
  or diag(explain(\%workers));
is_deeply([ grep { !/^(busy|idle|starting)$/ } keys %workers ], [], 'and no other state but starting');
my %finished = map { ($_->[0]{status} // '?') => $_->[1] } @{ $samples->{zapjobs_runs_finished_total} // [] };
is_deeply([ sort keys %finished ], [qw(cancelled completed failed)], 'finished runs: by status');
ok($finished{completed} >= 1, 'completions seen since the start are counted');

my @buckets = @{ $samples->{zapjobs_run_duration_seconds_bucket} // [] };
my @bounds = map { $_->[0]{le} // '' } @buckets;
is($bounds[-1], '+Inf', 'the last bucket is le="+Inf"');
is_deeply([ grep { $_ ne '+Inf' && $_ !~ /^[0-9.e+-]+$/ } @bounds ], [], 'every other bound a number');
is_deeply([ @bounds[ 0 .. $#bounds - 1 ] ], [ sort { $a <=> $b } @bounds[ 0 .. $#bounds - 1 ] ],
	'bounds ascending');
my @counts = map { $_->[1] } @buckets;
is_deeply(\@counts, [ sort { $a <=> $b } @counts ], 'histogram buckets are cumulative');
my ($sum) = map { $_->[1] } @{ $samples->{zapjobs_run_duration_seconds_sum} // [] };
my ($count) = map { $_->[1] } @{ $samples->{zapjobs_run_duration_seconds_count} // [] };
ok(defined $sum && defined $count, 'the histogram has _sum and _count');
is($count, $counts[-1], '_count equals the +Inf bucket');
ok($count >= 1 && $count <= $finished{completed}, 'it counts completed runs')
  or diag("count $count, completed $finished{completed}");
ok($sum > 0 && $sum < 60 * $count, '_sum adds up their durations') or diag("sum $sum");
$node->safe_psql('postgres', "SELECT jobs.cancel($gauged)");

# --- the event stream --------------------------------------------------------------

# Read from a raw socket until COND holds on what arrived (SECONDS, 30 s
# by default, at most).
# A small receive buffer (rcvbuf) keeps the kernel from buffering megabytes
# for a browser that does not read.
sub sse_open
{
	my ($url, $rcvbuf) = @_;
	my ($host, $port, $path) = $url =~ m{^http://([^:/]+):(\d+)(.*)$};
	my $s = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";
	setsockopt($s, SOL_SOCKET, SO_RCVBUF, $rcvbuf) or die "setsockopt: $!" if $rcvbuf;
	$s->connect(pack_sockaddr_in($port, inet_aton($host))) or die "connect: $!";
	print $s "GET $path/events HTTP/1.1\r\nHost: $host\r\nAccept: text/event-stream\r\n\r\n";
	return { s => $s, buf => '' };
}

sub sse_until
{
	my ($c, $cond, $seconds) = @_;
	my $deadline = time() + ($seconds // 30);
	while (!$cond->($c->{buf}) && time() < $deadline)
	{
		my $rin = '';
		vec($rin, fileno($c->{s}), 1) = 1;
		next unless select($rin, undef, undef, 0.2);
		my $n = sysread($c->{s}, my $chunk, 65536);
		last unless $n;
		$c->{buf} .= $chunk;
	}
	return $cond->($c->{buf});
}

my $sse = sse_open($base);
ok(sse_until($sse, sub { $_[0] =~ /event: hello/ }), 'GET /events says hello');
like($sse->{buf}, qr{Content-Type: text/event-stream}i, 'as text/event-stream');
$node->safe_psql('postgres',
	q{SELECT pg_notify('job_update', '{"type":"run","id":777777,"status":"FORGED"}')},
	extra_params => [ '-U', 'mallory' ]);
my $live = zj_enqueue($node, q{SELECT jobs.progress(1, 2, 'pushed'); SELECT 1});
is(zj_wait($node, $live), 'completed', 'a run completed');
ok(sse_until($sse, sub { $_[0] =~ /"id":$live,[^\n]*"status":"completed"/ }),
	'its events were pushed');
like($sse->{buf}, qr/^data: \{"type":"progress","id":$live,[^\n]*"message":"pushed"/m,
	'progress too');
unlike($sse->{buf}, qr/FORGED/, 'a forged event (sent before) was not passed on');

# A browser that stops reading: told to resync, and the others go on.
my $stalled = sse_open($base, 4096);
ok(sse_until($stalled, sub { $_[0] =~ /event: hello/ }), 'a second browser connects');
$node->safe_psql('postgres',
	q{SELECT jobs.enqueue_many('SELECT 1', array_fill('{}'::jsonb, ARRAY[50000]), name => 'flood')});
zj_wait_final($node, "name = 'flood'");
my $marker = zj_enqueue($node, 'SELECT 1', name => 'after_flood');
is(zj_wait($node, $marker), 'completed', 'a run after a flood of events');
ok(sse_until($sse, sub { $_[0] =~ /"id":$marker,[^\n]*"status":"completed"/ }),
	'the reading browser got every event up to it');
ok(sse_until($stalled, sub { $_[0] =~ /event: resync/ }),
	'the stalled one, once it reads again, is told to resync');
close($stalled->{s});
close($sse->{s});

# Times at which the first N heartbeats (": heartbeat", an SSE comment, which
# EventSource ignores) reached stream C, within SECONDS.
sub sse_heartbeats
{
	my ($c, $n, $seconds) = @_;
	my @at;
	sse_until(
		$c,
		sub {
			my $beats = () = $_[0] =~ /^: heartbeat\n\n/mg;
			push @at, Time::HiRes::time() while @at < $beats;
			return @at >= $n;
		},
		$seconds);
	return @at;
}

# A stream with no event to carry still says it is alive, every 15 s.
my $quiet = sse_open($base);
ok(sse_until($quiet, sub { $_[0] =~ /event: hello/ }), 'a browser opens the stream');
my $opened = Time::HiRes::time();
my @beats = sse_heartbeats($quiet, 2, 45);
ok(@beats >= 1 && $beats[0] - $opened <= 20, 'a heartbeat (an SSE comment) comes within 15 s and a little')
  or diag(@beats ? sprintf('after %.1f s', $beats[0] - $opened) : "none: $quiet->{buf}");
my $gap = @beats == 2 ? $beats[1] - $beats[0] : -1;
note(sprintf('heartbeats %.1f s apart', $gap));
ok($gap >= 13 && $gap <= 25, 'and another 15 s later') or diag("gap $gap s");

# The counts of runs not finished are taken every 2 s or so, and a page may
# have read them on an event before they caught up: when they change, the
# stream says so, and only then.
my $counts_after = sub {
	my ($from) = @_;
	return sub { my @n = substr($_[0], $from) =~ /^event: counts\ndata: \{\}\n\n/mg; scalar @n };
};
my $from = length $quiet->{buf};
my $counted = zj_enqueue($node, 'SELECT 1', run_at => "now() + interval '1 hour'");
ok(sse_until($quiet, $counts_after->($from)), 'a run scheduled: the stream says "event: counts"');
$from = length $quiet->{buf};
$node->safe_psql('postgres', "SELECT jobs.cancel($counted)");
ok(sse_until($quiet, $counts_after->($from)), 'it is cancelled: again');
$from = length $quiet->{buf};
sse_until($quiet, sub { 0 }, 7);
is($counts_after->($from)->($quiet->{buf}), 0, 'and not while the counts stay the same');
close($quiet->{s});

# --- row-level security: a dashboard connected as a role that is no superuser --------

my ($mw, $mbase) = start_web({ user => 'mallory' });
my $msse = sse_open($mbase);
ok(sse_until($msse, sub { $_[0] =~ /event: hello/ }), "mallory's dashboard streams events");
my $a_fail = zj_enqueue($node, 'SELECT 1/0', name => 'alice_fails', user => 'alice');
my $a_live = zj_enqueue($node,
	q{SELECT jobs.progress(1, 2, 'alice progress'); SELECT jobs.log('info', 'alice line')},
	name => 'alice_reports', user => 'alice');
my $a_later = zj_enqueue($node, 'SELECT 1', user => 'alice', run_at => "now() + interval '1 hour'");
is(zj_wait($node, $a_fail), 'failed', "alice's first run failed");
is(zj_wait($node, $a_live), 'completed', 'her second reported progress and a log line');
my $m_run = zj_enqueue($node,
	q{SELECT jobs.progress(1, 2, 'mallory progress'); SELECT jobs.log('info', 'mallory line')},
	name => 'mallory_reports', user => 'mallory');
is(zj_wait($node, $m_run), 'completed', 'then a run of mallory completed');
ok(sse_until($msse, sub { $_[0] =~ /"id":$m_run,[^\n]*"status":"completed"/ }),
	"mallory's dashboard pushed her run's events");
like($msse->{buf}, qr/"message":"mallory progress"/, 'its progress');
like($msse->{buf}, qr/"message":"mallory line"/, 'and its log line');
my @leaked = grep { /alice|"(?:id|first_id)":(?:$a_fail|$a_live|$a_later)\b/ } split /\n/, $msse->{buf};
is_deeply(\@leaked, [], "but no event of alice's runs or workers (sent before)");
close($msse->{s});

($r, $j) = get_json("$mbase/api/runs?limit=500");
is_deeply([ map { "$_->{id} $_->{owner}" } @{ $j->{runs} } ], ["$m_run mallory"],
	"mallory's api/runs lists her run only");
is((get_json("$mbase/api/runs/$a_fail"))[0]{status}, 404, "alice's run is 404 to her");
is((get_json("$mbase/api/runs/$a_live/logs"))[0]{status}, 404, 'and its log too');
($r, $j) = get_json("$mbase/api/overview");
is_deeply([ map { $_->{run_id} } @{ $j->{failures} } ], [], 'her overview shows no failure');
my %hour;
for my $m (@{ $j->{throughput} })
{
	$hour{$_} += $m->{$_} for qw(completed failed cancelled);
}
is_deeply(\%hour, { completed => 1, failed => 0, cancelled => 0 },
	"its throughput counts her run only");
($r, $j) = get_json("$mbase/api/active");
is_deeply([ map { $_->{id} } @{ $j->{recent} } ], [$m_run], 'api/active: her run only');
like($http->get("$mbase/metrics")->{content}, qr/^zapjobs_runs_finished_total\{status="failed"\} 0$/m,
	'/metrics counts no failure');
(undef, $session) = get_json("$mbase/api/session");
($r, $j) = post("$mbase/api/runs/cancel", encode_json({ ids => [$a_later] }),
	'X-CSRF-Token' => $session->{csrf});
is_deeply($j, { changed => 0, matched => 0 }, "she cannot cancel alice's run");
is(zj_run($node, $a_later, 'status')->{status}, 'scheduled', 'it is still scheduled');

# The owner filter: a superuser's dashboard lists anyone's runs by owner;
# mallory's lists only hers, whoever she asks for, and acts on no other.
my @alice = map { "$_ alice" } sort { $b <=> $a } ($a_fail, $a_live, $a_later);
($r, $j) = get_json("$base/api/runs?owner=alice&limit=500");
is_deeply([ map { "$_->{id} $_->{owner}" } @{ $j->{runs} } ], \@alice,
	"owner=alice: a superuser's dashboard lists alice's runs, no other");
($r, $j) = get_json("$base/api/runs?owner=mallory&limit=500");
is_deeply([ map { "$_->{id} $_->{owner}" } @{ $j->{runs} } ], ["$m_run mallory"], "owner=mallory: hers");
($r, $j) = get_json("$mbase/api/runs?owner=alice&limit=500");
is_deeply([ $r->{status}, $j->{runs} ], [ 200, [] ], "to mallory's dashboard, owner=alice lists nothing");
($r, $j) = get_json("$mbase/api/runs?owner=mallory&limit=500");
is_deeply([ map { "$_->{id} $_->{owner}" } @{ $j->{runs} } ], ["$m_run mallory"], 'owner=mallory her run');
($r, $j) = post("$mbase/api/runs/cancel", encode_json({ filter => { owner => 'alice' } }),
	'X-CSRF-Token' => $session->{csrf});
is_deeply($j, { changed => 0, matched => 0 }, 'her cancel of all runs matching owner=alice matches none');
is(zj_run($node, $a_later, 'status')->{status}, 'scheduled', "alice's run is still scheduled");
($r, $j) = post("$base/api/runs/cancel", encode_json({ filter => { owner => 'alice' } }), %csrf);
is_deeply($j, { changed => 1, matched => 1 }, "the superuser's cancels alice's one unfinished run");
is(zj_run($node, $a_later, 'status')->{status}, 'cancelled', 'it is cancelled');
is($node->safe_psql('postgres', "SELECT status FROM jobs.runs WHERE id = $m_run"), 'completed',
	"mallory's run is untouched");
$mw->{h}->signal('TERM');
is(zj_cmd_finish($mw), 0, "mallory's dashboard stopped");

# --- healthz when the extension is gone ---------------------------------------------------

$node->safe_psql('postgres', 'DROP EXTENSION zapjobs CASCADE');
$res = $http->get("$base/healthz");
is($res->{status}, 503, '/healthz is 503 without the extension');
like($res->{content}, qr/unhealthy: .*jobs/, 'with the reason');
$node->safe_psql('postgres', 'CREATE EXTENSION zapjobs');
ok($node->poll_query_until('postgres', 'SELECT launcher_pid IS NOT NULL FROM jobs.pool'),
	'CREATE EXTENSION again: the launcher is back');
$w->{h}->signal('TERM');
is(zj_cmd_finish($w), 0, 'SIGTERM stops zapjobs web with 0');

# --- read-only, auth, CORS, base path ----------------------------------------------------

my $authfile = PostgreSQL::Test::Utils::tempdir() . '/users';
open(my $fh, '>', $authfile) or die;
print $fh "# users\nadmin:" . crypt('s3cret', '$6$zapjobssalt$') . "\n";
close($fh);
($w, $base) = start_web('--read-only', '--auth-file', $authfile,
	'--allow-origin', 'http://app.test', '--base-path', '/jobs');
my $auth = 'Basic ' . encode_base64('admin:s3cret', '');
my $wrong = 'Basic ' . encode_base64('admin:guess', '');
$res = $http->get("$base/api/overview");
is($res->{status}, 401, 'without credentials: 401');
like($res->{headers}{'www-authenticate'}, qr/^Basic realm="zapjobs"/, 'asking for basic auth');
is($http->get("$base/api/overview", { headers => { Authorization => $wrong } })->{status}, 401,
	'a wrong password: 401');
is($http->get("$base/api/overview", { headers => { Authorization => $auth } })->{status}, 200,
	'the right one: 200');
is($http->get("$base/healthz")->{status}, 200, '/healthz needs no credentials');
# The token is this process's own (read from it), so only read-only refuses.
(undef, $session) = get_json("$base/api/session", Authorization => $auth);
ok($session->{read_only}, 'the session says read-only');
my %ro = (Authorization => $auth, 'X-CSRF-Token' => $session->{csrf});
my $kept = zj_enqueue($node, 'SELECT 1', run_at => "now() + interval '1 hour'");
my $top = $base =~ s{/jobs$}{}r;
for my $url ("$base/api/runs/cancel", "$base/whatever/path", "$top/api/runs/cancel",
	"$top/elsewhere", "$base/api/queues/bulk/pause")
{
	my $where = $url =~ s{^http://[^/]+}{}r;
	($r, $j) = post($url, encode_json({ ids => [$kept] }), %ro);
	is($r->{status}, 403, "read-only: POST $where is 403");
	like($j->{error} // '', qr/read-only/, 'because it is read-only');
}
($r, $j) = post("$top/nowhere", '');
is($r->{status}, 403, 'read-only: a POST without credentials or token is 403 too');
like($j->{error} // '', qr/read-only/, 'for the same reason');
is(zj_run($node, $kept, 'status')->{status}, 'scheduled', 'the run was not cancelled');
is($node->safe_psql('postgres', q{SELECT count(*) FROM jobs.queues WHERE paused}), '0',
	'nor a queue paused');
is($http->get("$top/api/overview", { headers => { Authorization => $auth } })->{status}, 404,
	'outside the base path: 404');
$res = HTTP::Tiny->new(max_redirect => 0)->get("$top/jobs", { headers => { Authorization => $auth } });
is($res->{status}, 301, '/jobs redirects');
is($res->{headers}{location}, '/jobs/', 'to /jobs/');
$res = $http->get("$base/api/active",
	{ headers => { Authorization => $auth, Origin => 'http://app.test' } });
is($res->{headers}{'access-control-allow-origin'}, 'http://app.test',
	'CORS for the allowed origin on the indicator\'s data');
$res = $http->get("$base/api/active",
	{ headers => { Authorization => $auth, Origin => 'http://evil.test' } });
ok(!exists $res->{headers}{'access-control-allow-origin'}, 'not for another origin');
$res = $http->get("$base/api/overview",
	{ headers => { Authorization => $auth, Origin => 'http://app.test' } });
ok(!exists $res->{headers}{'access-control-allow-origin'}, 'nor for the dashboard\'s own data');
$w->{h}->signal('INT');
is(zj_cmd_finish($w), 0, 'Ctrl-C stops it with 0');

# --- bad options ---------------------------------------------------------------------------

my ($rc, $out, $err) = zj_cmd($node, [ 'web', '--listen', 'localhost' ]);
is($rc, 3, '--listen without a port exits 3');
($rc, $out, $err) = zj_cmd($node, [ 'web', '--auth-file', '/nonexistent' ]);
is($rc, 3, 'an unreadable auth file exits 3');
like($err, qr/cannot read the auth file/, 'and says so');
my $busy = PostgreSQL::Test::Cluster::get_free_port();
my $holder = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $busy, Listen => 1, ReuseAddr => 0)
  or die "cannot hold port $busy: $!";
($rc, $out, $err) = zj_cmd($node, [ 'web', '--listen', "127.0.0.1:$busy" ]);
is($rc, 5, 'a port in use exits 5');
like($err, qr/cannot listen on 127\.0\.0\.1:$busy: Address already in use/, 'and says so');
close($holder);

# --- the default address: 127.0.0.1:8080, nothing else ----------------------------------

# LISTEN sockets on PORT (/proc/net/tcp and tcp6): "ADDRESS inode", the
# address as the kernel shows it (0100007F is 127.0.0.1).
sub listeners
{
	my ($port) = @_;
	my @found;
	for my $table ('/proc/net/tcp', '/proc/net/tcp6')
	{
		open(my $fh, '<', $table) or next;
		while (my $line = <$fh>)
		{
			my @f = split ' ', $line;
			next unless @f > 9 && $f[3] eq '0A' && $f[1] =~ /^([0-9A-F]+):([0-9A-F]{4})$/;
			push @found, "$1 $f[9]" if hex($2) == $port;
		}
		close($fh);
	}
	return @found;
}

# Another program may hold port 8080 for a while: wait for it to go.
my $free_by = time() + 60;
select(undef, undef, undef, 0.5) while listeners(8080) && time() < $free_by;
SKIP:
{
	skip 'port 8080 stayed in use by another program', 4 if listeners(8080);
	my $dw = zj_cmd_start($node, ['web']);
	zj_cmd_until($dw, sub { $dw->{err} =~ /zapjobs web: http|cannot listen/ });
	skip 'another program took port 8080 meanwhile', 4
	  if $dw->{err} =~ /cannot listen on 127\.0\.0\.1:8080: Address already in use/;
	like($dw->{err}, qr{zapjobs web: http://127\.0\.0\.1:8080/ }, 'without --listen: 127.0.0.1:8080');
	my $pid = $dw->{h}{KIDS}[0]{PID};
	my %ours;
	for my $fd (glob("/proc/$pid/fd/*"))
	{
		my $to = readlink($fd) // '';
		$ours{$1} = 1 if $to =~ /^socket:\[(\d+)\]$/;
	}
	my @mine = map { (split ' ')[0] } grep { $ours{ (split ' ')[1] } } listeners(8080);
	is_deeply(\@mine, ['0100007F'], 'it listens on 127.0.0.1 only (no other address, no IPv6)');
	is($http->get('http://127.0.0.1:8080/healthz')->{status}, 200, 'and answers there');
	$dw->{h}->signal('TERM');
	is(zj_cmd_finish($dw), 0, 'it stops');
}

$node->stop;
done_testing();
