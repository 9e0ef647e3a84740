# Practitioner and Patient: create, read, search, update, delete, $submit
# and $validate, each scoped to the caller's organization.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use JSON::PP;
use DPC::Test qw(req json_of oo_code sql);
use DPC::JWT qw(gen_keys);
use DPC::Org;

plan tests => 62;

my $dir = tempdir(CLEANUP => 1);
gen_keys($dir, p1 => 'ec', p2 => 'ec');
my $a = DPC::Org->new(name => 'People A', key_path => "$dir/p1", alg => 'ES384');
my $b = DPC::Org->new(name => 'People B', key_path => "$dir/p2", alg => 'ES384');
my %ha = (Authorization => 'Bearer ' . $a->access_token, 'Content-Type' => 'application/fhir+json');
my %hb = (Authorization => 'Bearer ' . $b->access_token, 'Content-Type' => 'application/fhir+json');
# Production's rules: the virtual host without DPCSyntheticIdentifiers (the
# main test server is a sandbox, and accepts the guides' sample NPIs)
Apache::TestRequest::module('dpc_vhost');
my $json = JSON::PP->new->canonical;

sub prac {
    my ($npi, %o) = @_;
    return { resourceType => 'Practitioner',
             identifier => [{ system => 'http://hl7.org/fhir/sid/us-npi', value => $npi }],
             name => [{ family => $o{family} // 'Klocko', given => ['Leonard'] }] };
}
sub pat {
    my ($mbi, %o) = @_;
    return { resourceType => 'Patient',
             identifier => [{ system => 'http://hl7.org/fhir/sid/us-mbi', value => $mbi }],
             name => [{ family => 'Prosacco', given => ['Jonathan'] }],
             birthDate => $o{birthDate} // '1943-06-08', gender => 'male' };
}
sub post { my ($path, $body, %h) = @_; req(POST => $path, %h, content => ref $body ? $json->encode($body) : $body) }
sub count_pracs { sql("SELECT count(*) FROM practitioner WHERE org_id = '$_[0]'") }
sub count_pats { sql("SELECT count(*) FROM patient WHERE org_id = '$_[0]'") }

# --- Practitioner -------------------------------------------------------------
my $res = post('/api/v2/Practitioner', prac('1234567893'), %ha);
ok t_cmp($res->code, 201, 'create a Practitioner');
my $p = json_of($res);
ok t_cmp($p->{id}, qr/^[0-9a-f-]{36}$/, 'with a server id');
ok t_cmp($res->header('Location'), qr{/api/v2/Practitioner/$p->{id}$}, 'and Location');
ok t_cmp($p->{meta}{lastUpdated}, qr/^\d{4}-\d\d-\d\dT/, 'and meta.lastUpdated');

$res = req(GET => "/api/v2/Practitioner/$p->{id}", %ha);
ok t_cmp($res->code, 200, 'read it');
ok t_cmp(json_of($res)->{identifier}[0]{value}, '1234567893', 'as stored');
$res = req(GET => "/api/v2/Practitioner/$p->{id}", %hb);
ok t_cmp($res->code, 404, "another organization's Practitioner: 404");

$res = req(GET => '/api/v2/Practitioner?identifier=1234567893', %ha);
my $bundle = json_of($res);
ok t_cmp("$bundle->{type}/$bundle->{total}", 'searchset/1', 'search by NPI');
$res = req(GET => '/api/v2/Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|1234567893', %ha);
ok t_cmp(json_of($res)->{total}, 1, 'search by system|NPI');
$res = req(GET => '/api/v2/Practitioner?identifier=1234567893', %hb);
ok t_cmp(json_of($res)->{total}, 0, 'not found by another organization');

my $before = count_pracs($a->{id});
$res = post('/api/v2/Practitioner', prac('1234567890'), %ha);
ok t_cmp($res->code, 422, 'an NPI failing the Luhn check: 422');
ok t_cmp(oo_code($res) ne '' ? 1 : 0, 1, 'as an OperationOutcome');
$res = post('/api/v2/Practitioner', { %{ prac('1245319599') }, name => [] }, %ha);
ok t_cmp($res->code, 422, 'no name: 422');
$res = post('/api/v2/Practitioner', pat('1EG4TE5MK73'), %ha);
ok t_cmp($res->code, 422, 'a Patient posted as Practitioner: 422');
$res = post('/api/v2/Practitioner', '{"resourceType": "Practitioner", ', %ha);
ok t_cmp($res->code, 400, 'malformed JSON: 400');
$res = post('/api/v2/Practitioner', prac('1234567893'), %ha);
ok t_cmp($res->code, 409, 'the same NPI again: 409');
ok t_cmp(count_pracs($a->{id}), $before, 'nothing stored by any of these');
$res = post('/api/v2/Practitioner', prac('1234567893'), %hb);
ok t_cmp($res->code, 201, 'another organization may register the same NPI');

$res = req(PUT => "/api/v2/Practitioner/$p->{id}", %ha,
           content => $json->encode(prac('1234567893', family => 'Newname')));
ok t_cmp($res->code, 200, 'update');
ok t_cmp(json_of($res)->{name}[0]{family}, 'Newname', 'changed');
my $q = json_of(post('/api/v2/Practitioner', prac('1245319599'), %ha));
$res = req(PUT => "/api/v2/Practitioner/$q->{id}", %ha, content => $json->encode(prac('1234567893')));
ok t_cmp($res->code, 409, "update to another's NPI: 409");
$res = req(PUT => "/api/v2/Practitioner/$p->{id}", %hb, content => $json->encode(prac('1234567893')));
ok t_cmp($res->code, 404, "update another organization's: 404");
$res = req(PUT => "/api/v2/Practitioner/$p->{id}", %ha,
           content => $json->encode({ %{ prac('1234567893') }, id => $q->{id} }));
ok t_cmp($res->code, 400, 'body id not the URL id: 400');

$res = req(DELETE => "/api/v2/Practitioner/$q->{id}", %hb);
ok t_cmp($res->code, 404, "delete another organization's: 404");
$res = req(DELETE => "/api/v2/Practitioner/$q->{id}", %ha);
ok t_cmp($res->code, 200, 'delete');
$res = req(GET => "/api/v2/Practitioner/$q->{id}", %ha);
ok t_cmp($res->code, 404, 'then gone');

# $submit: all or nothing
sub params { my (@r) = @_; { resourceType => 'Parameters', parameter => [{ name => 'resource',
    resource => { resourceType => 'Bundle', type => 'collection',
                  entry => [map { { resource => $_ } } @r] } }] } }
$before = count_pracs($a->{id});
$res = post('/api/v2/Practitioner/$submit', params(prac('1003000126'), prac('1234567890'),
            prac('1111111111'), prac('1003000142')), %ha);
ok t_cmp($res->code, 422, '$submit with bad entries: 422');
my $oo = json_of($res);
my $where = join ' ', map { @{ $_->{expression} // [] } } @{ $oo->{issue} };
ok t_cmp($where, qr/entry\[1\]/, 'names entry 1');
ok t_cmp($where, qr/entry\[2\]/, 'and entry 2');
ok t_cmp(count_pracs($a->{id}), $before, 'and stores none');
$res = post('/api/v2/Practitioner/$submit', params(prac('1003000126'), prac('1003000126')), %ha);
ok t_cmp($res->code, 422, '$submit with a repeated NPI: 422');
$res = post('/api/v2/Practitioner/$submit', params(prac('1003000126'), prac('1003000142')), %ha);
ok t_cmp($res->code, 200, '$submit of good ones');
ok t_cmp(json_of($res)->{total}, 2, 'returns them');
ok t_cmp(count_pracs($a->{id}), $before + 2, 'stores them');
$res = post('/api/v2/Practitioner/$submit', params(prac('1003000126', family => 'Again')), %ha);
ok t_cmp($res->code, 200, 're-submitting a registered NPI updates it');
ok t_cmp(count_pracs($a->{id}), $before + 2, 'without a second row');

$res = post('/api/v2/Practitioner/$validate', prac('1234567890'), %ha);
ok t_cmp($res->code, 200, '$validate answers 200');
ok t_cmp(json_of($res)->{issue}[0]{severity}, 'error', 'with the errors');
$res = post('/api/v2/Practitioner/$validate', prac('1234567893'), %ha);
ok t_cmp(json_of($res)->{issue}[0]{severity}, 'information', 'or that it is valid');

# --- Patient ------------------------------------------------------------------
$res = post('/api/v2/Patient', pat('1EG4-TE5-MK73'), %ha);
ok t_cmp($res->code, 201, 'create a Patient (MBI with dashes)');
my $pt = json_of($res);
$res = req(GET => '/api/v2/Patient?identifier=1eg4te5mk73', %ha);
ok t_cmp(json_of($res)->{total}, 1, 'search by MBI in any case and form');
$res = req(GET => "/api/v1/Patient/$pt->{id}", %ha);
ok t_cmp($res->code, 200, 'read on v1');
$before = count_pats($a->{id});
$res = post('/api/v2/Patient', pat('1EG4TE5MK7S'), %ha);
ok t_cmp($res->code, 422, 'a malformed MBI: 422');
$res = post('/api/v2/Patient', pat('1EG4TE5MK74', birthDate => '2999-01-01'), %ha);
ok t_cmp($res->code, 422, 'a birth date in the future: 422');
$res = post('/api/v2/Patient', pat('1EG4TE5MK74', birthDate => '1943-02-30'), %ha);
ok t_cmp($res->code, 422, 'a date that does not exist: 422');
my $nobd = pat('1EG4TE5MK74');
delete $nobd->{birthDate};
$res = post('/api/v2/Patient', $nobd, %ha);
ok t_cmp($res->code, 422, 'no birth date: 422');
$res = post('/api/v2/Patient', pat('1EG4TE5MK73'), %ha);
ok t_cmp($res->code, 409, 'the same MBI again: 409');
ok t_cmp(count_pats($a->{id}), $before, 'nothing stored by any of these');
$res = post('/api/v2/Patient/$submit', params(pat('1EG4TE5MK74'), pat('2EG4TE5MK73'),
            pat('bad')), %ha);
ok t_cmp($res->code, 422, 'Patient $submit with a bad entry: 422');
ok t_cmp(count_pats($a->{id}), $before, 'stores none');
$res = post('/api/v2/Patient/$submit', params(map { pat(sprintf '1EG4TE5MK%02d', $_) } 74 .. 99), %ha);
ok t_cmp($res->code, 200, 'Patient $submit of 26');
ok t_cmp(count_pats($a->{id}), $before + 26, 'stores 26');
$res = req(GET => '/api/v2/Patient?_count=10', %ha);
my $page = json_of($res);
ok t_cmp(scalar @{ $page->{entry} }, 10, 'search pages by _count');
ok t_cmp($page->{total}, $before + 26, 'with the total');
ok t_cmp(($page->{link}[0]{url} // '') =~ /_offset=10/ ? 1 : 0, 1, 'and a next link');
$res = req(GET => '/api/v2/Patient?_count=x', %ha);
ok t_cmp($res->code, 400, 'a bad _count: 400');
$res = req(DELETE => "/api/v2/Patient/$pt->{id}", %ha);
ok t_cmp($res->code, 200, 'delete a Patient');

# Only a token that may write can change anything.
my $ro = $a->access_token(scope => 'system/*.read');
$res = post('/api/v2/Patient', pat('3EG4TE5MK73'), Authorization => "Bearer $ro",
            'Content-Type' => 'application/fhir+json');
ok t_cmp($res->code, 403, 'a read-only token cannot create');
$res = req(GET => '/api/v2/Patient', Authorization => "Bearer $ro");
ok t_cmp($res->code, 200, 'but can search');
$res = post('/api/v2/Patient/$validate', pat('3EG4TE5MK73'), Authorization => "Bearer $ro",
            'Content-Type' => 'application/fhir+json');
ok t_cmp($res->code, 200, 'and validate');
$res = req(GET => '/api/v2/Patient');
ok t_cmp($res->code, 401, 'no token: 401');
$res = req(PATCH => "/api/v2/Patient/$pt->{id}", %ha, content => '{}');
ok t_cmp($res->code, 405, 'PATCH: 405');
