# The output options of the Bulk Data IG's next version on BCDA v1 and v2
# (the bcda virtual host): allowPartialManifests (202 with the files so far
# while a job runs, in pages of 4 linked by "next"; files at
# /data/{job}/{uuid}.ndjson download as soon as they are listed) and
# organizeOutputBy=Patient.  BCDA has no lenient handling: a bad value is
# always 400, and makes no job.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestRequest ();
use Apache::TestUtil;
use Digest::SHA qw(sha256_hex);
use MIME::Base64 qw(encode_base64);
use JSON::PP ();
use DPC::Test qw(req json_of sql dpcctl wait_for);

plan tests => 17;

Apache::TestRequest::module('bcda');
sub ctl { my ($st, $out) = dpcctl(@_); return $st ? {} : JSON::PP->new->decode($out) }
ctl('aco', 'create', '--cms-id', 'A9951', '--name', 'Partial ACO');
my $c = ctl('credential', 'create', '--aco', 'A9951');
ctl('attribution', 'load', '--aco', 'A9951', '--synthetic', '15', '--offset', '0');
my $tok = JSON::PP->new->decode(req(POST => '/auth/token', Accept => 'application/json',
    Authorization => 'Basic ' . encode_base64("$c->{client_id}:$c->{client_secret}", ''))->content)->{access_token};
