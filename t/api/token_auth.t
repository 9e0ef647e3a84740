# POST {base}/Token/auth: every way a token request can be refused, each
# with its status and RFC 6749 error, and the few variations that must be
# accepted.
#
# Keys: registers the shared rsa2 (and signs, without registering, with
# rsa1 and ec1 as "another key"); every other key is made here.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest ();
use File::Temp qw(tempdir);
use JSON::PP ();
use LWP::UserAgent ();
use HTTP::Request ();
use POSIX ();
use DPC::Test qw(req json_of sql dpcctl);
use DPC::JWT qw(sign_jwt b64url b64url_decode random_jti random_uuid read_file gen_keys);
use DPC::Org;

plan tests => 75;

my $json = JSON::PP->new->canonical;
my $keys = "$ENV{DPC_TEST_KEYS}";
my $dir = tempdir(CLEANUP => 1);
my $gen = gen_keys($dir, other_org => 'ec', del1 => 'ec', del2 => 'ec');

my $org = DPC::Org->new(name => 'Token Auth Clinic', key => 'rsa2');
my $other = DPC::Org->new(name => 'Token Auth Other', key_path => $gen->{other_org});
my $AT = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
my $hostport = Apache::TestRequest::hostport();

# "status error description? Cache-Control" of a refusal, in one string, so
# that each refusal is one assertion checking all of it; the description
# must name what is wrong ($re).
sub oauth_err {
    my ($res, $re) = @_;
    my $j = json_of($res) // {};
    my $d = $j->{error_description};
    my $desc = defined $d && !ref $d && length $d && $d =~ $re ? 'described' : 'undescribed';
    return join ' ', $res->code, $j->{error} // '-', $desc, $res->header('Cache-Control') // '-';
}

