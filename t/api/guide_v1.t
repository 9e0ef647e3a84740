# The DPC v1 guide (reference/001: docsV1), walked in its order with its own
# requests: headers and bodies as the guide shows them, each documented
# status, header and field checked.  Where the guide itself is broken (an
# NPI of 19 or 12 digits, a Patient with no MBI, JSON with trailing commas),
# the fix is commented.  The first key and client token come from the Web UI
# in the guide: dpcctl and DPC::Org stand in for it.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use JSON::PP;
use LWP::UserAgent;
use DPC::Test qw(req json_of oo_code sql wait_for);
use DPC::JWT qw(gen_keys);
use DPC::Org;

plan tests => 37;

my $dir = tempdir(CLEANUP => 1);
my $json = JSON::PP->new->canonical;
my $host = 'http://' . Apache::TestRequest::hostport();
sub slurp { my ($f) = @_; open(my $fh, '<', $f) or die "$f: $!"; local $/; return scalar <$fh> }

gen_keys($dir, ui => 'rsa', api => 'rsa');
my $org = DPC::Org->new(name => 'Guide v1 Clinic', key_path => "$dir/ui", alg => 'RS384');
my %auth = (Authorization => 'Bearer ' . $org->access_token(api => 'v1'));
my %json_h = (%auth, Accept => 'application/json', 'Content-Type' => 'application/json');

