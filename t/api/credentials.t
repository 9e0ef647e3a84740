# An organization's client tokens (/Token) and public keys (/Key) through
# the API, on DPC v2 and v1: listing, creating, reading and deleting, every
# refusal (with nothing stored), and isolation between organizations.
#
# Keys: registers the shared ec2; refuses (never stores) the shared p256 and
# rsa2048; every other key is made here.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use JSON::PP ();
use POSIX qw(strftime);
use DPC::Test qw(req json_of sql oo_code);
use DPC::JWT qw(read_file gen_keys pop_signature random_uuid);
use DPC::Org;

plan tests => 101;

my $json = JSON::PP->new->canonical;
my $K = $ENV{DPC_TEST_KEYS};
my $dir = tempdir(CLEANUP => 1);
my $gen = gen_keys($dir, org_b => 'ec', v1rsa => 'rsa', v2rsa => 'rsa', ecnew => 'ec', ecx => 'ec');
my $UUID = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

my $a = DPC::Org->new(name => 'Credentials Clinic A', key => 'ec2');
my $b = DPC::Org->new(name => 'Credentials Clinic B', key_path => $gen->{org_b});
my $a2 = $a->new_client_token(label => 'a second');
my $b2 = $b->new_client_token(label => 'b second');

# Access tokens (both organizations sign ES384).
sub access {
    my ($org, $api) = @_;
    $api //= 'v2';
    return $org->access_token(api => $api,
                              assertion => $org->assertion(alg => 'ES384', claims => $org->claims(api => $api)));
}
my %auth_a = (Authorization => 'Bearer ' . access($a));
my %auth_b = (Authorization => 'Bearer ' . access($b));
my %auth_a1 = (Authorization => 'Bearer ' . access($a, 'v1'));

sub n_tokens { my ($org) = @_; sql("SELECT count(*) FROM client_token WHERE org_id = '$org->{id}'") }
sub n_keys { my ($org) = @_; sql("SELECT count(*) FROM public_key WHERE org_id = '$org->{id}'") }
sub keys_of { my ($h) = @_; return ref $h eq 'HASH' ? join(',', sort keys %$h) : '-' }

# "status issue-code n=count": a refusal and what it left stored.
sub refusal {
    my ($res, $count) = @_;
    my $r = join ' ', $res->code, oo_code($res) || '-', "n=$count";
    print '# body: ', $res->content, "\n" if $res->code !~ /^4/;
    return $r;
}

sub instant { strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time + $_[0])) }

# A token request with client token $ct of $org: the status.
sub token_status {
    my ($org, $ct, %a) = @_;
    return $org->token_request(client_assertion => $org->assertion(
        alg => 'ES384', claims => $org->claims(iss => $ct, sub => $ct), %a))->code;
}

# ---- GET /Token ------------------------------------------------------------------------

