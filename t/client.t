# The reference client: key pair and proof of possession, client
# assertions, and plain GETs against this server.  The token exchange runs
# only when DPC_TEST_SANDBOX names a sandbox JSON file (build/run writes one
# to var/sandbox.json), since it needs a registered key and client token.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use JSON::PP;
use DPC::Test qw(note_err write_file slurp);
use MIME::Base64 qw(decode_base64 decode_base64url);

my $sandbox = $ENV{DPC_TEST_SANDBOX};
my $token_tests = 10;
plan tests => 49 + $token_tests;

my $json = JSON::PP->new;
my $hostport = Apache::TestRequest::hostport();
my $dir = tempdir(CLEANUP => 1);
my $snippet = 'This is the snippet used to verify a key pair in DPC.';

# Run dpc-client; returns (exit status, stdout, stderr).
sub client { DPC::Test::run("$ENV{DPC_TEST_TOP}/dpc-client", @_) }


# Does openssl verify sig (raw bytes) over data with pub and digest?
sub openssl_verifies {
    my ($pub, $digest, $data, $sig) = @_;
    write_file("$dir/data", $data);
    write_file("$dir/sig.bin", $sig);
    my $out = `openssl dgst -$digest -verify '$pub' -signature '$dir/sig.bin' '$dir/data' 2>&1`;
    return $out =~ /^Verified OK/ ? 1 : 0;
}

my $ok_json = sub { my $v = eval { $json->decode($_[0]) }; $v };

# --- keygen -------------------------------------------------------------------
my ($st, $out, $err) = client('keygen', '--out', "$dir/rsa");
ok t_cmp($st, 0, 'keygen (RS384, 4096 bits by default) succeeds') or note_err($err);
my $k = $ok_json->($out) // {};
ok t_cmp($k->{alg}, 'RS384', 'reports the algorithm');
ok t_cmp($k->{private_key}, "$dir/rsa.pem", 'and the private key path');
ok t_cmp($k->{public_key}, "$dir/rsa.pub.pem", 'the public key path');
ok t_cmp($k->{signature}, "$dir/rsa.sig", 'the signature path');
ok t_cmp(-f "$dir/rsa.pem" && -f "$dir/rsa.pub.pem" && -f "$dir/rsa.sig" ? 1 : 0, 1,
         'all three files exist');
ok t_cmp(sprintf('%04o', (stat "$dir/rsa.pem")[2] & 07777), '0600',
         'the private key is readable by its owner only');
# (Key material is compared as booleans so verbose runs do not print it.)
ok t_cmp(slurp("$dir/rsa.pem") =~ /^-----BEGIN PRIVATE KEY-----\n/ ? 1 : 0, 1,
         'PKCS#8 private key');
ok t_cmp(slurp("$dir/rsa.pub.pem") =~ /^-----BEGIN PUBLIC KEY-----\n/ ? 1 : 0, 1,
         'SPKI public key');
my $bits = `openssl pkey -pubin -in '$dir/rsa.pub.pem' -noout -text 2>&1`;
ok t_cmp($bits =~ /Public-Key: \(4096 bit\)/ ? 1 : 0, 1, 'an RSA key of 4096 bits');
my $sig = decode_base64(slurp("$dir/rsa.sig"));
ok t_cmp(length($sig), 512, 'the signature is one RSA-4096 block');
ok t_cmp(openssl_verifies("$dir/rsa.pub.pem", 'sha256', $snippet, $sig), 1,
         'the signature verifies over the DPC snippet (openssl dgst -sha256)');
ok t_cmp(openssl_verifies("$dir/rsa.pub.pem", 'sha256', "$snippet\n", $sig), 0,
         'but not over the snippet with a newline');

my $before = slurp("$dir/rsa.pem");
($st, $out, $err) = client('keygen', '--out', "$dir/rsa");
ok t_cmp($st, 1, 'keygen never overwrites a key');
ok t_cmp($err, qr/already exists/, 'and says why');
ok t_cmp(slurp("$dir/rsa.pem") eq $before ? 1 : 0, 1, 'the private key is unchanged');

