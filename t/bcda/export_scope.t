# BCDA (v1 and v2) kick-offs with _typeFilter and _until, which the real
# server silently ignores (bcda-ab2d-behaviour A6) and this one applies on
# the claims store's columns; what BCDA does not take (includeAssociatedData,
# _elements, patient) refused in its words on every kick-off route, changing
# nothing.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestRequest ();
use Apache::TestUtil;
use File::Temp qw(tempdir);
use JSON::PP qw(decode_json);
use MIME::Base64 qw(encode_base64);
use DPC::Test qw(req json_of sql dpcctl wait_for oo_code);

plan tests => 20;

Apache::TestRequest::module('bcda');
my $dir = tempdir(CLEANUP => 1);
sub ctl { my ($st, $out, $err) = dpcctl(@_); die "dpcctl @_: $err" if $st; decode_json($out) }
ctl('aco', 'create', '--cms-id', 'A9931', '--name', 'Filter ACO');
my $c = ctl('credential', 'create', '--aco', 'A9931');
my $tok = json_of(req(POST => '/auth/token', Accept => 'application/json',
                      Authorization => 'Basic ' . encode_base64("$c->{client_id}:$c->{client_secret}", '')))
          ->{access_token};
my @mbis = map { sql("SELECT mbi FROM beneficiary ORDER BY mbi OFFSET $_ LIMIT 1") } 7 .. 9;
open(my $fh, '>', "$dir/cclf8.txt") or die;
print $fh "$_\n" for @mbis;
close $fh;
ctl('attribution', 'load', '--aco', 'A9931', '--file', "$dir/cclf8.txt");
my $org = sql("SELECT id FROM organization WHERE cms_id = 'A9931'");
my %kick = (Authorization => "Bearer $tok", Accept => 'application/fhir+json', Prefer => 'respond-async');
my %ver = (v2 => 4, v1 => 3);
my $in = join ',', map { "'$_'" } @mbis;
sub stored {
    my ($api, $where) = @_;
    sql("SELECT count(*) FROM claims_resource WHERE fhir_version = $ver{$api} AND mbi IN ($in) AND $where");
}
# Every resource an export made, once its job is done.
sub exported {
    my ($res) = @_;
    my ($loc) = ($res->header('Content-Location') // '') =~ m{(/api/v\d/jobs/\d+)$};
    return () unless $res->code == 202 && $loc;
    my $r = wait_for(30, sub { my $r = req(GET => $loc, Authorization => "Bearer $tok");
                               $r->code == 200 ? $r : undef });
    return () unless $r;
    return map { (my $p = $_->{url}) =~ s{^https?://[^/]+}{};
                 map { decode_json($_) } split /\n/, req(GET => $p, Authorization => "Bearer $tok")->content }
           @{ json_of($r)->{output} // [] };
}
sub of_type { my ($t, @r) = @_; grep { ($_->{resourceType} // '') eq $t } @r }
sub claim_type {
    my ($c) = grep { ($_->{system} // '') =~ m{/eob-type$} } @{ $_[0]{type}{coding} // [] };
    lc($c->{code} // '');
}

# v1's files are encrypted by default (t/bcda/encrypt.t): its filters are
# read here from the plain files of /plain/api/v1
my %base = (v2 => '/api/v2', v1 => '/plain/api/v1');
for my $api (qw(v2 v1)) {
    my $res = req(GET => "$base{$api}/Patient/\$export?_type=ExplanationOfBenefit,Coverage"
                  . '&_typeFilter=ExplanationOfBenefit%3Ftype%3Dinpatient,outpatient,pde', %kick);
    ok t_cmp($res->code, 202, "$api Patient/\$export with _typeFilter: 202");
    my @r = exported($res);
    my @eob = of_type('ExplanationOfBenefit', @r);
    my $other = grep { claim_type($_) !~ /^(inpatient|outpatient|pde)$/ } @eob;
    ok t_cmp(scalar(@eob) . " $other " . (@eob ? 'some' : 'none'),
             stored($api, "resource_type = 'ExplanationOfBenefit' AND claim_type IN ('inpatient', 'outpatient', 'pde')")
             . ' 0 some', "$api: the claims of those types only");
    ok t_cmp(scalar(of_type('Coverage', @r)), stored($api, "resource_type = 'Coverage'"),
             "$api: Coverage, not filtered, whole");
    $res = req(GET => "$base{$api}/Group/all/\$export?_type=ExplanationOfBenefit"
               . '&_typeFilter=ExplanationOfBenefit%3Fservice-date%3Dge2024-01-01'
               . '&_since=2020-03-01T00:00:00Z&_until=2025-12-31T23:59:59Z', %kick);
    ok t_cmp($res->code, 202, "$api Group/all/\$export with service-date, _since and _until: 202");
    @eob = exported($res);
    my $out = grep { ($_->{billablePeriod}{end} // '') lt '2024-01-01'
                     || ($_->{meta}{lastUpdated} // '') gt '2025-12-31T23:59:59' } @eob;
    ok t_cmp(scalar(@eob) . " $out " . (@eob ? 'some' : 'none'),
             stored($api, "resource_type = 'ExplanationOfBenefit' AND service_end >= '2024-01-01'
                 AND last_updated > '2020-03-01T00:00:00Z' AND last_updated <= '2025-12-31T23:59:59Z'")
             . ' 0 some', "$api: the claims served from 2024 on, updated in the window");
}

# refusals: a 400 in BCDA's words, no job
my $jobs0 = sql("SELECT count(*) FROM export_job WHERE org_id = '$org'");
for my $c (['v2', 'Patient', '_typeFilter=ExplanationOfBenefit%3Ftype%3Dclaim', qr/^400 _typeFilter .*type claim is not a claim type/],
           ['v1', 'Group/all', '_typeFilter=Coverage%3F_include%3Dx', qr/^400 _typeFilter .*Coverage\?_include is not a filter/],
           ['v2', 'Patient', '_until=2020-01-01', qr/^400 _until: /],
           ['v1', 'Group/all', '_since=2024-01-01T00:00:00Z&_until=2023-01-01T00:00:00Z', qr/^400 _until is before _since$/],
           ['v2', 'Group/all', 'includeAssociatedData=LatestProvenanceResources',
            qr/^400 Invalid parameter: this server does not support the includeAssociatedData parameter\.$/],
           ['v1', 'Patient', '_elements=id', qr/^400 Invalid parameter: this server does not support the _elements parameter\.$/],
           ['v1', 'ExplanationOfBenefit', 'patient=Patient/-1', qr/^400 Invalid parameter: this server does not support the patient parameter\.$/]) {
    my ($api, $route, $q, $want) = @$c;
    my $res = req(GET => "/api/$api/$route/\$export?$q", %kick);
    ok t_cmp($res->code . ' ' . (json_of($res)->{issue}[0]{diagnostics} // ''), $want, "$api $route ?$q: 400");
}
ok t_cmp(sql("SELECT count(*) FROM export_job WHERE org_id = '$org'"), $jobs0, 'none made a job');
# a lenient Prefer changes nothing: BCDA has no lenient handling
my $res = req(GET => '/api/v2/Patient/$export?_elements=id', %kick, Prefer => 'respond-async, handling=lenient');
ok t_cmp($res->code, 400, 'handling=lenient: still 400');
ok t_cmp(sql("SELECT type_filter::text FROM export_job WHERE org_id = '$org' AND type_filter IS NOT NULL
              ORDER BY number LIMIT 1"), '{"ExplanationOfBenefit": [{"type": [["inpatient", "outpatient", "pde"]]}]}',
         'the job carries its filter');