my $res = req(GET => '/api/v2/Token', %auth_a);
my $list = json_of($res) // {};
my @a_ids = sort map { (split /\|/)[0] } DPC::Test::sql_rows("SELECT id FROM client_token WHERE org_id = '$a->{id}'");
ok t_cmp($res->code, 200, 'GET /Token: 200');
ok t_cmp(keys_of($list), 'count,created_at,entities', 'GET /Token: {created_at, count, entities}');
ok t_cmp($list->{count}, scalar @a_ids, 'count: the organization\'s client tokens');
ok t_cmp(join(' ', sort map { $_->{id} } @{ $list->{entities} // [] }), join(' ', @a_ids),
         'entities: exactly the organization\'s client tokens');
ok t_cmp((grep { $_->{id} eq $b->{client_token_id} || $_->{id} eq $b2->{id} } @{ $list->{entities} // [] })
         ? 'listed' : 'not listed', 'not listed', 'another organization\'s client tokens are not listed');
ok t_cmp(join(' ', map { keys_of($_) } @{ $list->{entities} // [] }),
         join(' ', ('createdAt,expiresAt,id,label,tokenType') x @a_ids), 'each entity is {id, tokenType, label, createdAt, expiresAt}');
{
    my $body = $res->content;
    my @leaks = grep { index($body, $_) >= 0 }
        $a->{client_token}, $a2->{token}, sha256_hex($a->{client_token}), sha256_hex($a2->{token}), 'dpcct_';
    ok t_cmp(scalar @leaks, 0, 'the list holds no client token secret or hash');
}

# ---- POST /Token --------------------------------------------------------------------------

my $n = n_tokens($a);
$res = req(POST => '/api/v2/Token?label=made%20by%20test', %auth_a);
my $new = json_of($res) // {};
ok t_cmp($res->code, 201, 'POST /Token?label=x: 201');
ok t_cmp(keys_of($new), 'createdAt,expiresAt,id,label,token,tokenType', 'the new token is {id, tokenType, label, createdAt, expiresAt, token}');
ok t_cmp($new->{token} // '', qr/^dpcct_[A-Za-z0-9_-]{43}$/, 'token: dpcct_ and 43 base64url characters');
ok t_cmp($new->{label}, 'made by test', 'label as given');
ok t_cmp($new->{expiresAt} // '', qr/^\Q${\ substr(instant(365 * 86400), 0, 4)}\E-/, 'expires a year ahead by default');
ok t_cmp(n_tokens($a), $n + 1, 'one client token stored');
ok t_cmp(sql("SELECT count(*) FROM client_token WHERE token_hash = '" . sha256_hex($new->{token} // '') . "'"), 1,
         'stored as its SHA-256');
$res = req(GET => "/api/v2/Token/$new->{id}", %auth_a);
ok t_cmp(join(' ', $res->code, keys_of(json_of($res))), '200 createdAt,expiresAt,id,label,tokenType',
         'GET /Token/{id}: 200, without the token');
ok t_cmp(index(req(GET => '/api/v2/Token', %auth_a)->content, $new->{token}), -1,
         'the list does not show the new token either');
ok t_cmp(token_status($a, $new->{token}), 200, 'the new client token works in an assertion');

$res = req(POST => '/api/v2/Token', %auth_a);
ok t_cmp(join(' ', $res->code, json_of($res)->{label} // '-'), "201 Token for organization $a->{id}.",
         'POST /Token without a label: 201, DPC\'s default label');

my $when = instant(30 * 86400);
$res = req(POST => "/api/v2/Token?label=month&expiration=$when", %auth_a);
ok t_cmp(join(' ', $res->code, substr(json_of($res)->{expiresAt} // '-', 0, 19)),
         '201 ' . substr($when, 0, 19), 'POST /Token?expiration=<30 days ahead>: 201, expires then');

$res = req(POST => '/api/v2/Token?label=' . ('a' x 100), %auth_a);
ok t_cmp($res->code, 201, 'label of 100 characters: 201');

$n = n_tokens($a);
$res = req(POST => '/api/v2/Token?label=x&expiration=2020-01-01T00:00:00Z', %auth_a);
ok t_cmp(refusal($res, n_tokens($a)), "400 value n=$n", 'expiration in the past: 400, nothing stored');
$res = req(POST => '/api/v2/Token?label=x&expiration=' . instant(366 * 86400 + 3600), %auth_a);
ok t_cmp(refusal($res, n_tokens($a)), "400 value n=$n", 'expiration more than 365 days ahead: 400, nothing stored');
$res = req(POST => '/api/v2/Token?label=x&expiration=tomorrow', %auth_a);
ok t_cmp(refusal($res, n_tokens($a)), "400 value n=$n", 'expiration not an instant: 400, nothing stored');
$res = req(POST => '/api/v2/Token?label=x&expiration=' . substr(instant(86400), 0, 10), %auth_a);
ok t_cmp(refusal($res, n_tokens($a)), "400 value n=$n", 'expiration a date without a time: 400, nothing stored');
$res = req(POST => '/api/v2/Token?label=' . ('a' x 101), %auth_a);
ok t_cmp(refusal($res, n_tokens($a)), "400 value n=$n", 'label of 101 characters: 400, nothing stored');
$res = req(POST => '/api/v2/Token?label=', %auth_a);
ok t_cmp(refusal($res, n_tokens($a)), "400 value n=$n", 'empty label: 400, nothing stored');
$res = req(POST => '/api/v2/Token?label=a%0Ab', %auth_a);
ok t_cmp(refusal($res, n_tokens($a)), "400 value n=$n", 'label with a control character: 400, nothing stored');
$res = req(POST => '/api/v2/Token?label=ab%FFcd', %auth_a);
ok t_cmp(refusal($res, n_tokens($a)), "400 value n=$n", 'label that is not UTF-8: 400, nothing stored');

# ---- another organization's tokens, ids that are not ids ---------------------------------------

my $nb = n_tokens($b);
$res = req(GET => "/api/v2/Token/$b2->{id}", %auth_a);
ok t_cmp($res->code . ' ' . oo_code($res), '404 not-found', 'GET /Token/{other org\'s id}: 404');
$res = req(DELETE => "/api/v2/Token/$b2->{id}", %auth_a);
ok t_cmp(refusal($res, n_tokens($b)), "404 not-found n=$nb", 'DELETE /Token/{other org\'s id}: 404, still there');
ok t_cmp(token_status($b, $b2->{token}), 200, 'and it still works');
ok t_cmp(req(GET => "/api/v2/Token/$b2->{id}", %auth_b)->code, 200, 'its own organization still reads it');
$res = req(GET => '/api/v2/Token/not-a-uuid', %auth_a);
ok t_cmp($res->code . ' ' . oo_code($res), '404 not-found', 'GET /Token/not-a-uuid: 404');
$res = req(DELETE => '/api/v2/Token/not-a-uuid', %auth_a);
ok t_cmp($res->code . ' ' . oo_code($res), '404 not-found', 'DELETE /Token/not-a-uuid: 404');
$res = req(GET => '/api/v2/Token/' . random_uuid(), %auth_a);
ok t_cmp($res->code . ' ' . oo_code($res), '404 not-found', 'GET /Token/{unknown uuid}: 404');

$n = n_tokens($a);
$res = req(DELETE => "/api/v2/Token/$new->{id}", %auth_a);
ok t_cmp($res->code, 200, 'DELETE /Token/{own id}: 200');
ok t_cmp(n_tokens($a), $n - 1, 'one client token fewer');
ok t_cmp(req(GET => "/api/v2/Token/$new->{id}", %auth_a)->code, 404, 'then GET: 404');
ok t_cmp(req(DELETE => "/api/v2/Token/$new->{id}", %auth_a)->code, 404, 'then DELETE again: 404');
ok t_cmp(token_status($a, $new->{token}), 401, 'the deleted client token no longer gets access tokens');

# ---- /Token on DPC v1 ---------------------------------------------------------------------------

$res = req(GET => '/api/v1/Token', %auth_a1);
ok t_cmp(join(' ', $res->code, json_of($res)->{count} // '-'), '200 ' . n_tokens($a), 'v1 GET /Token: 200, the same tokens');
$res = req(POST => '/api/v1/Token?label=v1', %auth_a1);
my $v1t = json_of($res) // {};
ok t_cmp(join(' ', $res->code, ($v1t->{token} // '') =~ /^dpcct_/ ? 'token' : '-'), '201 token', 'v1 POST /Token: 201 with the token');
ok t_cmp(req(GET => "/api/v1/Token/$v1t->{id}", %auth_a1)->code, 200, 'v1 GET /Token/{id}: 200');
ok t_cmp(req(DELETE => "/api/v1/Token/$v1t->{id}", %auth_a1)->code, 200, 'v1 DELETE /Token/{id}: 200');
ok t_cmp(req(GET => "/api/v1/Token/$b2->{id}", %auth_a1)->code, 404, 'v1 GET /Token/{other org\'s id}: 404');

# ---- POST /Key -----------------------------------------------------------------------------------

my $pem = sub { read_file("$_[0].pub.pem") };
my $key_json = sub {
    my ($base, %o) = @_;
    my %body = (key => $o{pem} // $pem->($base));
    $body{signature} = exists $o{sig} ? $o{sig} : pop_signature("$base.pem");
    delete $body{signature} unless defined $body{signature};
    return (content => $json->encode(\%body), 'Content-Type' => 'application/json');
};
my $post_key = sub {
    my ($api, $label, %h) = @_;
    my $auth = $api eq 'v1' ? \%auth_a1 : \%auth_a;
    return req(POST => "/api/$api/Key" . (defined $label ? "?label=$label" : ''), %$auth, %h);
};

# v1: a PEM as text/plain, no signature.
$n = n_keys($a);
$res = $post_key->('v1', 'k', content => $pem->($gen->{v1rsa}), 'Content-Type' => 'text/plain');
my $v1k = json_of($res) // {};
ok t_cmp($res->code, 201, 'v1 POST /Key?label=k, text/plain RSA-4096 PEM: 201');
ok t_cmp(keys_of($v1k), 'createdAt,id,label,publicKey', 'the key is {id, label, publicKey, createdAt}');
ok t_cmp(join(' ', ($v1k->{id} // '') =~ $UUID ? 'uuid' : '-', $v1k->{label} // '-',
              ($v1k->{publicKey} // '') =~ /BEGIN PUBLIC KEY/ ? 'pem' : '-'), 'uuid k pem',
         'id a UUID, label as given, publicKey a PEM');
ok t_cmp(n_keys($a), $n + 1, 'one key stored');
ok t_cmp($a->token_request(client_assertion => $a->assertion(header => { kid => $v1k->{id} },
                                                             key_file => "$gen->{v1rsa}.pem"))->code,
         200, 'the key\'s id works as kid (RS384)');

# v2 needs the proof of possession.
$n = n_keys($a);
$res = $post_key->('v2', 'k', content => $pem->($gen->{v2rsa}), 'Content-Type' => 'text/plain');
ok t_cmp(refusal($res, n_keys($a)), "400 required n=$n", 'v2 POST /Key text/plain (no signature): 400, nothing stored');
$res = $post_key->('v2', 'k', $key_json->($gen->{v2rsa}, sig => undef));
ok t_cmp(refusal($res, n_keys($a)), "400 required n=$n", 'v2 POST /Key JSON without signature: 400, nothing stored');
$res = $post_key->('v2', 'k', $key_json->($gen->{v2rsa}, sig => pop_signature("$gen->{ecx}.pem")));
ok t_cmp(refusal($res, n_keys($a)), "400 security n=$n", 'signature made with another key: 400, nothing stored');
$res = $post_key->('v2', 'k', $key_json->($gen->{v2rsa},
                                          sig => pop_signature("$gen->{v2rsa}.pem", 'This is not the snippet.')));
ok t_cmp(refusal($res, n_keys($a)), "400 security n=$n", 'signature over other text: 400, nothing stored');
$res = $post_key->('v2', 'k', $key_json->($gen->{v2rsa},
                                          sig => pop_signature("$gen->{v2rsa}.pem", "This is the snippet used to verify a key pair in DPC.\n")));
ok t_cmp(refusal($res, n_keys($a)), "400 security n=$n", 'signature over the snippet plus a newline: 400, nothing stored');
$res = $post_key->('v2', 'k', $key_json->($gen->{v2rsa}, sig => '!!not base64!!'));
ok t_cmp(refusal($res, n_keys($a)), "400 security n=$n", 'signature not base64: 400, nothing stored');
$res = $post_key->('v2', 'k', content => '{"key": 42}', 'Content-Type' => 'application/json');
ok t_cmp(refusal($res, n_keys($a)), "400 structure n=$n", 'JSON whose key is not a string: 400, nothing stored');
$res = $post_key->('v2', 'k', content => '{"key": ', 'Content-Type' => 'application/json');
ok t_cmp(refusal($res, n_keys($a)), "400 structure n=$n", 'JSON cut short: 400, nothing stored');

$res = $post_key->('v2', 'k', $key_json->($gen->{v2rsa}));
my $v2k = json_of($res) // {};
ok t_cmp($res->code, 201, 'v2 POST /Key JSON {key, signature}, RSA-4096: 201');
ok t_cmp(keys_of($v2k), 'createdAt,id,label,publicKey', 'the key is {id, label, publicKey, createdAt}');
ok t_cmp(n_keys($a), $n + 1, 'one key stored');
ok t_cmp($a->token_request(client_assertion => $a->assertion(header => { kid => $v2k->{id} },
                                                             key_file => "$gen->{v2rsa}.pem"))->code,
         200, 'the key\'s id works as kid');

$n = n_keys($a);
$res = $post_key->('v2', 'ec', $key_json->($gen->{ecnew}));
my $eck = json_of($res) // {};
ok t_cmp($res->code, 201, 'v2 POST /Key P-384 with signature: 201');
ok t_cmp(n_keys($a), $n + 1, 'one key stored');
ok t_cmp($a->token_request(client_assertion => $a->assertion(header => { kid => $eck->{id} }, alg => 'ES384',
                                                             key_file => "$gen->{ecnew}.pem"))->code,
         200, 'the P-384 key\'s id works as kid (ES384)');

$n = n_keys($a);
$res = $post_key->('v2', 'k', $key_json->("$K/p256"));
ok t_cmp(refusal($res, n_keys($a)), "400 value n=$n", 'P-256 key: 400, nothing stored');
$res = $post_key->('v2', 'k', $key_json->("$K/rsa2048"));
ok t_cmp(refusal($res, n_keys($a)), "400 value n=$n", 'RSA-2048 key: 400, nothing stored');
ok t_cmp(json_of($res)->{issue}[0]{diagnostics} // '', qr/4096/, 'the RSA-2048 refusal mentions 4096');
$res = $post_key->('v1', 'k', content => $pem->("$K/rsa2048"), 'Content-Type' => 'text/plain');
ok t_cmp(refusal($res, n_keys($a)), "400 value n=$n", 'RSA-2048 key on v1: 400, nothing stored');
$res = $post_key->('v2', 'k', $key_json->($gen->{ecx},
                                          pem => "-----BEGIN PUBLIC KEY-----\nnot a key at all\n-----END PUBLIC KEY-----\n"));
ok t_cmp(refusal($res, n_keys($a)), "400 value n=$n", 'garbage PEM: 400, nothing stored');
$res = $post_key->('v1', 'k', content => 'hello', 'Content-Type' => 'text/plain');
ok t_cmp(refusal($res, n_keys($a)), "400 value n=$n", 'not a PEM at all (v1): 400, nothing stored');
$res = $post_key->('v2', 'k', $key_json->($gen->{ecx}, pem => read_file("$gen->{ecx}.pem")));
ok t_cmp(refusal($res, n_keys($a)), "400 value n=$n", 'a private key PEM: 400, nothing stored');
$res = $post_key->('v1', 'k', content => read_file("$gen->{ecx}.pem"), 'Content-Type' => 'text/plain');
ok t_cmp(refusal($res, n_keys($a)), "400 value n=$n", 'a private key PEM on v1: 400, nothing stored');
$res = $post_key->('v2', 'k', content => '', 'Content-Type' => 'application/json');
ok t_cmp(refusal($res, n_keys($a)), "400 structure n=$n", 'empty body: 400, nothing stored');

$res = $post_key->('v2', 'a' x 26, $key_json->($gen->{ecx}));
ok t_cmp(refusal($res, n_keys($a)), "400 value n=$n", 'label of 26 characters: 400, nothing stored');
$res = $post_key->('v2', 'ab%FFcd', $key_json->($gen->{ecx}));
ok t_cmp(refusal($res, n_keys($a)), "400 value n=$n", 'label that is not UTF-8: 400, nothing stored');
$res = $post_key->('v2', undef, $key_json->($gen->{ecx}));
ok t_cmp(refusal($res, n_keys($a)), "400 value n=$n", 'no label: 400, nothing stored');
$res = $post_key->('v1', undef, content => $pem->($gen->{ecx}), 'Content-Type' => 'text/plain');
ok t_cmp(refusal($res, n_keys($a)), "400 value n=$n", 'no label (v1): 400, nothing stored');

# Already registered: by this organization or another.
$res = $post_key->('v2', 'again', $key_json->("$K/ec2"));
ok t_cmp(refusal($res, n_keys($a)), "409 duplicate n=$n", 'a key this organization registered already: 409');
$nb = n_keys($b);
$res = req(POST => '/api/v2/Key?label=stolen', %auth_b, $key_json->($gen->{v2rsa}));
ok t_cmp(refusal($res, n_keys($b)), "409 duplicate n=$nb", 'a key another organization registered: 409, nothing stored');
ok t_cmp(sql("SELECT org_id FROM public_key WHERE id = '$v2k->{id}'"), $a->{id}, 'the key still belongs to its organization');
# The same key written differently is still the same key.
{
    my $crlf = $pem->($gen->{v2rsa});
    $crlf =~ s/\n/\r\n/g;
    $res = req(POST => '/api/v2/Key?label=crlf', %auth_b, $key_json->($gen->{v2rsa}, pem => $crlf));
    ok t_cmp(refusal($res, n_keys($b)), "409 duplicate n=$nb", 'the same key with CRLF line ends: 409, nothing stored');
    system("openssl rsa -pubin -in '$gen->{v2rsa}.pub.pem' -RSAPublicKey_out -out '$dir/v2rsa.pkcs1.pem' 2>/dev/null");
    $res = req(POST => '/api/v2/Key?label=pkcs1', %auth_b, $key_json->($gen->{v2rsa}, pem => read_file("$dir/v2rsa.pkcs1.pem")));
    ok t_cmp($res->code =~ /^(400|409)$/ ? 'refused' : $res->code, 'refused',
             'the same key as PKCS#1 (BEGIN RSA PUBLIC KEY): refused');
    ok t_cmp(n_keys($b), $nb, 'nothing stored');
}

$res = $post_key->('v2', 'b' x 25, $key_json->($gen->{ecx}));
ok t_cmp(join(' ', $res->code, json_of($res)->{label} // '-'), '201 ' . ('b' x 25), 'label of 25 characters: 201');

# ---- reading and deleting keys ---------------------------------------------------------------------

$res = req(GET => '/api/v2/Key', %auth_a);
$list = json_of($res) // {};
my @ak = sort map { (split /\|/)[0] } DPC::Test::sql_rows("SELECT id FROM public_key WHERE org_id = '$a->{id}'");
ok t_cmp(join(' ', $res->code, keys_of($list), $list->{count} // '-'), '200 count,created_at,entities ' . scalar @ak,
         'GET /Key: 200 {created_at, count, entities}');
ok t_cmp(join(' ', sort map { $_->{id} } @{ $list->{entities} // [] }), join(' ', @ak),
         'entities: exactly the organization\'s keys');
ok t_cmp(join(' ', map { keys_of($_) } @{ $list->{entities} // [] }),
         join(' ', ('createdAt,id,label,publicKey') x @ak), 'each entity is {id, label, publicKey, createdAt}');
$res = req(GET => "/api/v2/Key/$eck->{id}", %auth_a);
ok t_cmp(join(' ', $res->code, json_of($res)->{label} // '-', (json_of($res)->{publicKey} // '-') eq ($eck->{publicKey} // '') ? 'same' : 'differs'),
         '200 ec same', 'GET /Key/{id}: 200, as created');
$res = req(GET => "/api/v1/Key/$v1k->{id}", %auth_a1);
ok t_cmp($res->code, 200, 'v1 GET /Key/{id}: 200');

$nb = n_keys($b);
$res = req(GET => "/api/v2/Key/$b->{kid}", %auth_a);
ok t_cmp($res->code . ' ' . oo_code($res), '404 not-found', 'GET /Key/{other org\'s key}: 404');
$res = req(DELETE => "/api/v2/Key/$b->{kid}", %auth_a);
ok t_cmp(refusal($res, n_keys($b)), "404 not-found n=$nb", 'DELETE /Key/{other org\'s key}: 404, still there');
ok t_cmp(token_status($b, $b->{client_token}), 200, 'and it still works');
$res = req(GET => '/api/v2/Key/not-a-uuid', %auth_a);
ok t_cmp($res->code . ' ' . oo_code($res), '404 not-found', 'GET /Key/not-a-uuid: 404');
$res = req(DELETE => '/api/v2/Key/not-a-uuid', %auth_a);
ok t_cmp($res->code . ' ' . oo_code($res), '404 not-found', 'DELETE /Key/not-a-uuid: 404');

$n = n_keys($a);
$res = req(DELETE => "/api/v2/Key/$eck->{id}", %auth_a);
ok t_cmp($res->code, 200, 'DELETE /Key/{own id}: 200');
ok t_cmp(n_keys($a), $n - 1, 'one key fewer');
ok t_cmp(req(GET => "/api/v2/Key/$eck->{id}", %auth_a)->code, 404, 'then GET: 404');
ok t_cmp(req(DELETE => "/api/v2/Key/$eck->{id}", %auth_a)->code, 404, 'then DELETE again: 404');
ok t_cmp(req(DELETE => "/api/v1/Key/$v1k->{id}", %auth_a1)->code, 200, 'v1 DELETE /Key/{id}: 200');
ok t_cmp($a->token_request(client_assertion => $a->assertion(header => { kid => $eck->{id} }, alg => 'ES384',
                                                             key_file => "$gen->{ecnew}.pem"))->code,
         401, 'a deleted key no longer gets access tokens');