($st, $out, $err) = client('keygen', '--alg', 'ES384', '--out', "$dir/ec");
ok t_cmp($st, 0, 'keygen --alg ES384');
ok t_cmp(($ok_json->($out) // {})->{alg}, 'ES384', 'reports ES384');
ok t_cmp(scalar(`openssl pkey -pubin -in '$dir/ec.pub.pem' -noout -text 2>&1`)
         =~ /NIST CURVE: P-384/ ? 1 : 0, 1, 'an EC key on P-384');
ok t_cmp(openssl_verifies("$dir/ec.pub.pem", 'sha256', $snippet,
                          decode_base64(slurp("$dir/ec.sig"))), 1,
         'its signature verifies too');

($st) = client('keygen', '--out', "$dir/x", '--colour', 'blue');
ok t_cmp($st, 2, 'an unknown option is a usage error');
($st) = client('keygen', '--alg', 'HS256', '--out', "$dir/x");
ok t_cmp($st, 2, 'so is an algorithm off the allow-list');
($st) = client('keygen');
ok t_cmp($st, 2, 'and a missing --out');
ok t_cmp(-e "$dir/x.pem" ? 1 : 0, 0, 'a usage error writes nothing');

# --- jwt ----------------------------------------------------------------------
my $aud = "http://$hostport/api/v2/Token/auth";
my $client_token = 'dpcct_' . ('A' x 43);
($st, $out, $err) = client('jwt', '--key', "$dir/rsa.pem", '--kid', 'key-1',
                           '--client-token', $client_token, '--aud', $aud);
ok t_cmp($st, 0, 'jwt succeeds') or note_err($err);
my $jwt = ($ok_json->($out) // {})->{jwt} // '';
my @parts = split /\./, $jwt, -1;
ok t_cmp(scalar(@parts), 3, 'a compact JWS: three dot-separated parts');
my $hdr = eval { decode_json(decode_base64url($parts[0])) } // {};
my $claims = eval { decode_json(decode_base64url($parts[1])) } // {};
ok t_cmp($hdr->{alg}, 'RS384', 'header alg RS384 (from the key)');
ok t_cmp($hdr->{kid}, 'key-1', 'header kid');
ok t_cmp($hdr->{typ}, 'JWT', 'header typ');
ok t_cmp($claims->{iss}, $client_token, 'iss is the client token');
ok t_cmp($claims->{sub}, $client_token, 'sub is the client token');
ok t_cmp($claims->{aud}, $aud, 'aud is the token URL');
my $left = ($claims->{exp} // 0) - time;
ok t_cmp($left > 240 && $left <= 300 ? 1 : 0, 1, "exp is at most 300 s ahead ($left)");
ok t_cmp($claims->{jti}, qr/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
         'jti is a random UUID');
ok t_cmp(openssl_verifies("$dir/rsa.pub.pem", 'sha384', "$parts[0].$parts[1]",
                          decode_base64url($parts[2] // '')), 1,
         'the RS384 signature verifies with the public key');

my ($st2, $out2) = client('jwt', '--key', "$dir/rsa.pem", '--kid', 'key-1',
                          '--client-token', $client_token, '--aud', $aud);
my $claims2 = eval { decode_json(decode_base64url((split /\./, $json->decode($out2)->{jwt})[1])) } // {};
ok t_cmp($claims2->{jti} ne ($claims->{jti} // '') ? 1 : 0, 1, 'a new jti every time');

($st, $out) = client('jwt', '--key', "$dir/ec.pem", '--kid', 'key-2',
                     '--client-token', $client_token, '--aud', $aud, '--lifetime', '60');
$hdr = eval { decode_json(decode_base64url((split /\./, $json->decode($out)->{jwt})[0])) } // {};
ok t_cmp($hdr->{alg}, 'ES384', 'an EC key signs ES384');
$claims = eval { decode_json(decode_base64url((split /\./, $json->decode($out)->{jwt})[1])) } // {};
$left = ($claims->{exp} // 0) - time;
ok t_cmp($left > 0 && $left <= 60 ? 1 : 0, 1, '--lifetime 60');

($st, $out, $err) = client('jwt', '--key', "$dir/rsa.pem", '--kid', 'k',
                           '--client-token', 't', '--aud', $aud, '--lifetime', '301');
ok t_cmp($st, 2, 'a lifetime over 300 s is refused');
($st) = client('jwt', '--key', "$dir/rsa.pem", '--kid', 'k', '--client-token', 't');
ok t_cmp($st, 2, 'jwt without --aud is a usage error');
($st, $out, $err) = client('jwt', '--key', "$dir/rsa.pub.pem", '--kid', 'k',
                           '--client-token', 't', '--aud', $aud);
ok t_cmp($st, 1, 'a public key cannot sign');

# --sandbox: the four values from a JSON file, options override it
write_file("$dir/sandbox.json", encode_json({
    private_key => "$dir/ec.pem", key_id => 'sb-key', client_token => 'sb-token',
    token_url => $aud, org_id => 'ignored' }));
($st, $out) = client('jwt', '--sandbox', "$dir/sandbox.json", '--kid', 'override');
$jwt = ($ok_json->($out) // {})->{jwt} // '';
$hdr = eval { decode_json(decode_base64url((split /\./, $jwt)[0])) } // {};
$claims = eval { decode_json(decode_base64url((split /\./, $jwt)[1])) } // {};
ok t_cmp($st, 0, 'jwt --sandbox');
ok t_cmp("$hdr->{kid}|$claims->{iss}|$claims->{aud}", "override|sb-token|$aud",
         'takes the file and lets options override it');

# --- get ----------------------------------------------------------------------
($st, $out, $err) = client('get', "http://$hostport/api/v2/metadata");
ok t_cmp($st, 0, 'get metadata') or note_err($err);
my $g = $ok_json->($out) // {};
ok t_cmp($g->{status}, 200, 'status 200');
ok t_cmp($g->{headers}{'content-type'}, qr{^application/fhir\+json}, 'headers by lower-case name');
my $cs = eval { decode_json($g->{body}) } // {};
ok t_cmp($cs->{resourceType}, 'CapabilityStatement', 'the body as text');

($st, $out) = client('get', "http://$hostport/api/v2/NoSuchThing",
                     '--header', 'Accept: application/fhir+json');
ok t_cmp(($ok_json->($out) // {})->{status}, 404, 'an HTTP error is reported, not fatal');
($st) = client('get', "http://$hostport/api/v2/NoSuchThing", '--fail');
ok t_cmp($st, 1, 'unless --fail');

# --- token and authenticated get ----------------------------------------------
# DPC_TEST_SANDBOX names credentials to use as they are; otherwise the key
# made above is registered for a new organization with dpcctl (DPC::Org).
my $sb_file = $sandbox && -r $sandbox ? $sandbox : undef;
my $why = 'set DPC_TEST_SANDBOX to a sandbox JSON file for the token flow';
if (!$sb_file) {
    my $org = eval {
        require DPC::Org;
        DPC::Org->new(name => 'Client Tool Clinic', key_path => "$dir/rsa");
    };
    if ($org) {
        $sb_file = "$dir/org.json";
        write_file($sb_file, encode_json({
            private_key => "$dir/rsa.pem", key_id => $org->{kid},
            client_token => $org->{client_token}, token_url => $org->token_url }));
    }
    else {
        $why .= " (no organization: $@)";
    }
}
# Apache::Test's skip() is Test.pm's: a true first argument makes the test
# a skipped one.
if (!$sb_file) {
    skip($why, 1) for 1 .. $token_tests;
}
else {
    my $sb = $json->decode(slurp($sb_file));
    (my $base = $sb->{token_url}) =~ s{/Token/auth$}{};
    ($st, $out, $err) = client('token', '--sandbox', $sb_file);
    ok t_cmp($st, 0, 'token --sandbox') or note_err($err);
    my $t = $ok_json->($out) // {};
    ok t_cmp($t->{access_token} // '', qr/\S/, 'an access token');
    ok t_cmp(lc($t->{token_type} // ''), 'bearer', 'of type bearer');
    ok t_cmp(($t->{expires_in} // 0) > 0 && ($t->{expires_in} // 0) <= 300 ? 1 : 0, 1,
             'living at most 300 s');
    ok t_cmp($t->{scope}, 'system/*.*', 'for the system scope');

    ($st, $out, $err) = client('get', "$base/Token", '--token', $t->{access_token} // '');
    ok t_cmp(($ok_json->($out) // {})->{status}, 200, 'get --token: the token is accepted')
        or note_err($err);
    ($st, $out, $err) = client('get', "$base/Token", '--sandbox', $sb_file);
    ok t_cmp(($ok_json->($out) // {})->{status}, 200, 'get --sandbox fetches a token itself')
        or note_err($err);
    ($st, $out) = client('get', "$base/Token");
    ok t_cmp(($ok_json->($out) // {})->{status}, 401, 'and without one: 401');

    write_file("$dir/wrong.json", encode_json({ %$sb, client_token => 'dpcct_' . ('B' x 43) }));
    ($st, $out, $err) = client('token', '--sandbox', "$dir/wrong.json");
    ok t_cmp($st, 1, 'an unknown client token gets no access token');
    ok t_cmp($err, qr/invalid_client/, 'and the server\'s OAuth error is shown');
}
