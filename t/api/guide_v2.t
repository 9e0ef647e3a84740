# The DPC v2 guide (reference/000: "DPC Documentation", docsV2), walked in
# its order with its own requests: headers and bodies as the guide shows
# them, each documented status, header and field checked.  Where the guide
# itself is broken, the fix is commented.  The Sandbox Portal steps (add a
# provider organization, upload a key, make a client token) and the JWT
# tool are another issue's: dpcctl and DPC::Org stand in for them.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use JSON::PP;
use DPC::Test qw(req json_of oo_code sql wait_for dpcctl);
use DPC::JWT qw(gen_keys);
use DPC::Org;

plan tests => 40;

my $dir = tempdir(CLEANUP => 1);
my $json = JSON::PP->new->canonical;
my $top = $ENV{DPC_TEST_TOP};
my $host = 'http://' . Apache::TestRequest::hostport();
sub slurp { my ($f) = @_; open(my $fh, '<', $f) or die "$f: $!"; local $/; return scalar <$fh> }

# --- Getting DPC Access, steps two to five (the portal, the JWT tool) ----------------------
gen_keys($dir, g2 => 'rsa');
my $org = DPC::Org->new(name => 'Guide v2 Clinic', key_path => "$dir/g2", alg => 'RS384');
my $jwt = $org->assertion;

# --- Step Six: the access token ----------------------------------------------------------
# (the guide's curl posts to .../api/v1/Token/auth under "POST /api/v2/Token/auth":
# fixed to v2, whose token URL the assertion names)
my $res = req(POST => '/api/v2/Token/auth', 'Content-Type' => 'application/x-www-form-urlencoded',
              Accept => 'application/json',
              content => 'grant_type=client_credentials&scope=system%2F*.*&client_assertion_type='
                       . 'urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer'
                       . "&client_assertion=$jwt");
