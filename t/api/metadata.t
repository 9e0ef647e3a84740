# Discovery without a token: the CapabilityStatement (R4 on v2, STU3 on v1)
# and SMART configuration.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use DPC::Test qw(req json_of);

plan tests => 22;

my $hostport = Apache::TestRequest::hostport();

my $res = req(GET => '/api/v2/metadata');
ok t_cmp($res->code, 200, 'v2 metadata answers 200');
ok t_cmp($res->header('Content-Type'), qr{^application/fhir\+json}, 'as FHIR JSON');
my $cs = json_of($res);
ok t_cmp($cs->{resourceType}, 'CapabilityStatement', 'a CapabilityStatement');
ok t_cmp($cs->{fhirVersion}, '4.0.1', 'R4 on v2');
ok t_cmp($cs->{instantiates}[0],
         'http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data',
         'instantiates the Bulk Data CapabilityStatement');
my $sec = $cs->{rest}[0]{security};
ok t_cmp($sec->{extension}[0]{url},
         'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
         'SMART oauth-uris extension');
ok t_cmp($sec->{extension}[0]{extension}[0]{valueUri},
         "http://$hostport/api/v2/Token/auth", 'token URL derived from the request');
ok t_cmp($cs->{implementation}{url}, "http://$hostport/api/v2", 'base URL');

$res = req(GET => '/api/v1/metadata');
$cs = json_of($res);
ok t_cmp($cs->{fhirVersion}, '3.0.2', 'STU3 on v1');
ok t_cmp($cs->{acceptUnknown}, 'extensions', 'STU3 acceptUnknown');

$res = req(HEAD => '/api/v2/metadata');
ok t_cmp($res->code, 200, 'HEAD metadata');
ok t_cmp($res->content, '', 'HEAD has no body');

# A public URL set by directive wins over the request's host.
$res = req(GET => '/proxied/api/v2/metadata');
$cs = json_of($res);
ok t_cmp($cs->{rest}[0]{security}{extension}[0]{extension}[0]{valueUri},
         'https://dpc.example.org/api/v2/Token/auth', 'DPCPublicURL is used');

# SMART configuration is JSON whatever Accept says.
$res = req(GET => '/api/v2/.well-known/smart-configuration',
           Accept => 'application/fhir+json');
ok t_cmp($res->code, 200, 'smart-configuration answers 200');
ok t_cmp($res->header('Content-Type'), qr{^application/json}, 'as application/json');
my $sc = json_of($res);
ok t_cmp($sc->{token_endpoint}, "http://$hostport/api/v2/Token/auth", 'token_endpoint');
ok t_cmp(join(',', @{$sc->{grant_types_supported}}), 'client_credentials', 'grant types');
ok t_cmp(join(',', @{$sc->{token_endpoint_auth_methods_supported}}), 'private_key_jwt',
         'auth methods');
ok t_cmp(join(',', @{$sc->{token_endpoint_auth_signing_alg_values_supported}}),
         'RS384,ES384', 'signing algs');
ok t_cmp(scalar(grep { $_ eq 'client-confidential-asymmetric' } @{$sc->{capabilities}}),
         1, 'client-confidential-asymmetric capability');
ok t_cmp(scalar(grep { m{^system/} } @{$sc->{scopes_supported}}) > 0, 1, 'system scopes');
ok t_cmp($res->header('Cache-Control'), 'no-store', 'not cached');
