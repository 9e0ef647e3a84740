# A graceful restart of httpd mid-export: the old generation's worker stops
# (putting its batch back), the new generation's worker carries on, and the
# job completes with every resource exactly once.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use DPC::Test qw(req sql sql_rows wait_for json_of);
use DPC::JWT qw(gen_keys);
use DPC::Org;
use DPC::Export qw(make_roster wait_job tally stored_counts while_held counts_of);

plan tests => 6;

my $dir = tempdir(CLEANUP => 1);
gen_keys($dir, r1 => 'ec');
my $a = DPC::Org->new(name => 'Graceful', key_path => "$dir/r1", alg => 'ES384');
my $tok = $a->access_token;
my @mbis = sql_rows('SELECT mbi FROM beneficiary ORDER BY mbi DESC LIMIT 24');
my $gid = make_roster($a, $tok, '1174526925', @mbis);
open(my $pf, '<', Apache::Test::vars('t_logs') . '/httpd.pid') or die "pid: $!";
chomp(my $httpd = <$pf>);
close $pf;

my $live = q{SELECT pid FROM worker WHERE stopped_at IS NULL AND host <> 'gone.example'
             AND heartbeat > now() - interval '20 seconds' ORDER BY started_at DESC LIMIT 1};
# Restart while the worker holds a batch.
my $old = sql($live);
my ($job, $held) = while_held($tok, $gid, sub { kill('USR1', $httpd) });
ok t_cmp($held ? 1 : 0, 1, 'graceful restart while the worker held a batch');
ok t_cmp(wait_for(15, sub { !kill(0, $old) }) ? 1 : 0, 1, "the old generation's worker ended");
Apache::TestRequest::user_agent(reset => 1, keep_alive => 0);
# well within the 30 s after which a stale batch would be claimed again:
# the stopping worker put its batch back itself
my $res = wait_job($tok, $job, 20);
ok t_cmp($res->code, 200, 'the job completes, well before a stale batch would be reclaimed');
ok t_cmp(sql("SELECT pid FROM worker WHERE id IN (SELECT worker_id FROM export_batch
              WHERE job_id = '$job') AND pid <> $old LIMIT 1") ? 1 : 0, 1,
         "the new generation's worker did some of it");

my ($lines, $dups) = tally($tok, json_of($res) // {});
my $db = stored_counts(@mbis);
ok t_cmp(counts_of($lines), counts_of($db), 'every resource of every type');
ok t_cmp($dups, 0, 'none twice');
