# The BCDA dialect (t/conf/extra.conf.in: the bcda virtual host): ACOs and
# their credentials, the token endpoint, the bearer check's rules and
# attacks, the public routes, population kick-offs, jobs, downloads.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestRequest ();
use Apache::TestUtil;
use MIME::Base64 qw(encode_base64);
use DPC::Test qw(req json_of sql dpcctl wait_for oo_code);
use DPC::Org;
use DPC::JWT qw(gen_keys);
use DPC::Crypt qw(rsa_pair);
use File::Temp qw(tempdir);
use JSON::PP ();

plan tests => 72;

my $dir = tempdir(CLEANUP => 1);
# a DPC organization's token, made on the main server, before switching
gen_keys($dir, v1 => 'ec');
my $dpc_tok = DPC::Org->new(name => 'DPC beside BCDA', key_path => "$dir/v1",
                            alg => 'ES384')->access_token;
Apache::TestRequest::module('bcda');

sub ctl { my ($st, $out, $err) = dpcctl(@_); return $st ? {} : JSON::PP->new->decode($out) }
sub basic { 'Basic ' . encode_base64("$_[0]:$_[1]", '') }
sub token_res { req(POST => '/auth/token', Authorization => basic(@_), Accept => 'application/json') }
sub token_of { json_of(token_res(@_))->{access_token} // '' }
my %kick = (Accept => 'application/fhir+json', Prefer => 'respond-async');

# ACOs and credentials with dpcctl
ctl('aco', 'create', '--cms-id', 'A9901', '--name', 'Test ACO one');
ctl('aco', 'create', '--cms-id', 'A9902');
my $c1 = ctl('credential', 'create', '--aco', 'A9901', '--label', 'main');
my $c2 = ctl('credential', 'create', '--aco', 'A9902');
# v1's files are encrypted (t/bcda/encrypt.t): A9901 has a key for them
ctl('aco-key', 'register', '--aco', 'A9901', '--file', (rsa_pair($dir, 'aco'))[1]);
ok t_cmp(length($c1->{client_secret} // ''), 80, 'the secret is shown once: 80 hex');
ok t_cmp(sql("SELECT secret_hash LIKE 'pbkdf2-sha256\$100000\$%' AND secret_hash NOT LIKE "
             . "'%$c1->{client_secret}%' FROM bcda_credential WHERE id = '$c1->{client_id}'"),
         't', 'only a salted PBKDF2 hash is stored');
ok t_cmp(sql("SELECT (expires_at - now()) > interval '89 days' FROM bcda_credential"
             . " WHERE id = '$c1->{client_id}'"), 't', 'credentials expire in 90 days by default');
my ($st) = dpcctl('credential', 'create', '--aco', 'A9901', map { ('--ip', "10.0.0.$_") } 1 .. 9);
ok t_cmp($st, 2, 'more than 8 addresses are refused');
ok t_cmp(sql("SELECT count(*) FROM audit_event WHERE action = 'credential.created'"
             . " AND detail->>'id' = '$c1->{client_id}'"), 1, 'credential creation is audited');

# the token endpoint
my $res = token_res($c1->{client_id}, $c1->{client_secret});
my $t = json_of($res) // {};
ok t_cmp($res->code, 200, 'POST /auth/token with Basic: 200');
ok t_cmp("$t->{token_type}|$t->{expires_in}", 'bearer|1200', 'a bearer token for 20 minutes');
my $tok1 = $t->{access_token};
$res = token_res($c1->{client_id}, 'f' x 80);
ok t_cmp($res->code . '|' . (json_of($res)->{error} // ''), '401|invalid_client', 'wrong secret: 401');
$res = req(POST => '/auth/token');
ok t_cmp($res->code . '|' . (json_of($res)->{error} // ''), '400|invalid_request', 'no Basic: 400');
$res = req(POST => '/auth/token', Authorization => 'Basic !!!notbase64');
ok t_cmp($res->code, 400, 'malformed Basic: 400');
$res = token_res('not-a-uuid', 'x');
ok t_cmp($res->code, 401, 'unknown client id: 401');
$res = req(GET => '/auth/token', Authorization => basic($c1->{client_id}, $c1->{client_secret}));
ok t_cmp($res->code, 405, 'GET /auth/token: 405');
my $old = ctl('credential', 'create', '--aco', 'A9901', '--expires', '2020-01-01T00:00:00Z');
ok t_cmp(token_res($old->{client_id}, $old->{client_secret})->code, 401, 'expired credential: 401');
my $far = ctl('credential', 'create', '--aco', 'A9901', '--ip', '10.1.0.0/16', '--ip', '192.0.2.7');
$res = token_res($far->{client_id}, $far->{client_secret});
ok t_cmp($res->code, 403, 'an address not on the allow-list: 403 at the token endpoint');
my $near = ctl('credential', 'create', '--aco', 'A9901', '--ip', '127.0.0.0/8');
ok t_cmp(token_res($near->{client_id}, $near->{client_secret})->code, 200,
         'an address on the allow-list gets a token');
# the same credential narrowed after its token was issued: refused on use
my $near_tok = token_of($near->{client_id}, $near->{client_secret});
sql("UPDATE bcda_credential SET ips = '{10.9.9.9}' WHERE id = '$near->{client_id}'");
$res = req(GET => '/api/v2/attribution_status', Authorization => "Bearer $near_tok");
ok t_cmp($res->code, 403, 'an address not allowed any more: 403 on a bearer request');
ok t_cmp((json_of($res)->{issue}[0]{diagnostics} // '') =~ /not allowed/ ? 1 : 0, 1,
         'the 403 says why');

# public routes
$res = req(GET => '/api/v1/metadata');
ok t_cmp($res->code . '|' . (json_of($res)->{fhirVersion} // ''), '200|3.0.1', 'v1 metadata: STU3, no token');
$res = req(GET => '/api/v2/metadata');
ok t_cmp((json_of($res)->{fhirVersion} // ''), '4.0.1', 'v2 metadata: R4');
ok t_cmp(json_of(req(GET => '/_version'))->{version} ? 1 : 0, 1, '/_version');
$res = req(GET => '/_health');
ok t_cmp($res->code . '|' . (json_of($res)->{database} // ''), '200|ok', '/_health checks the database');
ok t_cmp(json_of(req(GET => '/api/v2/_auth'))->{auth_provider} // '', 'mod_dpc', '/_auth');

# the bearer check
$res = req(GET => '/api/v2/attribution_status');
ok t_cmp($res->code . '|' . $res->header('Content-Type'), '401|application/fhir+json',
         'no token: 401 OperationOutcome');
$res = req(GET => '/api/v2/attribution_status', Authorization => "Bearer $dpc_tok");
ok t_cmp($res->code, 401, 'a DPC token is refused by BCDA');
Apache::TestRequest::module('default');
$res = req(GET => '/api/v2/Organization', Authorization => "Bearer $tok1");
ok t_cmp($res->code, 401, 'a BCDA token is refused by DPC');
Apache::TestRequest::module('bcda');
(my $tampered = $tok1) =~ s/\.([^.]*)$/'.' . reverse($1)/e;
ok t_cmp(req(GET => '/api/v2/attribution_status', Authorization => "Bearer $tampered")->code, 401,
         'a tampered token: 401');
$res = req(GET => '/api/v2/attribution_status', Authorization => "Bearer $tok1");
ok t_cmp($res->code, 404, 'attribution_status without a load: 404');

# attribution
my @mbis = map { sql("SELECT mbi FROM beneficiary ORDER BY mbi OFFSET $_ LIMIT 1") } 0 .. 6;
my $file = "$dir/cclf8.txt";
open(my $fh, '>', $file) or die;
print $fh "$_" . ('X' x 20) . "\n" for @mbis[0 .. 4];     # CCLF8: fixed width
close $fh;
my $load = ctl('attribution', 'load', '--aco', 'A9901', '--file', $file);
ok t_cmp($load->{beneficiaries}, 5, 'a CCLF8 file is loaded (MBI in the first 11)');
open($fh, '>', $file) or die;
print $fh "$_\n" for @mbis;
close $fh;
sql("INSERT INTO opt_out (mbi) VALUES ('$mbis[6]') ON CONFLICT DO NOTHING");
$load = ctl('attribution', 'load', '--aco', 'A9901', '--file', $file);
ok t_cmp("$load->{beneficiaries}|$load->{opted_out}", '7|1', 'a newer load replaces the older');
ok t_cmp(sql("SELECT count(*) FROM aco_attribution a JOIN organization o ON o.id = a.org_id"
             . " WHERE o.cms_id = 'A9901'"), 1, 'one load of the kind is kept');
open($fh, '>', "$dir/bad.txt") or die;
print $fh "NOTANMBI\n";
close $fh;
($st) = dpcctl('attribution', 'load', '--aco', 'A9901', '--file', "$dir/bad.txt");
ok t_cmp($st, 1, 'a file with a bad line is refused');
ok t_cmp(sql("SELECT count(*) FROM aco_beneficiary b JOIN aco_attribution a ON a.id ="
             . " b.attribution_id JOIN organization o ON o.id = a.org_id WHERE o.cms_id = 'A9901'"),
         7, '... and changes nothing');
ctl('attribution', 'load', '--aco', 'A9902', '--synthetic', '3', '--offset', '10');
$res = req(GET => '/api/v1/attribution_status', Authorization => "Bearer $tok1");
ok t_cmp(($res->code . '|' . (json_of($res)->{ingestion_dates}[0]{type} // '')),
         '200|last_attribution_update', 'attribution_status gives the ingestion date');

# kick-off: bad input changes nothing
my $jobs0 = sql("SELECT count(*) FROM export_job");
for my $bad (['_type=Patient,Patient', 'Repeated'], ['_type=Claim', 'not exported'],
             ['_since=2020-01-01', '_since'], ['_since=2999-01-01T00:00:00Z', 'future'],
             ['_elements=id', '_elements'], ['_typeFilter=Coverage%3Fstatus%3Dgone', '_typeFilter Coverage?status=gone'],
             ['_outputFormat=text/csv', '_outputFormat']) {
    $res = req(GET => "/api/v2/Group/all/\$export?$bad->[0]", Authorization => "Bearer $tok1", %kick);
    ok t_cmp($res->code . '|' . ((json_of($res)->{issue}[0]{diagnostics} // '') =~ /\Q$bad->[1]\E/i ? 1 : 0),
             '400|1', "$bad->[0]: 400 saying why");
}
$res = req(GET => '/api/v2/Group/all/$export', Authorization => "Bearer $tok1", Prefer => 'respond-async');
ok t_cmp($res->code . '|' . (json_of($res)->{issue}[0]{diagnostics} // ''), '400|Accept header is required',
         'no Accept: 400');
$res = req(GET => '/api/v2/Group/all/$export', Authorization => "Bearer $tok1",
           Accept => 'application/fhir+json');
ok t_cmp($res->code . '|' . (json_of($res)->{issue}[0]{diagnostics} // ''), '400|Prefer header is required',
         'no Prefer: 400');
$res = req(GET => '/api/v2/Group/mine/$export', Authorization => "Bearer $tok1", %kick);
ok t_cmp($res->code, 400, 'a group other than all or runout: 400');
$res = req(GET => '/api/v2/ExplanationOfBenefit/$export', Authorization => "Bearer $tok1", %kick);
ok t_cmp($res->code, 404, 'v2 has no per-type EOB kick-off');
ok t_cmp(sql("SELECT count(*) FROM export_job"), $jobs0, 'no refused kick-off made a job');
$res = req(GET => '/api/v2/Group/runout/$export', Authorization => "Bearer $tok1", %kick);
ok t_cmp($res->code, 404, 'runout without a runout load: 404');

# a population export, headers as lists with parameters and any case
$res = req(GET => '/api/v1/Group/all/$export', Authorization => "Bearer $tok1",
           Accept => 'Application/FHIR+JSON; charset=utf-8', Prefer => 'handling=strict, RESPOND-ASYNC');
my ($num) = ($res->header('Content-Location') // '') =~ m{/api/v1/jobs/(\d+)$};
ok t_cmp($res->code . '|' . ($num ? 1 : 0), '202|1', 'Group/all/$export: 202 with jobs/{integer}');
wait_for(60, sub { sql("SELECT status FROM export_job WHERE number = $num") ne 'running' });
$res = req(GET => "/api/v1/jobs/$num", Authorization => "Bearer $tok1");
my $m = json_of($res) // {};
ok t_cmp($res->code . "|" . ($m->{JobID} // ''), "200|$num", 'complete: 200, the manifest has JobID');
ok t_cmp(($res->header('Expires') // '') =~ /GMT$/ ? 1 : 0, 1, 'Expires is an HTTP-date');
my %types = map { $_->{type} => 1 } @{ $m->{output} };
ok t_cmp(join(',', sort keys %types), 'Coverage,ExplanationOfBenefit,Patient', 'every type by default');
my $url = $m->{output}[0]{url} // '';
ok t_cmp($url =~ m{/data/$num/[0-9a-f]{8}-[0-9a-f-]{27}\.ndjson$} ? 1 : 0, 1, 'files are /data/{job}/{uuid}.ndjson');
my $eurl = $m->{error}[0]{url} // '';
ok t_cmp($eurl =~ m{/data/$num/[0-9a-f-]{36}-error\.ndjson$} ? 1 : 0, 1, 'errors in {uuid}-error.ndjson');
(my $path = $url) =~ s{^https?://[^/]+}{};
(my $epath = $eurl) =~ s{^https?://[^/]+}{};
$res = req(GET => $path, Authorization => "Bearer $tok1");
ok t_cmp($res->code . '|' . $res->header('Content-Type'), '200|application/octet-stream',
         'a file downloads (encrypted: v1)');
ok t_cmp(req(GET => $path, Authorization => "Bearer $tok1")->code, 200, '... again');
$res = req(GET => $epath, Authorization => "Bearer $tok1");
ok t_cmp($res->content =~ /\Q$mbis[6]\E.*opted out/ ? 1 : 0, 1, 'the opt-out is reported in the error file');

# another ACO
my $tok2 = token_of($c2->{client_id}, $c2->{client_secret});
ok t_cmp(req(GET => "/api/v1/jobs/$num", Authorization => "Bearer $tok2")->code, 404, "another ACO's job: 404");
ok t_cmp(req(GET => $path, Authorization => "Bearer $tok2")->code, 404, "another ACO's file: 404");
ok t_cmp(req(GET => "/api/v1/jobs/abc", Authorization => "Bearer $tok1")->code, 400, 'a job id that is not a number: 400');
ok t_cmp(req(GET => "/data/jobs/$num", Authorization => "Bearer $tok1")->code
         . '|' . req(GET => "/data/$num/..%2F..%2Fetc%2Fpasswd", Authorization => "Bearer $tok1")->code,
         '404|404', 'below /data there are files only');

# a job that stays running (no batches, so no worker takes it): overlaps
my $org1 = sql("SELECT id FROM organization WHERE cms_id = 'A9901'");
my $held = sql("INSERT INTO export_job (org_id, dialect, fhir_version, request_url, types,
    resources_per_file, gzip, file_lifetime, population, batches_total)
    VALUES ('$org1', 'bcda-v1', 3, 'http://x.example/', '{Patient}', 10, false, '1 hour', 'all', 1)
    RETURNING number");
$res = req(GET => "/api/v1/jobs/$held", Authorization => "Bearer $tok1");
ok t_cmp($res->code . '|' . ($res->header('X-Progress') // ''), '202|Pending', 'not started yet: 202, X-Progress: Pending');
$res = req(GET => '/api/v1/Patient/$export', Authorization => "Bearer $tok1", %kick);
ok t_cmp($res->code . '|' . ($res->header('Retry-After') ? 1 : 0), '429|1',
         'an overlapping kick-off while a job runs: 429 with Retry-After');
ok t_cmp(($res->header('Content-Location') // '') =~ m{/api/v1/jobs/$held$} ? 1 : 0, 1, '... naming the running job');
$res = req(GET => '/api/v1/Coverage/$export', Authorization => "Bearer $tok1", %kick);
ok t_cmp($res->code, 202, 'a kick-off of other types runs beside it');
$res = req(GET => '/api/v2/Patient/$export', Authorization => "Bearer $tok1", %kick);
ok t_cmp($res->code, 202, 'v1 and v2 jobs never block each other');

# jobs list, cancel
$res = req(GET => '/api/v1/jobs?_status=Completed', Authorization => "Bearer $tok1", %kick);
$m = json_of($res) // {};
ok t_cmp("$m->{resourceType}|" . ($m->{entry}[0]{resource}{status} // ''), 'Bundle|completed', 'jobs: a Bundle of Task');
ok t_cmp(req(GET => '/api/v1/jobs?_status=Completed,Completed', Authorization => "Bearer $tok1", %kick)->code,
         400, 'a repeated _status: 400');
ok t_cmp(req(DELETE => "/api/v1/jobs/$num", Authorization => "Bearer $tok1")->code, 410,
         'cancelling an ended job: 410');
ok t_cmp(req(DELETE => "/api/v1/jobs/$held", Authorization => "Bearer $tok2")->code, 404,
         "cancelling another ACO's job: 404");
ok t_cmp(req(DELETE => "/api/v1/jobs/$held", Authorization => "Bearer $tok1")->code, 202,
         'cancelling a running job: 202');
ok t_cmp(req(GET => "/api/v1/jobs/$held", Authorization => "Bearer $tok1")->code, 404,
         'a cancelled job is 404');

# rotation and deletion
ctl('credential', 'rotate', $c1->{client_id});
ok t_cmp(token_res($c1->{client_id}, $c1->{client_secret})->code, 401, 'the old secret is refused after rotation');
ok t_cmp(sql("SELECT count(*) FROM audit_event WHERE action = 'credential.rotated'"
             . " AND detail->>'id' = '$c1->{client_id}'"), 1, 'rotation is audited');

# the opt-out was for this file only: the other files export that beneficiary
sql("DELETE FROM opt_out WHERE mbi = '$mbis[6]'");
