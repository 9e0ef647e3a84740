# What is not a route: 404 and 405 as OperationOutcomes.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use DPC::Test qw(req json_of oo_code);

plan tests => 14;

my $res = req(GET => '/api/v2/NoSuchThing');
ok t_cmp($res->code, 404, 'unknown route: 404');
ok t_cmp($res->header('Content-Type'), qr{^application/fhir\+json}, 'as FHIR JSON');
ok t_cmp(oo_code($res), 'not-found', 'OperationOutcome not-found');

$res = req(GET => '/api/v2/metadata/extra');
ok t_cmp($res->code, 404, 'a longer path is not the route');

$res = req(GET => '/api/v2/metadata/');
ok t_cmp($res->code, 404, 'a trailing slash is another path');

$res = req(GET => '/api/v2');
ok t_cmp($res->code, 404, 'the bare base is not a route');

$res = req(POST => '/api/v2/metadata', content => '{}');
ok t_cmp($res->code, 405, 'POST metadata: 405');
ok t_cmp($res->header('Allow'), 'GET, HEAD', 'with Allow');
ok t_cmp(oo_code($res), 'not-supported', 'OperationOutcome not-supported');

$res = req(DELETE => '/api/v1/.well-known/smart-configuration');
ok t_cmp($res->code, 405, 'DELETE smart-configuration: 405');

$res = req(PUT => '/api/v2/metadata', content => '{}');
ok t_cmp($res->code, 405, 'PUT metadata: 405');

# Outside the DPC locations mod_dpc stays out of the way.
$res = req(GET => '/api/v3/metadata');
ok t_cmp($res->code, 404, 'other paths: 404 from httpd');
ok t_cmp(oo_code($res), '', 'not an OperationOutcome: not ours');

# A path that tries to climb out stays inside the route table.
$res = req(GET => '/api/v2/../v2/metadata');
ok t_cmp($res->code, 200, 'normalized by httpd before routing');
