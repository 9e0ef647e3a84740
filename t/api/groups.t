# Attribution rosters (Group): attestation, both member styles, one roster
# per practitioner, $add, $remove, PUT, search, the cap, expiry, and
# organizations kept apart.  Every refused write changes nothing.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use JSON::PP;
use DPC::Test qw(req json_of oo_code sql);
use DPC::JWT qw(gen_keys);
use DPC::Org;

plan tests => 72;

my $dir = tempdir(CLEANUP => 1);
gen_keys($dir, g1 => 'ec', g2 => 'ec');
my $a = DPC::Org->new(name => 'Roster A', key_path => "$dir/g1", alg => 'ES384');
my $b = DPC::Org->new(name => 'Roster B', key_path => "$dir/g2", alg => 'ES384');
my $json = JSON::PP->new->canonical;
my %ha = (Authorization => 'Bearer ' . $a->access_token, 'Content-Type' => 'application/fhir+json');
my %hb = (Authorization => 'Bearer ' . $b->access_token, 'Content-Type' => 'application/fhir+json');
my $NPI = '1234567893';
my $NPI2 = '1245319599';
sub mbi { sprintf '1EG%dTE5MK%02d', int($_[0] / 100), $_[0] % 100 }
sub post { my ($path, $body, %h) = @_; req(POST => $path, %h, content => ref $body ? $json->encode($body) : $body) }

sub prac { { resourceType => 'Practitioner', name => [{ family => 'Doe', given => ['Jo'] }],
             identifier => [{ system => 'http://hl7.org/fhir/sid/us-npi', value => $_[0] }] } }
sub pat { { resourceType => 'Patient', name => [{ family => 'Roe', given => ['Al'] }],
            birthDate => '1950-01-01',
            identifier => [{ system => 'http://hl7.org/fhir/sid/us-mbi', value => $_[0] }] } }
sub bundle { { resourceType => 'Parameters', parameter => [{ name => 'resource', resource =>
    { resourceType => 'Bundle', type => 'collection', entry => [map { { resource => $_ } } @_] } }] } }

my $pr = json_of(post('/api/v2/Practitioner', prac($NPI), %ha));
my $pr2 = json_of(post('/api/v2/Practitioner', prac($NPI2), %ha));
post('/api/v2/Practitioner', prac($NPI), %hb);
my $pats = json_of(post('/api/v2/Patient/$submit', bundle(map { pat(mbi($_)) } 1 .. 30), %ha));
my @pid = map { $_->{resource}{id} } @{ $pats->{entry} };
my %mbi_of = map { ($_->{resource}{id} => $_->{resource}{identifier}[0]{value}) } @{ $pats->{entry} };
my $bpat = json_of(post('/api/v2/Patient', pat(mbi(1)), %hb));

