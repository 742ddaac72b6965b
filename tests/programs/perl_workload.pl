# perl_workload.pl -- workload for perl.sh: a hash of 200k keys, regexes,
# sort, join, split, sprintf, nested data, string repetition.  Output is
# deterministic (hash order never printed) and compared with
# perl_workload.expected and with a run without the preload.
use strict;
use warnings;

my %h;
for my $i (0 .. 199_999) {
    $h{"key$i"} = $i * 3;
}
my $sum = 0;
$sum += $_ for values %h;
print "hash ", scalar(keys %h), " $sum\n";
delete $h{"key$_"} for grep { $_ % 2 } 0 .. 199_999;
$sum = 0;
$sum += $_ for values %h;
print "hash-after-delete ", scalar(keys %h), " $sum\n";

# Regexes over the keys.
my @sevens = grep { /^key\d*7\d*8$/ } keys %h;
my $digits = 0;
for my $k (keys %h) {
    $digits += () = $k =~ /(\d)/g;
}
print "regex ", scalar(@sevens), " $digits\n";
(my $text = join(",", map { "item$_=" . ($_ * $_ % 997) } 0 .. 49_999)) =~ s/item(\d+)=0,/ZERO($1),/g;
my $zeros = () = $text =~ /ZERO\(\d+\)/g;
print "subst ", length($text), " $zeros\n";

# Sorting: numeric, string, by computed key (Schwartzian transform).
my $x = 12345;
my @nums = map { $x = ($x * 1103515245 + 12345) % 2147483648; $x % 1_000_000 } 1 .. 100_000;
my @sorted = sort { $a <=> $b } @nums;
my @strs = sort map { "s$_" } @nums[0 .. 19_999];
my @st = map { $_->[1] } sort { $a->[0] <=> $b->[0] or $a->[1] cmp $b->[1] }
    map { [ length($_) * 1000 + ord(substr($_, -1)), $_ ] } @strs;
my $check = 0;
$check = ($check * 31 + $sorted[$_]) % 1_000_000_007 for 0 .. $#sorted;
print "sort $sorted[0] $sorted[-1] $check $strs[0] $strs[-1] $st[0] $st[-1]\n";

# join / split / sprintf.
my $joined = join("|", map { sprintf("%05d:%x", $_, $_ * 31) } 0 .. 29_999);
my @fields = split /\|/, $joined;
my ($n, $hex) = split /:/, $fields[12345];
print "join ", length($joined), " ", scalar(@fields), " $n $hex\n";

# Nested data structures.
my %tree;
for my $i (0 .. 19_999) {
    push @{ $tree{ $i % 97 }{ $i % 13 } }, [ $i, "v$i" x ($i % 4) ];
}
my ($leaves, $len) = (0, 0);
for my $a (values %tree) {
    for my $b (values %$a) {
        for my $leaf (@$b) {
            $leaves++;
            $len += length($leaf->[1]);
        }
    }
}
print "nested ", scalar(keys %tree), " $leaves $len\n";

# Strings growing and shrinking.
my $s = "";
$s .= chr(97 + $_ % 26) for 0 .. 99_999;
my $rev = reverse $s;
my $count = ($s x 3) =~ tr/a//;
print "string ", length($s), " ", substr($rev, 0, 10), " $count\n";
print "done\n";
