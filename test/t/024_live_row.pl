# A run reads the same everywhere: while it runs, its row in jobs.runs shows
# the progress it reports (within a second), as jobs.active does live, so a
# 202-and-poll backend needs only SELECT * FROM jobs.runs WHERE id = $1.
use strict;
use warnings;
use lib 'test/perl';

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZapjobsTest;

my $node = zj_new_node('live_row');
$node->safe_psql('postgres', 'CREATE ROLE outsider LOGIN');
my $id = zj_enqueue($node, q{SELECT jobs.progress(5, 10, 'half way'); SELECT jobs.count_items(3, 2, 1);
	SELECT pg_sleep(60)}, max_attempts => 1);
ok( $node->poll_query_until('postgres', qq{
		SELECT concat_ws('|', status, progress_current, progress_total, progress_message,
		                 items_processed, items_succeeded, items_failed, progress_at IS NOT NULL)
		FROM jobs.runs WHERE id = $id},
		'running|5|10|half way|3|2|1|t'),
	"a running run's row shows its progress");
is( $node->safe_psql('postgres', qq{SELECT count(*) FROM jobs.runs WHERE id = $id},
		extra_params => [ '-U', 'outsider' ]),
	'0', '... to its owner only (row-level security)');
is($node->safe_psql('postgres', "SELECT jobs.cancel($id)"), 't', 'cancelled');
is(zj_wait($node, $id), 'cancelled', '... it ends cancelled');
is( $node->safe_psql('postgres', qq{
		SELECT concat_ws('|', progress_current, progress_total, progress_message, items_processed)
		FROM jobs.runs WHERE id = $id}),
	'5|10|half way|3', '... keeping its last progress');

done_testing();
