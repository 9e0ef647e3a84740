# POST {base}/Token/validate: a JWT (text/plain, no Authorization) is
# checked for DPC's required headers and claims, each problem reported as
# its own OperationOutcome issue; the signature is not checked.
#
# Keys: registers none (signs with the shared rsa1's private key, read only).
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest ();
use DPC::Test qw(req json_of oo_code);
use DPC::JWT qw(sign_jwt b64url random_jti random_uuid);

plan tests => 30;

my $key = "$ENV{DPC_TEST_KEYS}/rsa1.pem";
my $hostport = Apache::TestRequest::hostport();
my $ct = 'dpcct_' . b64url(join '', map { chr int rand 256 } 1 .. 32);
my $kid = random_uuid();

sub aud { my ($api) = @_; return "http://$hostport/api/" . ($api // 'v2') . '/Token/auth' }

# Good claims, with overrides (undef removes one).
sub claims {
    my (%o) = @_;
    my $now = time;
    my %c = (iss => $ct, sub => $ct, aud => aud(), iat => $now, exp => $now + 240,
             jti => random_jti(), %o);
    delete $c{$_} for grep { !defined $c{$_} } keys %c;
    return \%c;
}

sub jwt {
    my (%a) = @_;
    return sign_jwt(key => $key, alg => $a{alg}, header => { kid => $kid, %{ $a{header} // {} } },
                    claims => $a{claims} // claims());
}

sub validate {
    my ($body, %a) = @_;
    return req(POST => '/api/' . ($a{api} // 'v2') . '/Token/validate',
               'Content-Type' => $a{type} // 'text/plain', content => $body);
}

# "status resourceType severity,severity..." of an answer.
sub outcome {
    my ($res) = @_;
    my $j = json_of($res) // {};
    return join ' ', $res->code, $j->{resourceType} // '-',
        join(',', map { $_->{severity} // '-' } @{ $j->{issue} // [] }) || '-';
}

# Every issue's expression and diagnostics, as one text.
sub issue_text {
    my ($res) = @_;
    my $j = json_of($res) // {};
    return join "\n", map { join(' ', @{ $_->{expression} // [] }, $_->{diagnostics} // '') }
        @{ $j->{issue} // [] };
}

# ---- accepted ---------------------------------------------------------------------------

my $res = validate(jwt());
ok t_cmp(outcome($res), '200 OperationOutcome information', 'a good assertion: 200, severity information');
ok t_cmp(oo_code($res), 'informational', 'issue code informational');
ok t_cmp($res->header('Content-Type') // '', qr{^application/fhir\+json}, 'FHIR JSON');

{
    my ($h, $c) = split /\./, jwt();
    $res = validate(join '.', $h, $c, b64url('this is not a signature' x 10));
    ok t_cmp(outcome($res), '200 OperationOutcome information',
             'right claims, garbage signature: 200 (the signature is not checked)');
}
ok t_cmp(outcome(validate(jwt() . "\n")),
         '200 OperationOutcome information', 'a trailing newline (curl -d @file): 200');
ok t_cmp(outcome(validate(jwt(claims => claims(aud => aud('v1'))), api => 'v1')),
         '200 OperationOutcome information', 'v1 with v1\'s token URL as aud: 200');
ok t_cmp(outcome(validate(jwt(claims => claims(aud => ['https://other.example/', aud()])))),
         '200 OperationOutcome information', 'aud an array holding the token URL: 200');

# ---- several problems at once --------------------------------------------------------------

$res = validate(jwt(header => { kid => undef },
                    claims => claims(jti => undef, exp => undef, aud => 'https://wrong.example/Token/auth',
                                     sub => 'dpcct_someone_else')));
ok t_cmp(outcome($res), '400 OperationOutcome error,error,error,error,error',
         'no kid, no jti, no exp, wrong aud, sub != iss: 400, five issues, all errors');
my $text = issue_text($res);
ok t_cmp($text, qr/\bkid\b/, 'an issue names kid');
ok t_cmp($text, qr/\bjti\b/, 'an issue names jti');
ok t_cmp($text, qr/\bexp\b/, 'an issue names exp');
ok t_cmp($text, qr/\baud\b/, 'an issue names aud');
ok t_cmp($text, qr/\b(sub|iss)\b/, 'an issue names sub/iss');
ok t_cmp(join(' ', sort map { @{ $_->{expression} // [] } } @{ json_of($res)->{issue} // [] }),
         'claims.aud claims.exp claims.jti claims.sub header.kid', 'one issue per problem, each with its expression');

# ---- one problem each ----------------------------------------------------------------------

$res = validate(jwt(claims => claims(exp => time - 300)));
ok t_cmp(outcome($res) . ' ' . (issue_text($res) =~ /exp/ ? 'exp' : '-'), '400 OperationOutcome error exp',
         'expired: 400, names exp');
$res = validate(jwt(claims => claims(exp => time + 3600)));
ok t_cmp(outcome($res) . ' ' . (issue_text($res) =~ /exp/ ? 'exp' : '-'), '400 OperationOutcome error exp',
         'exp an hour ahead: 400, names exp');
$res = validate(jwt(claims => claims(iss => undef)));
ok t_cmp(outcome($res) . ' ' . (issue_text($res) =~ /\biss\b/ ? 'iss' : '-'), '400 OperationOutcome error iss',
         'no iss: 400, names iss');
$res = validate(jwt(claims => claims(aud => aud('v1'))));
ok t_cmp(outcome($res) . ' ' . (issue_text($res) =~ /aud/ ? 'aud' : '-'), '400 OperationOutcome error aud',
         'v1\'s aud at v2: 400, names aud');
$res = validate(jwt(claims => claims()), api => 'v1');
ok t_cmp(outcome($res) . ' ' . (issue_text($res) =~ /aud/ ? 'aud' : '-'), '400 OperationOutcome error aud',
         'v2\'s aud at v1: 400, names aud');
$res = validate(jwt(header => { typ => undef }));
ok t_cmp(outcome($res) . ' ' . (issue_text($res) =~ /typ/ ? 'typ' : '-'), '400 OperationOutcome error typ',
         'no typ: 400, names typ');
$res = validate(jwt(header => { jku => 'https://evil.example/jwks' }));
ok t_cmp(outcome($res) . ' ' . (issue_text($res) =~ /jku/ ? 'jku' : '-'), '400 OperationOutcome error jku',
         'a jku header: 400, names jku');
$res = validate(sign_jwt(alg => 'none', header => { kid => $kid }, claims => claims()));
ok t_cmp(outcome($res) . ' ' . (issue_text($res) =~ /alg/ ? 'alg' : '-'), '400 OperationOutcome error alg',
         'alg none: 400, names alg');
$res = validate(sign_jwt(alg => 'HS256', hmac_key => 'a shared secret', header => { kid => $kid }, claims => claims()));
ok t_cmp(outcome($res) . ' ' . (issue_text($res) =~ /alg/ ? 'alg' : '-'), '400 OperationOutcome error alg',
         'alg HS256: 400, names alg');

# ---- not a JWT --------------------------------------------------------------------------------

$res = validate('hello');
ok t_cmp($res->code . ' ' . (json_of($res)->{resourceType} // '-'), '400 OperationOutcome', 'a non-JWT body: 400 OperationOutcome');
$res = validate('a.b.c');
ok t_cmp($res->code . ' ' . (json_of($res)->{resourceType} // '-'), '400 OperationOutcome', 'three parts that are not JSON: 400');
$res = validate('');
ok t_cmp($res->code . ' ' . (json_of($res)->{resourceType} // '-'), '400 OperationOutcome', 'an empty body: 400');
$res = validate('{"iss": "x"}', type => 'application/json');
ok t_cmp($res->code . ' ' . (json_of($res)->{resourceType} // '-'), '400 OperationOutcome', 'a JSON body: 400');
$res = validate(jwt() . '.' . b64url('x'));
ok t_cmp($res->code . ' ' . (json_of($res)->{resourceType} // '-'), '400 OperationOutcome', 'four parts: 400');

# ---- the route ---------------------------------------------------------------------------------

$res = req(GET => '/api/v2/Token/validate');
ok t_cmp(join(' ', $res->code, $res->header('Allow') // '-'), '405 POST', 'GET /Token/validate: 405, Allow: POST');
$res = req(POST => '/api/v2/Token/validate', 'Content-Type' => 'text/plain', content => jwt(),
           Authorization => 'Bearer garbage');
ok t_cmp($res->code, 200, 'an Authorization header (even a bad one) is ignored: 200');
