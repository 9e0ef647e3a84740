# Patient/{id}/$everything: the patient's claims data from the claims
# store, in the dialect's FHIR version, with _since, only while attributed.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use JSON::PP;
use DPC::Test qw(req json_of oo_code sql provenance);
use DPC::JWT qw(gen_keys);
use DPC::Org;

plan tests => 16;

my $dir = tempdir(CLEANUP => 1);
gen_keys($dir, e1 => 'ec', e2 => 'ec');
my $a = DPC::Org->new(name => 'Everything A', key_path => "$dir/e1", alg => 'ES384');
my $b = DPC::Org->new(name => 'Everything B', key_path => "$dir/e2", alg => 'ES384');
my $json = JSON::PP->new->canonical;
my %ha = (Authorization => 'Bearer ' . $a->access_token, 'Content-Type' => 'application/fhir+json');
my %hb = (Authorization => 'Bearer ' . $b->access_token);
sub post { my ($path, $body, %h) = @_; req(POST => $path, %h, content => $json->encode($body)) }

# a beneficiary of the claims store with claims
my $mbi = sql(q{SELECT mbi FROM claims_resource WHERE resource_type = 'ExplanationOfBenefit'
                GROUP BY mbi ORDER BY count(*) DESC LIMIT 1});
my $pr = json_of(post('/api/v2/Practitioner', { resourceType => 'Practitioner',
    identifier => [{ system => 'http://hl7.org/fhir/sid/us-npi', value => '1003000126' }],
    name => [{ family => 'Doe', given => ['Jo'] }] }, %ha));
my $pt = json_of(post('/api/v2/Patient', { resourceType => 'Patient',
    identifier => [{ system => 'http://hl7.org/fhir/sid/us-mbi', value => $mbi }],
    name => [{ family => 'Roe', given => ['Al'] }], birthDate => '1950-01-01' }, %ha));
my $prov = provenance($a->{id}, $pr->{id});
my $group = { resourceType => 'Group', type => 'person', actual => JSON::PP::true,
    characteristic => [{ code => { coding => [{ code => 'attributed-to' }] },
        valueCodeableConcept => { coding => [{ system => 'http://hl7.org/fhir/sid/us-npi',
                                               code => '1003000126' }] } }],
    member => [{ entity => { reference => "Patient/$pt->{id}" } }] };
my $url = "/api/v2/Patient/$pt->{id}/\$everything";

my $res = req(GET => $url, %ha);
ok t_cmp($res->code . ' ' . oo_code($res), '403 forbidden', 'not attributed: 403');

my $g = json_of(post('/api/v2/Group', $group, %ha, 'X-Provenance' => $prov));
$res = req(GET => $url, %ha);
ok t_cmp($res->code, 200, 'attributed: 200');
my $bundle = json_of($res);
ok t_cmp(defined $bundle ? 1 : 0, 1, 'valid JSON');
my $r4 = sql("SELECT count(*) FROM claims_resource WHERE mbi = '$mbi' AND fhir_version = 4");
ok t_cmp($bundle->{total}, $r4, 'every R4 resource of the beneficiary');
ok t_cmp(scalar @{ $bundle->{entry} }, $r4, 'as entries');
my %types = map { ($_->{resource}{resourceType} => 1) } @{ $bundle->{entry} };
ok t_cmp(join(',', sort keys %types), 'Coverage,ExplanationOfBenefit,Patient', 'of the three types');
ok t_cmp($bundle->{entry}[0]{resource}{resourceType}, 'Patient', 'Patient first');
my $stored = sql("SELECT body FROM claims_resource WHERE mbi = '$mbi' AND fhir_version = 4
                  AND resource_type = 'Patient'");
ok t_cmp($res->content =~ /\Q$stored\E/ ? 1 : 0, 1, 'bodies exactly as stored');

$res = req(GET => "/api/v1/Patient/$pt->{id}/\$everything", %ha);
ok t_cmp(json_of($res)->{total},
         sql("SELECT count(*) FROM claims_resource WHERE mbi = '$mbi' AND fhir_version = 3"),
         'v1: the STU3 resources');

my $since = sql("SELECT to_char(percentile_disc(0.5) WITHIN GROUP (ORDER BY last_updated)
                 AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')
                 FROM claims_resource WHERE mbi = '$mbi' AND fhir_version = 4");
(my $q = $since) =~ s/:/%3A/g;
$res = req(GET => "$url?_since=$q", %ha);
ok t_cmp(json_of($res)->{total},
         sql("SELECT count(*) FROM claims_resource WHERE mbi = '$mbi' AND fhir_version = 4
              AND last_updated > '$since'"), '_since keeps what changed after it');
$res = req(GET => "$url?_since=yesterday", %ha);
ok t_cmp($res->code, 400, 'a bad _since: 400');
$res = req(GET => "$url?_since=2999-01-01T00%3A00%3A00Z", %ha);
ok t_cmp($res->code, 400, 'a future _since: 400');

$res = req(GET => $url, %hb);
ok t_cmp($res->code, 404, "another organization's patient: 404");

post("/api/v2/Group/$g->{id}/\$remove", $group, %ha);
$res = req(GET => $url, %ha);
ok t_cmp($res->code, 403, 'removed from the roster: 403 again');

# re-attest, then let the period lapse
post("/api/v2/Group/$g->{id}/\$add", $group, %ha, 'X-Provenance' => $prov);
ok t_cmp(req(GET => $url, %ha)->code, 200, 're-attested: 200');
sql("UPDATE attribution SET period_end = now() - interval '1 second' WHERE roster_id = '$g->{id}'");
ok t_cmp(req(GET => $url, %ha)->code, 403, 'period over: 403');
