package DPC::JWT;
# JWTs and access tokens made independently of mod_dpc's own code: the
# openssl CLI signs, core Perl modules encode.  Used to test what the server
# accepts and refuses.
use strict;
use warnings FATAL => 'all';
use Exporter 'import';
use MIME::Base64 qw(encode_base64 decode_base64);
use Digest::SHA qw(hmac_sha256 hmac_sha384);
use File::Temp qw(tempfile);
use JSON::PP ();
use POSIX ();

our @EXPORT_OK = qw(b64url b64url_decode sign_jwt mint_access_token random_jti
                    read_file jose_es_signature random_uuid gen_keys pop_signature);

my $json = JSON::PP->new->canonical;

sub b64url {
    my ($bytes) = @_;
    my $s = encode_base64($bytes, '');
    $s =~ tr{+/}{-_};
    $s =~ s/=+$//;
    return $s;
}

sub b64url_decode {
    my ($s) = @_;
    $s =~ tr{-_}{+/};
    $s .= '=' x ((4 - length($s) % 4) % 4);
    return decode_base64($s);
}

sub read_file {
    my ($path) = @_;
    open(my $fh, '<', $path) or die "$path: $!";
    local $/;
    my $s = <$fh>;
    close $fh;
    return $s;
}

sub random_jti { join '', map { sprintf '%02x', int rand 256 } 1 .. 16 }

sub _openssl_sign {
    my ($digest, $key, $data) = @_;
    my ($fh, $file) = tempfile(UNLINK => 1);
    binmode $fh;
    print $fh $data;
    close $fh;
    open(my $p, '-|', 'openssl', 'dgst', "-$digest", '-sign', $key, $file)
        or die "openssl: $!";
    binmode $p;
    local $/;
    my $sig = <$p>;
    close $p or die "openssl dgst failed";
    return $sig;
}

# DER ECDSA-Sig-Value -> JOSE r||s, each padded to $n bytes.
sub jose_es_signature {
    my ($der, $n) = @_;
    my @b = unpack('C*', $der);
    my $i = 2;
    $i++ if $b[1] & 0x80;    # long-form length
    my @ints;
    for (1 .. 2) {
        die "not DER" unless $b[$i] == 0x02;
        my $len = $b[$i + 1];
        my @v = @b[$i + 2 .. $i + 1 + $len];
        shift @v while @v > $n && $v[0] == 0;
        unshift @v, 0 while @v < $n;
        push @ints, pack('C*', @v);
        $i += 2 + $len;
    }
    return join '', @ints;
}

# sign_jwt(header => {...}, claims => {...}, key => PEM path, alg => ...)
# alg: RS384 (default), RS256, ES384, HS256 (keyed with hmac_key), none.
sub sign_jwt {
    my (%a) = @_;
    my $alg = $a{alg} // 'RS384';
    my %h = (alg => $alg, typ => 'JWT', %{ $a{header} // {} });
    delete $h{$_} for grep { !defined $h{$_} } keys %h;
    my $input = b64url($json->encode(\%h)) . '.' . b64url($json->encode($a{claims}));
    my $sig = '';
    if ($alg eq 'RS384') { $sig = _openssl_sign('sha384', $a{key}, $input) }
    elsif ($alg eq 'RS256') { $sig = _openssl_sign('sha256', $a{key}, $input) }
    elsif ($alg eq 'ES384') {
        $sig = jose_es_signature(_openssl_sign('sha384', $a{key}, $input), 48);
    }
    elsif ($alg eq 'HS256') { $sig = hmac_sha256($input, $a{hmac_key}) }
    return $input . '.' . b64url($sig);
}

# An access token in mod_dpc's format, made with the server secret, so tests
# can present tokens the server would never issue (expired ones).
sub mint_access_token {
    my (%f) = @_;
    # secret => BYTES signs with another secret (a token the server must refuse)
    my $secret = $f{secret} // read_file($ENV{DPC_TEST_SECRET});
    $secret =~ s/[\r\n]+$//;
    my $payload = $json->encode({ jti => $f{jti} // random_jti(), org => $f{org},
                                  ct => $f{ct}, kid => $f{kid},
                                  scope => $f{scope} // 'system/*.*',
                                  iat => $f{iat} + 0, exp => $f{exp} + 0 });
    my $input = 'dpc2.' . b64url($payload);
    return $input . '.' . b64url(hmac_sha256($input, $secret));
}

# A random (version 4) UUID in canonical text form.
sub random_uuid {
    my @b = map { int rand 256 } 1 .. 16;
    $b[6] = ($b[6] & 0x0f) | 0x40;
    $b[8] = ($b[8] & 0x3f) | 0x80;
    my $h = join '', map { sprintf '%02x', $_ } @b;
    return join '-', substr($h, 0, 8), substr($h, 8, 4), substr($h, 12, 4),
                     substr($h, 16, 4), substr($h, 20);
}

# gen_keys(DIR, name => type, ...): fresh key pairs made with the openssl
# CLI, in parallel; type is rsa (4096 bits), rsa2048, ec (P-384) or p256.
# Writes DIR/name.pem (private) and DIR/name.pub.pem; returns a hash of
# name => "DIR/name" (the base DPC::Org->new(key_path => ...) takes).
sub gen_keys {
    my ($dir, %want) = @_;
    my %opt = (rsa => ['RSA', 'rsa_keygen_bits:4096'], rsa2048 => ['RSA', 'rsa_keygen_bits:2048'],
               ec => ['EC', 'ec_paramgen_curve:P-384'], p256 => ['EC', 'ec_paramgen_curve:P-256']);
    my (%pid, %out);
    for my $name (sort keys %want) {
        my $o = $opt{ $want{$name} } or die "gen_keys: unknown type $want{$name}";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            open(STDERR, '>', '/dev/null');
            exec('openssl', 'genpkey', '-algorithm', $o->[0], '-pkeyopt', $o->[1],
                 '-out', "$dir/$name.pem") or POSIX::_exit(127);
        }
        $pid{$name} = $pid;
    }
    for my $name (sort keys %pid) {
        waitpid($pid{$name}, 0);
        die "openssl genpkey $name failed" if $?;
        system('openssl', 'pkey', '-in', "$dir/$name.pem", '-pubout',
               '-out', "$dir/$name.pub.pem") == 0 or die "openssl pkey $name failed";
        $out{$name} = "$dir/$name";
    }
    return \%out;
}

# DPC v2's proof of possession: base64 (standard, one line) of the
# SHA-256 signature of $text (default: DPC's 53-byte snippet) made with the
# private key in $key (a PEM file), as `openssl dgst -sha256 -sign` makes it.
sub pop_signature {
    my ($key, $text) = @_;
    $text //= 'This is the snippet used to verify a key pair in DPC.';
    return encode_base64(_openssl_sign('sha256', $key, $text), '');
}

1;
