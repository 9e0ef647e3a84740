# The bearer check in front of the API (GET /api/v2/Token as the probe):
# missing, malformed, forged and expired access tokens, revocation when a
# client token, key or organization is deleted, and read-only scopes.
#
# Keys: registers the shared rsa3; the others (P-384) are made here.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use JSON::PP ();
use DPC::Test qw(req json_of sql oo_code wait_for dpcctl);
use DPC::JWT qw(b64url b64url_decode mint_access_token gen_keys pop_signature read_file);
use DPC::Org;

plan tests => 53;

my $json = JSON::PP->new->canonical;
my $dir = tempdir(CLEANUP => 1);
my $gen = gen_keys($dir, second => 'ec', upload => 'ec', gone_org => 'ec');

my $org = DPC::Org->new(name => 'Bearer Clinic', key => 'rsa3');
my $kid2 = $org->add_key($gen->{second});
my $ct2 = $org->new_client_token(label => 'second');
my $ct3 = $org->new_client_token(label => 'third');

# An access token for client token ct (default: the first), signed with
# rsa3, or with the second key when ec is true.
sub token_for {
    my (%a) = @_;
    my $ct = $a{ct} // $org->{client_token};
    my %sign = $a{ec} ? (header => { kid => $kid2 }, key_file => "$gen->{second}.pem", alg => 'ES384')
                      : ();
    return $org->access_token(scope => $a{scope},
                              assertion => $org->assertion(%sign, claims => $org->claims(iss => $ct, sub => $ct)));
}

sub get_tokens {
    my ($auth) = @_;
    return req(GET => '/api/v2/Token', defined $auth ? (Authorization => $auth) : ());
}

# "status issue-code" of an OperationOutcome answer.
sub oo { my ($res) = @_; return $res->code . ' ' . (oo_code($res) || '-') }

