# GET /Organization and /Organization/{id}: the caller's own, and only that.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use DPC::Test qw(req json_of oo_code);
use DPC::JWT qw(gen_keys);
use DPC::Org;

plan tests => 15;

my $dir = tempdir(CLEANUP => 1);
gen_keys($dir, org1 => 'ec', org2 => 'ec');
my $a = DPC::Org->new(name => 'Org A Clinic', key_path => "$dir/org1", alg => 'ES384');
my $b = DPC::Org->new(name => 'Org B Clinic', key_path => "$dir/org2", alg => 'ES384');
my $ta = $a->access_token;
my %auth = (Authorization => "Bearer $ta");

for my $api (qw(v2 v1)) {
    my $res = req(GET => "/api/$api/Organization", %auth);
    ok t_cmp($res->code, 200, "$api: GET /Organization");
    my $b1 = json_of($res);
    ok t_cmp("$b1->{resourceType}/$b1->{type}/$b1->{total}", 'Bundle/searchset/1',
             "$api: a searchset Bundle of one");
    ok t_cmp($b1->{entry}[0]{resource}{id}, $a->{id}, "$api: the caller's organization");
}
my $res = req(GET => "/api/v2/Organization/$a->{id}", %auth);
ok t_cmp($res->code, 200, 'read own by id');
my $o = json_of($res);
ok t_cmp($o->{resourceType}, 'Organization', 'an Organization');
ok t_cmp($o->{name}, 'Org A Clinic', 'with its name');
ok t_cmp($res->header('Content-Type'), qr{^application/fhir\+json}, 'as FHIR JSON');

$res = req(GET => "/api/v2/Organization/$b->{id}", %auth);
ok t_cmp($res->code, 404, 'another organization: 404');
ok t_cmp(oo_code($res), 'not-found', 'OperationOutcome not-found');
$res = req(GET => '/api/v2/Organization/not-a-uuid', %auth);
ok t_cmp($res->code, 404, 'not an id: 404');
$res = req(GET => '/api/v2/Organization');
ok t_cmp($res->code, 401, 'no token: 401');

# A token of another organization sees that one, not this.
$res = req(GET => '/api/v2/Organization', Authorization => 'Bearer ' . $b->access_token);
ok t_cmp(json_of($res)->{entry}[0]{resource}{id}, $b->{id}, 'each sees its own');