sub provenance {
    my (%o) = @_;
    my $p = { resourceType => 'Provenance', recorded => $o{recorded} // '2026-01-02T15:04:05Z',
              reason => [{ coding => [{ system => 'http://hl7.org/fhir/v3/ActReason',
                                        code => $o{reason} // 'TREAT' }] }],
              agent => [{ role => [{ coding => [{ system => 'http://hl7.org/fhir/v3/RoleClass',
                                                  code => 'AGNT' }] }],
                          who => { reference => 'Organization/' . ($o{org} // $a->{id}) },
                          onBehalfOf => { reference => 'Practitioner/' . ($o{prac} // $pr->{id}) } }] };
    delete $p->{agent}[0]{onBehalfOf} if $o{no_behalf};
    return $json->encode($p);
}
sub group {
    my (%o) = @_;
    my @members = map { { entity => { reference => "Patient/$_" } } } @{ $o{refs} // [] };
    push @members, map { { entity => { identifier => { system => 'http://hl7.org/fhir/sid/us-mbi',
        value => $_ }, type => 'Patient' }, extension => [{
        url => 'http://hl7.org/fhir/us/davinci-atr/StructureDefinition/ext-attributedProvider',
        valueReference => { identifier => { system => 'http://hl7.org/fhir/sid/us-npi',
                                            value => $o{npi} // $NPI }, type => 'Practitioner' } }] } }
        @{ $o{mbis} // [] };
    return { resourceType => $o{type} // 'Group', type => 'person', actual => JSON::PP::true,
             characteristic => [{ code => { coding => [{ code => 'attributed-to' }] },
                 valueCodeableConcept => { coding => [{ system => 'http://hl7.org/fhir/sid/us-npi',
                                                        code => $o{npi} // $NPI }] } }],
             member => \@members };
}
sub state { join '/', map { sql($_) } "SELECT count(*) FROM roster WHERE org_id = '$a->{id}'",
    q{SELECT count(*) FROM attribution}, q{SELECT count(*) FROM attestation},
    "SELECT count(*) FROM patient WHERE org_id = '$a->{id}'",
    q{SELECT coalesce(sum(extract(epoch from period_start)), 0) FROM attribution} }

# --- refusals before any roster exists: each changes nothing --------------------
my $s0 = state();
my @bad = (
    [ 'no X-Provenance', undef, group(refs => [@pid[0, 1]]), 422 ],
    [ 'X-Provenance not JSON', '{nope', group(refs => [@pid[0, 1]]), 422 ],
    [ 'reason not TREAT', provenance(reason => 'HMARKT'), group(refs => [@pid[0, 1]]), 422 ],
    [ 'who another organization', provenance(org => $b->{id}), group(refs => [@pid[0, 1]]), 422 ],
    [ 'no onBehalfOf on v1 (its guide attests on behalf of a provider)', provenance(no_behalf => 1),
      group(refs => [@pid[0, 1]]), 422, '/api/v1/Group' ],
    [ 'onBehalfOf another practitioner', provenance(prac => $pr2->{id}),
      group(refs => [@pid[0, 1]]), 422 ],
    [ 'recorded in the future', provenance(recorded => '2999-01-01T00:00:00Z'),
      group(refs => [@pid[0, 1]]), 422 ],
    [ 'not a Group', provenance(), group(type => 'List', refs => [$pid[0]]), 422 ],
    [ 'malformed body', provenance(), '{"resourceType": "Group",', 400 ],
    [ "another organization's patient", provenance(), group(refs => [$pid[0], $bpat->{id}]), 422 ],
    [ 'unknown patient', provenance(), group(refs => ['00000000-0000-4000-8000-000000000000']), 422 ],
    [ 'unregistered NPI', provenance(), group(npi => '1003000126', refs => [$pid[0]]), 422 ],
    [ 'a patient twice', provenance(), group(refs => [$pid[0], $pid[0]]), 422 ],
    [ 'over the cap', provenance(), group(refs => [@pid[0 .. 25]]), 422 ],
);
for my $c (@bad) {
    my ($name, $prov, $body, $code, $path) = @$c;
    my $res = post($path // '/api/v2/Group', $body, %ha, ($prov ? ('X-Provenance' => $prov) : ()));
    ok t_cmp($res->code . ' ' . (oo_code($res) ne '' ? 'OO' : 'not OO'), "$code OO", "$name: $code");
}
ok t_cmp(state(), $s0, 'and none of them stored anything');

# --- create ------------------------------------------------------------------------
my $res = post('/api/v1/Group', group(refs => [@pid[0 .. 2]]), %ha, 'X-Provenance' => provenance());
ok t_cmp($res->code, 201, 'create a roster (v1 members)');
my $g = json_of($res);
my $gid = $g->{id};
ok t_cmp($res->header('Location'), qr{/Group/$gid$}, 'Location');
ok t_cmp(scalar @{ $g->{member} }, 3, 'three members');
ok t_cmp($g->{member}[0]{entity}{reference}, qr{^Patient/}, 'v1: members by reference');
ok t_cmp(($g->{member}[0]{inactive} ? 1 : 0) . ' ' . ($g->{member}[0]{period}{end} // ''),
         qr/^0 \d{4}-/, 'active, with a period end');
my $days = sql("SELECT round(extract(epoch from period_end - period_start) / 86400)
                FROM attribution WHERE roster_id = '$gid' LIMIT 1");
ok t_cmp($days, 90, 'of 90 days');
ok t_cmp(sql("SELECT count(*) FROM attestation WHERE roster_id = '$gid' AND action = 'create'"),
         1, 'the attestation is kept');

$res = req(GET => "/api/v2/Group/$gid", %ha);
my $r4 = json_of($res);
ok t_cmp($r4->{member}[0]{entity}{identifier}{system}, 'http://hl7.org/fhir/sid/us-mbi',
         'v2: members by MBI');
ok t_cmp($r4->{managingEntity}{reference}, "Organization/$a->{id}", 'v2: managingEntity');
$res = req(GET => "/api/v2/Group/$gid", %hb);
ok t_cmp($res->code, 404, "another organization's roster: 404");

# DPC v1: one roster per practitioner
$res = post('/api/v1/Group', group(refs => [$pid[3]]), %ha, 'X-Provenance' => provenance());
ok t_cmp($res->code, 409, 'v1: a second roster for the same practitioner: 409');
ok t_cmp(sql("SELECT count(*) FROM roster WHERE org_id = '$a->{id}'"), 1, 'still one roster');

# --- search ------------------------------------------------------------------------
for my $q ("characteristic-value=attributed-to\$$NPI", "characteristic-value=|attributed-to\$|$NPI",
           "characteristic=attributed-to&characteristic-code=$NPI") {
    $res = req(GET => "/api/v2/Group?$q", %ha);
    ok t_cmp(json_of($res)->{total}, 1, "search $q");
}
$res = req(GET => "/api/v2/Group?characteristic-value=attributed-to\$$NPI", %hb);
ok t_cmp(json_of($res)->{total}, 0, "another organization's search finds none");
$res = req(GET => "/api/v2/Group?characteristic-value=attributed-to\$$NPI2", %ha);
ok t_cmp(json_of($res)->{total}, 0, 'another NPI: none');
$res = req(GET => '/api/v2/Group?characteristic-value=nonsense', %ha);
ok t_cmp($res->code, 400, 'a malformed characteristic-value: 400');

# --- $add: v2 members, unknown MBIs registered, re-attestation restarts periods ----
sql("UPDATE attribution SET period_start = now() - interval '30 days',
     period_end = now() + interval '60 days' WHERE roster_id = '$gid'");
my $npat = sql("SELECT count(*) FROM patient WHERE org_id = '$a->{id}'");
$res = post("/api/v2/Group/$gid/\$add", group(mbis => [$mbi_of{$pid[0]}, mbi(250)]), %ha,
            'X-Provenance' => provenance());
ok t_cmp($res->code, 200, '$add (v2 members)');
ok t_cmp(scalar @{ json_of($res)->{member} }, 4, 'one new member, one re-attested');
ok t_cmp(sql("SELECT count(*) FROM patient WHERE org_id = '$a->{id}'"), $npat + 1,
         'the unregistered MBI became a patient');
my $p0 = $pid[0];
ok t_cmp(sql("SELECT period_start > now() - interval '1 minute' FROM attribution
              WHERE roster_id = '$gid' AND patient_id = '$p0'"), 't', '$add restarts the period');
ok t_cmp(sql("SELECT period_start < now() - interval '1 day' FROM attribution
              WHERE roster_id = '$gid' AND patient_id = '$pid[1]'"), 't', 'others keep theirs');
$res = post("/api/v2/Group/$gid/\$add", group(refs => [$pid[4]]), %ha);
ok t_cmp($res->code, 422, '$add without X-Provenance: 422');
$res = post("/api/v2/Group/$gid/\$add", group(refs => [$pid[4]]), %hb,
            'X-Provenance' => provenance(org => $b->{id}));
ok t_cmp($res->code, 404, "\$add to another organization's roster: 404");
$res = post("/api/v2/Group/$gid/\$add", group(npi => $NPI2, refs => [$pid[4]]), %ha,
            'X-Provenance' => provenance(prac => $pr2->{id}));
ok t_cmp($res->code, 422, '$add with another NPI than the roster: 422');

# the cap counts what the roster would hold: 4 now, 22 more is 26
my $s1 = state();
$res = post("/api/v2/Group/$gid/\$add", group(refs => [@pid[5 .. 26]]), %ha,
            'X-Provenance' => provenance());
ok t_cmp($res->code . ' ' . oo_code($res), '422 too-costly', '$add over the cap: 422 too-costly');
ok t_cmp(state(), $s1, 'fails whole: nothing changed');

# --- $remove, expiry -----------------------------------------------------------------
$res = post("/api/v2/Group/$gid/\$remove", group(refs => [$pid[1]]), %ha);
ok t_cmp($res->code, 200, '$remove');
my ($m1) = grep { ($_->{entity}{identifier}{value} // '') eq $mbi_of{$pid[1]} } @{ json_of($res)->{member} };
ok t_cmp($m1 && $m1->{inactive} ? 1 : 0, 1, 'the member reads inactive');
my $removed_at = sql("SELECT to_char(removed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')"
                     . " FROM attribution WHERE roster_id = '$gid' AND patient_id = '$pid[1]'");
ok t_cmp($m1 && $m1->{period}{end}, qr/^\Q$removed_at\E/, 'its period ends at the removal: the time it *was* active');
ok t_cmp(sql("SELECT period_end = removed_at FROM attribution WHERE roster_id = '$gid' AND patient_id = '$pid[1]'"),
         't', 'and so it is stored');
sql("UPDATE attribution SET period_start = now() - interval '100 days',
     period_end = now() - interval '10 days' WHERE roster_id = '$gid' AND patient_id = '$pid[2]'");
$res = req(GET => "/api/v2/Group/$gid", %ha);
my ($m2) = grep { ($_->{entity}{identifier}{value} // '') eq $mbi_of{$pid[2]} } @{ json_of($res)->{member} };
ok t_cmp($m2 && $m2->{inactive} ? 1 : 0, 1, 'a member past its period end reads inactive, no job needed');
my ($m0) = grep { ($_->{entity}{identifier}{value} // '') eq $mbi_of{$pid[0]} } @{ json_of($res)->{member} };
ok t_cmp($m0 && !$m0->{inactive} ? 1 : 0, 1, 'others stay active');
# the v1 guide's $remove names the Group in the URL; the body may list members only
my $bare = group(refs => [$pid[0]]);
delete $bare->{characteristic};
$res = post("/api/v2/Group/$gid/\$remove", $bare, %ha);
my ($m0r) = grep { ($_->{entity}{identifier}{value} // '') eq $mbi_of{$pid[0]} } @{ json_of($res)->{member} // [] };
ok t_cmp($res->code . ' ' . ($m0r && $m0r->{inactive} ? 'inactive' : 'active'), '200 inactive',
         '$remove with members only (no attributed-to): 200, the member inactive');
$bare->{characteristic} = group(npi => $NPI2)->{characteristic};
$res = post("/api/v2/Group/$gid/\$remove", $bare, %ha);
ok t_cmp($res->code, 422, '$remove naming another provider than the roster\'s: still 422');
$res = post("/api/v2/Group/$gid/\$add", group(refs => [$pid[1], $pid[2]]), %ha,
            'X-Provenance' => provenance());
$res = req(GET => "/api/v2/Group/$gid", %ha);
ok t_cmp(join(' ', map { $_->{entity}{identifier}{value} } grep { $_->{inactive} } @{ json_of($res)->{member} }),
         $mbi_of{$pid[0]}, 're-attesting makes removed and expired members active again (only the one removed since stays out)');

# --- PUT replaces the membership --------------------------------------------------------
$res = req(PUT => "/api/v2/Group/$gid", %ha, 'X-Provenance' => provenance(),
           content => $json->encode(group(refs => [@pid[10, 11]])));
ok t_cmp($res->code, 200, 'PUT');
my @now = sort map { $_->{entity}{identifier}{value} } @{ json_of($res)->{member} };
ok t_cmp("@now", join(' ', sort map { $mbi_of{$_} } @pid[10, 11]), 'holds exactly the new members');
ok t_cmp(sql("SELECT count(*) FROM attribution WHERE roster_id = '$gid'"), 2, 'and nothing else');
$res = req(PUT => "/api/v2/Group/$gid", %ha, content => $json->encode(group(refs => [$pid[12]])));
ok t_cmp($res->code, 422, 'PUT without X-Provenance: 422');
$res = req(PUT => "/api/v2/Group/$gid", %ha, 'X-Provenance' => provenance(),
           content => $json->encode(group(refs => [@pid[0 .. 25]])));
ok t_cmp($res->code, 422, 'PUT over the cap: 422');
ok t_cmp(sql("SELECT count(*) FROM attribution WHERE roster_id = '$gid'"), 2, 'roster as it was');
# create, two $add and a PUT attested; $remove needs no attestation
ok t_cmp(sql("SELECT count(*) FROM attestation WHERE roster_id = '$gid'"), 4,
         'one attestation kept for every accepted write');

# --- the second practitioner's roster, from v2 members only --------------------------
# as the v2 guide's attestation: no onBehalfOf (the members name the provider)
$res = post('/api/v2/Group', group(npi => $NPI2, mbis => [mbi(1), mbi(2)]), %ha,
            'X-Provenance' => provenance(no_behalf => 1));
ok t_cmp($res->code, 201, 'a roster for another practitioner, attested without onBehalfOf on v2');
$res = req(GET => '/api/v2/Group', %ha);
ok t_cmp(json_of($res)->{total}, 2, 'the organization now has two');

# --- DPC v2: a new Group for every export request ---------------------------------------
# each member names its own practitioner, registered on first use (the v2
# guide has no Practitioner step); one Group may hold several practitioners'
my $NPI3 = '1003000126';
my $v2a = post('/api/v2/Group', group(mbis => [mbi(40)], npi => $NPI2), %ha,
               'X-Provenance' => provenance(no_behalf => 1));
my $mixed = group(mbis => [mbi(41)], npi => $NPI3);
delete $mixed->{characteristic};
push @{ $mixed->{member} }, @{ group(mbis => [mbi(42)])->{member} };
my $v2b = post('/api/v2/Group', $mixed, %ha, 'X-Provenance' => provenance(no_behalf => 1));
my $gb = json_of($v2b) // {};
ok t_cmp(join(' ', $v2a->code, $v2b->code, (json_of($v2a) // {})->{id} ne ($gb->{id} // '') ? 'two ids' : 'one id'),
         '201 201 two ids', 'v2: every POST makes a new Group, with an id of its own');
ok t_cmp(join(' ', sort map { $_->{extension}[0]{valueReference}{identifier}{value} } @{ $gb->{member} // [] }),
         "$NPI3 $NPI", 'v2: one Group holds members of two practitioners, each named on its member');
ok t_cmp(sql("SELECT count(*) FROM practitioner WHERE org_id = '$a->{id}' AND npi = '$NPI3'"), 1,
         'v2: a practitioner named by NPI is registered on first use');
ok t_cmp($gb->{characteristic} ? 'characteristic' : 'none', 'none',
         'v2: a Group of several practitioners names none in a characteristic');
$res = req(GET => "/api/v2/Group?characteristic-value=attributed-to\$$NPI3", %ha);
ok t_cmp(join(' ', map { $_->{resource}{id} } @{ json_of($res)->{entry} }), $gb->{id} // '-',
         "v2: the search by NPI finds the Group by its members' practitioner");
$res = post('/api/v2/Group', $mixed, %ha, 'X-Provenance' => provenance(prac => $pr2->{id}));
ok t_cmp($res->code . ' ' . oo_code($res), '422 security',
         "v2: an onBehalfOf naming a practitioner the Group does not attribute to: 422");
$res = post('/api/v2/Group', $mixed, %ha, 'X-Provenance' => provenance());
ok t_cmp($res->code, 201, 'v2: an onBehalfOf naming one of its practitioners: 201');
$res = req(DELETE => "/api/v2/Group/" . json_of($res)->{id}, %ha);
$res = post("/api/v2/Group/$gb->{id}/\$add", group(mbis => [mbi(43)], npi => $NPI2), %ha,
            'X-Provenance' => provenance(no_behalf => 1));
ok t_cmp($res->code . ' ' . scalar(@{ json_of($res)->{member} // [] }), '200 3',
         'v2: $add to such a Group with a third practitioner: 200');
for my $g ((json_of($v2a) // {})->{id}, $gb->{id}) { req(DELETE => "/api/v2/Group/$g", %ha) if $g }


# --- delete ----------------------------------------------------------------------------
$res = req(DELETE => "/api/v2/Group/$gid", %hb);
ok t_cmp($res->code, 404, "delete another organization's roster: 404");
$res = req(DELETE => "/api/v2/Group/$gid", %ha);
ok t_cmp($res->code, 200, 'delete');
ok t_cmp(sql("SELECT count(*) FROM attestation WHERE roster_id = '$gid'"), 4,
         'its attestations stay for audit');