sub www { my ($res) = @_; return $res->header('WWW-Authenticate') // '' }

my $good = token_for();

# ---- no or wrong credentials ---------------------------------------------------------

my $res = get_tokens(undef);
ok t_cmp(oo($res), '401 login', 'no Authorization: 401 OperationOutcome, code login');
ok t_cmp(json_of($res)->{resourceType}, 'OperationOutcome', 'no Authorization: body is an OperationOutcome');
ok t_cmp(www($res), qr/^Bearer\b/, 'no Authorization: WWW-Authenticate: Bearer ...');
ok t_cmp(www($res) =~ /error=/ ? 'error attribute' : 'none', 'none',
         'no Authorization: no error attribute (RFC 6750 3.1)');
ok t_cmp($res->header('Content-Type'), qr{^application/fhir\+json}, 'no Authorization: FHIR JSON');

$res = get_tokens('Basic eHl6Onh5eg==');
ok t_cmp(oo($res), '401 login', 'Authorization: Basic: 401 login');
ok t_cmp(www($res), qr/^Bearer\b/, 'Authorization: Basic: WWW-Authenticate: Bearer');

$res = get_tokens('Bearer garbage');
ok t_cmp(oo($res), '401 login', 'Bearer garbage: 401 login');
ok t_cmp(www($res), qr/^Bearer\b.*error="invalid_token"/, 'Bearer garbage: error="invalid_token"');

$res = get_tokens('Bearer ');
ok t_cmp(oo($res), '401 login', 'Bearer with no token: 401 login');

$res = get_tokens("Bearer $good");
ok t_cmp($res->code, 200, 'a valid access token: 200');
$res = get_tokens("bearer $good");
ok t_cmp($res->code, 200, 'the scheme is case-insensitive (bearer): 200');

# One character changed: in the payload, then in the MAC (mid-string, so
# the change is not in base64url's unused trailing bits).
{
    my ($prefix, $payload, $mac) = split /\./, $good;
    my $flip = sub { my ($s) = @_; my $i = int(length($s) / 2);
                     substr($s, $i, 1) = substr($s, $i, 1) eq 'A' ? 'B' : 'A'; $s };
    $res = get_tokens('Bearer ' . join '.', $prefix, $flip->($payload), $mac);
    ok t_cmp(join(' ', oo($res), www($res) =~ /error="invalid_token"/ ? 'invalid_token' : '-'),
             '401 login invalid_token', 'one character of the payload changed: 401 invalid_token');
    $res = get_tokens('Bearer ' . join '.', $prefix, $payload, $flip->($mac));
    ok t_cmp(oo($res), '401 login', 'one character of the MAC changed: 401');

    # The payload re-encoded for another organization, MAC kept.
    my $p = $json->decode(b64url_decode($payload));
    $p->{org} = '00000000-0000-4000-8000-000000000000';
    $res = get_tokens('Bearer ' . join '.', $prefix, b64url($json->encode($p)), $mac);
    ok t_cmp(oo($res), '401 login', 'payload re-encoded with another org, MAC kept: 401');
}

# Tokens minted here with the server's secret: a fresh one (the control),
# an expired one, one not valid yet, and one made with another secret.
my %who = (org => $org->{id}, ct => $org->{client_token_id}, kid => $org->{kid});
my $now = time;
$res = get_tokens('Bearer ' . mint_access_token(%who, iat => $now - 10, exp => $now + 290));
ok t_cmp($res->code, 200, 'a token minted with the server secret (control): 200');

$res = get_tokens('Bearer ' . mint_access_token(%who, iat => $now - 400, exp => $now - 100));
ok t_cmp(oo($res), '401 login', 'an expired access token: 401');
ok t_cmp(www($res), qr/error="invalid_token".*expired/, 'an expired token: WWW-Authenticate says expired');
ok t_cmp(json_of($res)->{issue}[0]{diagnostics} // '', qr/expired/, 'an expired token: the diagnostics say expired');

$res = get_tokens('Bearer ' . mint_access_token(%who, iat => $now + 3600, exp => $now + 3900));
ok t_cmp(oo($res), '401 login', 'a token issued an hour in the future: 401');

$res = get_tokens('Bearer ' . mint_access_token(%who, iat => $now - 10, exp => $now + 290,
                                              secret => 'x' x 48));
ok t_cmp(oo($res), '401 login', 'a token made with another secret: 401');

# ---- revocation ------------------------------------------------------------------------

my $tok_a = $good;                                   # first client token, rsa3
my $tok_b = token_for(ct => $ct2->{token});          # second client token, rsa3
my $tok_c = token_for(ct => $ct3->{token}, ec => 1); # third client token, second key
my $tok_d = token_for(ct => $ct3->{token});          # third client token, rsa3
ok t_cmp(join(' ', map { get_tokens("Bearer $_")->code } $tok_b, $tok_c, $tok_d), '200 200 200',
         'the other client tokens\' access tokens work');

$res = req(DELETE => "/api/v2/Token/$ct2->{id}", Authorization => "Bearer $tok_a");
ok t_cmp($res->code, 200, 'DELETE /Token/{second} with the first client token\'s access token: 200');
my $gone = wait_for(2, sub { get_tokens("Bearer $tok_b")->code == 401 });
ok t_cmp($gone ? 'revoked' : 'still accepted', 'revoked',
         'the deleted client token\'s access token is refused within 2 s');
$res = get_tokens("Bearer $tok_b");
ok t_cmp(join(' ', oo($res), www($res) =~ /invalid_token/ ? 'invalid_token' : '-'),
         '401 login invalid_token', 'revoked token: 401 invalid_token');
ok t_cmp(json_of($res)->{issue}[0]{diagnostics} // '', qr/revoked/, 'revoked token: the diagnostics say revoked');
ok t_cmp(join(' ', map { get_tokens("Bearer $_")->code } $tok_a, $tok_c, $tok_d), '200 200 200',
         'access tokens of the organization\'s other client tokens keep working');

$res = req(DELETE => "/api/v2/Key/$kid2", Authorization => "Bearer $tok_a");
ok t_cmp($res->code, 200, 'DELETE /Key/{second key}: 200');
$gone = wait_for(2, sub { get_tokens("Bearer $tok_c")->code == 401 });
ok t_cmp($gone ? 'revoked' : 'still accepted', 'revoked',
         'an access token issued with the deleted key is refused within 2 s');
ok t_cmp(join(' ', map { get_tokens("Bearer $_")->code } $tok_a, $tok_d), '200 200',
         'access tokens issued with the other key keep working (same client token too)');

# Deleted through the admin tool rather than the API: revoked all the same.
my $ct4 = $org->new_client_token(label => 'fourth');
my $tok_e = token_for(ct => $ct4->{token});
ok t_cmp(get_tokens("Bearer $tok_e")->code, 200, 'a fourth client token\'s access token works');
sql("DELETE FROM client_token WHERE id = '$ct4->{id}'");
$gone = wait_for(2, sub { get_tokens("Bearer $tok_e")->code == 401 });
ok t_cmp($gone ? 'revoked' : 'still accepted', 'revoked',
         'a client token deleted in the database directly: its access token is refused within 2 s');

# Deleting a whole organization (dpcctl org delete) revokes its tokens.
{
    my $doomed = DPC::Org->new(name => 'Doomed Clinic', key_path => $gen->{gone_org});
    my $t = $doomed->access_token(assertion => $doomed->assertion(alg => 'ES384'));
    ok t_cmp(get_tokens("Bearer $t")->code, 200, 'an organization\'s access token works');
    my ($st) = dpcctl('org', 'delete', $doomed->{id});
    ok t_cmp($st, 0, 'dpcctl org delete');
    $gone = wait_for(2, sub { get_tokens("Bearer $t")->code == 401 });
    ok t_cmp($gone ? 'revoked' : 'still accepted', 'revoked',
             'a deleted organization\'s access token is refused within 2 s');
}

# ---- read-only scope -------------------------------------------------------------------

my $ro = token_for(scope => 'system/*.read');
my $tokens = sub { sql("SELECT count(*) FROM client_token WHERE org_id = '$org->{id}'") };
my $keys = sub { sql("SELECT count(*) FROM public_key WHERE org_id = '$org->{id}'") };
my ($n_tokens, $n_keys) = ($tokens->(), $keys->());

ok t_cmp(get_tokens("Bearer $ro")->code, 200, 'system/*.read: GET /Token 200');
ok t_cmp(req(GET => '/api/v2/Key', Authorization => "Bearer $ro")->code, 200, 'system/*.read: GET /Key 200');
ok t_cmp(req(GET => "/api/v2/Token/$ct3->{id}", Authorization => "Bearer $ro")->code, 200,
         'system/*.read: GET /Token/{id} 200');

$res = req(POST => '/api/v2/Token?label=readonly', Authorization => "Bearer $ro");
ok t_cmp(oo($res), '403 forbidden', 'system/*.read: POST /Token 403 forbidden');
ok t_cmp($tokens->(), $n_tokens, 'no client token was made');

my $pem = read_file("$gen->{upload}.pub.pem");
$res = req(POST => '/api/v2/Key?label=readonly', Authorization => "Bearer $ro",
           'Content-Type' => 'application/json',
           content => $json->encode({ key => $pem, signature => pop_signature("$gen->{upload}.pem") }));
ok t_cmp(oo($res), '403 forbidden', 'system/*.read: POST /Key 403 forbidden');
ok t_cmp($keys->(), $n_keys, 'no key was stored');

$res = req(DELETE => "/api/v2/Token/$ct3->{id}", Authorization => "Bearer $ro");
ok t_cmp(oo($res), '403 forbidden', 'system/*.read: DELETE /Token/{id} 403 forbidden');
ok t_cmp($tokens->(), $n_tokens, 'the client token is still there');
$res = req(DELETE => "/api/v2/Key/$org->{kid}", Authorization => "Bearer $ro");
ok t_cmp(oo($res), '403 forbidden', 'system/*.read: DELETE /Key/{id} 403 forbidden');
ok t_cmp($keys->(), $n_keys, 'the key is still there');

my $rs = token_for(scope => 'system/Patient.read system/Coverage.rs');
$res = req(POST => '/api/v2/Token?label=readonly', Authorization => "Bearer $rs");
ok t_cmp(oo($res), '403 forbidden', 'system/Patient.read system/Coverage.rs: POST /Token 403 forbidden');
ok t_cmp($tokens->(), $n_tokens, 'no client token was made');

# The same write with the full scope works (the 403s were the scope's doing).
$res = req(POST => '/api/v2/Token?label=full', Authorization => "Bearer $tok_a");
ok t_cmp($res->code, 201, 'system/*.*: POST /Token 201');

# ---- public routes ------------------------------------------------------------------------

ok t_cmp(req(GET => '/api/v2/metadata')->code, 200, 'GET /api/v2/metadata needs no token');
ok t_cmp(req(GET => '/api/v1/metadata')->code, 200, 'GET /api/v1/metadata needs no token');
ok t_cmp(req(GET => '/api/v2/.well-known/smart-configuration')->code, 200,
         'GET /.well-known/smart-configuration needs no token');
ok t_cmp(oo(req(GET => '/api/v1/Token')), '401 login', 'GET /api/v1/Token needs one');
