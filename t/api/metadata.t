# Discovery without a token: the CapabilityStatement (R4 on v2, STU3 on v1)
# and SMART configuration.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use DPC::Test qw(req json_of);

plan tests => 49;

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

# --- discovery tells the truth -------------------------------------------------------------
ok t_cmp(scalar(grep { $_ eq 'system/*.*' } @{ $sc->{scopes_supported} }), 1,
         'scopes_supported lists system/*.*, which the token endpoint grants');
for my $api ('v2', 'v1') {
    my $st = json_of(req(GET => "/api/$api/metadata")) // {};
    my @ops = map { @{ $_->{operation} // [] } } @{ $st->{rest}[0]{resource} // [] };
    my %seen;
    my @twice = grep { $seen{"$_->{type} $_->{name}"}++ }
                map { my $t = $_->{type}; map { { type => $t, name => $_->{name} } } @{ $_->{operation} // [] } }
                @{ $st->{rest}[0]{resource} // [] };
    ok t_cmp(scalar(@twice), 0, "$api: each operation listed once (\$export has GET and POST)");
    # every URL it advertises on this server answers
    my @urls = grep { m{^http://\Q$hostport\E/} }
               map { ref $_->{definition} ? $_->{definition}{reference} : $_->{definition} } @ops;
    my @bad = grep { req(GET => $_)->code != 200 } @urls;
    ok t_cmp(scalar(@urls) . ' served, ' . scalar(@bad) . ' not: ' . join(' ', @bad),
             qr/^[1-9]\d* served, 0 not: $/, "$api: every OperationDefinition it names answers 200");
}
my $od = json_of(req(GET => '/api/v2/OperationDefinition/Group-add')) // {};
ok t_cmp(join(' ', map { $_ // '-' } @$od{qw(resourceType id code)}, $od->{resource}[0],
              $od->{instance} ? 'instance' : '-'),
         'OperationDefinition Group-add add Group instance', 'Group-add: $add on a Group instance');
ok t_cmp(req(GET => '/api/v2/OperationDefinition/Group-nope')->code, 404, 'an unknown one: 404');
$res = req(GET => '/api/v2/_version');
ok t_cmp($res->code . ' ' . ((json_of($res) // {})->{version} // '-'), qr/^200 \d+\.\d+/,
         '_version: 200 with the version');
$res = req(GET => '/api/v1/_health');
my $h = json_of($res) // {};
ok t_cmp(join(' ', $res->code, map { $_ // '-' } @$h{qw(status database)}), '200 ok ok',
         '_health: 200, the database reachable');
ok t_cmp(($h->{workers_alive} // 0) >= 1 ? 1 : 0, 1, 'and export workers alive');

# --- OpenAPI, from the route table ------------------------------------------------------------
for my $api ('v2', 'v1') {
    $res = req(GET => "/api/$api/swagger.json");
    my $oa = json_of($res) // {};
    ok t_cmp(join(' ', $res->code, $oa->{openapi} // '-', $oa->{servers}[0]{url} // '-'),
             "200 3.0.3 http://$hostport/api/$api", "$api: swagger.json is OpenAPI 3.0 with the base URL");
    my @ops = map { my $p = $_; map { "\U$_\E $p" } sort keys %{ $oa->{paths}{$p} } } sort keys %{ $oa->{paths} // {} };
    ok t_cmp(scalar(grep { $_ eq 'GET /Group/{id}/$export' || $_ eq 'POST /Token/auth'
                           || $_ eq 'POST /Group/{id}/$remove' } @ops), 3, "$api: the routes, as served");
    ok t_cmp(($oa->{paths}{'/Token/auth'}{post}{security} // [1]) ->[0] ? 'bearer' : 'public', 'public',
             "$api: the token endpoint needs no access token");
    ok t_cmp(exists $oa->{paths}{'/Group'}{post}{security}[0]{bearer} ? 1 : 0, 1, "$api: the others need one");
}
# every path it describes is one the server routes (no 404 "no such route")
my $oa = json_of(req(GET => '/api/v2/swagger.json')) // {};
my @unrouted = grep { my $p = $_ =~ s/\{id\}/00000000-0000-4000-8000-000000000000/gr;
                      my $r = req(GET => "/api/v2$p"); ($r->content // '') =~ /no such route/ }
               grep { $oa->{paths}{$_}{get} } keys %{ $oa->{paths} // {} };
ok t_cmp("@unrouted", '', 'every GET path it describes is routed');
$res = req(GET => '/api/v2/swagger');
ok t_cmp($res->code . ' ' . ($res->header('Content-Type') // ''), qr{^200 text/html}, 'swagger: a page for people');
ok t_cmp($res->content, qr{<code>/Group/\{id\}/\$export</code>}, 'listing the routes');

# --- the profiles the writes are checked against ------------------------------------------------
for my $api ('v2', 'v1') {
    my $st = json_of(req(GET => "/api/$api/metadata")) // {};
    my @profiles = map { ref $_->{profile} ? $_->{profile}{reference} : $_->{profile} }
                   grep { $_->{profile} } @{ $st->{rest}[0]{resource} // [] };
    my @bad = grep { (json_of(req(GET => $_)) // {})->{resourceType} ne 'StructureDefinition' } @profiles;
    ok t_cmp(scalar(@profiles) . ' named, ' . scalar(@bad) . ' not served', '3 named, 0 not served',
             "$api: Patient, Practitioner and Group name their profiles, and each is served");
    ok t_cmp($st->{version} // '', qr/^\d+\.\d+/, "$api: the statement has a version, as the v1 guide's does");
}
my $att = json_of(req(GET => '/api/v2/StructureDefinition/dpc-profile-attestation')) // {};
ok t_cmp(join(' ', map { $_ // '-' } @$att{qw(resourceType type)},
              join(',', map { $_->{path} } @{ $att->{differential}{element} // [] })),
         'StructureDefinition Provenance Provenance.recorded,Provenance.reason,Provenance.agent,'
         . 'Provenance.agent.who,Provenance.agent.onBehalfOf', 'the attestation profile, element by element');
ok t_cmp(req(GET => '/api/v2/StructureDefinition/nope')->code, 404, 'an unknown profile: 404');