sub refused {
    my ($res, $status, $error, $name, $re) = @_;
    my $got = oauth_err($res, $re // qr/./);
    my $ok = t_cmp($got, "$status $error described no-store", $name);
    print "# body: ", $res->content, "\n" unless $ok;
    ok $ok;
}

sub accepted {
    my ($res, $scope, $name) = @_;
    my $j = json_of($res) // {};
    my $got = join ' ', $res->code, $j->{token_type} // '-', $j->{scope} // '-';
    my $ok = t_cmp($got, "200 bearer $scope", $name);
    print "# body: ", $res->content, "\n" unless $ok;
    ok $ok;
}

# A form body from pairs (kept in order, so a parameter may repeat).
sub form {
    my (@kv) = @_;
    my @p;
    while (my ($k, $v) = splice(@kv, 0, 2)) {
        push @p, join '=', map { my $s = $_; $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge; $s } $k, $v;
    }
    return join '&', @p;
}

sub post_form {
    my ($body, %h) = @_;
    return req(POST => '/api/v2/Token/auth', content => $body,
               'Content-Type' => 'application/x-www-form-urlencoded', %h);
}

# jti rows of this file's organization (the workers purge expired rows of
# others at any time; ours expire minutes from now).
sub used_jti {
    sql("SELECT count(*) FROM used_jti u JOIN client_token c ON c.id = u.client_token_id"
        . " WHERE c.org_id = '$org->{id}'");
}

# ---- the form ---------------------------------------------------------------

my $jti_before = used_jti();

refused(post_form(form(scope => 'system/*.*', client_assertion_type => $AT,
                       client_assertion => $org->assertion)),
        400, 'invalid_request', 'grant_type missing: 400 invalid_request', qr/grant_type/);
refused($org->token_request(grant_type => 'password', client_assertion => $org->assertion),
        400, 'unsupported_grant_type', 'grant_type=password: 400 unsupported_grant_type', qr/grant_type/);
refused($org->token_request(client_assertion_type => undef, client_assertion => $org->assertion),
        400, 'invalid_request', 'client_assertion_type missing: 400 invalid_request', qr/client_assertion_type/);
refused($org->token_request(client_assertion_type => 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer',
                            client_assertion => $org->assertion),
        400, 'invalid_request', 'client_assertion_type wrong: 400 invalid_request', qr/client_assertion_type/);
refused($org->token_request(),
        400, 'invalid_request', 'client_assertion missing: 400 invalid_request', qr/client_assertion/);
refused($org->token_request(client_assertion => 'abc'),
        400, 'invalid_request', 'client_assertion "abc": 400 invalid_request', qr/JWT/);
refused($org->token_request(client_assertion => 'a.b'),
        400, 'invalid_request', 'client_assertion "a.b": 400 invalid_request', qr/JWT/);
refused($org->token_request(client_assertion => $org->assertion . '.' . b64url('x')),
        400, 'invalid_request', 'client_assertion of four parts: 400 invalid_request', qr/JWT/);

# ---- scopes -------------------------------------------------------------------

for my $s ('system/*.write', 'system/Patient.write', 'system/*.cud', 'user/*.read',
           'patient/*.read', 'system/Foo.read', 'system/*.read system/*.write', '') {
    refused($org->token_request(client_assertion => $org->assertion, scope => $s),
            400, 'invalid_scope', "scope '$s': 400 invalid_scope", qr/scope/);
}
ok t_cmp(used_jti(), $jti_before, 'no jti was spent by any refused form');

for my $s ('system/*.*', 'system/*.read', 'system/*.rs', 'system/Patient.read',
           'system/Patient.read system/Coverage.rs') {
    accepted($org->token_request(client_assertion => $org->assertion, scope => $s),
             $s, "scope '$s': 200, granted as asked");
}

# ---- assertions that must be refused: 401 invalid_client ---------------------------

$jti_before = used_jti();
my $pub_pem = read_file("$keys/rsa2.pub.pem");

refused($org->token_request(client_assertion => sign_jwt(alg => 'none',
            header => { kid => $org->{kid} }, claims => $org->claims)),
        401, 'invalid_client', 'alg none, empty signature: 401', qr/alg/);
refused($org->token_request(client_assertion => $org->assertion(alg => 'HS256', hmac_key => $pub_pem)),
        401, 'invalid_client', 'HS256 keyed with the public PEM text (key confusion): 401', qr/alg/);
refused($org->token_request(client_assertion => $org->assertion(alg => 'RS256')),
        401, 'invalid_client', 'RS256 with the right key: 401', qr/alg/);
refused($org->token_request(client_assertion => $org->assertion(header => { jku => 'https://evil.example/jwks.json' })),
        401, 'invalid_client', 'jku header: 401', qr/jku/);
refused($org->token_request(client_assertion => $org->assertion(header => { x5u => 'https://evil.example/cert.pem' })),
        401, 'invalid_client', 'x5u header: 401', qr/x5u/);
refused($org->token_request(client_assertion => $org->assertion(header => { kid => undef })),
        401, 'invalid_client', 'kid missing: 401', qr/kid/);
refused($org->token_request(client_assertion => $org->assertion(header => { typ => undef })),
        401, 'invalid_client', 'typ missing: 401', qr/typ/);
refused($org->token_request(client_assertion => $org->assertion(
            claims => $org->claims(sub => $other->{client_token}))),
        401, 'invalid_client', 'iss != sub: 401', qr/sub|iss/);
refused($org->token_request(client_assertion => $org->assertion(
            claims => $org->claims(aud => "http://$hostport/api/v2/Token/other"))),
        401, 'invalid_client', 'aud another URL: 401', qr/aud/);
refused($org->token_request(client_assertion => $org->assertion(
            claims => $org->claims(aud => $org->token_url('v1')))),
        401, 'invalid_client', "aud v1's token URL at the v2 endpoint: 401", qr/aud/);
refused($org->token_request(client_assertion => $org->assertion(
            claims => $org->claims(exp => undef))),
        401, 'invalid_client', 'exp missing: 401', qr/exp/);
refused($org->token_request(client_assertion => $org->assertion(
            claims => $org->claims(exp => time - 120))),
        401, 'invalid_client', 'exp 120 s in the past: 401', qr/exp/);
refused($org->token_request(client_assertion => $org->assertion(
            claims => $org->claims(exp => time + 600))),
        401, 'invalid_client', 'exp 600 s ahead: 401', qr/exp/);
refused($org->token_request(client_assertion => $org->assertion(
            claims => $org->claims(jti => undef))),
        401, 'invalid_client', 'jti missing: 401', qr/jti/);
ok t_cmp(used_jti(), $jti_before,
         'no jti was spent by assertions refused for their header or claims');

# Refusals that need the database (the client token or key).
refused($org->token_request(client_assertion => sign_jwt(alg => 'ES384', key => "$keys/ec1.pem",
            header => { kid => $org->{kid} }, claims => $org->claims)),
        401, 'invalid_client', 'ES384 header on an RSA key: 401', qr/alg|key/);
refused($org->token_request(client_assertion => $org->assertion(header => { kid => random_uuid() })),
        401, 'invalid_client', 'unknown kid: 401', qr/kid/);
refused($org->token_request(client_assertion => $org->assertion(header => { kid => $other->{kid} })),
        401, 'invalid_client', "kid of another organization's key: 401", qr/kid/);
refused($org->token_request(client_assertion => $org->assertion(header => { kid => $other->{kid} },
            key_file => $other->{key_file}, alg => 'ES384')),
        401, 'invalid_client', "another organization's key, signed with it, under our client token: 401", qr/kid/);

my $unknown = 'dpcct_' . b64url(join '', map { chr int rand 256 } 1 .. 32);
ok t_cmp(length $unknown, 49, 'a well-formed client token is dpcct_ + 43 characters');
refused($org->token_request(client_assertion => $org->assertion(
            claims => $org->claims(iss => $unknown, sub => $unknown))),
        401, 'invalid_client', 'iss a well-formed but unknown client token: 401', qr/client token/);

my $expired = $org->new_client_token(label => 'expired', expires => '2020-01-01T00:00:00Z');
refused($org->token_request(client_assertion => $org->assertion(
            claims => $org->claims(iss => $expired->{token}, sub => $expired->{token}))),
        401, 'invalid_client', 'expired client token: 401', qr/client token/);

my $gone = $org->new_client_token(label => 'to delete');
accepted($org->token_request(client_assertion => $org->assertion(
             claims => $org->claims(iss => $gone->{token}, sub => $gone->{token}))),
         'system/*.*', 'a second client token works before it is deleted');
my ($st) = dpcctl('token', 'delete', $gone->{id});
ok t_cmp($st, 0, 'dpcctl token delete');
refused($org->token_request(client_assertion => $org->assertion(
            claims => $org->claims(iss => $gone->{token}, sub => $gone->{token}))),
        401, 'invalid_client', 'deleted client token: 401', qr/client token/);

refused($org->token_request(client_assertion => $org->assertion(key_file => "$keys/rsa1.pem")),
        401, 'invalid_client', 'signed by another (unregistered) key: 401', qr/signature/);

# Tampered payload: claims re-encoded with another live client token of the
# same organization as iss/sub, original signature kept.
my $second = $org->new_client_token(label => 'second');
{
    my ($h, $c, $s) = split /\./, $org->assertion;
    my $claims = $json->decode(b64url_decode($c));
    $claims->{iss} = $claims->{sub} = $second->{token};
    refused($org->token_request(client_assertion => join '.', $h, b64url($json->encode($claims)), $s),
            401, 'invalid_client', 'tampered payload (iss/sub changed, signature kept): 401', qr/signature/);

    ($h, $c, $s) = split /\./, $org->assertion;
    my @sig = unpack 'C*', b64url_decode($s);
    $sig[100] ^= 0x01;
    refused($org->token_request(client_assertion => join '.', $h, $c, b64url(pack 'C*', @sig)),
            401, 'invalid_client', 'tampered signature (one bit flipped): 401', qr/signature/);
}

# Replay: the same assertion twice.
my $once = $org->assertion;
accepted($org->token_request(client_assertion => $once), 'system/*.*', 'an assertion: 200');
refused($org->token_request(client_assertion => $once),
        401, 'invalid_client', 'the same assertion again (jti replayed): 401', qr/jti/);

# The same assertion sent ten times at once, each on its own connection:
# exactly one is accepted.
{
    my $same = $org->assertion;
    my $body = form(grant_type => 'client_credentials', scope => 'system/*.*',
                    client_assertion_type => $AT, client_assertion => $same);
    my $url = Apache::TestRequest::resolve_url('/api/v2/Token/auth');
    my @pids;
    for my $i (1 .. 10) {
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            my $r = HTTP::Request->new(POST => $url);
            $r->header('Content-Type' => 'application/x-www-form-urlencoded');
            $r->content($body);
            my $code = LWP::UserAgent->new(keep_alive => 0)->request($r)->code;
            if (open(my $fh, '>', "$dir/replay.$i")) { print $fh $code; close $fh }
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    waitpid($_, 0) for @pids;
    my @codes = sort map { -e "$dir/replay.$_" ? read_file("$dir/replay.$_") : 'none' } 1 .. 10;
    ok t_cmp("@codes", join(' ', 200, (401) x 9),
             'the same assertion ten times at once: exactly one 200, nine 401');
}

# ---- variations that must be accepted -------------------------------------------

accepted($org->token_request(client_assertion => $org->assertion(
             claims => $org->claims(aud => ['https://other.example/token', $org->token_url]))),
         'system/*.*', 'aud an array holding the token URL: 200');
accepted($org->token_request(client_assertion => $org->assertion(
             claims => $org->claims(exp => time + 300))),
         'system/*.*', 'exp 300 s ahead: 200');
accepted($org->token_request(client_assertion => $org->assertion(
             claims => $org->claims(iss => $second->{token}, sub => $second->{token}))),
         'system/*.*', 'a second client token of the organization: 200');
accepted(req(POST => '/api/v2/Token/auth',
             'Content-Type' => 'application/x-www-form-urlencoded; charset=UTF-8',
             content => form(grant_type => 'client_credentials', scope => 'system/*.*',
                             client_assertion_type => $AT, client_assertion => $org->assertion)),
         'system/*.*', 'Content-Type with a charset parameter: 200');

# Behind a proxy (DPCPublicURL), the aud is the public token URL.
{
    my $public = 'https://dpc.example.org/api/v2/Token/auth';
    my $post = sub {
        my ($aud) = @_;
        return req(POST => '/proxied/api/v2/Token/auth',
                   'Content-Type' => 'application/x-www-form-urlencoded',
                   content => form(grant_type => 'client_credentials', scope => 'system/*.*',
                                   client_assertion_type => $AT,
                                   client_assertion => $org->assertion(claims => $org->claims(aud => $aud))));
    };
    accepted($post->($public), 'system/*.*', 'behind DPCPublicURL, aud the public token URL: 200');
    refused($post->("http://$hostport/proxied/api/v2/Token/auth"), 401, 'invalid_client',
            'behind DPCPublicURL, aud the internal URL: 401', qr/aud/);
}

# ---- the request's shape ---------------------------------------------------------

my %good = (grant_type => 'client_credentials', scope => 'system/*.*',
            client_assertion_type => $AT);
refused(req(POST => '/api/v2/Token/auth', 'Content-Type' => 'application/json',
            content => $json->encode({ %good, client_assertion => $org->assertion })),
        400, 'invalid_request', 'Content-Type application/json: 400 invalid_request', qr/Content-Type/);
refused(req(POST => '/api/v2/Token/auth', 'Content-Type' => 'application/x-www-form-urlencoded',
            content => ''),
        400, 'invalid_request', 'empty body: 400 invalid_request');
refused(req(POST => '/api/v2/Token/auth?' . form(%good, client_assertion => $org->assertion),
            'Content-Type' => 'application/x-www-form-urlencoded', content => ''),
        400, 'invalid_request', 'parameters in the query string: 400 invalid_request', qr/URL/);
# DPC v1: its guide's curl sends every parameter in the URL, with an empty
# body; that works there (the body stays the documented way), and the
# assertion never reaches the access logs.
{
    my $jwt = $org->assertion(claims => $org->claims(api => 'v1'));
    my $q = "grant_type=client_credentials&scope=system%2F*.*&client_assertion_type="
          . "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=$jwt";
    accepted(req(POST => "/api/v1/Token/auth?$q", 'Content-Type' => 'application/x-www-form-urlencoded',
                 Accept => 'application/json'),
             'system/*.*', 'v1: the parameters in the URL, as its guide sends them: 200');
    refused(req(POST => "/api/v1/Token/auth?$q", 'Content-Type' => 'application/x-www-form-urlencoded'),
            401, 'invalid_client', 'v1: the same assertion again: refused (single use)', qr/used already/);
    my $jwt2 = $org->assertion(claims => $org->claims(api => 'v1'));
    refused(req(POST => '/api/v1/Token/auth?' . form(scope => 'system/*.*'),
                'Content-Type' => 'application/x-www-form-urlencoded',
                content => form(grant_type => 'client_credentials', client_assertion_type => $AT,
                                client_assertion => $jwt2)),
            400, 'invalid_request', 'v1: parameters in the URL and the body: 400', qr/not both/);
    my $sig = (split /\./, $jwt)[2];
    my @logs = (Apache::Test::vars('t_logs') . '/access_log',
                Apache::Test::vars('serverroot') . '/logs/dpc_access.log');
    my ($seen, $leaked) = (0, 0);
    for my $try (1 .. 20) {
        ($seen, $leaked) = (0, 0);
        for my $f (@logs) {
            open my $fh, '<', $f or next;
            while (<$fh>) {
                $seen++ if m{/api/v1/Token/auth\?};
                $leaked++ if index($_, $sig) >= 0;
            }
        }
        last if $seen >= 3 * @logs;
        select undef, undef, undef, 0.1;
    }
    # (other files' requests may be there too: at least these three in each log)
    ok t_cmp(($seen >= 3 * @logs ? 'logged' : "only $seen lines") . ", $leaked with the assertion",
             'logged, 0 with the assertion', 'the access logs show those requests without the assertion');
}
refused(req(POST => '/api/v2/Token/auth?' . form(scope => 'system/*.*'),
            'Content-Type' => 'application/x-www-form-urlencoded',
            content => form(%good, client_assertion => $org->assertion)),
        400, 'invalid_request', 'a parameter in the query string besides the body: 400 invalid_request', qr/URL/);
refused(post_form(form(%good, client_assertion => $org->assertion, scope => 'system/*.*')),
        400, 'invalid_request', 'scope given twice: 400 invalid_request', qr/scope.*more than once/);
refused(post_form(form(%good, client_assertion => $org->assertion,
                       client_assertion => $org->assertion)),
        400, 'invalid_request', 'client_assertion given twice: 400 invalid_request', qr/client_assertion.*more than once/);
{
    my $res = req(GET => '/api/v2/Token/auth');
    ok t_cmp(join(' ', $res->code, $res->header('Allow') // '-'), '405 POST',
             'GET /Token/auth: 405, Allow: POST');
}

# ---- deleted public keys ---------------------------------------------------------------

my $kc = DPC::Org->new(name => 'Key Deleting Clinic', key_path => $gen->{del1});
my $kid2 = $kc->add_key($gen->{del2});
my $with2 = sub { $kc->assertion(header => { kid => $kid2 }, key_file => "$gen->{del2}.pem", alg => 'ES384') };
my $tok = $kc->access_token(assertion => $kc->assertion(alg => 'ES384'));
accepted($kc->token_request(client_assertion => $with2->()), 'system/*.*',
         'a second key works before it is deleted');
my $res = req(DELETE => "/api/v2/Key/$kc->{kid}", Authorization => "Bearer $tok");
ok t_cmp($res->code, 200, 'DELETE /Key/{id} through the API: 200');
refused($kc->token_request(client_assertion => $kc->assertion(alg => 'ES384')),
        401, 'invalid_client', 'kid of a key deleted through the API: 401', qr/kid/);
($st) = dpcctl('key', 'delete', $kid2);
ok t_cmp($st, 0, 'dpcctl key delete');
refused($kc->token_request(client_assertion => $with2->()),
        401, 'invalid_client', 'kid of a key deleted with dpcctl: 401', qr/kid/);
