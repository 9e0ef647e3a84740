# The whole SMART Backend Services flow through a real httpd: an RS384 and
# an ES384 assertion exchanged for access tokens, which then open the API.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use DPC::Test qw(req json_of);
use DPC::Org;

plan tests => 15;

my $org = DPC::Org->new(name => 'Flow Clinic', key => 'rsa1');
my $res = $org->token_request(client_assertion => $org->assertion);
ok t_cmp($res->code, 200, 'RS384 assertion: 200');
my $t = json_of($res);
ok t_cmp($t->{token_type}, 'bearer', 'token_type bearer');
ok t_cmp($t->{expires_in}, 300, 'expires_in 300');
ok t_cmp($t->{scope}, 'system/*.*', 'scope granted');
ok t_cmp(length($t->{access_token} // '') > 20, 1, 'an access token');
ok t_cmp($res->header('Cache-Control'), 'no-store', 'Cache-Control: no-store');
ok t_cmp($res->header('Pragma'), 'no-cache', 'Pragma: no-cache');
ok t_cmp($res->header('Content-Type'), qr{^application/json}, 'JSON');

$res = req(GET => '/api/v2/Token', Authorization => "Bearer $t->{access_token}");
ok t_cmp($res->code, 200, 'the access token opens /Token');
ok t_cmp(json_of($res)->{count}, 1, 'which lists this organization\'s one client token');

# ES384 with a P-384 key
my $ec = DPC::Org->new(name => 'EC Clinic', key => 'ec1');
$res = $ec->token_request(client_assertion => $ec->assertion(alg => 'ES384'));
ok t_cmp($res->code, 200, 'ES384 assertion: 200');

# DPC v1 has its own token URL (the aud).
$res = $org->token_request(api => 'v1',
                           client_assertion => $org->assertion(claims => $org->claims(api => 'v1')));
ok t_cmp($res->code, 200, 'v1 token endpoint with its own aud');

# A read scope is granted as asked.
$res = $org->token_request(client_assertion => $org->assertion, scope => 'system/*.read');
ok t_cmp(json_of($res)->{scope}, 'system/*.read', 'system/*.read granted');

# A v2 assertion is not good at the v1 endpoint.
$res = $org->token_request(api => 'v1', client_assertion => $org->assertion);
ok t_cmp($res->code, 401, 'aud of another token URL: 401');

# The token URL (the aud) comes from ServerName, not from the Host header:
# an assertion made for another server is refused even with a matching Host.
my $evil = $org->assertion(claims => $org->claims(
    aud => 'http://evil.example:' . Apache::TestRequest::hostport() =~ s/.*://r
           . '/api/v2/Token/auth'));
$res = $org->token_request(client_assertion => $evil, Host => 'evil.example');
ok t_cmp($res->code, 401, 'Host header does not change the accepted aud');
