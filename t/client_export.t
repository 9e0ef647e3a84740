# dpc-client export: kick-off, polling, parallel downloads verified against
# the manifest, resuming a .part file, replacing a damaged file, and keeping
# a file that does not match as .bad.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use JSON::PP;
use DPC::Test qw(req json_of sql run note_err write_file slurp);
use DPC::Export qw(make_roster);
use DPC::JWT qw(gen_keys);
use DPC::Org;

plan tests => 39;

my $dir = tempdir(CLEANUP => 1);
my $out = "$dir/out";
gen_keys($dir, ce1 => 'ec');
my $org = DPC::Org->new(name => 'Client Export', key_path => "$dir/ce1", alg => 'ES384');
my $json = JSON::PP->new->canonical;
my $hostport = Apache::TestRequest::hostport();
my $base = "http://$hostport/api/v2";

sub client { run("$ENV{DPC_TEST_TOP}/dpc-client", @_) }
# The manifest of a completed job, its pages (the client asks for partial
# manifests) joined into one; undef unless it is complete.
sub manifest_of {
    my ($url) = @_;
    my %all = (output => [], error => []);
    while ($url) {
        my $r = req(GET => $url, Authorization => 'Bearer ' . $org->access_token);
        return undef unless $r->code == 200;
        my $p = json_of($r);
        push @{ $all{$_} }, @{ $p->{$_} // [] } for qw(output error);
        $url = ($p->{link} // [])->[0]{url};
    }
    return \%all;
}

my $sandbox = "$dir/sandbox.json";
write_file($sandbox, encode_json({
    private_key => "$dir/ce1.pem", key_id => $org->{kid},
    client_token => $org->{client_token}, token_url => $org->token_url,
    base_url => $base }));

# a roster of 4 beneficiaries of the claims store (as in t/api/export.t)
my $tok = $org->access_token;
my @mbis = map { sql("SELECT mbi FROM beneficiary ORDER BY mbi OFFSET $_ LIMIT 1") } 20 .. 23;
my $g = { id => make_roster($org, $tok, '1003000126', @mbis) };
ok t_cmp($g->{id} // '', qr/\S/, 'a roster to export');

# --- usage and refusals -------------------------------------------------------------
my ($st, $o, $err) = client('export', '--sandbox', $sandbox, '--group', $g->{id});
ok t_cmp($st, 2, 'no --dir: a usage error');
($st, $o, $err) = client('export', '--sandbox', $sandbox, '--dir', $out);
ok t_cmp($st, 2, 'no --group: a usage error');
($st, $o, $err) = client('export', '--sandbox', $sandbox, '--group', $g->{id},
                         '--dir', $out, '--type', 'Claim');
ok t_cmp($st, 1, 'a kick-off the server refuses: exit 1');
ok t_cmp($err, qr/HTTP 400/, 'saying the status') or note_err($err);

# --- a whole export ---------------------------------------------------------------------
($st, $o, $err) = client('export', '--sandbox', $sandbox, '--group', $g->{id},
                         '--type', 'Patient,ExplanationOfBenefit',
                         '--since', '2000-01-01T00:00:00+00:00',
                         '--dir', $out, '--parallel', '3');
ok t_cmp($st, 0, 'export succeeds') or note_err($err);
my $sum = eval { $json->decode($o) } // {};
ok t_cmp($sum->{job} // '', qr{^http://.*/api/v2/Jobs/[0-9a-f-]{36}$}, 'summary: the job URL');
my $job = $sum->{job} // "$base/Jobs/none";
my ($job_id) = $job =~ m{/Jobs/([0-9a-f-]+)$};
ok t_cmp(sql("SELECT array_to_string(types, ',') || ' ' || CASE WHEN since = '2000-01-01T00:00:00Z' THEN 't' ELSE 'f' END
              FROM export_job WHERE id = '" . ($job_id // '0') . "'"),
         'Patient,ExplanationOfBenefit t', '_type and _since reached the server');
my $m = manifest_of($job);
ok t_cmp($m ? 200 : 'none', 200, 'the manifest');
$m //= { output => [] };
my @files = @{ $m->{output} // [] };
my (%want, $count, $bytes);
for my $f (@files) {
    my ($name) = $f->{url} =~ m{/([^/?]+)(?:\?.*)?$};
    my ($cs) = map { $_->{valueString} } grep { $_->{url} eq 'https://dpc.cms.gov/checksum' } @{ $f->{extension} };
    my ($len) = map { $_->{valueDecimal} } grep { $_->{url} eq 'https://dpc.cms.gov/file_length' } @{ $f->{extension} };
    $want{$name} = { sha => $cs, len => $len };
    $count += $f->{count};
    $bytes += $len;
}
ok t_cmp(scalar(@files) > 1 ? 1 : 0, 1, 'several files to download (' . scalar(@files) . ')');
ok t_cmp($sum->{files}, scalar(@files), 'summary: files');
ok t_cmp($sum->{resources}, $count, 'summary: resources');
ok t_cmp($sum->{bytes}, $bytes, 'summary: bytes');
ok t_cmp($sum->{verified} ? 1 : 0, 1, 'summary: verified');

sub check_all {
    my $good = 0;
    for my $name (keys %want) {
        next unless -f "$out/$name";
        my $data = slurp("$out/$name");
        $good++ if 'sha256:' . sha256_hex($data) eq $want{$name}{sha}
            && length($data) == $want{$name}{len};
    }
    return $good;
}
ok t_cmp(check_all(), scalar(keys %want), 'every file is in DIR and matches the manifest');
opendir(my $dh, $out) or die "$out: $!";
my @left = grep { /\.(part|bad)$/ } readdir $dh;
closedir $dh;
ok t_cmp(scalar(@left), 0, 'no .part or .bad file is left');

# --- resume an interrupted download -------------------------------------------------------
my ($big) = sort { $want{$b}{len} <=> $want{$a}{len} } keys %want;
$big //= 'none';
my $data = -f "$out/$big" ? slurp("$out/$big") : '';
unlink "$out/$big";
write_file("$out/$big.part", substr($data, 0, int(length($data) / 2)));
my $log = Apache::Test::vars('t_logs') . '/access_log';
my $log_before = -s $log // 0;
($st, $o, $err) = client('export', '--sandbox', $sandbox, '--job', $job, '--dir', $out);
ok t_cmp($st, 0, 'export --job with a half-downloaded .part') or note_err($err);
$sum = eval { $json->decode($o) } // {};
ok t_cmp($sum->{resumed}, 1, 'resumes that one file');
ok t_cmp($sum->{verified} ? 1 : 0, 1, 'and verifies');
ok t_cmp(-f "$out/$big" && slurp("$out/$big") eq $data ? 1 : 0, 1, 'the file is whole again');
ok t_cmp(-e "$out/$big.part" ? 1 : 0, 0, 'its .part is gone');
my $new_log = '';
if (open(my $lh, '<', $log)) { seek $lh, $log_before, 0; local $/; $new_log = <$lh> // '' }
my @gets = grep { m{"GET [^"]*/\Q$big\E HTTP} } split /\n/, $new_log;
ok t_cmp(scalar(@gets) == 1 && $gets[0] =~ /" 206 / ? 1 : 0, 1,
         'one request for it, answered 206') or note_err($new_log);

# --- a damaged finished file is fetched again -----------------------------------------------
my $damaged = $data;
substr($damaged, 0, 1) = substr($damaged, 0, 1) eq '{' ? '[' : '{';
write_file("$out/$big", $damaged);
($st, $o, $err) = client('export', '--sandbox', $sandbox, '--job', $job, '--dir', $out);
ok t_cmp($st, 0, 'export --job with a damaged file in DIR') or note_err($err);
ok t_cmp(slurp("$out/$big") eq $data ? 1 : 0, 1, 'the file is downloaded again');
ok t_cmp(check_all(), scalar(keys %want), 'and everything matches');

# --- a part that cannot match: kept as .bad ---------------------------------------------------
unlink "$out/$big";
write_file("$out/$big.part", $damaged);
($st, $o, $err) = client('export', '--sandbox', $sandbox, '--job', $job, '--dir', $out);
ok t_cmp($st, 1, 'a complete .part with a wrong byte: exit 1');
ok t_cmp($err, qr/\Q$big\E does not match the manifest/, 'saying which file');
ok t_cmp($o, '', 'and no summary');
ok t_cmp(-f "$out/$big.bad" && slurp("$out/$big.bad") eq $damaged ? 1 : 0, 1, 'kept as .bad');
ok t_cmp(-e "$out/$big" || -e "$out/$big.part" ? 1 : 0, 0, 'and not as the file or its part');

# --- the error file: fetched and verified like the data ---------------------------------------
# $mbis[1] opts out: the export names it in an OperationOutcome instead.
sql("INSERT INTO opt_out (mbi) VALUES ('$mbis[1]')");
my $out2 = "$dir/out2";
($st, $o, $err) = client('export', '--sandbox', $sandbox, '--group', $g->{id},
                         '--type', 'Patient', '--dir', $out2);
sql("DELETE FROM opt_out WHERE mbi = '$mbis[1]'");
ok t_cmp($st, 0, 'an export with an opted-out member') or note_err($err);
$sum = eval { $json->decode($o) } // {};
my $m2 = manifest_of($sum->{job} // "$base/Jobs/none") // { output => [], error => [] };
my @errs = @{ $m2->{error} // [] };
ok t_cmp(scalar(@errs) . ' ' . ($sum->{error_files} // '-') . ' ' . ($sum->{outcomes} // '-'),
         '1 1 1', 'summary: one error file holding one OperationOutcome');
ok t_cmp(($sum->{files} // '-') . ' ' . ($sum->{resources} // '-'), scalar(@{ $m2->{output} }) . ' 3',
         'summary: the data files and the other three Patients');
my ($ename) = ((map { m{/([^/?]+)(?:\?.*)?$} } map { $_->{url} } @errs), 'none');
my ($esum) = map { $_->{valueString} } grep { $_->{url} eq 'https://dpc.cms.gov/checksum' }
             map { @{ $_->{extension} // [] } } @errs;
my $edata = -f "$out2/$ename" ? slurp("$out2/$ename") : '';
ok t_cmp('sha256:' . sha256_hex($edata), $esum // 'none', 'the error file is in DIR, matching its checksum');
ok t_cmp($edata, qr/"suppressed".*\Q$mbis[1]\E/, 'naming the opted-out MBI');
ok t_cmp($err, qr/\Q$ename\E: 1 OperationOutcome/, 'and the client says where to look') or note_err($err);

# --- a job that does not exist --------------------------------------------------------------
($st, $o, $err) = client('export', '--sandbox', $sandbox, '--dir', $out,
                         '--job', "$base/Jobs/00000000-0000-4000-8000-000000000000");
ok t_cmp($st, 1, 'an unknown job: exit 1');
ok t_cmp($err, qr/HTTP 404/, 'with the status');
ok t_cmp($err, qr/not-found/, "and the OperationOutcome's issue") or note_err($err);
