# The AB2D sandbox tutorial (reference 002), its commands as it prints them,
# with only the hosts and the ids the server returned substituted: the
# token with the first sandbox sponsor's Basic string, the export of Part A
# and B claims, its status until 200, the download, and the download that
# the guide says cannot be repeated.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestRequest ();
use Apache::TestUtil;
use JSON::PP ();
use File::Temp qw(tempdir);
use DPC::Test qw(run dpcctl sql wait_for);

plan tests => 17;

my $dir = tempdir(CLEANUP => 1);
Apache::TestRequest::module('ab2d');
my $host = 'http://' . Apache::TestRequest::hostport();

# the guide's first user: PDP-100, contract Z0000, its client id and password
dpcctl('sponsor', 'create', '--name', 'PDP-100');
dpcctl('contract', 'create', '--sponsor', 'PDP-100', '--number', 'Z0000',
       '--attested', '2020-01-01T00:00:00Z');
dpcctl('credential', 'create', '--contract', 'Z0000', '--client-id', '0oa2t0lsrdZw5uWRx297',
       '--secret', 'HHduWG6LogIvDIQuWgp3Zlo9OYMValTtH5OBcuHw');
dpcctl('enrollment', 'load', '--contract', 'Z0000', '--synthetic', '6', '--offset', '4');