# --- Managing client_tokens -------------------------------------------------------------------
my $res = req(GET => '/api/v1/Token', %json_h);
my $list = json_of($res) // {};
my $e0 = ($list->{entities} // [])->[0] // {};
ok t_cmp(join(' ', $res->code, $list->{count} // '-', $list->{created_at} ? 'created_at' : '-'), '200 1 created_at',
         'GET /Token: 200 with created_at, count and entities');
ok t_cmp(join(' ', map { $_ // '-' } @$e0{qw(id tokenType label)}), qr/^[0-9a-f-]{36} MACAROON \S/,
         'each entity: id, tokenType, label');
ok t_cmp(join(' ', map { defined $e0->{$_} ? $_ : '-' } qw(createdAt expiresAt)), 'createdAt expiresAt',
         'createdAt and expiresAt');
$res = req(GET => "/api/v1/Token/$e0->{id}", %json_h);
ok t_cmp($res->code . ' ' . ((json_of($res) // {})->{id} // '-'), "200 $e0->{id}", 'GET /Token/{id}: 200');
my $exp = do { my @t = gmtime(time + 30 * 86400); sprintf '%04d-%02d-%02dT%02d:%02d:%02dZ', $t[5] + 1900, $t[4] + 1, @t[3, 2, 1, 0] };
$res = req(POST => "/api/v1/Token?label=guide&expiration=$exp", %json_h);
my $ct = json_of($res) // {};
ok t_cmp(join(' ', $res->code, $ct->{label} // '-', $ct->{tokenType} // '-', length($ct->{token} // '') ? 'token' : '-'),
         '201 guide MACAROON token', 'POST /Token?label=&expiration=: 201, the client token, shown once');
$res = req(DELETE => "/api/v1/Token/$ct->{id}", %json_h);
ok t_cmp($res->code, 200, 'DELETE /Token/{id}: 200 - Token was removed');

# --- Managing public keys --------------------------------------------------------------------------
$res = req(GET => '/api/v1/Key', %json_h);
ok t_cmp(join(' ', $res->code, (json_of($res) // {})->{count} // '-'), '200 1', 'GET /Key: 200, the key the Web UI uploaded');
$res = req(POST => '/api/v1/Key?label=test-key', %auth, Accept => 'application/json',
           'Content-Type' => 'text/plain', content => slurp("$dir/api.pub.pem"));
my $key = json_of($res) // {};
ok t_cmp(join(' ', $res->code, $key->{label} // '-', $key->{id} ? 'id' : '-'), qr/^20[01] test-key id$/,
         'POST /Key?label= with the PEM as text/plain: the key');
$res = req(GET => "/api/v1/Key/$key->{id}", %json_h);
ok t_cmp($res->code . ' ' . ((json_of($res) // {})->{label} // '-'), '200 test-key', 'GET /Key/{id}: 200');

# --- Creating an access_token ---------------------------------------------------------------------
# signed with the key just uploaded: its id is the kid
my $claims = $org->claims(api => 'v1');
my $jwt = $org->assertion(key_file => "$dir/api.pem", alg => 'RS384', header => { kid => $key->{id} },
                          claims => $claims);
$res = req(POST => '/api/v1/Token/validate', Accept => 'application/json', 'Content-Type' => 'text/plain',
           content => $jwt);
ok t_cmp($res->code, 200, 'POST /Token/validate with the signed JWT as text/plain: 200');
$res = req(POST => "/api/v1/Token/auth?grant_type=client_credentials&scope=system%2F*.*&client_assertion_type="
                   . "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=$jwt",
           'Content-Type' => 'application/x-www-form-urlencoded', Accept => 'application/json');
my $tok = json_of($res) // {};
ok t_cmp(join(' ', $res->code, $tok->{token_type} // '-', $tok->{expires_in} // '-', $tok->{scope} // '-'),
         '200 bearer 300 system/*.*', "POST /Token/auth?... (the guide's curl, parameters in the URL): the access token");
%auth = (Authorization => "Bearer $tok->{access_token}");
%json_h = (%auth, Accept => 'application/json', 'Content-Type' => 'application/json');
$res = req(DELETE => "/api/v1/Key/$key->{id}", %json_h);
ok t_cmp($res->code, 200, 'DELETE /Key/{id}: 200 - Key was removed');
$res = wait_for(5, sub { my $r = req(GET => '/api/v1/Token', %auth); $r->code == 401 ? $r : undef });
ok t_cmp($res ? $res->code : 'still 200', 401, 'an access token made with a deleted key stops working');
%auth = (Authorization => 'Bearer ' . $org->access_token(api => 'v1'));

# --- OpenAPI: the guide links /api/swagger -----------------------------------------------------------
$res = LWP::UserAgent->new(max_redirect => 0)->get("$host/api/swagger");
ok t_cmp(join(' ', $res->code, $res->header('Location') // '-'), qr{^302 \S*/api/v1/swagger$},
         '/api/swagger leads to the v1 routes\' OpenAPI page');

# --- DPC Metadata -----------------------------------------------------------------------------------
# (the guide's example says kind "capability"; ours describes this running
# server, which FHIR calls "instance": README, Where we differ from the guides)
$res = req(GET => '/api/v1/metadata');
my $cs = json_of($res) // {};
ok t_cmp(join(' ', map { $_ // '-' } $res->code, $cs->{resourceType}, $cs->{id}, $cs->{kind}),
         '200 CapabilityStatement dpc-capabilities instance', 'GET /metadata: the CapabilityStatement');
ok t_cmp($cs->{fhirVersion} // '', qr/^3\.0\.\d$/, 'of FHIR STU3');

# --- Create a Provider -------------------------------------------------------------------------------
my %fhir = (%auth, Accept => 'application/fhir+json', 'Content-Type' => 'application/fhir+json');
my $NPI = '1003000126';
# the guide's provider.json; its NPI "3116145044854423862" has 19 digits,
# not an NPI's 10: fixed
my $provider = { meta => { profile => ['https://dpc.cms.gov/api/v1/StructureDefinition/dpc-profile-practitioner'],
                           lastUpdated => '2019-04-09T12:25:36.450182+00:00', versionId => 'MTU1NDgxMjczNjQ1MDE4MjAwMA' },
                 resourceType => 'Practitioner', id => '0c527d2e-2e8a-4808-b11d-0fa06baf8254',
                 identifier => [{ system => 'http://hl7.org/fhir/sid/us-npi', value => $NPI }],
                 address => [{ city => 'PLYMOUTH', country => 'US', line => ['275 SANDWICH STREET'],
                               postalCode => '02360', state => 'MA' }],
                 gender => 'male', name => [{ family => 'Klocko335', given => ['Leonard963'], prefix => ['Dr.'] }] };
$res = req(POST => '/api/v1/Practitioner', %fhir, content => $json->encode($provider));
my $pr = json_of($res) // {};
ok t_cmp(join(' ', $res->code, $pr->{identifier}[0]{value} // '-'), "201 $NPI", 'POST /Practitioner: 201 with its NPI');

# --- Create a Patient -----------------------------------------------------------------------------------
# the guide's patient.json names the patient by a Blue Button bene_id (the
# system it says MBIs replace): fixed to the MBI of the claims store's
# beneficiary 2SW4N00AA00
my $patient = { resourceType => 'Patient', id => '728b270d-d7de-4143-82fe-d3ccd92cebe4',
                meta => { profile => ['https://dpc.cms.gov/api/v1/StructureDefinition/dpc-profile-patient'],
                          lastUpdated => '2019-04-09T12:25:36.450182+00:00' },
                identifier => [{ system => 'http://hl7.org/fhir/sid/us-mbi', value => '2SW4N00AA00' }],
                name => [{ use => 'official', family => 'Prosacco', given => ['Jonathan'], prefix => ['Mr.'] }],
                gender => 'male', birthDate => '1943-06-08' };
$res = req(POST => '/api/v1/Patient', %fhir, content => $json->encode($patient));
my $pt = json_of($res) // {};
ok t_cmp(join(' ', $res->code, $pt->{id} ? 'id' : '-'), '201 id', 'POST /Patient: 201');
my $mbi2 = sql(q{SELECT mbi FROM beneficiary WHERE mbi <> '2SW4N00AA00' ORDER BY mbi LIMIT 1});
$patient->{identifier}[0]{value} = $mbi2;
my $pt2 = json_of(req(POST => '/api/v1/Patient', %fhir, content => $json->encode($patient))) // {};

# --- Create attestation record for data release ------------------------------------------------------
# the guide's example, STU3: whoReference and onBehalfOfReference; its
# reason is a Coding, as STU3 has it
my $attestation = $json->encode({
    resourceType => 'Provenance',
    meta => { profile => ['https://dpc.cms.gov/api/v1/StructureDefinition/dpc-profile-attestation'] },
    recorded => '1990-01-01T00:00:00.000-05:00',
    reason => [{ system => 'http://hl7.org/fhir/v3/ActReason', code => 'TREAT' }],
    agent => [{ role => [{ coding => [{ system => 'http://hl7.org/fhir/v3/RoleClass', code => 'AGNT' }] }],
                whoReference => { reference => "Organization/$org->{id}" },
                onBehalfOfReference => { reference => "Practitioner/$pr->{id}" } }] });

# --- Create an Attribution Group ------------------------------------------------------------------------
# group.json, with our practitioner's NPI (the guide's "110001029483" has 12
# digits) and our patients
sub attributed_to { [{ code => { coding => [{ code => 'attributed-to' }] },
                       valueCodeableConcept => { coding => [{ system => 'http://hl7.org/fhir/sid/us-npi', code => $NPI }] } }] }
my $group = { resourceType => 'Group', type => 'person', actual => JSON::PP::true, characteristic => attributed_to(),
              member => [map { { entity => { reference => "Patient/$_" } } } $pt->{id}] };
$res = req(POST => '/api/v1/Group', %fhir, 'X-Provenance' => $attestation, content => $json->encode($group));
my $g = json_of($res) // {};
ok t_cmp($res->code, 201, 'POST /Group with X-Provenance: 201');
ok t_cmp(join(' ', $g->{characteristic}[0]{code}{coding}[0]{code} // '-',
              $g->{characteristic}[0]{valueCodeableConcept}{coding}[0]{code} // '-'),
         "attributed-to $NPI", 'the Attribution Response: attributed-to the NPI');
my $m = ($g->{member} // [])->[0] // {};
ok t_cmp(join(' ', $m->{entity}{reference} // '-', ($m->{period}{start} && $m->{period}{end}) ? 'period' : '-',
              JSON::PP::is_bool($m->{inactive}) && !$m->{inactive} ? 'active' : '-'),
         "Patient/$pt->{id} period active", 'each member: its reference, period and inactive false');
my $p = $m->{period} // {};
ok t_cmp(sql("SELECT ('$p->{end}'::timestamptz - '$p->{start}'::timestamptz) = interval '90 days'"), 't',
         'attribution lasts 90 days');
$res = req(POST => '/api/v1/Group', %fhir, 'X-Provenance' => $attestation, content => $json->encode($group));
ok t_cmp($res->code, 409, "a provider's roster is one: a second POST is 409");
my $noatt = decode_json($attestation);
delete $noatt->{agent}[0]{onBehalfOfReference};
$res = req(POST => "/api/v1/Group/$g->{id}/\$add", %fhir, 'X-Provenance' => $json->encode($noatt),
           content => $json->encode($group));
ok t_cmp($res->code, 422, 'on v1 the attestation names the provider (onBehalfOf): without it, 422');

# --- Adding patients to roster ------------------------------------------------------------------------------
# (the guide's updated_group.json is the Group under a bare "resource": key,
# not JSON: fixed to {"resource": ...})
my $addition = { resource => { %$group, member => [{ entity => { reference => "Patient/$pt2->{id}" } }] } };
$res = req(POST => "/api/v1/Group/$g->{id}/\$add", %auth, Accept => 'application/fhir+json',
           'Content-Type' => 'application/fhir+json', 'X-Provenance' => $attestation,
           content => $json->encode($addition));
ok t_cmp($res->code . ' ' . scalar(grep { !$_->{inactive} } @{ (json_of($res) // {})->{member} // [] }), '200 2',
         'POST /Group/{id}/$add: both patients active');

# --- Removing patients from a roster ------------------------------------------------------------------------
# group_removal.json: the same wrapping, and trailing commas removed
my $removal = { resource => { %$group, member => [{ entity => { reference => "Patient/$pt2->{id}" } }] } };
$res = req(POST => "/api/v1/Group/$g->{id}/\$remove", %auth, Accept => 'application/fhir+json',
           'Content-Type' => 'application/fhir+json', content => $json->encode($removal));
my ($gone) = grep { ($_->{entity}{reference} // '') eq "Patient/$pt2->{id}" } @{ (json_of($res) // {})->{member} // [] };
ok t_cmp($res->code . ' ' . ($gone && $gone->{inactive} ? 'inactive' : 'active'), '200 inactive',
         'POST /Group/{id}/$remove: the patient is inactive');
my $removed_at = sql("SELECT to_char(removed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')"
                     . " FROM attribution WHERE roster_id = '$g->{id}' AND patient_id = '$pt2->{id}'");
ok t_cmp($gone ? $gone->{period}{end} : '', qr/^\Q$removed_at\E/,
         'its period: the time for which the patient *was* active, ending at the removal');

# --- Replacing roster membership -------------------------------------------------------------------------------
$res = req(PUT => "/api/v1/Group/$g->{id}", %fhir, 'X-Provenance' => $attestation, content => $json->encode($group));
my @members = @{ (json_of($res) // {})->{member} // [] };
ok t_cmp(join(' ', $res->code, map { $_->{entity}{reference} } @members), "200 Patient/$pt->{id}",
         'PUT /Group/{id}: the membership is replaced');

# --- Searching for attribution Groups -----------------------------------------------------------------------------
for my $q ("characteristic-value=|attributed-to\$|$NPI", "characteristic=attributed-to&characteristic-code=$NPI") {
    $res = req(GET => "/api/v1/Group?$q", %auth, Accept => 'application/fhir+json');
    ok t_cmp(join(' ', $res->code, map { $_->{resource}{id} } @{ (json_of($res) // {})->{entry} // [] }),
             "200 $g->{id}", "GET /Group?$q: the provider's roster");
}

# --- Exporting data ---------------------------------------------------------------------------------------------------
$res = req(GET => "/api/v1/Group/$g->{id}/\$export", %auth, Accept => 'application/fhir+json',
           Prefer => 'respond-async');
my $loc = $res->header('Content-Location') // '';
ok t_cmp($res->code, 202, 'GET /Group/{id}/$export with Accept and Prefer: 202 Accepted');
ok t_cmp($loc, qr{^\Q$host\E/api/v1/Jobs/[0-9a-f-]{36}$}, 'Content-Location: {base}/Jobs/{id}');
# the Job endpoint needs no Accept
$res = req(GET => $loc, %auth);
ok t_cmp($res->code == 200 || ($res->code == 202 && ($res->header('X-Progress') // '') =~ /^In Progress/) ? 1 : 0,
         1, '202 Accepted with X-Progress: In Progress while it runs (or 200 once done)');
$res = wait_for(60, sub { my $r = req(GET => $loc, %auth); $r->code == 202 ? undef : $r });
my $man = $res ? json_of($res) // {} : {};
ok t_cmp($res ? $res->code : 'none', 200, '200 OK when the job is complete');
ok t_cmp(join(' ', $man->{transactionTime} ? 'transactionTime' : '-', $man->{request} // '-',
              $man->{requiresAccessToken} ? 'requiresAccessToken' : '-'),
         "transactionTime $host/api/v1/Group/$g->{id}/\$export requiresAccessToken", 'the manifest');
my ($eob) = grep { $_->{type} eq 'ExplanationOfBenefit' } @{ $man->{output} // [] };
ok t_cmp(($eob // {})->{url} // '', qr{^\Q$host\E/api/v1/data/}, 'an ExplanationOfBenefit output file under /data');
$res = req(GET => ($eob // {})->{url} // '/none', %auth);
my @lines = split /\n/, $res->content;
my $stu3 = grep { my $r = eval { decode_json($_) } // {}; ($r->{resourceType} // '') eq 'ExplanationOfBenefit'
                  && ($r->{patient}{reference} // '') =~ m{^Patient/-\d+$} } @lines;
ok t_cmp($res->code . " $stu3 of " . scalar(@lines), qr/^200 ([1-9]\d*) of \1$/,
         'the data file (no Accept): NDJSON of ExplanationOfBenefit, of the synthetic (negative) bene ids');