my $tok = json_of($res) // {};
ok t_cmp(join(' ', $res->code, $tok->{token_type} // '-', $tok->{expires_in} // '-', $tok->{scope} // '-'),
         '200 bearer 300 system/*.*', 'Step Six: access_token, token_type bearer, expires_in 300, scope system/*.*');
ok t_cmp(length($tok->{access_token} // ''), qr/^[1-9]\d+$/, 'with an access_token');
my %auth = (Authorization => "Bearer $tok->{access_token}");

# --- Getting DPC Data, Step One: the Organization ID -------------------------------------
$res = req(GET => '/api/v2/Organization', %auth, Accept => 'application/fhir+json');
my $orgs = json_of($res) // {};
my $oid = ($orgs->{entry} // [])->[0]{resource}{id} // '';
ok t_cmp($res->code . " $oid", "200 $org->{id}", 'Step One: GET /Organization gives the Organization ID');

# --- Step Two and Three: a Group, attested ------------------------------------------------
# The guide's Group (its response without what the server sets) is
# samples/groups/sample-group-1.json; its attestation is the guide's example
# with our Organization ID.  Its MBI 2SW4N00AA00 is synthetic and its NPI
# 9941339108 has no valid check digit: the test server is a sandbox
# (DPCSyntheticIdentifiers On).
my $group_json = slurp("$top/samples/groups/sample-group-1.json");
my $attestation = $json->encode({
    resourceType => 'Provenance', recorded => '2020-01-02T15:04:05-07:00',
    reason => [{ coding => [{ system => 'http://hl7.org/fhir/v3/ActReason', code => 'TREAT' }] }],
    agent => [{ role => [{ coding => [{ system => 'http://hl7.org/fhir/v3/RoleClass', code => 'AGNT' }] }],
                who => { reference => "Organization/$oid" } }] });
my %fhir = (%auth, Accept => 'application/fhir+json', 'Content-Type' => 'application/fhir+json');
$res = req(POST => '/api/v2/Group', %fhir, 'X-Provenance' => $attestation, content => $group_json);
my $g = json_of($res) // {};
ok t_cmp($res->code, 201, 'Step Two: POST /Group with the attestation (no onBehalfOf, as the guide has it): 201');
ok t_cmp($g->{id} // '', qr/^[0-9a-f-]{36}$/, 'the Group has an id');
ok t_cmp(join(' ', map { $_ // '-' } $g->{resourceType}, $g->{type}, $g->{name},
              $g->{actual} ? 'actual' : 'not actual'),
         'Group person Sample Group actual', 'resourceType, type, name and actual as the guide shows');
ok t_cmp($g->{managingEntity}{reference} // '', "Organization/$oid", 'managingEntity names our organization');
ok t_cmp($g->{meta}{lastUpdated} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/, 'meta.lastUpdated');
ok t_cmp($g->{meta}{versionId} // '-', qr/^\d+$/, 'meta.versionId');
my $m = ($g->{member} // [])->[0] // {};
ok t_cmp(join(' ', map { $_ // '-' } $m->{entity}{identifier}{system}, $m->{entity}{identifier}{value},
              $m->{entity}{type}),
         'http://hl7.org/fhir/sid/us-mbi 2SW4N00AA00 Patient', 'the member: its MBI and type Patient');
my $ext = ($m->{extension} // [])->[0] // {};
ok t_cmp(join(' ', map { $_ // '-' } $ext->{url}, $ext->{valueReference}{identifier}{system},
              $ext->{valueReference}{identifier}{value}, $ext->{valueReference}{type}),
         'http://hl7.org/fhir/us/davinci-atr/StructureDefinition/ext-attributedProvider '
         . 'http://hl7.org/fhir/sid/us-npi 9941339108 Practitioner',
         'its attributed provider, by NPI');
# "You must create a new Group for every export request ... A unique Group ID
# will be automatically generated each time"
$res = req(POST => '/api/v2/Group', %fhir, 'X-Provenance' => $attestation, content => $group_json);
my $g2 = json_of($res) // {};
ok t_cmp($res->code . ' ' . (($g2->{id} // '') ne ($g->{id} // '') ? 'new id' : 'same id'), '201 new id',
         'the same request again: a new Group, with a unique id');
# every sample Group works against the sandbox as it is
for my $f (sort glob "$top/samples/groups/*.json") {
    $res = req(POST => '/api/v2/Group', %fhir, 'X-Provenance' => $attestation, content => slurp($f));
    ok t_cmp($res->code, 201, 'samples/groups/' . ($f =~ s{.*/}{}r) . ': 201');
}
# ... and the sandbox (build/run: dpcctl synth --seed 1) holds claims for their MBIs
my ($st) = dpcctl('synth', '--patients', 6, '--seed', 1, '--out', '/dev/null',
                  '--out-beneficiary', "$dir/bene");
my %sandbox = map { (split /\t/)[0] => 1 } split /\n/, slurp("$dir/bene");
my @sample_mbis = map { $_->{entity}{identifier}{value} }
                  map { @{ decode_json(slurp($_))->{member} } } glob "$top/samples/groups/*.json";
ok t_cmp("$st " . join(' ', grep { !$sandbox{$_} } @sample_mbis), '0 ', "the sandbox's data set holds every sample MBI");

# --- Exporting DPC Data: initiate an export job ---------------------------------------------
my %kick = (%auth, Accept => 'application/fhir+json', Prefer => 'respond-async');
sub job_done {
    my ($loc) = @_;
    return wait_for(60, sub { my $r = req(GET => $loc, %auth); $r->code == 202 ? undef : $r });
}
sub kickoff {
    my ($query) = @_;
    my $r = req(GET => "/api/v2/Group/$g->{id}/\$export$query", %kick);
    return ($r, $r->header('Content-Location') // '');
}
($res, my $loc) = kickoff('');
ok t_cmp(join(' ', $res->code, length($res->content) ? 'a body' : 'no body'), '202 no body',
         'GET /Group/{id}/$export with Authorization, Accept and Prefer: 202, no body');
ok t_cmp($loc, qr{^\Q$host\E/api/v2/Jobs/[0-9a-f-]{36}$}, 'Content-Location: {base}/Jobs/{id}');

# --- Check status of the export job ---------------------------------------------------------
$res = req(GET => $loc, %auth);
ok t_cmp($res->code == 200 || ($res->code == 202 && ($res->header('X-Progress') // '') =~ /^In Progress/) ? 1 : 0,
         1, 'the status: 202 with X-Progress: In Progress while it runs (or 200 once done)');
$res = job_done($loc);
my $man = json_of($res) // {};
ok t_cmp($res ? $res->code : 'none', 200, 'then 200 OK with the manifest');
ok t_cmp(join(' ', $man->{transactionTime} =~ /^\d{4}-\d\d-\d\dT/ ? 'transactionTime' : '-',
              $man->{requiresAccessToken} ? 'requiresAccessToken' : '-', $man->{request} // '-'),
         "transactionTime requiresAccessToken $host/api/v2/Group/$g->{id}/\$export",
         'transactionTime, request and requiresAccessToken true');
my %types = map { $_->{type} => $_ } @{ $man->{output} // [] };
ok t_cmp(join(',', sort keys %types), 'Coverage,ExplanationOfBenefit,Patient',
         'no _type: all three resources');
my $eob = $types{ExplanationOfBenefit} // {};
my %x = map { $_->{url} => $_ } @{ $eob->{extension} // [] };
ok t_cmp(join(' ', ($x{'https://dpc.cms.gov/checksum'}{valueString} // '') =~ /^sha256:[0-9a-f]{64}$/ ? 'checksum' : '-',
              ($x{'https://dpc.cms.gov/file_length'}{valueDecimal} // '') =~ /^[1-9]\d*$/ ? 'file_length' : '-'),
         'checksum file_length', 'each output has the checksum and file_length extensions');
ok t_cmp(ref $man->{error}, 'ARRAY', 'and an error array');

# --- Retrieve the NDJSON output file(s) -----------------------------------------------------
$res = req(GET => $eob->{url} // '/none', %auth);
my @lines = split /\n/, $res->content;
ok t_cmp($res->code . ' ' . scalar(grep { (eval { decode_json($_)->{resourceType} } // '') eq 'ExplanationOfBenefit' } @lines)
         . ' of ' . scalar(@lines), qr/^200 ([1-9]\d*) of \1$/, 'GET the output URL (no Accept): NDJSON of ExplanationOfBenefit');
ok t_cmp(length $res->content, $x{'https://dpc.cms.gov/file_length'}{valueDecimal} // -1,
         'as long as file_length says');

# --- Specify which Resources to Download ------------------------------------------------------
sub exported {
    my ($query) = @_;
    my ($r, $l) = kickoff($query);
    return ('', $r->code) unless $r->code == 202;
    my $done = job_done($l);
    my $mf = $done ? json_of($done) // {} : {};
    my %n;
    for my $o (@{ $mf->{output} // [] }) {
        my $f = req(GET => $o->{url}, %auth);
        $n{ $o->{type} } += () = $f->content =~ /\n/g;
    }
    return (join(',', map { "$_=$n{$_}" } sort keys %n), $r->code);
}
my ($types, $code) = exported('?_type=Patient,Coverage');
ok t_cmp("$code " . ($types =~ s/=\d+//gr), '202 Coverage,Patient', '?_type=Patient,Coverage: not ExplanationOfBenefit');
($types, $code) = exported('?_type=ExplanationOfBenefit');
ok t_cmp("$code " . ($types =~ s/=\d+//gr), '202 ExplanationOfBenefit', '?_type=ExplanationOfBenefit: only it');

# --- Request Filtered Data: _since ----------------------------------------------------------------
my ($all) = exported('?_type=Patient');
my ($since) = exported('?_type=Patient&_since=2020-02-13T08:00:00.000-05:00');
ok t_cmp($since ne '' ? 1 : 0, 1, "the guide's request: ?_type=Patient&_since=2020-02-13T08:00:00.000-05:00: 202");
# the guide's cURL, URL-encoded as its warning says for a '+' (a '-' needs none)
my ($since21) = exported('?_since=2021-05-13T08:00:00.000-05:00');
ok t_cmp($since21 ne '' ? 1 : 0, 1, "the guide's cURL: ?_since=2021-05-13T08:00:00.000-05:00: 202");
# "data from before 02-12-2020 is marked with the arbitrary lastUpdated date of
# 01-01-2020. If you input dates between 01-01-2020 and 02-11-2020 in the _since
# parameter, you will receive all historical data"
my ($early) = exported('?_type=Patient&_since=2020-01-20T08:00:00.000-05:00');
ok t_cmp($early, $all, 'a _since between 2020-01-01 and 2020-02-11: all history, as without _since');
my $marked = sql("SELECT count(*) FROM claims_resource WHERE last_updated < '2020-02-12'"
                 . " AND last_updated <> '2020-01-01T00:00:00Z'");
ok t_cmp($marked, 0, 'the claims store: everything loaded before 2020-02-12 is marked 2020-01-01');
my ($eob_since) = exported('?_type=ExplanationOfBenefit&_since=2020-02-13T08:00:00.000-05:00');
my ($eob_all) = exported('?_type=ExplanationOfBenefit');
my ($n_since) = $eob_since =~ /=(\d+)/;
my ($n_all) = $eob_all =~ /=(\d+)/;
ok t_cmp(defined $n_since && defined $n_all && $n_since < $n_all ? 1 : 0, 1,
         "a _since after the load date leaves out what BFD marked: fewer claims (" . ($n_since // '-') . ' of ' . ($n_all // '-') . ')');
my $in_db = sql("SELECT count(*) FROM claims_resource WHERE mbi = '2SW4N00AA00' AND fhir_version = 4"
                . " AND resource_type = 'ExplanationOfBenefit' AND last_updated > '2020-02-13T13:00:00Z'");
ok t_cmp($n_since // -1, $in_db, 'exactly those updated after the _since');

# --- Attestation refused as the guide says it must be -------------------------------------------
my $bad = decode_json($attestation);
$bad->{reason}[0]{coding}[0]{code} = 'HMARKT';
$res = req(POST => '/api/v2/Group', %fhir, 'X-Provenance' => $json->encode($bad), content => $group_json);
ok t_cmp($res->code . ' ' . (oo_code($res) ne '' ? 'OO' : 'not OO'), '422 OO',
         'an attestation for another reason than TREAT: 422 OperationOutcome');
$bad = decode_json($attestation);
$bad->{agent}[0]{who}{reference} = 'Organization/c5a40867-011a-43f9-996e-aa92207fbbe2';
$res = req(POST => '/api/v2/Group', %fhir, 'X-Provenance' => $json->encode($bad), content => $group_json);
ok t_cmp($res->code, 422, "the guide's example Organization ID, not ours: 422");

# --- a synthetic identifier is accepted, with a warning --------------------------------------------
$res = req(POST => '/api/v2/Patient/$validate', %fhir, content => $json->encode({
    resourceType => 'Patient', name => [{ family => 'Doe', given => ['Jo'] }], birthDate => '1950-01-01',
    identifier => [{ system => 'http://hl7.org/fhir/sid/us-mbi', value => '2SW4N00AA00' }] }));
my @sev = map { $_->{severity} } @{ (json_of($res) // {})->{issue} // [] };
ok t_cmp(join(' ', $res->code, @sev), '200 information warning',
         'Patient/$validate of the synthetic MBI: valid here, with a warning that production refuses it');

# --- production stays strict ------------------------------------------------------------------------
Apache::TestRequest::module('dpc_vhost');
$res = req(POST => '/api/v2/Group', %fhir, 'X-Provenance' => $attestation, content => $group_json);
my $diag = join ' ', map { $_->{diagnostics} // '' } @{ (json_of($res) // {})->{issue} // [] };
ok t_cmp($res->code, 422, 'without DPCSyntheticIdentifiers the same Group is refused: 422');
ok t_cmp($diag, qr/2SW4N00AA00.*not a valid MBI|not a valid MBI.*2SW4N00AA00/, 'naming the synthetic MBI');
ok t_cmp($diag, qr/9941339108/, 'and the NPI without a valid check digit');
Apache::TestRequest::module('default');
