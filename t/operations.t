# What operators see: mod_dpc's section of server-status (HTML and ?auto)
# while an export runs and after it, and httpd's access log naming the
# organization, credential, dialect, job and file of a request through the
# notes mod_dpc sets.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use DPC::Test qw(req json_of sql sql_rows wait_for slurp);
use DPC::JWT qw(gen_keys);
use DPC::Org;
use DPC::Export qw(make_roster kickoff wait_job while_held);

plan tests => 14;

my $dir = tempdir(CLEANUP => 1);
gen_keys($dir, op1 => 'ec');
my $org = DPC::Org->new(name => 'Operations Clinic', key_path => "$dir/op1", alg => 'ES384');
my $tok = $org->access_token;
my @mbis = sql_rows('SELECT mbi FROM beneficiary ORDER BY mbi LIMIT 12 OFFSET 10');
my $gid = make_roster($org, $tok, '1467545079', @mbis);

# key: value lines of /server-status?auto
sub status_auto {
    my $res = req(GET => '/server-status?auto');
    return map { /^(DPC\w+): (.*)$/ ? ($1 => $2) : () } split /\n/, $res->content;
}

my %s;
my ($job) = while_held($tok, $gid, sub { %s = status_auto(); ($s{DPCJobsRunning} // 0) >= 1 });
ok t_cmp($s{DPCJobsRunning}, qr/^[1-9]/, 'while a worker holds a batch, server-status counts a running job');
ok t_cmp($s{DPCWorkersAlive}, qr/^[1-9]/, 'and the worker alive');
ok t_cmp($s{DPCWorkersAliveHere}, $s{DPCWorkersAlive}, 'on this host');
ok t_cmp($s{DPCOldestRunningJobSeconds}, qr/^\d+$/, 'and the age of the oldest running job');
my $res = wait_job($tok, $job, 60);
ok t_cmp($res->code, 200, 'the export completes');
my $m = json_of($res);
%s = status_auto();
ok t_cmp($s{DPCJobsCompletedLastHour}, qr/^[1-9]/, 'then it counts among those completed in the last hour');
my $bytes = sql("SELECT sum(bytes) FROM export_file WHERE job_id = '$job'");
ok t_cmp($s{DPCBytesWrittenLastHour} >= $bytes, 1, "bytes written include the job's ($bytes)");
ok t_cmp($s{DPCBatchesPerSecond} > 0, 1, 'batches per second over the last minute');
# A running job that no worker has claimed a batch of is queued: one made
# here has no batch at all, so it stays queued until it is removed.
my $queued = $s{DPCJobsQueued};
my $fake = sql("INSERT INTO export_job (org_id, fhir_version, request_url, types, dialect,
                resources_per_file, gzip, file_lifetime)
                VALUES ('$org->{id}', 4, 'http://x/', '{Patient}', 'dpc-v2', 10, false, '1 hour')
                RETURNING id");
%s = status_auto();
sql("DELETE FROM export_job WHERE id = '$fake'");
ok t_cmp($s{DPCJobsQueued}, $queued + 1, 'a job whose batches no worker has claimed counts as queued');

my $html = req(GET => '/server-status')->content;
ok t_cmp($html, qr{<h2>mod_dpc exports</h2>.*jobs completed in the last hour</td><td>[1-9]}s,
         'the HTML page has the same section');

# --- the access log's notes ---------------------------------------------------------------
my $f = $m->{output}[0];
my ($name) = $f->{url} =~ m{/([^/]+)$};
ok t_cmp(req(GET => $f->{url}, Authorization => "Bearer $tok")->code, 200, 'a download');
my $log = Apache::Test::vars('serverroot') . '/logs/dpc_access.log';
my $line;
wait_for(5, sub { ($line) = grep { m{GET \S+/\Q$name\E } } split /\n/, slurp($log); $line });
my $count = $f->{count};
ok t_cmp($line, qr{ 200 \d+ org=$org->{id} credential=$org->{client_token_id} dialect=dpc-v2 job=$job file=\Q$name\E resources=$count$},
         'its access log line names the organization, credential, dialect, job, file and resources');
($line) = grep { m{GET /api/v2/Jobs/$job } } split /\n/, slurp($log);
ok t_cmp($line, qr{ org=$org->{id} credential=\S+ dialect=dpc-v2 job=$job file=- },
         'a status request names the job');
($line) = grep { m{POST /api/v2/Token/auth } && / org=$org->{id} / } split /\n/, slurp($log);
ok t_cmp($line, qr{ 200 \d+ org=$org->{id} credential=$org->{client_token_id} dialect=dpc-v2 },
         'a token request names the organization and the client token');
