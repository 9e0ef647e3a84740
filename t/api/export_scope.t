# What a DPC export covers (v2 and v1): Patient/$export and the
# system-level $export over the organization's active members of all its
# Groups, each beneficiary once; `patient`; _typeFilter on the claims
# store's columns; _until; includeAssociatedData and _elements refused or,
# under lenient handling, ignored and reported.  Every refusal changes
# nothing (no job is recorded).
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use HTTP::Response;
use JSON::PP;
use DPC::Test qw(req json_of oo_code sql sql_rows wait_for provenance);
use DPC::JWT qw(gen_keys);
use DPC::Org;

plan tests => 72;

my $dir = tempdir(CLEANUP => 1);
gen_keys($dir, s1 => 'ec', s2 => 'ec');
my $a = DPC::Org->new(name => 'Scope A', key_path => "$dir/s1", alg => 'ES384');
my $b = DPC::Org->new(name => 'Scope B', key_path => "$dir/s2", alg => 'ES384');
my $json = JSON::PP->new->canonical;
my %tok = (v2 => $a->access_token, v1 => $a->access_token(api => 'v1'));
my %async = (Prefer => 'respond-async', Accept => 'application/fhir+json');
my %lenient = (Prefer => 'respond-async, handling=lenient', Accept => 'application/fhir+json');
my %ver = (v2 => 4, v1 => 3);

