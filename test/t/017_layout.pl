# The layout the README's Architecture section describes is the code's:
# every call between server source files goes from a higher floor to a
# lower one (no circles), the file table lists every source file and
# nothing else, and the state machine's transition table says what
# zj_runstate_rules in src/runstate.c says.  Also the size rules: no
# server source file over 800 lines, no function over 80.
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
my @files = map { m{src/(\w+)\.c$}; $1 } glob('src/*.c');
ok(@files > 20, 'found the server sources');

# Floors: lines "N  file file ..." in the code block after "floors".
my ($floors_block) = $readme =~ /floors:.*?```\n(.*?)```/s;
ok(defined $floors_block, 'README has the floors diagram');
my %floor;
for my $line (split /\n/, $floors_block // '')
{
	next unless $line =~ /^\s*(\d+)\s+(.*)$/;
	my $n = $1;
	$floor{$_} = $n for split ' ', $2;
}
is_deeply([ sort keys %floor ], [ sort @files ],
	'the floors name every source file once');

# Which file defines which external function (and global variable).
my (%defined_in, %code);
for my $f (@files)
{
	my $code = code_of(slurp("src/$f.c"));
	$code{$f} = $code;
	while ($code =~ /^(?!static)[A-Za-z][^\n;]*\n(zj_\w+)\(/mg)
	{
		$defined_in{$1} = $f;
	}
	while ($code =~ /^(?!static|extern)[A-Za-z][\w \*]*?\b(zj_\w+)\s*(?:=[^=][^;]*)?;/mg)
	{
		$defined_in{$1} = $f;
	}
}

my @upward;
for my $f (@files)
{
	my %seen;
	while ($code{$f} =~ /\b(zj_\w+)\b/g)
	{
		my $to = $defined_in{$1};
		next if !defined $to || $to eq $f || $seen{$to}++;
		next if !defined $floor{$f} || !defined $floor{$to};
		push @upward, "$f (floor $floor{$f}) uses $1 of $to (floor $floor{$to})"
		  if $floor{$to} >= $floor{$f};
	}
}
is_deeply(\@upward, [], 'every call between files goes to a lower floor');

# The file table.
my ($table) = $readme =~ /\| file \| responsibility \|\n(.*?)\n\n/s;
my @listed = ($table // '') =~ m{^\| `src/(\w+)\.c` \|}mg;
is_deeply([ sort @listed ], [ sort @files ],
	'the file table lists every source file once');

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
my @long_files = grep { (() = slurp("src/$_.c") =~ /\n/g) > 800 } @files;
is_deeply(\@long_files, [], 'no source file over 800 lines');
my @long_functions;
for my $f (@files)
{
	my @lines = split /\n/, slurp("src/$f.c");
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
