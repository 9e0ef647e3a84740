package DPC::Guide;
# Running a guide's commands as the guide prints them, with only the host
# and the ids the server returned substituted (t/bcda/guide_*.t).
use strict;
use warnings FATAL => 'all';
use Exporter 'import';
use JSON::PP ();
use Apache::TestRequest ();
use Apache::Test qw(ok);
use Apache::TestUtil qw(t_cmp);
use DPC::Test qw(run dpcctl wait_for write_file);
use DPC::Crypt qw(rsa_pair openssl_decrypt);
use File::Temp qw(tempdir);

our @EXPORT_OK = qw(guide_host guide_run guide_aco kickoff_of guide_export);

# The BCDA virtual host's URL, for the guides' https://sandbox.bcda.cms.gov.
sub guide_host {
    Apache::TestRequest::module('bcda');
    return 'http://' . Apache::TestRequest::hostport();
}

# Run a guide's command through sh with %sub applied (each key replaced by
# its value wherever it occurs, the sandbox host always); (stdout, stderr).
sub guide_run {
    my ($cmd, %sub) = @_;
    my $host = guide_host();
    $cmd =~ s{https?://sandbox\.bcda\.cms\.gov}{$host}g;
    for my $k (sort { length $b <=> length $a } keys %sub) {
        $cmd =~ s/\Q$k\E/$sub{$k}/g;
    }
    my (undef, $out, $err) = run('sh', '-c', $cmd);
    return ($out, $err);
}

my $keys = tempdir(CLEANUP => 1);
my $private;

# An ACO with the guide's credential, $n attributed beneficiaries, and an
# RSA key its files are encrypted for ("All data files are encrypted").
sub guide_aco {
    my ($cms_id, $client_id, $secret, $n, $offset) = @_;
    my $public;
    dpcctl('aco', 'create', '--cms-id', $cms_id);
    dpcctl('credential', 'create', '--aco', $cms_id, '--client-id', $client_id,
           '--secret', $secret);
    dpcctl('attribution', 'load', '--aco', $cms_id, '--synthetic', $n, '--offset', $offset);
    ($private, $public) = rsa_pair($keys, $cms_id);
    dpcctl('aco-key', 'register', '--aco', $cms_id, '--file', $public);
}

# The job id of a `curl -v` kick-off's Content-Location (from stderr).
sub kickoff_of {
    my ($err) = @_;
    my ($id) = $err =~ m{^< Content-Location: \S+/api/v1/jobs/(\d+)\r?$}mi;
    return $id;
}

# Steps 2 to 4 of a guide's export section for $type, as its commands are
# printed ($n: the guide's example job id, in its status and download
# commands), checked as the guide describes them: five tests; the file is
# decrypted first ("All data files are encrypted").  Both guides print the
# same status and download commands: they are here, verbatim.
sub guide_export {
    my ($token, $type, $n, $kickoff) = @_;
    my $json = JSON::PP->new;
    my $host = guide_host();
    my (undef, $err) = guide_run($kickoff, '{token}' => $token);
    my $id = kickoff_of($err);
    ok t_cmp(($err =~ m{^< HTTP/1\.1 202 Accepted}m ? 1 : 0) . '|' . ($id ? 1 : 0), '1|1',
             "$type: 202 Accepted with Content-Location .../api/v1/jobs/{id}");
    $id //= 0;
    my $status = <<"SH";
curl -v https://sandbox.bcda.cms.gov/api/v1/jobs/$n \\
-H 'Authorization: Bearer {token}'
SH
    my ($body, $e);
    wait_for(60, sub {
        ($body, $e) = guide_run($status, '{token}' => $token, "jobs/$n" => "jobs/$id");
        $e =~ m{^< HTTP/1\.1 200}m });
    ok t_cmp($e =~ m{^< HTTP/1\.1 200 OK}m ? 1 : 0, 1, "$type: the job's status turns 200 OK");
    my $m = eval { $json->decode($body) } // {};
    ok t_cmp(($m->{request} // '') . '|' . ($m->{requiresAccessToken} ? 'true' : 'false'),
             "$host/api/v1/$type/\$export|true", "$type: the manifest's request");
    my %types = map { $_->{type} => 1 } @{ $m->{output} // [] };
    ok t_cmp(join(',', keys %types), $type, "$type: its output is $type files");
    (my $file = $m->{output}[0]{url} // '') =~ s{^\Q$host\E}{};
    # the guide's command as printed; what it prints is kept in a file, to
    # decrypt as the guides tell (with the README's openssl steps)
    my $name = (split m{/}, $file)[-1] // 'none';
    my ($cipher) = guide_run(<<"SH", '{token}' => $token,
curl https://sandbox.bcda.cms.gov/data/$n/DBBD1CE1-AE24-435C-807D-ED45953077D3.ndjson \\
-H 'Authorization: Bearer {token}'
SH
        "/data/$n/DBBD1CE1-AE24-435C-807D-ED45953077D3.ndjson" => $file);
    write_file("$keys/$name", $cipher);
    my (undef, $data) = openssl_decrypt($private, "$keys/$name", $name,
                                        $m->{output}[0]{encryptedKey} // '');
    $data //= '';
    my @lines = grep { length } split /\n/, $data;
    my @ok = grep { ((eval { $json->decode($_) } // {})->{resourceType} // '') eq $type } @lines;
    ok t_cmp(@lines && @ok == @lines ? 1 : 0, 1, "$type: the file is NDJSON of $type resources");
}

1;
