# Bounded records: a job that raises a 200 kB error, logs a 200 kB line or
# sets a huge output cannot bloat the tables; what was cut is marked.
use strict;
use warnings;
use lib 'test/perl';

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZapjobsTest;

my $node = zj_new_node('caps');

my $err = zj_enqueue($node, q{DO $$ BEGIN RAISE EXCEPTION USING MESSAGE = repeat('m', 200000),
	DETAIL = repeat('d', 200000), HINT = repeat('h', 200000); END $$}, max_attempts => 1);
is(zj_wait($node, $err), 'failed', 'the run raising a 200 kB error failed');
is( $node->safe_psql('postgres', qq{
		SELECT octet_length(error_message) <= 8192 AND error_message LIKE 'mmm% [truncated]'
		   AND octet_length(error_detail) <= 8192 AND error_detail LIKE 'ddd% [truncated]'
		   AND octet_length(error_hint) <= 8192 AND error_hint LIKE 'hhh% [truncated]'
		FROM jobs.runs WHERE id = $err}),
	't', 'message, detail and hint are cut to 8 kB and marked');
is( $node->safe_psql('postgres', qq{
		SELECT octet_length(error_message) <= 8192 FROM jobs.attempts WHERE run_id = $err}),
	't', '... in jobs.attempts too');

my $log = zj_enqueue($node, q{SELECT jobs.log('info', repeat('l', 200000))});
is(zj_wait($node, $log), 'completed', 'the run logging a 200 kB line completed');
is( $node->safe_psql('postgres', qq{
		SELECT octet_length(message) <= 2048 AND message LIKE 'lll% [truncated]'
		FROM jobs.logs WHERE run_id = $log}),
	't', 'the log line is cut to 2 kB and marked');

my $out = zj_enqueue($node, q{SELECT jobs.set_output(jsonb_build_object('big', repeat('o', 10000000)))});
is(zj_wait($node, $out), 'completed', 'the run setting a 10 MB output completed');
is( $node->safe_psql('postgres', qq{
		SELECT output->>'truncated' = 'true' AND pg_column_size(output) < 1000
		FROM jobs.runs WHERE id = $out}),
	't', 'the output is replaced by a note of its size');

done_testing();