# Run the guide's lines through sh in $dir, both hosts replaced by ours and
# each {placeholder} by what the server returned; (stdout, stderr).
sub guide {
    my ($cmd, %sub) = @_;
    $cmd =~ s{https://(?:test\.idp\.idm|sandbox\.ab2d)\.cms\.gov}{$host}g;
    $cmd =~ s/\Q$_\E/$sub{$_}/g for sort { length $b <=> length $a } keys %sub;
    my (undef, $out, $err) = run('sh', '-c', "cd '$dir' && $cmd");
    return ($out, $err);
}
sub status_of { ($_[0] =~ m{^HTTP/\S+ (\d+)}m)[0] // '' }
sub header_of { ($_[0] =~ m{^\Q$_[1]\E: *([^\r\n]*)}mi)[0] // '' }

# "Retrieve JSON Web Token": steps 3 and 4, then "echo $BEARER_TOKEN"
my ($token) = guide(<<'SH');
AUTH=MG9hMnQwbHNyZFp3NXVXUngyOTc6SEhkdVdHNkxvZ0l2RElRdVdncDNabG85T1lNVmFsVHRINU9CY3VIdw==
BEARER_TOKEN=$(curl -X POST "https://test.idp.idm.cms.gov/oauth2/aus2r7y3gdaFMKBol297/v1/token?grant_type=client_credentials&scope=clientCreds" \
    -H "Content-Type: application/x-www-form-urlencoded" \
    -H "Accept: application/json" \
    -H "Authorization: Basic ${AUTH}" \
| jq --raw-output ".access_token")
echo $BEARER_TOKEN
SH
chomp $token;
ok t_cmp(length($token) > 20 && $token ne 'null' ? 1 : 0, 1, "the guide's token command gets a token");
ok t_cmp(sql("SELECT (max(at) > now() - interval '1 minute')::int FROM audit_event"
             . " WHERE action = 'token.issued'"), 1, '... and it is audited');
my $env = "BEARER_TOKEN=$token\n";

# "Request Data", step 4: create an export job
my ($out) = guide($env . <<'SH');
curl "https://sandbox.ab2d.cms.gov/api/v1/fhir/Patient/\$export?_outputFormat=application%2Ffhir%2Bndjson&_type=ExplanationOfBenefit" \
    -sD - \
    -H "accept: application/json" \
    -H "Accept: application/fhir+json" \
    -H "Prefer: respond-async" \
    -H "Authorization: Bearer ${BEARER_TOKEN}"
SH
my ($job) = header_of($out, 'Content-Location') =~ m{^\Q$host\E/api/v1/fhir/Job/([0-9a-f-]{36})/\$status$};
ok t_cmp(status_of($out), 202, 'step 5: 202, the export request has started');
ok t_cmp($job ? 1 : 0, 1, 'Content-Location: .../api/v1/fhir/Job/{job id}/$status');
ok t_cmp(header_of($out, 'Content-Length'), '0', 'no body');

# steps 6 and 7: JOB={job id}, then the status until it is 200
my $status_cmd = $env . <<'SH';
JOB={job id}
curl "https://sandbox.ab2d.cms.gov/api/v1/fhir/Job/${JOB}/\$status" \
    -sD - \
    -H "accept: application/json" \
    -H "Authorization: Bearer ${BEARER_TOKEN}"
SH
my ($first) = guide($status_cmd, '{job id}' => $job);
my $code = status_of($first);
ok t_cmp($code eq '200' || ($code eq '202' && header_of($first, 'X-Progress') =~ /^\d+% complete$/
                            && header_of($first, 'Retry-After') eq '5') ? 1 : 0, 1,
         "step 8: 202 with X-Progress: NN% complete and Retry-After: 5, or already 200 ($code)");
wait_for(60, sub { sql("SELECT status FROM export_job WHERE id = '$job'") ne 'running' });
($out) = guide($status_cmd, '{job id}' => $job);
my ($body) = $out =~ /\r?\n\r?\n(.*)\z/s;
my $m = eval { JSON::PP->new->decode($body // '') } // {};
ok t_cmp(status_of($out) . '|' . header_of($out, 'Content-Type'), '200|application/json',
         'the job is completed: 200, application/json');
ok t_cmp(header_of($out, 'Expires') =~ /^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/ ? 1 : 0, 1,
         'an Expires date');
ok t_cmp(($m->{transactionTime} // '') =~ /^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d:\d\d [AP]M$/ ? 1 : 0,
         1, "transactionTime as the guide shows it ($m->{transactionTime})");
ok t_cmp($m->{request} // '', "$host/api/v1/fhir/Patient/\$export?_outputFormat=application%2Ffhir%2Bndjson"
         . '&_type=ExplanationOfBenefit', 'the request');
ok t_cmp(($m->{requiresAccessToken} ? 'true' : 'false') . '|' . ref($m->{error}), 'true|ARRAY',
         'requiresAccessToken, an error list');
my $url = $m->{output}[0]{url} // '';
ok t_cmp($url, "$host/api/v1/fhir/Job/$job/file/Z0000_0001.ndjson",
         'step 9: the file to download is Z0000_0001.ndjson');

# step 11: FILE=..., download, verify there is data in it
my $download = $env . <<'SH';
JOB={job id}
FILE=Z0000_0001.ndjson
curl "https://sandbox.ab2d.cms.gov/api/v1/fhir/Job/${JOB}/file/${FILE}" \
    -H "accept: application/json" \
    -H "Accept: application/fhir+json" \
    -H "Authorization: Bearer ${BEARER_TOKEN}" \
> ${FILE}
cat Z0000_0001.ndjson
SH
($out) = guide($download, '{job id}' => $job);
my @lines = grep { length } split /\n/, $out;
ok t_cmp(@lines > 0 ? 1 : 0, 1, 'step 11e: there is data in the file');
ok t_cmp(scalar(grep { !/^\{"resourceType":"ExplanationOfBenefit"/ } @lines), 0,
         '... ExplanationOfBenefit resources, one a line');
ok t_cmp(scalar(grep { /"code":"PDE"/i } @lines), 0, '... Part A and B claims, no Part D');
ok t_cmp(-s "$dir/Z0000_0001.ndjson", $m->{output}[0]{extension}[1]{valueDecimal} // -1,
         'the whole file, as long as the manifest says');

# step 11g: "After the file has been downloaded for a given job, it can't be
# downloaded again using the same job."  (A download is counted once its
# last byte was sent, just after the response.)
wait_for(10, sub { sql("SELECT downloads FROM export_file WHERE job_id = '$job'") >= 1 });
($out) = guide($download, '{job id}' => $job);
ok t_cmp($out =~ /"resourceType":"OperationOutcome".*new export job/ ? 1 : 0, 1,
         'step 11g: downloaded again, an OperationOutcome says to start a new job');
