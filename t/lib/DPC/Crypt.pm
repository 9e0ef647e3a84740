package DPC::Crypt;
# BCDA's encrypted files in the tests: RSA key pairs made with the openssl
# command line, and decryption with the README's own openssl steps (read
# from the README, so the steps it shows are the steps tested).
use strict;
use warnings FATAL => 'all';
use Exporter 'import';
use File::Temp qw(tempdir);
use DPC::Test qw(run slurp);

our @EXPORT_OK = qw(rsa_pair readme_decrypt_steps openssl_decrypt);

# $dir/$name.pem (private) and $dir/$name.pub.pem, RSA of $bits (2048).
sub rsa_pair {
    my ($dir, $name, $bits) = @_;
    my ($st, undef, $err) = run('openssl', 'genpkey', '-algorithm', 'RSA', '-pkeyopt',
                                'rsa_keygen_bits:' . ($bits // 2048), '-out', "$dir/$name.pem");
    die "openssl genpkey: $err" if $st;
    ($st, undef, $err) = run('openssl', 'pkey', '-in', "$dir/$name.pem", '-pubout',
                             '-out', "$dir/$name.pub.pem");
    die "openssl pkey: $err" if $st;
    return ("$dir/$name.pem", "$dir/$name.pub.pem");
}

# The README's decryption steps: the indented block that follows the line
# "To decrypt one file with the openssl command line", as shell text.
sub readme_decrypt_steps {
    my $readme = slurp("$ENV{DPC_TEST_TOP}/README");
    my ($block) = $readme =~ /To decrypt one file with the openssl command line[^\n]*\n(?:[^\n]+\n)*?\n((?: {4}[^\n]*\n|\n)+)/;
    die "README: no decryption steps found\n" unless $block;
    $block =~ s/^ {4}//mg;
    return $block;
}

# Run the README's steps on a copy of $file named $name (the manifest's
# name: the label) with $key (encryptedKey) and the private key $private;
# (exit status, plaintext, stderr).  The steps' own assignments of NAME,
# KEY and PRIVATE are replaced by ours.
sub openssl_decrypt {
    my ($private, $file, $name, $key) = @_;
    my $dir = tempdir(CLEANUP => 1);
    my $steps = readme_decrypt_steps();
    $steps =~ s/^NAME=.*$/NAME='$name'/m;
    $steps =~ s/^KEY=.*$/KEY='$key'/m;
    $steps =~ s/^PRIVATE=.*$/PRIVATE='$private'/m;
    run('cp', $file, "$dir/$name");
    my ($st, $out, $err) = run('sh', '-ec', "cd '$dir'\n$steps");
    my $plain = -e "$dir/$name.plain" ? slurp("$dir/$name.plain") : undef;
    return ($st, $plain, $err . $out);
}

1;
