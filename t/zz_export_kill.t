# An export survives its worker being killed with SIGKILL mid-way: the
# worker is respawned, the batch it held is claimed again, and every
# resource is in the output exactly once.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use DPC::Test qw(req sql sql_rows wait_for json_of);
use DPC::JWT qw(gen_keys);
use DPC::Org;
use DPC::Export qw(make_roster wait_job tally stored_counts while_held counts_of);

plan tests => 7;

my $dir = tempdir(CLEANUP => 1);
gen_keys($dir, k1 => 'ec');
my $a = DPC::Org->new(name => 'Kill', key_path => "$dir/k1", alg => 'ES384');
my $tok = $a->access_token;
# at most DPCRosterCap (25 in the test configuration)
my @mbis = sql_rows('SELECT mbi FROM beneficiary ORDER BY mbi LIMIT 24');
my $gid = make_roster($a, $tok, '1245319599', @mbis);

my $live = q{SELECT pid FROM worker WHERE stopped_at IS NULL AND host <> 'gone.example'
             AND heartbeat > now() - interval '20 seconds' ORDER BY started_at DESC LIMIT 1};
# Kill the worker while it holds a batch.
my $pid = sql($live);
my ($job, $held) = while_held($tok, $gid, sub { kill('KILL', $pid) });
ok t_cmp($job ? 1 : 0, 1, 'kick-off');
ok t_cmp($held ? 1 : 0, 1, 'the worker was killed while it held a batch');
my $res = wait_job($tok, $job, 90);
ok t_cmp($res->code, 200, 'the job completes anyway');
ok t_cmp(sql("SELECT count(DISTINCT worker_id) FROM export_batch WHERE job_id = '$job'") >= 1
         && sql($live) != $pid ? 1 : 0, 1, 'done by the respawned worker');

my ($lines, $dups) = tally($tok, json_of($res) // {});
my $db = stored_counts(@mbis);
ok t_cmp(counts_of($lines), counts_of($db), 'every resource of every type');
ok t_cmp($dups, 0, 'none twice');
# What the killed worker left behind (its temp file, a part it published
# but never recorded) is gone once the job completes: the directory holds
# exactly the files the job lists.
my %listed = map { $_ => 1 } sql_rows("SELECT name FROM export_file WHERE job_id = '$job'"
    . " UNION ALL SELECT gz_name FROM export_file WHERE job_id = '$job' AND gz_name IS NOT NULL");
# "unlisted: ...; missing: ..." of the job directory against what it lists
my $differs = sub {
    opendir(my $dh, "$ENV{DPC_TEST_EXPORT}/$job") or return "no directory: $!";
    my %disk = map { $_ => 1 } grep { !/^\.\.?$/ } readdir $dh;
    closedir $dh;
    return 'unlisted: ' . (join(' ', sort grep { !$listed{$_} } keys %disk) || 'none')
         . '; missing: ' . (join(' ', sort grep { !$disk{$_} } keys %listed) || 'none');
};
wait_for(5, sub { $differs->() eq 'unlisted: none; missing: none' });
ok t_cmp($differs->(), 'unlisted: none; missing: none',
         'the job directory holds exactly the files the job lists');
