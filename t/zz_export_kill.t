# An export survives its worker being killed with SIGKILL mid-way: the
# worker is respawned, the batch it held is claimed again, and every
# resource is in the output exactly once.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use JSON::PP;
use Time::HiRes qw(sleep);
use DPC::Test qw(req json_of sql wait_for);
use DPC::JWT qw(gen_keys);
use DPC::Org;

plan tests => 8;

my $dir = tempdir(CLEANUP => 1);
gen_keys($dir, k1 => 'ec');
my $a = DPC::Org->new(name => 'Kill', key_path => "$dir/k1", alg => 'ES384');
my $json = JSON::PP->new->canonical;
my $tok = $a->access_token;
my %ha = (Authorization => "Bearer $tok", 'Content-Type' => 'application/fhir+json');
sub post { my ($path, $body, %h) = @_; req(POST => $path, %h, content => $json->encode($body)) }

# at most DPCRosterCap (25 in the test configuration)
my @mbis = DPC::Test::sql_rows('SELECT mbi FROM beneficiary ORDER BY mbi LIMIT 24');
my $pr = json_of(post('/api/v2/Practitioner', { resourceType => 'Practitioner',
    identifier => [{ system => 'http://hl7.org/fhir/sid/us-npi', value => '1245319599' }],
    name => [{ family => 'Doe', given => ['Jo'] }] }, %ha));
my $prov = $json->encode({ resourceType => 'Provenance', recorded => '2026-01-01T00:00:00Z',
    reason => [{ coding => [{ system => 'http://hl7.org/fhir/v3/ActReason', code => 'TREAT' }] }],
    agent => [{ role => [{ coding => [{ system => 'http://hl7.org/fhir/v3/RoleClass', code => 'AGNT' }] }],
                who => { reference => "Organization/$a->{id}" },
                onBehalfOf => { reference => "Practitioner/$pr->{id}" } }] });
my $g = json_of(post('/api/v2/Group', { resourceType => 'Group', type => 'person', actual => JSON::PP::true,
    member => [map { { entity => { identifier => { system => 'http://hl7.org/fhir/sid/us-mbi', value => $_ } },
        extension => [{ url => 'http://hl7.org/fhir/us/davinci-atr/StructureDefinition/ext-attributedProvider',
                        valueReference => { identifier => { system => 'http://hl7.org/fhir/sid/us-npi',
                                                            value => '1245319599' } } }] } } @mbis] },
    %ha, 'X-Provenance' => $prov));

my $live = q{SELECT pid FROM worker WHERE stopped_at IS NULL AND host <> 'gone.example'
             AND heartbeat > now() - interval '20 seconds' ORDER BY started_at DESC LIMIT 1};
# Kick off and kill the worker while it holds a batch; should the export be
# over before a batch is seen held, cancel it and try again.
my ($job, $held, $pid);
for my $try (1 .. 5) {
    $pid = sql($live);
    my $res = req(GET => "/api/v2/Group/$g->{id}/\$export", Authorization => "Bearer $tok",
                  Prefer => 'respond-async');
    ($job) = ($res->header('Content-Location') // '') =~ m{/Jobs/(.+)$};
    # wait until a batch is held, or the job is over already
    wait_for(10, sub { sql("SELECT count(*) FROM export_batch WHERE job_id = '$job'
        AND status = 'running'") > 0 || sql("SELECT status FROM export_job WHERE id = '$job'") ne 'running' });
    $held = sql("SELECT count(*) FROM export_batch WHERE job_id = '$job' AND status = 'running'") > 0;
    last if $held && kill('KILL', $pid);
    req(DELETE => "/api/v2/Jobs/$job", Authorization => "Bearer $tok");
}
ok t_cmp($job ? 1 : 0, 1, 'kick-off');
ok t_cmp($held ? 1 : 0, 1, 'the worker was killed while it held a batch');
my $m = wait_for(90, sub {
    my $r = req(GET => "/api/v2/Jobs/$job", Authorization => "Bearer $tok");
    $r->code == 200 ? json_of($r) : undef });
ok t_cmp($m ? 1 : 0, 1, 'the job completes anyway');
ok t_cmp(sql("SELECT count(DISTINCT worker_id) FROM export_batch WHERE job_id = '$job'") >= 1
         && sql($live) != $pid ? 1 : 0, 1, 'done by the respawned worker');

my (%lines, %ids, $dups);
for my $f (@{ $m->{output} // [] }) {
    my $body = req(GET => $f->{url}, Authorization => "Bearer $tok")->content;
    for my $line (split /\n/, $body) {
        my ($type, $id) = $line =~ /^\{"resourceType":"(\w+)","id":"([^"]+)"/ or next;
        $lines{$type}++;
        $dups++ if $ids{"$type/$id"}++;
    }
}
my $in = join ',', map { "'$_'" } @mbis;
my %db = map { split /\|/ } DPC::Test::sql_rows("SELECT resource_type, count(*) FROM claims_resource
    WHERE fhir_version = 4 AND mbi IN ($in) GROUP BY resource_type");
for my $t (qw(Patient Coverage ExplanationOfBenefit)) {
    ok t_cmp($lines{$t} // 0, $db{$t}, "$t: every resource") if $t ne 'Coverage';
}
ok t_cmp($dups // 0, 0, 'none twice');
ok t_cmp($lines{Coverage} // 0, $db{Coverage}, 'Coverage: every resource');