my %auth = (Authorization => "Bearer $tok");
my %kick = (%auth, Accept => 'application/fhir+json', Prefer => 'respond-async');
my $org = sql("SELECT id FROM organization WHERE cms_id = 'A9951'");
sub path_of { my ($u) = @_; ($u // '') =~ s{^https?://[^/]+}{}r }
sub num_of { my ($res) = @_; (($res->header('Content-Location') // '') =~ m{/jobs/(\d+)$})[0] // 0 }
sub finished { my ($n) = @_; wait_for(60, sub { sql("SELECT status FROM export_job WHERE number = $n") ne 'running' }) }

# --- bad values: 400, no job --------------------------------------------------------------
my $jobs0 = sql("SELECT count(*) FROM export_job WHERE org_id = '$org'");
my $res = req(GET => '/api/v2/Group/all/$export?organizeOutputBy=Coverage', %kick);
ok t_cmp($res->code . '|' . ((json_of($res) // {})->{issue}[0]{diagnostics} // ''),
         qr/^400\|organizeOutputBy=Coverage is not supported/, 'organizeOutputBy=Coverage: 400 naming it');
$res = req(GET => '/api/v1/Patient/$export?allowPartialManifests=1', %kick,
           Prefer => 'respond-async, handling=lenient');
ok t_cmp($res->code . '|' . ((json_of($res) // {})->{issue}[0]{diagnostics} // ''),
         qr/^400\|allowPartialManifests must be true or false/, 'allowPartialManifests=1: 400, lenient or not');
ok t_cmp(sql("SELECT count(*) FROM export_job WHERE org_id = '$org'"), $jobs0, 'no job was made');

# --- v1: organized by Patient -------------------------------------------------------------
# (v1's files are encrypted by default, t/bcda/encrypt.t: these are read
# plain, from /plain/api/v1)
$res = req(GET => '/plain/api/v1/Group/all/$export?organizeOutputBy=Patient&_type=Patient,Coverage', %kick);
my $n = num_of($res);
ok t_cmp($res->code, 202, 'v1 Group/all organized by Patient: 202');
finished($n);
$res = req(GET => "/api/v1/jobs/$n", %auth);
my $m = json_of($res) // {};
ok t_cmp(join('|', $res->code, $m->{outputOrganizedBy} // '-', $m->{JobID} // '-',
              scalar(grep { exists $_->{type} } @{ $m->{output} // [] })),
         "200|Patient|$n|0", 'the manifest: outputOrganizedBy, JobID, output entries without type');
my ($whole, $files) = (1, 0);
for my $f (@{ $m->{output} // [] }) {
    my $body = req(GET => path_of($f->{url}), %auth)->content;
    $files++;
    my @lines = split /\n/, $body;
    $whole = 0 unless @lines && $lines[0] =~ /^\{"resourceType":"Patient"/;
    # every Coverage follows its own Patient
    my $cur = '';
    for (@lines) {
        if (/^\{"resourceType":"Patient","id":"([^"]+)"/) { $cur = $1; next }
        $whole = 0 unless /"reference":"Patient\/\Q$cur\E"/;
    }
}
ok t_cmp("$whole " . ($files > 1 ? 'several' : $files), '1 several',
         "each file ($files) starts with a Patient, each resource after its own Patient");

# --- v2: partial manifests while a job runs -------------------------------------------------
sub hold_batches {
    my ($job) = @_;
    open(my $tx, '|-', 'psql', '-X', '-qAt', '-v', 'ON_ERROR_STOP=1', '-o', '/dev/null',
         '-d', $ENV{DPC_TEST_DB}) or die "psql: $!";
    $tx->autoflush(1);
    print $tx "BEGIN; SELECT seq FROM export_batch WHERE job_id = '$job' AND status = 'pending'"
            . " AND seq = (SELECT max(seq) FROM export_batch WHERE job_id = '$job') FOR UPDATE;\n";
    wait_for(10, sub { sql("SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'"
                           . " AND query LIKE 'BEGIN; SELECT seq FROM export_batch%'") });
    return $tx;
}
my ($tx, $job);
for my $try (1 .. 5) {
    $res = req(GET => '/api/v2/Group/all/$export?allowPartialManifests=true', %kick);
    $n = num_of($res);
    $job = sql("SELECT id FROM export_job WHERE number = $n");
    $tx = hold_batches($job);
    wait_for(60, sub { sql("SELECT count(*) FROM export_batch WHERE job_id = '$job' AND status <> 'done'") <= 1 });
    last if sql("SELECT status FROM export_batch WHERE job_id = '$job' ORDER BY seq DESC LIMIT 1") eq 'pending';
    close $tx;
    req(DELETE => "/api/v2/jobs/$n", %auth);
}
$res = req(GET => "/api/v2/jobs/$n", %auth);
$m = json_of($res) // {};
my @listed = (@{ $m->{output} // [] }, @{ $m->{error} // [] });
ok t_cmp(join('|', $res->code, $res->header('X-Progress') // '', scalar(@listed)),
         qr/^202\|In Progress \(\d+%\)\|4$/, 'running: 202, X-Progress in BCDA words, a full page');
ok t_cmp(path_of(($m->{link} // [])->[0]{url}), "/api/v2/jobs/$n?page=2", 'linking ?page=2');
ok t_cmp($m->{JobID} // '', $n, 'the page has JobID');
my $first = $m->{output}[0]{url} // '';
ok t_cmp($first, qr{/data/$n/[0-9a-f-]{36}\.ndjson$}, 'files at /data/{job}/{uuid}.ndjson');
$res = req(GET => path_of($first), %auth);
ok t_cmp($res->code, 200, 'a listed file of the running job downloads');
print $tx "ROLLBACK;\n";
close $tx;
sql("SELECT pg_notify('dpc_jobs', '$job')");
finished($n);
my ($codes, $pages, %urls) = ('', 0);
my $next = "/api/v2/jobs/$n";
while ($next && $pages++ < 100) {
    my $r = req(GET => path_of($next), %auth);
    $codes .= $r->code eq '200' ? '' : $r->code . ' ';
    my $p = json_of($r) // {};
    $urls{$_->{url}}++ for @{ $p->{output} // [] }, @{ $p->{error} // [] };
    $next = ($p->{link} // [])->[0]{url};
}
my $total = sql("SELECT count(*) FROM export_file WHERE job_id = '$job'");
ok t_cmp($codes, '', "completed: every page ($pages) on 200");
ok t_cmp(scalar(keys %urls) . ' ' . (grep { $_ > 1 } values %urls), "$total 0", "all $total files, once each");
ok t_cmp($urls{$first} ? 1 : 0, 1, 'including those seen while it ran');

# without allowPartialManifests, nothing changes: 202 without a body, and
# no file before the job completes
for my $try (1 .. 5) {
    $res = req(GET => '/api/v2/Group/all/$export', %kick);
    $n = num_of($res);
    $job = sql("SELECT id FROM export_job WHERE number = $n");
    $tx = hold_batches($job);
    wait_for(60, sub { sql("SELECT count(*) FROM export_batch WHERE job_id = '$job' AND status <> 'done'") <= 1 });
    last if sql("SELECT status FROM export_batch WHERE job_id = '$job' ORDER BY seq DESC LIMIT 1") eq 'pending';
    close $tx;
    req(DELETE => "/api/v2/jobs/$n", %auth);
}
$res = req(GET => "/api/v2/jobs/$n", %auth);
ok t_cmp($res->code . '|' . length($res->content), '202|0', 'a job without partial manifests: 202, no body');
my $name = sql("SELECT name FROM export_file WHERE job_id = '$job' LIMIT 1");
ok t_cmp(($name ? 'listed ' : 'none ') . req(GET => "/data/$n/$name", %auth)->code, 'listed 404',
         'its files finished so far are not served');
print $tx "ROLLBACK;\n";
close $tx;
sql("SELECT pg_notify('dpc_jobs', '$job')");
finished($n);
ok t_cmp(req(GET => "/data/$n/$name", %auth)->code, 200, 'until it completes');
