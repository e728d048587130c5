# The layout the README's Architecture section describes is the code's:
# every call between server source files goes from a higher floor to a
# lower one (no circles), the file table lists every source file and
# nothing else, and the state machine's transition table says what
# zj_runstate_rules in src/runstate.c says.  Also the size rules: no
# source file over 800 lines, no function over 80.  The command (cmd/) has
# floors and a file table of its own, names each function for its file and
# includes nothing of the server's.
use strict;
use warnings;

use Test::More;

sub slurp
{
	my ($path) = @_;
	open(my $fh, '<', $path) or die "cannot read $path: $!";
	local $/;
	my $text = <$fh>;
	close($fh);
	return $text;
}

# Source without comments and string literals: only code calls.
sub code_of
{
	my ($text) = @_;
	$text =~ s{/\*.*?\*/}{ }gs;
	$text =~ s{"(?:\\.|[^"\\])*"}{""}g;
	return $text;
}

my $readme = slurp('README.md');

# Floors: lines "N  file file ..." in the code block after $marker.
sub floors_of
{
	my ($marker) = @_;
	my ($block) = $readme =~ /\Q$marker\E.*?```\n(.*?)```/s;
	ok(defined $block, "README has the diagram after \"$marker\"");
	my %floor;
	for my $line (split /\n/, $block // '')
	{
		next unless $line =~ /^\s*(\d+)\s+(.*)$/;
		my $n = $1;
		$floor{$_} = $n for split ' ', $2;
	}
	return %floor;
}

# Every call between DIR's files goes to a lower floor.  Functions and
# globals are found by IDENT, a pattern for their names.
sub check_calls
{
	my ($dir, $ident, $floor) = @_;
	my @files = map { m{/(\w+)\.c$}; $1 } glob("$dir/*.c");
	my (%defined_in, %code);
	for my $f (@files)
	{
		my $code = code_of(slurp("$dir/$f.c"));
		$code{$f} = $code;
		while ($code =~ /^(?!static)[A-Za-z][^\n;]*\n($ident)\(/mg)
		{
			$defined_in{$1} = $f;
		}
		while ($code =~ /^(?!static|extern)[A-Za-z][\w \*]*?\b($ident)\s*(?:=[^=][^;]*)?;/mg)
		{
			$defined_in{$1} = $f;
		}
	}
	my @upward;
	for my $f (@files)
	{
		my %seen;
		while ($code{$f} =~ /\b($ident)\b/g)
		{
			my $to = $defined_in{$1};
			next if !defined $to || $to eq $f || $seen{$to}++;
			next if !defined $floor->{$f} || !defined $floor->{$to};
			push @upward, "$f (floor $floor->{$f}) uses $1 of $to (floor $floor->{$to})"
			  if $floor->{$to} >= $floor->{$f};
		}
	}
	is_deeply(\@upward, [], "$dir: every call between files goes to a lower floor");
	return %defined_in;
}

# The server.
my @files = map { m{src/(\w+)\.c$}; $1 } glob('src/*.c');
ok(@files > 20, 'found the server sources');
my %floor = floors_of('floors:');
is_deeply([ sort keys %floor ], [ sort @files ],
	'the floors name every source file once');
check_calls('src', 'zj_\w+', \%floor);

# The file table.
my ($table) = $readme =~ /\| file \| responsibility \|\n(.*?)\n\n/s;
my @listed = ($table // '') =~ m{^\| `src/(\w+)\.c` \|}mg;
is_deeply([ sort @listed ], [ sort @files ],
	'the file table lists every source file once');

# The command: its own floors and table; a function's prefix names its file.
my @cmd_files = map { m{cmd/(\w+)\.c$}; $1 } glob('cmd/*.c');
ok(@cmd_files > 10, 'found the command sources');
my %cmd_floor = floors_of('command floors:');
is_deeply([ sort keys %cmd_floor ], [ sort @cmd_files ],
	"the command's floors name every source file once");
my %cmd_defined = check_calls('cmd', '[a-z]+_\w+', \%cmd_floor);
my @misnamed = grep { index($_, "$cmd_defined{$_}_") != 0 } sort keys %cmd_defined;
is_deeply(\@misnamed, [], "every function of the command is named for its file");
my ($cmd_table) = $readme =~ /\| command file \| responsibility \|\n(.*?)\n\n/s;
my @cmd_listed = ($cmd_table // '') =~ m{^\| `cmd/(\w+)\.c` \|}mg;
is_deeply([ sort @cmd_listed ], [ sort @cmd_files ],
	"the command's file table lists every source file once");
my @cmd_includes = grep { slurp("cmd/$_.c") =~ m{#include "(?:\.\./)?src/|#include "postgres\.h"} } @cmd_files;
is_deeply(\@cmd_includes, [], 'the command shares no code with the server');

# The transition table.
my $runstate = slurp('src/runstate.c');
my ($rules) = $runstate =~ /zj_runstate_rules\[ZJ_TR_COUNT\] = \{\n(.*?)\n\};/s;
my %code_rules;
for my $line (split /\n/, $rules // '')
{
	next unless $line =~ /\{"([^"]+)", ([^,]+), ([^}]+)\}/;
	my ($what, $from, $to) = ($1, $2, $3);
	my $states = sub {
		my ($mask) = @_;
		return '(new run)' if $mask eq '0';
		return join(', ', map { lc } ($mask =~ /S\((\w+)\)/g));
	};
	$code_rules{$what} = [ $states->($from), $states->($to) ];
}
ok(keys %code_rules >= 10, 'read the transitions of zj_runstate_rules');
my ($transitions) = $readme =~ /\| transition \| from \| to \| made by \|\n(.*?)\n\n/s;
my %readme_rules;
while (($transitions // '') =~ /^\| ([a-z' ]+) \| ([a-z_, ()]+) \| ([a-z_, ]+) \| .* \|$/mg)
{
	$readme_rules{$1} = [ $2, $3 ];
}
is_deeply(\%readme_rules, \%code_rules,
	'the README transition table is zj_runstate_rules');

# Sizes.
my @all = ((map { "src/$_.c" } @files), (map { "cmd/$_.c" } @cmd_files));
my @long_files = grep { (() = slurp($_) =~ /\n/g) > 800 } @all;
is_deeply(\@long_files, [], 'no source file over 800 lines');
my @long_functions;
for my $f (@all)
{
	my @lines = split /\n/, slurp($f);
	my $start;
	for my $i (0 .. $#lines)
	{
		$start = $i if $lines[$i] eq '{';
		next unless $lines[$i] eq '}' && defined $start;
		my $j = $start - 1;
		$j-- while $j > 0 && $lines[$j] !~ /\(/;
		push @long_functions, "$f: $lines[$j]" if $i - $start + 1 > 80;
		undef $start;
	}
}
is_deeply(\@long_functions, [], 'no function over 80 lines');

done_testing();
