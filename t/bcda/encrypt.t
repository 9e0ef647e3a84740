# BCDA's encrypted files (t/conf/extra.conf.in: the bcda virtual host, its
# /plain/api/v1 with DPCEncryptFiles Off and /sealed/api/v2 with On): ACO
# keys with dpcctl, the dialects' defaults and the directive per Location,
# the manifest's encryptedKey and KeyMap, decryption with dpc-client and
# with the README's openssl steps, tampering, another ACO's key.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestRequest ();
use Apache::TestUtil;
use MIME::Base64 qw(encode_base64);
use File::Temp qw(tempdir);
use JSON::PP ();
use DPC::Test qw(req json_of sql run dpcctl wait_for slurp write_file note_err);
use DPC::Crypt qw(rsa_pair openssl_decrypt);

plan tests => 46;

Apache::TestRequest::module('bcda');
my $host = 'http://' . Apache::TestRequest::hostport();
my $dir = tempdir(CLEANUP => 1);
my $json = JSON::PP->new;
my %kick = (Accept => 'application/fhir+json', Prefer => 'respond-async');

sub ctl { my ($st, $out) = dpcctl(@_); return $st ? {} : $json->decode($out) }
sub client { run("$ENV{DPC_TEST_TOP}/dpc-client", @_) }
sub token_of {
    my ($c) = @_;
    my $res = req(POST => '/auth/token', Accept => 'application/json',
                  Authorization => 'Basic ' . encode_base64("$c->{client_id}:$c->{client_secret}", ''));
    return (json_of($res) // {})->{access_token} // '';
}
# Kick off $path as $tok; the job's number once it is done, or undef.
sub export_done {
    my ($tok, $path) = @_;
    my $res = req(GET => $path, Authorization => "Bearer $tok", %kick);
    my ($n) = ($res->header('Content-Location') // '') =~ m{/jobs/(\d+)$} or return undef;
    wait_for(60, sub { sql("SELECT status FROM export_job WHERE number = $n") ne 'running' });
    return $n;
}
sub manifest_of {
    my ($tok, $base, $n) = @_;
    return json_of(req(GET => "$base/jobs/$n", Authorization => "Bearer $tok")) // {};
}
sub path_of { (my $p = $_[0] // '') =~ s{^https?://[^/]+}{}; $p }

# three ACOs: A9921 and A9922 with keys of their own, A9923 without
my @aco = qw(A9921 A9922 A9923);
my %cred;
for my $i (0 .. 2) {
    ctl('aco', 'create', '--cms-id', $aco[$i]);
    $cred{$aco[$i]} = ctl('credential', 'create', '--aco', $aco[$i]);
    ctl('attribution', 'load', '--aco', $aco[$i], '--synthetic', 6, '--offset', 22);
}
# one of them opted out: reported in the (plain) error file
my $opted = sql("SELECT min(b.mbi) FROM aco_beneficiary b JOIN aco_attribution a"
                . " ON a.id = b.attribution_id JOIN organization o ON o.id = a.org_id"
                . " WHERE o.cms_id = 'A9921'");
sql("INSERT INTO opt_out (mbi) VALUES ('$opted') ON CONFLICT DO NOTHING");
my ($priv_a, $pub_a) = rsa_pair($dir, 'a');
my ($priv_b, $pub_b) = rsa_pair($dir, 'b');

# key registration: bad input is refused with the reason, and stores nothing
my ($small) = (rsa_pair($dir, 'small', 1024))[1];
run('openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', "$dir/ec.pem");
run('openssl', 'pkey', '-in', "$dir/ec.pem", '-pubout', '-out', "$dir/ec.pub.pem");
write_file("$dir/junk.pem", "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n");
for my $bad ([$small, qr/1024 bits is below the minimum of 2048/, 'a 1024-bit RSA key'],
             ["$dir/ec.pub.pem", qr/must be RSA/, 'an EC key'],
             [$priv_a, qr/private key/i, 'a private key'],
             ["$dir/junk.pem", qr/./, 'a PEM that is no key'],
             ["$dir/none.pem", qr/cannot read/, 'a missing file']) {
    my ($st, undef, $err) = dpcctl('aco-key', 'register', '--aco', 'A9921', '--file', $bad->[0]);
    ok t_cmp(($st ? 1 : 0) . '|' . ($err =~ $bad->[1] ? 1 : 0), '1|1', "$bad->[2] is refused, saying why")
        or note_err($err);
}
my $ours = "SELECT id FROM organization WHERE cms_id IN ('A9921', 'A9922', 'A9923')";
ok t_cmp(sql("SELECT count(*) FROM aco_key WHERE org_id IN ($ours)"), 0, '... and nothing is stored');
my ($st, undef, $err) = dpcctl('aco-key', 'register', '--aco', 'A0000', '--file', $pub_a);
ok t_cmp($st ? 1 : 0, 1, 'a key for an ACO that does not exist is refused');

my $ka = ctl('aco-key', 'register', '--aco', 'A9921', '--file', $pub_a, '--label', 'ACO one');
ok t_cmp(($ka->{bits} // '') . '|' . length($ka->{fingerprint} // ''), '2048|64',
         'a 2048-bit RSA key registers: bits and fingerprint');
ctl('aco-key', 'register', '--aco', 'A9922', '--file', $pub_a);
my $kb = ctl('aco-key', 'register', '--aco', 'A9922', '--file', $pub_b);
ok t_cmp(sql("SELECT count(*) FROM aco_key k JOIN organization o ON o.id = k.org_id"
             . " WHERE o.cms_id = 'A9922' AND k.fingerprint = '$kb->{fingerprint}'"), 1,
         'registering again replaces the key');
my $list = ctl('aco-key', 'list');
ok t_cmp(join(',', grep { /^A992/ } map { $_->{aco} } @{ $list->{keys} // [] }), 'A9921,A9922',
         'aco-key list');
ok t_cmp(sql("SELECT string_agg(action, ',' ORDER BY id) FROM audit_event"
             . " WHERE detail->>'kind' = 'aco_key' AND org_id IN ($ours)"),
         'credential.created,credential.created,credential.rotated',
         'registration and replacement are audited as credential changes');

my %tok = map { $_ => token_of($cred{$_}) } @aco;

# v1: encrypted by default
my $n = export_done($tok{A9921}, '/api/v1/Patient/$export');
ok t_cmp(sql("SELECT status || '|' || (encrypt_key = (SELECT pem FROM aco_key k JOIN organization o"
             . " ON o.id = k.org_id WHERE o.cms_id = 'A9921'))::text || '|' || gzip::text"
             . " FROM export_job WHERE number = $n"), 'completed|true|false',
         "v1 (default on): the job is encrypted for the ACO's key, with no gzip twins");
my $m = manifest_of($tok{A9921}, '/api/v1', $n);
my @out = @{ $m->{output} // [] };
ok t_cmp(scalar(@out) > 0 && !grep({ ($_->{encryptedKey} // '') !~ /^[0-9a-f]{512}$/ } @out) ? 1 : 0, 1,
         'every output entry has its encryptedKey: 512 hex digits (RSA-2048)');
my %km = %{ $m->{KeyMap} // {} };
ok t_cmp(join(',', sort keys %km), join(',', sort map { (split m{/}, $_->{url})[-1] } @out),
         'KeyMap names every data file');
ok t_cmp(!grep({ ($km{(split m{/}, $_->{url})[-1]} // '') ne $_->{encryptedKey} } @out) ? 1 : 0, 1,
         '... with the same keys');
my @err = @{ $m->{error} // [] };
ok t_cmp(@err && !grep({ exists $_->{encryptedKey} || exists $km{(split m{/}, $_->{url})[-1]} } @err) ? 1 : 0,
         1, 'error files are listed, not encrypted');
ok t_cmp(join(',', grep { exists $m->{$_} } qw(transactionTime request requiresAccessToken output error KeyMap JobID)),
         'transactionTime,request,requiresAccessToken,output,error,KeyMap,JobID', "BCDA's manifest fields");
my $url = $out[0]{url};
my $name = (split m{/}, $url)[-1];
my $res = req(GET => path_of($url), Authorization => "Bearer $tok{A9921}", 'Accept-Encoding' => 'gzip');
my $cipher = $res->content;
my $row = sql("SELECT bytes || '|' || count FROM export_file f JOIN export_job j ON j.id = f.job_id"
              . " WHERE j.number = $n AND f.name = '$name'");
my ($bytes, $count) = split /\|/, $row;
ok t_cmp(join('|', $res->code, $res->header('Content-Type'), $res->header('Content-Encoding') // 'none',
              length($cipher)), "200|application/octet-stream|none|$bytes",
         'the file downloads as bytes, as long as recorded (no gzip)');
ok t_cmp($cipher =~ /resourceType/ ? 1 : 0, 0, '... and is not NDJSON');
my $epath = path_of($err[0]{url});
ok t_cmp(req(GET => $epath, Authorization => "Bearer $tok{A9921}")->content =~ /"OperationOutcome".*\Q$opted\E/ ? 1 : 0,
         1, 'the error file is plain NDJSON');

# decrypt with dpc-client
my $job_url = "$host/api/v1/jobs/$n";
my ($cst, $cout, $cerr) = client('export', '--job', $job_url, '--token', $tok{A9921},
                                 '--dir', "$dir/out", '--decrypt-key', $priv_a);
my $r = eval { $json->decode($cout) } // {};
ok t_cmp("$cst|" . ($r->{decrypted} // '') . '|' . ($r->{encrypted} // ''), '0|' . @out . '|' . @out,
         'dpc-client --decrypt-key decrypts every data file') or note_err($cerr);
# a kick-off by dpc-client, which asks for partial manifests: the pages give
# the keys too
my ($kst, $kout, $kerr) = client('export', '--group', 'all', '--base', "$host/api/v1",
                                 '--token', $tok{A9921}, '--dir', "$dir/kicked",
                                 '--decrypt-key', $priv_a);
my $k = eval { $json->decode($kout) } // {};
ok t_cmp("$kst|" . ($k->{decrypted} // '') . '|' . (($k->{encrypted} // 0) > 0 ? 'some' : 'none'),
         "0|" . ($k->{encrypted} // "x") . "|some",
         'dpc-client export (partial manifests) decrypts every data file it downloads')
    or note_err($kerr);
my $plain = -e "$dir/out/$name" ? slurp("$dir/out/$name") : '';
my @lines = grep { length } split /\n/, $plain;
ok t_cmp(scalar(@lines) . '|' . scalar(grep { /"resourceType":"Patient"/ } @lines), "$count|$count",
         '... into NDJSON of Patient, as many as the file holds');
ok t_cmp(-e "$dir/out/$name.encrypted" ? 1 : 0, 0, '... and removes the encrypted copy');

# decrypt with the openssl command line, as the README shows it
my $copy = "$dir/$name";
write_file($copy, $cipher);
my ($ost, $oplain, $oerr) = openssl_decrypt($priv_a, $copy, $name, $out[0]{encryptedKey});
ok t_cmp($ost, 0, "the README's openssl steps run") or note_err($oerr);
ok t_cmp(defined $oplain && $oplain eq $plain ? 1 : 0, 1, '... and give the same NDJSON');
my ($wst, $wplain) = openssl_decrypt($priv_a, $copy, "0$name", $out[0]{encryptedKey});
ok t_cmp($wst ? 1 : 0, 1, 'with another name (the label), the key does not unwrap');

# tampered on the server: the tag fails, no plaintext is left
my $jobid = sql("SELECT id FROM export_job WHERE number = $n");
my $served = "$ENV{DPC_TEST_EXPORT}/$jobid/$name";
my $orig = slurp($served);
my $bad = $orig;
substr($bad, 40, 1) = chr(ord(substr($bad, 40, 1)) ^ 1);
write_file($served, $bad);
($cst, $cout, $cerr) = client('export', '--job', $job_url, '--token', $tok{A9921},
                              '--dir', "$dir/tampered", '--decrypt-key', $priv_a);
ok t_cmp(($cst ? 1 : 0) . '|' . ($cerr =~ /\Q$name\E.*tag does not match/ ? 1 : 0), '1|1',
         'a tampered file fails to decrypt, saying so') or note_err($cerr);
ok t_cmp((-e "$dir/tampered/$name" ? 1 : 0) . (-e "$dir/tampered/$name.tmp" ? 1 : 0)
         . (-e "$dir/tampered/$name.encrypted" ? 1 : 0), '001',
         '... leaving no plaintext, and the encrypted file to look at');
write_file($served, $orig);

# another ACO's key is never used
($cst, $cout, $cerr) = client('export', '--job', $job_url, '--token', $tok{A9921},
                              '--dir', "$dir/other", '--decrypt-key', $priv_b);
ok t_cmp(($cst ? 1 : 0) . '|' . ($cerr =~ /does not unwrap/ ? 1 : 0) . '|' . (-e "$dir/other/$name" ? 1 : 0),
         '1|1|0', "another ACO's private key does not decrypt the file");
my $n2 = export_done($tok{A9922}, '/api/v1/Patient/$export');
my $m2 = manifest_of($tok{A9922}, '/api/v1', $n2);
($cst) = client('export', '--job', "$host/api/v1/jobs/$n2", '--token', $tok{A9922},
                '--dir', "$dir/b", '--decrypt-key', $priv_b);
my ($ast) = client('export', '--job', "$host/api/v1/jobs/$n2", '--token', $tok{A9922},
                   '--dir', "$dir/b-with-a", '--decrypt-key', $priv_a);
ok t_cmp(($cst ? 1 : 0) . '|' . ($ast ? 1 : 0), '0|1',
         "A9922's files decrypt with its own (replacing) key only, not the key it registered first");
ok t_cmp(sql("SELECT count(DISTINCT encrypt_key) FROM export_job WHERE number IN ($n, $n2)"), 2,
         'each job is encrypted for its own ACO');

# v2: plain by default, and no key needed
my $n3 = export_done($tok{A9923}, '/api/v2/Group/all/$export');
my $m3 = manifest_of($tok{A9923}, '/api/v2', $n3);
ok t_cmp((defined $n3 ? 1 : 0) . '|' . (exists $m3->{KeyMap} ? 1 : 0) . '|'
         . scalar(grep { exists $_->{encryptedKey} } @{ $m3->{output} // [] }), '1|0|0',
         'v2 (default off): an ACO without a key exports, no KeyMap, no encryptedKey');
$res = req(GET => path_of($m3->{output}[0]{url}), Authorization => "Bearer $tok{A9923}");
ok t_cmp($res->header('Content-Type') . '|' . ($res->content =~ /^\{"resourceType"/ ? 1 : 0),
         'application/fhir+ndjson|1', '... plain NDJSON files');
ok t_cmp(sql("SELECT gzip::text FROM export_job WHERE number = $n3"), 'true', '... with gzip twins as configured');

# v1 without a key: refused up front, nothing made
my $jobs0 = sql("SELECT count(*) FROM export_job");
$res = req(GET => '/api/v1/Patient/$export', Authorization => "Bearer $tok{A9923}", %kick);
my $oo = json_of($res) // {};
ok t_cmp($res->code . '|' . ($oo->{resourceType} // '') . '|'
         . (($oo->{issue}[0]{diagnostics} // '') =~ /encrypted.*dpcctl aco-key register/ ? 1 : 0),
         '400|OperationOutcome|1', 'v1 without a registered key: 400 saying how to register one');
ok t_cmp(sql("SELECT count(*) FROM export_job"), $jobs0, '... and no job is made');

# per Location: v1 with Off, v2 with On
my $n4 = export_done($tok{A9923}, '/plain/api/v1/Patient/$export');
my $m4 = manifest_of($tok{A9923}, '/plain/api/v1', $n4);
ok t_cmp((defined $n4 ? 1 : 0) . '|' . (exists $m4->{KeyMap} ? 1 : 0), '1|0',
         'DPCEncryptFiles Off on a v1 Location: plain files, no key needed');
my $n5 = export_done($tok{A9921}, '/sealed/api/v2/Group/all/$export');
my $m5 = manifest_of($tok{A9921}, '/sealed/api/v2', $n5);
ok t_cmp(scalar(keys %{ $m5->{KeyMap} // {} }) . '|' . scalar(@{ $m5->{output} // [] }),
         scalar(@{ $m5->{output} // [] }) . '|' . scalar(@{ $m5->{output} // [] }),
         'DPCEncryptFiles On on a v2 Location: every file encrypted');
ok t_cmp(scalar(keys %{ $m5->{KeyMap} // {} }) > 0 ? 1 : 0, 1, '... and there are files');
$res = req(GET => '/sealed/api/v2/Group/all/$export', Authorization => "Bearer $tok{A9923}", %kick);
ok t_cmp($res->code, 400, '... where an ACO without a key is refused');
($cst, $cout) = client('export', '--job', "$host/sealed/api/v2/jobs/$n5", '--token', $tok{A9921},
                       '--dir', "$dir/v2", '--decrypt-key', $priv_a);
ok t_cmp($cst . '|' . ((eval { $json->decode($cout) } // {})->{decrypted} // ''),
         '0|' . scalar(@{ $m5->{output} }), '... and they decrypt');

# removing a key: audited; later kick-offs need a new one
my $del = ctl('aco-key', 'delete', '--aco', 'A9922');
ok t_cmp($del->{aco} // '', 'A9922', 'aco-key delete');
ok t_cmp(sql("SELECT count(*) FROM audit_event WHERE action = 'credential.deleted'"
             . " AND detail->>'kind' = 'aco_key' AND org_id IN ($ours)"), 1, '... is audited');
ok t_cmp(req(GET => '/api/v1/Coverage/$export', Authorization => "Bearer $tok{A9922}", %kick)->code, 400,
         '... and a v1 kick-off of that ACO is refused again');
($cst) = client('export', '--job', "$host/api/v1/jobs/$n2", '--token', $tok{A9922},
                '--dir', "$dir/b-again", '--decrypt-key', $priv_b);
ok t_cmp($cst, 0, '... while its finished job still decrypts with the key it was made for');

sql("DELETE FROM opt_out WHERE mbi = '$opted'");
