# The AB2D dialect (t/conf/extra.conf.in: the ab2d virtual host): sponsors,
# contracts and their credentials, the token endpoint, the bearer check's
# rules and attacks, the public routes, contract kick-offs, statuses,
# manifests, cancel, and downloads with their limit.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestRequest ();
use Apache::TestUtil;
use Digest::SHA qw(sha256_hex);
use MIME::Base64 qw(encode_base64);
use DPC::Test qw(req json_of sql dpcctl wait_for);
use File::Temp qw(tempdir);
use JSON::PP ();

plan tests => 94;

my $dir = tempdir(CLEANUP => 1);
Apache::TestRequest::module('ab2d');

my $TOKEN = '/oauth2/aus2r7y3gdaFMKBol297/v1/token';
sub ctl { my ($st, $out) = dpcctl(@_); return $st ? {} : JSON::PP->new->decode($out) }
sub basic { 'Basic ' . encode_base64("$_[0]:$_[1]", '') }
sub token_res {
    my ($id, $secret, $query) = @_;
    return req(POST => $TOKEN . '?' . ($query // 'grant_type=client_credentials&scope=clientCreds'),
               Authorization => basic($id, $secret), Accept => 'application/json',
               'Content-Type' => 'application/x-www-form-urlencoded');
}
sub token_of { json_of(token_res(@_))->{access_token} // '' }
sub diag_of { my $j = json_of($_[0]) // {}; $j->{issue}[0]{diagnostics} // '' }
sub path_of { (my $p = $_[0] // '') =~ s{^https?://[^/]+}{}; $p }

# sponsors, contracts, credentials, enrollment with dpcctl
ctl('sponsor', 'create', '--name', 'PDP-T1');
ctl('sponsor', 'create', '--name', 'PDP-T2');
my $k1 = ctl('contract', 'create', '--sponsor', 'PDP-T1', '--number', 'Z9001',
             '--attested', '2020-01-01T00:00:00Z');
ctl('contract', 'create', '--sponsor', 'PDP-T2', '--number', 'Z9002');
ok t_cmp("$k1->{number}|$k1->{sponsor}|$k1->{max_parallel_jobs}", 'Z9001|PDP-T1|1',
         'a contract of a sponsor, one job at a time by default');
my ($st) = dpcctl('contract', 'create', '--sponsor', 'PDP-T1', '--number', 'ZZ01');
ok t_cmp($st, 1, 'a malformed contract number is refused');
my $c1 = ctl('credential', 'create', '--contract', 'Z9001', '--label', 'main');
my $c2 = ctl('credential', 'create', '--contract', 'Z9002');
ok t_cmp(($c1->{client_id} // '') =~ /^0oa[0-9a-zA-Z]{17}$/ ? 1 : 0, 1,
         'a new client id in Okta\'s form');
ok t_cmp(length($c1->{client_secret} // ''), 80, 'the password is shown once');
ok t_cmp(sql("SELECT secret_hash LIKE 'pbkdf2-sha256\$%' AND expires_at IS NULL AND audience = 'ab2d'"
             . " FROM bcda_credential WHERE client_id = '$c1->{client_id}'"), 't',
         'only a PBKDF2 hash is kept; AB2D credentials do not expire by default');
($st) = dpcctl('credential', 'create', '--contract', 'Z9001');
ok t_cmp($st, 1, 'one credential per contract');
ok t_cmp(sql("SELECT count(*) FROM audit_event WHERE action = 'credential.created'"
             . " AND org_id = (SELECT org_id FROM ab2d_contract WHERE number = 'Z9001')"), 1,
         'credential creation is audited');
my @mbis = map { sql("SELECT mbi FROM beneficiary ORDER BY mbi OFFSET $_ LIMIT 1") } 0 .. 3;
open(my $fh, '>', "$dir/enroll.csv") or die;
print $fh "contract,mbi,month\n";
print $fh "Z9001,$_,2021-03\nZ9001,$_,2021-04\n" for @mbis[0 .. 2];
close $fh;
my $e = ctl('enrollment', 'load', '--file', "$dir/enroll.csv");
ok t_cmp("$e->{rows}|$e->{beneficiaries}", '6|3', 'enrollment by contract and month from a file');
open($fh, '>', "$dir/bad.csv") or die;
print $fh "Z9001,$mbis[3],2021-13\n";
close $fh;
($st) = dpcctl('enrollment', 'load', '--file', "$dir/bad.csv");
ok t_cmp($st, 1, 'a bad month is refused');
open($fh, '>', "$dir/bad.csv") or die;
print $fh "Z9999,$mbis[3],2021-01\n";
close $fh;
($st) = dpcctl('enrollment', 'load', '--file', "$dir/bad.csv");
ok t_cmp($st . '|' . sql("SELECT count(*) FROM ab2d_enrollment WHERE mbi = '$mbis[3]'"), '1|0',
         'an unknown contract is refused, and nothing is loaded');
$e = ctl('enrollment', 'load', '--contract', 'Z9002', '--synthetic', '2', '--offset', '20',
         '--from', '2021-01', '--to', '2021-06');
ok t_cmp("$e->{rows}|$e->{beneficiaries}", '12|2', 'synthetic enrollment: months from .. to');

# the token endpoint
my $res = token_res($c1->{client_id}, $c1->{client_secret});
my $t = json_of($res) // {};
ok t_cmp($res->code . "|$t->{token_type}|$t->{expires_in}|$t->{scope}", '200|Bearer|3600|clientCreds',
         'the guide\'s token request: a Bearer token for an hour, scope clientCreds');
my $tok1 = $t->{access_token} // '';
$res = req(POST => $TOKEN, Authorization => basic($c1->{client_id}, $c1->{client_secret}),
           'Content-Type' => 'application/x-www-form-urlencoded',
           content => 'grant_type=client_credentials&scope=clientCreds');
ok t_cmp($res->code, 200, 'the parameters in a form body work too');
$res = token_res($c1->{client_id}, 'x' x 40);
ok t_cmp($res->code . '|' . (json_of($res)->{error} // ''), '401|invalid_client', 'wrong password: 401');
$res = token_res($c1->{client_id}, $c1->{client_secret}, 'grant_type=client_credentials');
ok t_cmp($res->code . '|' . (json_of($res)->{error} // ''), '400|invalid_scope', 'no scope: 400');
$res = token_res($c1->{client_id}, $c1->{client_secret}, 'grant_type=password&scope=clientCreds');
ok t_cmp($res->code . '|' . (json_of($res)->{error} // ''), '400|unsupported_grant_type',
         'another grant: 400');
$res = req(POST => $TOKEN . '?grant_type=client_credentials&scope=clientCreds');
ok t_cmp($res->code . '|' . (json_of($res)->{error} // ''), '400|invalid_request', 'no Basic: 400');
ok t_cmp(req(GET => $TOKEN)->code, 405, 'GET at the token endpoint: 405');
$res = req(POST => '/token/elsewhere?grant_type=client_credentials&scope=clientCreds',
           Authorization => basic($c1->{client_id}, $c1->{client_secret}));
ok t_cmp($res->code . '|' . (json_of($res)->{scope} // ''), '200|clientCreds',
         'DPCTokenEndpoint places the token endpoint elsewhere');
ok t_cmp(req(GET => '/token/elsewhere')->code . '|' . req(POST => '/token/elsewhere/x')->code,
         '405|404', '... POST to that path only');
# an AB2D credential at BCDA's endpoint, and the other way round
Apache::TestRequest::module('bcda');
$res = req(POST => '/auth/token', Authorization => basic($c1->{client_id}, $c1->{client_secret}));
ok t_cmp($res->code, 401, 'an AB2D credential gets no BCDA token');
Apache::TestRequest::module('ab2d');

# public routes
$res = req(GET => '/api/v1/fhir/metadata');
ok t_cmp($res->code . '|' . (json_of($res)->{fhirVersion} // ''), '200|3.0.1', 'v1 metadata: STU3, no token');
ok t_cmp(json_of(req(GET => '/api/v2/fhir/metadata'))->{fhirVersion} // '', '4.0.1', 'v2 metadata: R4');
$res = req(GET => '/health');
ok t_cmp($res->code . '|' . length($res->content), '200|0', '/health: 200, no body');
ok t_cmp(json_of(req(GET => '/status'))->{maintenanceMode} // '', 'false', '/status');

# the bearer check: 401 without a token, 403 for one it will not take
$res = req(GET => '/api/v2/fhir/Patient/$export');
ok t_cmp($res->code, 401, 'no token: 401');
(my $tampered = $tok1) =~ s/\.([^.]*)$/'.' . reverse($1)/e;
ok t_cmp(req(GET => '/api/v2/fhir/Patient/$export', Authorization => "Bearer $tampered")->code,
         403, 'an invalid token: 403');
my $bcda = ctl('aco', 'create', '--cms-id', 'A9950');
my $bc = ctl('credential', 'create', '--aco', 'A9950');
Apache::TestRequest::module('bcda');
my $bcda_tok = json_of(req(POST => '/auth/token',
                           Authorization => basic($bc->{client_id}, $bc->{client_secret})))->{access_token} // '';
Apache::TestRequest::module('ab2d');
ok t_cmp(req(GET => '/api/v2/fhir/Patient/$export', Authorization => "Bearer $bcda_tok")->code,
         403, 'a BCDA token: 403');
ctl('contract', 'create', '--sponsor', 'PDP-T2', '--number', 'Z9003');
my $c3 = ctl('credential', 'create', '--contract', 'Z9003');
my $tok3 = token_of($c3->{client_id}, $c3->{client_secret});
ctl('credential', 'disable', $c3->{client_id});
ok t_cmp(req(GET => '/api/v2/fhir/Patient/$export', Authorization => "Bearer $tok3")->code, 403,
         'a disabled credential\'s token: 403');
$res = token_res($c3->{client_id}, $c3->{client_secret});
ok t_cmp($res->code . '|' . (json_of($res)->{error_description} // ''),
         '401|this credential has been disabled', 'a disabled credential gets no token');
ok t_cmp(sql("SELECT count(*) FROM audit_event WHERE action = 'credential.changed'"
             . " AND detail->>'id' = (SELECT id::text FROM bcda_credential WHERE client_id ="
             . " '$c3->{client_id}')"), 1, 'disabling is audited');
ctl('credential', 'enable', $c3->{client_id});
ok t_cmp(token_res($c3->{client_id}, $c3->{client_secret})->code, 200, 'enabled again: a token');
ctl('credential', 'allow', $c3->{client_id}, '--ip', '10.9.0.0/16');
ok t_cmp(token_res($c3->{client_id}, $c3->{client_secret})->code, 403,
         'an address not on the allow-list: 403');
ctl('credential', 'allow', $c3->{client_id});
ok t_cmp(token_res($c3->{client_id}, $c3->{client_secret})->code, 200, 'allow-list cleared');

# kick-off: bad input is a clear 400 and changes nothing
my $jobs0 = sql("SELECT count(*) FROM export_job");
for my $bad (['_type=Patient', '_type must be ExplanationOfBenefit'],
             ['_type=Patient,ExplanationOfBenefit', '_type must be ExplanationOfBenefit'],
             ['_outputFormat=text/csv', '_outputFormat'],
             ['_since=2020-02-12T00:00:00-05:00', '_since must be after 2020-02-13T00:00:00-05:00'],
             ['_since=2999-01-01T00:00:00Z', 'future'],
             ['allowPartialManifests=true', 'allowPartialManifests is not supported by AB2D'],
             ['organizeOutputBy=Patient', 'organizeOutputBy is not supported by AB2D']) {
    $res = req(GET => "/api/v2/fhir/Patient/\$export?$bad->[0]", Authorization => "Bearer $tok1");
    ok t_cmp($res->code . '|' . (diag_of($res) =~ /\Q$bad->[1]\E/i ? 1 : 0), '400|1',
             "$bad->[0]: 400 saying why");
}
$res = req(GET => '/api/v1/fhir/Patient/$export?_until=2021-01-01T00:00:00Z', Authorization => "Bearer $tok1");
ok t_cmp($res->code . '|' . diag_of($res), '400|The _until parameter is only available with version 2 '
         . 'and version 3 of the API', 'v1: _until is refused');
$res = req(GET => '/api/v2/fhir/Group/Z9002/$export', Authorization => "Bearer $tok1");
ok t_cmp($res->code, 403, 'a contract number not yours: 403');
ok t_cmp(sql("SELECT count(*) FROM export_job"), $jobs0, 'no refused kick-off made a job');

# an export of the contract: the guide's request
$res = req(GET => '/api/v1/fhir/Patient/$export?_outputFormat=application%2Ffhir%2Bndjson&_type=ExplanationOfBenefit',
           Authorization => "Bearer $tok1", Accept => 'application/fhir+json', Prefer => 'respond-async');
my ($job) = ($res->header('Content-Location') // '') =~ m{/api/v1/fhir/Job/([0-9a-f-]{36})/\$status$};
ok t_cmp($res->code . '|' . ($job ? 1 : 0) . '|' . length($res->content), '202|1|0',
         'Patient/$export: 202, Content-Location Job/{uuid}/$status, no body');
$res = req(GET => '/api/v1/fhir/Patient/$export', Authorization => "Bearer $tok1");
if ($res->code == 429) {
    ok t_cmp(($res->header('Content-Location') // '') =~ /\Q$job\E/ ? 1 : 0, 1,
             'a second kick-off while one runs: 429 naming the running job');
}
else {
    # the job was already done: hold one running to see the 429
    ok t_cmp($res->code, 202, 'a second kick-off after the first ended: 202');
}
ok t_cmp(($res->header('Retry-After') // '5'), '5', 'Retry-After: 5');
wait_for(60, sub { sql("SELECT count(*) FROM export_job WHERE contract = 'Z9001' AND status = 'running'") == 0 });
$res = req(GET => "/api/v1/fhir/Job/$job/\$status", Authorization => "Bearer $tok1",
           Accept => 'application/json');
my $m = json_of($res) // {};
ok t_cmp($res->code, 200, 'complete: 200 with the manifest');
ok t_cmp(($m->{transactionTime} // '') =~ /^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d:\d\d [AP]M$/ ? 1 : 0,
         1, "transactionTime in the guide's form ($m->{transactionTime})");
ok t_cmp(($res->header('Expires') // '') =~ /^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/ ? 1 : 0, 1,
         'Expires: an HTTP-date');
ok t_cmp(($m->{request} // '') =~ m{/api/v1/fhir/Patient/\$export\?_outputFormat=} ? 1 : 0, 1,
         'the request URL');
ok t_cmp($m->{requiresAccessToken} ? 1 : 0, 1, 'requiresAccessToken');
my $out = $m->{output}[0] // {};
ok t_cmp(($out->{url} // '') =~ m{/api/v1/fhir/Job/$job/file/Z9001_0001\.ndjson$} ? 1 : 0, 1,
         'output: Job/{id}/file/Z9001_0001.ndjson');
my %types = map { $_->{type} => 1 } @{ $m->{output} };
ok t_cmp(join(',', sort keys %types), 'ExplanationOfBenefit', 'ExplanationOfBenefit only');
ok t_cmp(join('|', map { $_->{url} } @{ $out->{extension} // [] }),
         'https://ab2d.cms.gov/checksum|https://ab2d.cms.gov/file_length', 'checksum and length extensions');
my $path = path_of($out->{url});
(my $again = $path) =~ s{^/api/v1}{/again/api/v2};
$res = req(GET => $path, Authorization => "Bearer $tok1", Accept => 'application/json',
           Range => 'bytes=0-99');
ok t_cmp($res->code . '|' . length($res->content), '206|100', 'a Range request is served');
my $head = $res->content;
$res = req(GET => $path, Authorization => "Bearer $tok1", Accept => 'application/fhir+json');
my $body = $res->content;
ok t_cmp($res->code . '|' . ($res->header('Content-Type') // ''), '200|application/fhir+ndjson',
         'the guide\'s download (Accept: application/fhir+json) works after a partial one');
ok t_cmp(substr($body, 0, 100), $head, '... the same bytes');
ok t_cmp('sha256:' . sha256_hex($body) . '|' . length($body),
         ($out->{extension}[0]{valueString} // '') . '|' . ($out->{extension}[1]{valueDecimal} // ''),
         'the checksum and length are the file\'s');
my @lines = grep { length } split /\n/, $body;
ok t_cmp(scalar(grep { !/"resourceType":"ExplanationOfBenefit"/ } @lines), 0, 'every line is an EOB');
# counted once the last byte was sent, just after the response
wait_for(10, sub { sql("SELECT downloads FROM export_file WHERE job_id = '$job'"
                       . " AND name = 'Z9001_0001.ndjson'") >= 1 });
ok t_cmp(sql("SELECT downloads FROM export_file WHERE job_id = '$job' AND name = 'Z9001_0001.ndjson'"),
         1, 'the partial download did not count, the whole one did');
$res = req(GET => $path, Authorization => "Bearer $tok1");
ok t_cmp($res->code . '|' . (diag_of($res) =~ /downloaded 1 time.*new export job/ ? 1 : 0), '410|1',
         'downloaded once: 410 saying why and to start a new job');
ok t_cmp(req(GET => $again, Authorization => "Bearer $tok1")->code, 200,
         'DPCDownloadLimit 0 elsewhere: downloads again');
ok t_cmp(sql("SELECT count(*) FROM audit_event WHERE action = 'file.downloaded' AND job_id = '$job'"),
         3, 'every download is audited (the 410 is not)');
my $eurl = $m->{error}[0]{url} // '';
ok t_cmp($eurl eq '' || $eurl =~ m{/file/Z9001_0001_error\.ndjson$} ? 1 : 0, 1,
         'errors, if any, in Z9001_0001_error.ndjson');

# another sponsor
my $tok2 = token_of($c2->{client_id}, $c2->{client_secret});
$res = req(GET => "/api/v1/fhir/Job/$job/\$status", Authorization => "Bearer $tok2");
ok t_cmp($res->code, 403, "another sponsor's job: 403");
ok t_cmp(req(GET => $again, Authorization => "Bearer $tok2")->code, 403,
         "another sponsor's file: 403");
ok t_cmp(req(DELETE => "/api/v1/fhir/Job/$job/\$status", Authorization => "Bearer $tok2")->code, 403,
         "cancelling another sponsor's job: 403");
$res = req(GET => '/api/v1/fhir/Job/00000000-0000-4000-8000-000000000000/$status',
           Authorization => "Bearer $tok1");
ok t_cmp($res->code, 404, 'an unknown job: 404');
ok t_cmp(req(GET => "/api/v1/fhir/Job/$job/file/..%2F..%2Fetc%2Fpasswd",
             Authorization => "Bearer $tok1")->code, 404, 'no path outside the job');
ok t_cmp(req(GET => "/api/v1/fhir/Job/$job/file/Z9001_0099.ndjson", Authorization => "Bearer $tok1")->code,
         404, 'a file the job does not have: 404');

# cancel
ok t_cmp(req(DELETE => "/api/v1/fhir/Job/$job/\$status", Authorization => "Bearer $tok1")->code, 400,
         'cancelling an ended job: 400');
my $org1 = sql("SELECT org_id FROM ab2d_contract WHERE number = 'Z9001'");
my $held = sql("INSERT INTO export_job (org_id, dialect, fhir_version, request_url, types,
    resources_per_file, gzip, file_lifetime, contract, batches_total)
    VALUES ('$org1', 'ab2d-v2', 4, 'http://x.example/', '{ExplanationOfBenefit}', 10, false,
    '1 hour', 'Z9001', 4) RETURNING id");
$res = req(GET => "/api/v2/fhir/Job/$held/\$status", Authorization => "Bearer $tok1");
ok t_cmp($res->code . '|' . ($res->header('X-Progress') // '') . '|' . ($res->header('Retry-After') // ''),
         '202|0% complete|5', 'running: 202, X-Progress: 0% complete, Retry-After: 5');
$res = req(GET => '/api/v2/fhir/Group/Z9001/$export', Authorization => "Bearer $tok1");
ok t_cmp($res->code . '|' . ($res->header('Retry-After') // ''), '429|5',
         'a kick-off while the contract runs its one job: 429, Retry-After: 5');
ok t_cmp(($res->header('Content-Location') // '') =~ m{/api/v2/fhir/Job/$held/\$status} ? 1 : 0, 1,
         '... and the running job\'s status URL');
ok t_cmp(diag_of($res), 'You already have active export requests in progress. Please wait until they '
         . 'complete before submitting a new one.', '... in AB2D\'s words');
$res = req(DELETE => "/api/v2/fhir/Job/$held/\$status", Authorization => "Bearer $tok1");
ok t_cmp($res->code . '|' . length($res->content), '202|0', 'cancelling a running job: 202, no body');
ok t_cmp(req(GET => "/api/v2/fhir/Job/$held/\$status", Authorization => "Bearer $tok1")->code, 404,
         'a cancelled job is 404');
ok t_cmp(sql("SELECT count(*) FROM audit_event WHERE action = 'export.cancelled' AND job_id = '$held'"),
         1, 'the cancel is audited');

# expiry
sql("UPDATE export_job SET expires_at = now() - interval '1 second' WHERE id = '$job'");
$res = req(GET => $again, Authorization => "Bearer $tok1");
ok t_cmp($res->code . '|' . (diag_of($res) =~ /expired.*new export job/ ? 1 : 0), '410|1',
         'an expired file: 410 saying why and to start a new job');

# rotation and deletion (tokens carry whole seconds: rotate in a later one)
sleep 1;
ctl('credential', 'rotate', $c1->{client_id});
ok t_cmp(token_res($c1->{client_id}, $c1->{client_secret})->code, 401, 'the old password is refused after rotation');
ok t_cmp(req(GET => "/api/v2/fhir/Job/$job/\$status", Authorization => "Bearer $tok1")->code, 403,
         'a token from before the rotation: 403');
ctl('credential', 'delete', $c2->{client_id});
ok t_cmp(req(GET => '/api/v2/fhir/Patient/$export', Authorization => "Bearer $tok2")->code, 403,
         'a deleted credential\'s token: 403');
ok t_cmp(sql("SELECT count(*) FROM audit_event WHERE action IN ('credential.rotated', 'credential.deleted')"
             . " AND org_id IN (SELECT org_id FROM ab2d_contract WHERE number IN ('Z9001', 'Z9002'))"), 2,
         'rotation and deletion are audited');
ok t_cmp(sql("SELECT count(*) FROM audit_event WHERE action = 'token.issued'"
             . " AND org_id = '$org1'") > 0 ? 1 : 0, 1, 'tokens issued are audited');
ok t_cmp(sql("SELECT count(*) FROM audit_event WHERE action = 'export.started' AND job_id = '$job'"), 1,
         'the kick-off is audited');

# what is exported: Part A and B EOBs of the months enrolled, from 2020 and
# the attestation on (decided on the claims store's columns)
my $x = sql("SELECT mbi FROM claims_resource WHERE fhir_version = 4 AND claim_type <> 'pde'"
            . " AND service_start >= '2020-01-01' GROUP BY mbi"
            . " HAVING count(DISTINCT date_trunc('month', service_start)) > 1"
            . " AND mbi IN (SELECT mbi FROM claims_resource WHERE claim_type = 'pde')"
            . " ORDER BY mbi LIMIT 1");
my $month = sql("SELECT to_char(min(service_start), 'YYYY-MM') FROM claims_resource WHERE mbi = '$x'"
                . " AND fhir_version = 4 AND claim_type <> 'pde' AND service_start >= '2020-01-01'");
my $want = sql("SELECT count(*) FROM claims_resource WHERE mbi = '$x' AND fhir_version = 4"
               . " AND claim_type <> 'pde' AND to_char(service_start, 'YYYY-MM') = '$month'");
my $all = sql("SELECT count(*) FROM claims_resource WHERE mbi = '$x' AND fhir_version = 4"
              . " AND resource_type = 'ExplanationOfBenefit'");
ok t_cmp(($x ? 1 : 0) . '|' . ($want > 0 && $want < $all ? 1 : 0), '1|1',
         "a beneficiary with Part D claims and claims in several months ($x, $month: $want of $all)");
ctl('sponsor', 'create', '--name', 'PDP-T4');
ctl('contract', 'create', '--sponsor', 'PDP-T4', '--number', 'Z9004', '--attested', '2020-01-01T00:00:00Z');
ctl('contract', 'create', '--sponsor', 'PDP-T4', '--number', 'Z9005', '--attested', '2099-01-01T00:00:00Z');
open($fh, '>', "$dir/one.csv") or die;
print $fh "Z9004,$x,$month\nZ9005,$x,$month\n";
close $fh;
ctl('enrollment', 'load', '--file', "$dir/one.csv");
my (%lines, %tks);
for my $k ('Z9004', 'Z9005') {
    my $c = ctl('credential', 'create', '--contract', $k);
    my $tk = $tks{$k} = token_of($c->{client_id}, $c->{client_secret});
    $res = req(GET => "/api/v2/fhir/Group/$k/\$export", Authorization => "Bearer $tk");
    my ($j) = ($res->header('Content-Location') // '') =~ m{/Job/([0-9a-f-]{36})/};
    wait_for(60, sub { sql("SELECT status FROM export_job WHERE id = '$j'") ne 'running' });
    $m = json_of(req(GET => "/api/v2/fhir/Job/$j/\$status", Authorization => "Bearer $tk")) // {};
    $lines{$k} = [ map { grep { length } split /\n/,
                         req(GET => path_of($_->{url}), Authorization => "Bearer $tk")->content }
                   @{ $m->{output} } ];
}
ok t_cmp(scalar @{ $lines{Z9004} }, $want, "only the enrolled month's Part A and B claims ($want)");
ok t_cmp(scalar(grep { /"code":"PDE"/i } @{ $lines{Z9004} }), 0, 'no Part D claim');
my $bene = sql("SELECT bene_id FROM beneficiary WHERE mbi = '$x'");
ok t_cmp(scalar(grep { !m{"Patient/\Q$bene\E"} } @{ $lines{Z9004} }), 0, 'only the enrollee\'s');
ok t_cmp(scalar @{ $lines{Z9005} }, 0, 'nothing from before the attestation');

# v2's _until: only what was last updated by then (the claims store's
# column), checked against SQL of the same rule; at one second before the
# first of them, nothing
my $wanted = "mbi = '$x' AND fhir_version = 4 AND claim_type <> 'pde'"
           . " AND to_char(service_start, 'YYYY-MM') = '$month'";
my $first = "(SELECT date_trunc('second', min(last_updated)) FROM claims_resource WHERE $wanted)";
for my $case (['+ interval \'1 second\'', "last_updated <= $first + interval '1 second'"],
              ['- interval \'1 second\'', 'false']) {
    my $until = sql("SELECT to_char(($first $case->[0]) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')");
    my $n = sql("SELECT count(*) FROM claims_resource WHERE $wanted AND $case->[1]");
    $res = req(GET => "/api/v2/fhir/Group/Z9004/\$export?_until=$until", Authorization => "Bearer $tks{Z9004}");
    my ($j) = ($res->header('Content-Location') // '') =~ m{/Job/([0-9a-f-]{36})/};
    wait_for(60, sub { sql("SELECT status FROM export_job WHERE id = '$j'") ne 'running' }) if $j;
    $m = json_of(req(GET => "/api/v2/fhir/Job/$j/\$status", Authorization => "Bearer $tks{Z9004}")) // {};
    my $got = 0;
    $got += scalar grep { length } split /\n/,
        req(GET => path_of($_->{url}), Authorization => "Bearer $tks{Z9004}")->content
        for @{ $m->{output} // [] };
    ok t_cmp($res->code . "|$got", "202|$n", "v2 _until=$until: the claims updated by then ($n)");
}
$res = req(GET => '/api/v2/fhir/Patient/$export?_typeFilter=ExplanationOfBenefit%3Ftype%3Dcarrier',
           Authorization => "Bearer $tks{Z9004}");
ok t_cmp($res->code . '|' . (diag_of($res) =~ /_typeFilter is not supported/ ? 1 : 0), '400|1',
         '_typeFilter: 400 saying AB2D exports are already narrowed');
