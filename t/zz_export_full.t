# Disk full mid-export: the job fails with a clear error, no partial file is
# ever listed or left behind, the failed job's files go, and once there is
# room again the same export completes with every resource exactly once.
# Needs the export root on a small filesystem of its own: build/test mounts
# a tmpfs there when it runs as root, and says so in DPC_TEST_EXPORT_FS.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Digest::SHA;
use File::Temp qw(tempdir);
use DPC::Test qw(req sql sql_rows wait_for json_of oo_code run);
use DPC::JWT qw(gen_keys);
use DPC::Org;
use DPC::Export qw(make_roster kickoff wait_job tally stored_counts counts_of);

my $root = $ENV{DPC_TEST_EXPORT} // '';
plan tests => 11, (($ENV{DPC_TEST_EXPORT_FS} // '') eq 'tmpfs' ? 1
    : skip_reason('the export root is not a filesystem of its own (build/test mounts a tmpfs as root)'));

my $dir = tempdir(CLEANUP => 1);
gen_keys($dir, f1 => 'ec');
my $a = DPC::Org->new(name => 'Full', key_path => "$dir/f1", alg => 'ES384');
my $tok = $a->access_token;
my @mbis = sql_rows('SELECT mbi FROM beneficiary ORDER BY mbi LIMIT 24 OFFSET 3');
my $gid = make_roster($a, $tok, '1407051949', @mbis);

# Leave room for a few batches (of 3 beneficiaries, ~5 MB with the gzip
# twins), not for the whole export (~35 MB).
my ($st, $out) = run('df', '-B1', '--output=avail', $root);
my ($avail) = $out =~ /(\d+)\s*$/;
my $filler = "$root/filler";
($st) = run('fallocate', '-l', $avail - 10 * 1024 * 1024, $filler);
ok t_cmp($st, 0, 'the export volume is filled up to its last 10 MB');

my $job = kickoff($tok, $gid);
my $res = wait_job($tok, $job, 60);
ok t_cmp($res->code . ' ' . oo_code($res), '500 exception', 'the job fails: 500 OperationOutcome');
my $why = (json_of($res) // {})->{issue}[0]{diagnostics} // '';
ok t_cmp($why, qr/No space left on device/, 'saying the disk is full');
ok t_cmp(sql("SELECT status FROM export_job WHERE id = '$job'"), 'failed', 'recorded as failed');

# Whatever was recorded is whole; nothing else is in the job's directory.
my (%listed, %gz);
for (sql_rows("SELECT name, bytes, sha256, coalesce(gz_name, ''), coalesce(gz_bytes, 0)
               FROM export_file WHERE job_id = '$job'")) {
    my ($n, $b, $s, $gn, $gb) = split /\|/;
    $listed{$n} = [$b, $s];
    $gz{$gn} = $gb if $gn ne '';
}
my @present = -d "$root/$job" ? do { opendir(my $d, "$root/$job"); grep { !/^\.\.?$/ } readdir $d } : ();
my @bad;
for my $n (@present) {
    if (exists $gz{$n}) {
        push @bad, "$n: partial twin" unless -s "$root/$job/$n" == $gz{$n};
        next;
    }
    my $l = $listed{$n} or do { push @bad, "$n: not listed"; next };
    my $sum = Digest::SHA->new(256)->addfile("$root/$job/$n")->hexdigest;
    push @bad, "$n: partial" unless -s "$root/$job/$n" == $l->[0] && $sum eq $l->[1];
}
ok t_cmp(join(', ', @bad), '', 'no partial, temporary or unlisted file is left');
my %here = map { $_ => 1 } @present;
ok t_cmp(scalar(keys %listed) . ' listed, ' . scalar(grep { !$here{$_} } keys %listed) . ' missing',
         qr/^[1-9]\d* listed, 0 missing$/, 'batches done before the disk filled are listed, and there whole');
ok t_cmp(wait_for(40, sub { sql("SELECT files_removed FROM export_job WHERE id = '$job'") eq 't' })
         && !-e "$root/$job" ? 1 : 0, 1, "the failed job's files are removed");

# Room again: the same export completes, every resource exactly once.
unlink $filler;
$job = kickoff($tok, $gid);
$res = wait_job($tok, $job, 60);
ok t_cmp($res->code, 200, 'with room again the export completes');
my ($lines, $dups) = tally($tok, json_of($res) // {});
my $db = stored_counts(@mbis);
ok t_cmp(counts_of($lines), counts_of($db), 'every resource of every type');
ok t_cmp($dups, 0, 'none twice');
ok t_cmp(sql("SELECT count(*) FROM export_job WHERE org_id = '$a->{id}' AND status = 'failed'"), 1,
         'and only the first job failed');