sub post {
    my ($path, $body, %h) = @_;
    req(POST => $path, %h, content => ref $body ? $json->encode($body) : $body);
}
sub auth { ('Authorization' => "Bearer $tok{ $_[0] }") }
sub params { { resourceType => 'Parameters', parameter => [@_] } }
# A kick-off: GET with a query string, or POST with Parameters.
sub kick {
    my ($api, $path, %o) = @_;
    my %h = (auth($api), %{ $o{headers} // \%async });
    return req(GET => "/api/$api/$path" . ($o{query} // ''), %h) unless $o{params};
    return post("/api/$api/$path", params(@{ $o{params} }), %h,
                'Content-Type' => 'application/fhir+json');
}
sub job_of { (($_[0]->header('Content-Location') // '') =~ m{/Jobs/([0-9a-f-]{36})$})[0]
              // '00000000-0000-4000-8000-000000000000' }
# The manifest of a kick-off's job ({} if it did not start or finish).
sub manifest_of {
    my ($api, $res) = @_;
    return {} unless $res->code == 202;
    my $loc = $res->header('Content-Location');
    my $r = wait_for(30, sub { my $r = req(GET => $loc, auth($api)); $r->code == 200 ? $r : undef });
    return $r ? json_of($r) // {} : {};
}
# Every resource of a manifest's files of $key (output or error), decoded.
sub lines_of {
    my ($api, $m, $key) = @_;
    return map { my $r = req(GET => $_->{url}, auth($api));
                 map { decode_json($_) } split /\n/, $r->content } @{ $m->{$key // 'output'} // [] };
}
sub of_type { my ($t, @r) = @_; grep { ($_->{resourceType} // '') eq $t } @r }
sub diagnostics { join ' | ', map { $_->{issue}[0]{diagnostics} // '' } @_ }
sub jobs { sql("SELECT count(*) FROM export_job WHERE org_id = '$a->{id}'") }

# --- the organization: two Groups sharing a member, one member removed ----------------
my @mbis = map { sql("SELECT mbi FROM beneficiary ORDER BY mbi OFFSET $_ LIMIT 1") } 20 .. 24;
my %ha = (auth('v2'), 'Content-Type' => 'application/fhir+json');
sub practitioner {
    my ($org, $npi, %h) = @_;
    return json_of(post('/api/v2/Practitioner', { resourceType => 'Practitioner',
        identifier => [{ system => 'http://hl7.org/fhir/sid/us-npi', value => $npi }],
        name => [{ family => 'Doe', given => ['Jo'] }] }, %h));
}
sub group {
    my ($npi, @m) = @_;
    return { resourceType => 'Group', type => 'person', actual => JSON::PP::true,
        member => [map { { entity => { identifier => { system => 'http://hl7.org/fhir/sid/us-mbi', value => $_ } },
            extension => [{ url => 'http://hl7.org/fhir/us/davinci-atr/StructureDefinition/ext-attributedProvider',
                            valueReference => { identifier => { system => 'http://hl7.org/fhir/sid/us-npi',
                                                                value => $npi } } }] } } @m] };
}
my $pr = practitioner($a, '1003000142', %ha);
my $g1 = json_of(post('/api/v2/Group', group('1003000142', @mbis[0, 1, 2]), %ha,
                      'X-Provenance' => provenance($a->{id}, $pr->{id})));
my $g2 = json_of(post('/api/v2/Group', group('1003000142', @mbis[2, 3]), %ha,
                      'X-Provenance' => provenance($a->{id}, $pr->{id})));
post("/api/v2/Group/$g2->{id}/\$remove", group('1003000142', $mbis[3]), %ha);
my %hb = (Authorization => 'Bearer ' . $b->access_token, 'Content-Type' => 'application/fhir+json');
my $prb = practitioner($b, '1003000159', %hb);
post('/api/v2/Group', group('1003000159', $mbis[4]), %hb, 'X-Provenance' => provenance($b->{id}, $prb->{id}));
my @pop = @mbis[0 .. 2];                    # the organization's active members
my %bene = map { $_ => sql("SELECT bene_id FROM beneficiary WHERE mbi = '$_'") } @mbis;
my %pid = map { $_ => sql("SELECT id FROM patient WHERE org_id = '$a->{id}' AND mbi = '$_'") } @mbis[0 .. 3];
my $in = join ',', map { "'$_'" } @pop;
sub stored {            # how many resources the claims store has of them
    my ($api, $where) = @_;
    return sql("SELECT count(*) FROM claims_resource r WHERE r.fhir_version = $ver{$api}
                AND r.mbi IN ($in) AND $where");
}

# --- the CapabilityStatement declares them -------------------------------------------
for my $api (qw(v2 v1)) {
    my $cs = json_of(req(GET => "/api/$api/metadata")) // {};
    my ($pat) = grep { $_->{type} eq 'Patient' } @{ $cs->{rest}[0]{resource} // [] };
    my ($op) = grep { $_->{name} eq 'export' } @{ $pat->{operation} // [] };
    my $def = sub { ref $_[0] ? $_[0]{reference} // '' : $_[0] // '' };
    ok t_cmp($def->($op->{definition}), 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export',
             "$api CapabilityStatement: Patient \$export (patient-export)");
    my ($sys) = grep { $_->{name} eq 'export' } @{ $cs->{rest}[0]{operation} // [] };
    ok t_cmp($def->($sys->{definition}), 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export',
             "$api CapabilityStatement: the system-level \$export");
}

# --- Patient/$export and $export: every member once ---------------------------------
for my $api (qw(v2 v1)) {
    for my $c (['Patient/$export', 'GET', 'patient'], ['$export', 'GET', 'system'],
               ['Patient/$export', 'POST', 'patient'], ['$export', 'POST', 'system']) {
        my ($path, $method, $population) = @$c;
        my $res = kick($api, $path, $method eq 'POST' ? (params => [{ name => '_type', valueString => 'Patient' }])
                                                      : (query => '?_type=Patient'));
        my $job = job_of($res);
        ok t_cmp($res->code . ' ' . sql("SELECT population || ' ' || coalesce(roster_id::text, '-') || ' '
            || (SELECT string_agg(m, ',' ORDER BY m) FROM export_batch, unnest(mbis) m WHERE job_id = '$job')
            FROM export_job WHERE id = '$job'"), "202 $population - " . join(',', sort @pop),
                 "$api $method $path: 202, a job of the organization's active members, each once");
        my @p = lines_of($api, manifest_of($api, $res));
        ok t_cmp(join(',', sort map { $_->{id} } of_type('Patient', @p)), join(',', sort map { $bene{$_} } @pop),
                 "$api $method $path: their Patient resources, one each");
    }
}

# --- one at a time, as for a Group; cancel ----------------------------------------------
my $running = sql("INSERT INTO export_job (org_id, population, dialect, fhir_version, request_url,
    types, resources_per_file, gzip, file_lifetime)
    VALUES ('$a->{id}', 'system', 'dpc-v2', 4, 'x', '{Patient}', 10, true, '1 hour') RETURNING id");
my $res = kick('v2', 'Patient/$export');
ok t_cmp($res->code . ' ' . ($res->header('Retry-After') // '-') . ' ' . job_of($res), "429 10 $running",
         'while an organization-wide export runs, another is 429 with its Content-Location');
my @others = (kick('v1', 'Patient/$export', query => '?_type=Patient'),
              kick('v2', "Group/$g1->{id}/\$export", query => '?_type=Patient'));
ok t_cmp($others[0]->code, 202, 'a v1 kick-off is not held up by a running v2 export');
ok t_cmp($others[1]->code, 202, 'nor is a Group export');
manifest_of('v1', $others[0]);
manifest_of('v2', $others[1]);
$res = req(DELETE => "/api/v2/Jobs/$running", auth('v2'));
ok t_cmp($res->code . ' ' . req(GET => "/api/v2/Jobs/$running", auth('v2'))->code, '202 404',
         'cancelled: 202, then its status 404');
$res = kick('v2', '$export', query => '?_type=Patient');
ok t_cmp($res->code, 202, 'then a kick-off starts');
manifest_of('v2', $res);

# --- patient -----------------------------------------------------------------------------
my @pick = ({ name => 'patient', valueReference => { reference => "Patient/$pid{$mbis[0]}" } },
            { name => 'patient', valueReference => { identifier => {
                system => 'http://hl7.org/fhir/sid/us-mbi', value => $mbis[2] } } });
for my $api (qw(v2 v1)) {
    $res = kick($api, 'Patient/$export', params => [@pick, { name => '_type', valueString => 'Patient' }]);
    my $job = job_of($res);
    ok t_cmp($res->code . ' ' . sql("SELECT string_agg(m, ',' ORDER BY m) FROM export_batch, unnest(mbis) m
        WHERE job_id = '$job'"), '202 ' . join(',', sort @mbis[0, 2]),
             "$api patient by id and by MBI: only those two");
    ok t_cmp(join(',', sort map { $_->{id} } lines_of($api, manifest_of($api, $res))),
             join(',', sort map { $bene{$_} } @mbis[0, 2]), "$api patient: their data only");
}
my @outside = ({ name => 'patient', valueReference => { reference => "Patient/$pid{$mbis[3]}" } },
               { name => 'patient', valueReference => { identifier => {
                   system => 'http://hl7.org/fhir/sid/us-mbi', value => $mbis[4] } } });
my $jobs0 = jobs();
$res = kick('v2', 'Patient/$export', params => [$pick[0], @outside]);
ok t_cmp($res->code . ' ' . oo_code($res) . ' ' . diagnostics(json_of($res)),
         "400 invalid patient: not among the beneficiaries of this export: Patient/$pid{$mbis[3]}, "
         . "MBI $mbis[4] (send Prefer: handling=lenient to have them skipped)",
         'a removed member and another organization\'s: 400 naming them');
$res = kick('v2', "Group/$g1->{id}/\$export", params => [$outside[0]]);
ok t_cmp($res->code, 400, 'a Group export: one not in the Group, 400');
$res = kick('v1', 'Patient/$export', query => "?patient=Patient/$pid{$mbis[0]}");
ok t_cmp($res->code . ' ' . diagnostics(json_of($res)), qr/^400 patient is taken in a POST's Parameters body/,
         'patient in a GET: 400');
$res = kick('v2', '$export', params => [$pick[0]]);
ok t_cmp($res->code . ' ' . oo_code($res) . ' ' . diagnostics(json_of($res)),
         qr/^400 not-supported patient does not apply to a system-level export/, 'patient on $export: 400');
$res = kick('v2', 'Patient/$export', params => [{ name => 'patient', valueString => 'Patient/1' }]);
ok t_cmp($res->code . ' ' . diagnostics(json_of($res)), qr/^400 .*takes a valueReference/,
         'patient as text in a POST: 400');
$res = kick('v2', 'Patient/$export', params => [{ name => 'patient', valueReference => { reference => 'Group/1' } }]);
ok t_cmp($res->code . ' ' . diagnostics(json_of($res)), qr/^400 patient Group\/1 is neither a reference/,
         'a reference to something else: 400');
ok t_cmp(jobs(), $jobs0, 'none of them recorded a job');
$res = kick('v2', 'Patient/$export', headers => \%lenient,
            params => [$pick[0], @outside, { name => '_type', valueString => 'Patient' }]);
my $m = manifest_of('v2', $res);
ok t_cmp(join(',', map { $_->{id} } lines_of('v2', $m)), $bene{$mbis[0]},
         'lenient: the others are skipped, the one in the population exported');
ok t_cmp(diagnostics(lines_of('v2', $m, 'error')),
         "The kick-off parameter patient=Patient/$pid{$mbis[3]} (not among the beneficiaries of this export) "
         . "was ignored (Prefer: handling=lenient) | The kick-off parameter patient=MBI $mbis[4] (not among the "
         . "beneficiaries of this export) was ignored (Prefer: handling=lenient)",
         'and each skipped one is reported in the error file');
$res = kick('v2', '$export', headers => \%lenient, params => [$pick[0], { name => '_type', valueString => 'Patient' }]);
$m = manifest_of('v2', $res);
ok t_cmp(scalar(of_type('Patient', lines_of('v2', $m))) . ' ' . diagnostics(lines_of('v2', $m, 'error')),
         qr/^3 The kick-off parameter patient was ignored/, 'lenient $export: patient ignored and reported');

# --- _typeFilter ---------------------------------------------------------------------
my $eob_type = sub {
    my ($r) = @_;
    my ($c) = grep { ($_->{system} // '') eq 'https://bluebutton.cms.gov/resources/codesystem/eob-type' }
              @{ $r->{type}{coding} // [] };
    return lc($c->{code} // '');
};
for my $api (qw(v2 v1)) {
    my $q = '?_type=ExplanationOfBenefit,Coverage&_typeFilter=ExplanationOfBenefit%3Ftype%3Dpde,carrier';
    $res = kick($api, 'Patient/$export', query => $q);
    my @r = lines_of($api, manifest_of($api, $res));
    my @eob = of_type('ExplanationOfBenefit', @r);
    my %types = map { $eob_type->($_) => 1 } @eob;
    ok t_cmp(scalar(@eob) . ' ' . join(',', sort keys %types),
             stored($api, "resource_type = 'ExplanationOfBenefit' AND claim_type IN ('pde', 'carrier')")
             . ' carrier,pde', "$api EOB?type=pde,carrier: every pde and carrier claim, nothing else");
    ok t_cmp(scalar(of_type('Coverage', @r)), stored($api, "resource_type = 'Coverage'"),
             "$api a type without a filter is exported whole");
    # two queries for a type: ORed; a repeated parameter: a range
    $res = kick($api, 'Patient/$export', params => [
        { name => '_type', valueString => 'ExplanationOfBenefit' },
        { name => '_typeFilter', valueString => 'ExplanationOfBenefit?type=snf' },
        { name => '_typeFilter', valueString => 'ExplanationOfBenefit?service-date=ge2023-01-01&service-date=lt2023-07-01' }]);
    @eob = lines_of($api, manifest_of($api, $res));
    my $bad = grep { $eob_type->($_) ne 'snf' && !(($_->{billablePeriod}{end} // '') ge '2023-01-01'
                                                 && ($_->{billablePeriod}{start} // '') lt '2023-07-01') } @eob;
    ok t_cmp(scalar(@eob) . " $bad " . (@eob > 0 ? 'some' : 'none'),
             stored($api, "resource_type = 'ExplanationOfBenefit' AND (claim_type = 'snf'
        OR (service_end >= '2023-01-01' AND service_start < '2023-07-01'))") . ' 0 some',
             "$api two _typeFilter queries are ORed, repeated service-date a range (POST)");
    $res = kick($api, '$export', query => '?_type=Coverage,Patient&_typeFilter=Coverage%3Fstatus%3Dcancelled');
    @r = lines_of($api, manifest_of($api, $res));
    ok t_cmp(scalar(of_type('Coverage', @r)) . ' ' . scalar(of_type('Patient', @r)), '0 3',
             "$api Coverage?status=cancelled on \$export: none of the active Coverage");
}
$res = kick('v2', "Group/$g1->{id}/\$export", query => '?_typeFilter=ExplanationOfBenefit%3Fservice-date%3Dle2021-12-31');
my @eob = of_type('ExplanationOfBenefit', lines_of('v2', manifest_of('v2', $res)));
ok t_cmp(scalar(@eob) . ' ' . scalar(grep { ($_->{billablePeriod}{start} // '9') gt '2021-12-31' } @eob)
         . (@eob > 0 ? ' some' : ' none'),
         stored('v2', "resource_type = 'ExplanationOfBenefit' AND service_start <= '2021-12-31'") . ' 0 some',
         'a Group export takes _typeFilter too');
$jobs0 = jobs();
for my $c (['ExplanationOfBenefit%3Ftype%3Dfoo', 'invalid', qr/type foo is not a claim type/],
           ['ExplanationOfBenefit%3F_sort%3Dtype', 'not-supported', qr/ExplanationOfBenefit\?_sort is not a filter this server has/],
           ['Patient%3Fgender%3Dmale', 'not-supported', qr/Patient\?gender is not a filter/],
           ['ExplanationOfBenefit%3Fservice-date%3D2021', 'invalid', qr/service-date 2021 is not/]) {
    $res = kick('v1', 'Patient/$export', query => "?_typeFilter=$c->[0]");
    ok t_cmp($res->code . ' ' . oo_code($res) . ' ' . diagnostics(json_of($res)), qr/^400 $c->[1] _typeFilter .*$c->[2]/,
             "_typeFilter $c->[0]: 400 $c->[1] naming it");
}
$res = kick('v2', 'Patient/$export', query => '?_type=Patient&_typeFilter=Coverage%3Fstatus%3Dactive');
ok t_cmp($res->code . ' ' . diagnostics(json_of($res)), qr/^400 .*Coverage is not among the types this export writes/,
         'a filter of a type left out by _type: 400');
ok t_cmp(jobs(), $jobs0, 'no job recorded by any');
$res = kick('v2', 'Patient/$export', headers => \%lenient,
            query => '?_type=ExplanationOfBenefit&_typeFilter=ExplanationOfBenefit%3F_sort%3Dtype');
$m = manifest_of('v2', $res);
ok t_cmp(scalar(lines_of('v2', $m)) . ' ' . diagnostics(lines_of('v2', $m, 'error')),
         stored('v2', "resource_type = 'ExplanationOfBenefit'") . ' The kick-off parameter '
         . '_typeFilter=ExplanationOfBenefit?_sort=type (ExplanationOfBenefit?_sort is not a filter this server '
         . 'has (supported: ExplanationOfBenefit?type=, ExplanationOfBenefit?service-date=, Coverage?status=)) '
         . 'was ignored (Prefer: handling=lenient)',
         'lenient: an unsupported filter is ignored (nothing filtered) and reported');

# --- _until ---------------------------------------------------------------------------
for my $api (qw(v2 v1)) {
    $res = kick($api, 'Patient/$export', query => '?_since=2020-03-01T00:00:00Z&_until=2023-06-30T12:00:00%2B00:00');
    my @r = lines_of($api, manifest_of($api, $res));
    my $late = grep { ($_->{meta}{lastUpdated} // '') gt '2023-06-30T12:00:00' } @r;
    ok t_cmp(scalar(@r) . " $late " . (@r > 0 ? 'some' : 'none'), stored($api, "last_updated > '2020-03-01T00:00:00Z'
        AND last_updated <= '2023-06-30T12:00:00Z'") . ' 0 some', "$api _since and _until: the window's resources");
}
$jobs0 = jobs();
$res = kick('v2', 'Patient/$export', query => '?_since=2023-01-01T00:00:00Z&_until=2022-01-01T00:00:00Z');
ok t_cmp($res->code . ' ' . diagnostics(json_of($res)), '400 _until is before _since', '_until before _since: 400');
$res = kick('v1', 'Patient/$export', query => '?_until=2022-01-01');
ok t_cmp($res->code . ' ' . diagnostics(json_of($res)), qr/^400 _until: /, 'an _until without a time: 400');
ok t_cmp(jobs(), $jobs0, 'no job recorded');
ok t_cmp(sql("SELECT until = '2023-06-30T12:00:00Z' FROM export_job WHERE org_id = '$a->{id}'
              AND until IS NOT NULL ORDER BY created_at LIMIT 1"), 't', 'the job carries _until');

# --- includeAssociatedData and _elements: GET and POST alike ------------------------------
$jobs0 = jobs();
for my $api (qw(v2 v1)) {
    for my $p (['includeAssociatedData', 'LatestProvenanceResources'], ['_elements', 'id']) {
        my $msg = "$p->[0] is not supported (send Prefer: handling=lenient to have it ignored)";
        $res = kick($api, 'Patient/$export', query => "?$p->[0]=$p->[1]");
        ok t_cmp($res->code . ' ' . oo_code($res) . ' ' . diagnostics(json_of($res)), "400 not-supported $msg",
                 "$api GET $p->[0]: 400 naming it");
        $res = kick($api, '$export', params => [{ name => $p->[0], valueString => $p->[1] }]);
        ok t_cmp($res->code . ' ' . oo_code($res) . ' ' . diagnostics(json_of($res)), "400 not-supported $msg",
                 "$api POST $p->[0]: the same");
    }
}
ok t_cmp(jobs(), $jobs0, 'no job recorded');
$res = kick('v1', 'Patient/$export', headers => \%lenient,
            params => [{ name => 'includeAssociatedData', valueCode => 'LatestProvenanceResources' },
                       { name => '_elements', valueString => 'id' }, { name => '_type', valueString => 'Patient' }]);
$m = manifest_of('v1', $res);
ok t_cmp(scalar(lines_of('v1', $m)) . ' ' . diagnostics(lines_of('v1', $m, 'error')),
         '3 The kick-off parameter includeAssociatedData was ignored (Prefer: handling=lenient) | '
         . 'The kick-off parameter _elements was ignored (Prefer: handling=lenient)',
         'lenient: both ignored, the export made, each reported');
$res = kick('v2', "Group/$g1->{id}/\$export", headers => \%lenient, query => '?_type=Patient&_elements=id');
ok t_cmp(diagnostics(lines_of('v2', manifest_of('v2', $res), 'error')),
         'The kick-off parameter _elements was ignored (Prefer: handling=lenient)', 'on a Group export too');
