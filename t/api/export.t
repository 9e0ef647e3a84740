# Bulk Data export of a roster: kick-off rules (IG v2), the job's status and
# manifest, cancel, and downloads served by httpd after mod_dpc's check.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use IO::Uncompress::Gunzip qw(gunzip $GunzipError);
use JSON::PP;
use DPC::Test qw(req json_of oo_code sql wait_for provenance);
use DPC::JWT qw(gen_keys);
use DPC::Org;

plan tests => 65;

my $dir = tempdir(CLEANUP => 1);
gen_keys($dir, x1 => 'ec', x2 => 'ec');
my $a = DPC::Org->new(name => 'Export A', key_path => "$dir/x1", alg => 'ES384');
my $b = DPC::Org->new(name => 'Export B', key_path => "$dir/x2", alg => 'ES384');
my $json = JSON::PP->new->canonical;
my $tok = $a->access_token;
my %ha = (Authorization => "Bearer $tok", 'Content-Type' => 'application/fhir+json');
my %hb = (Authorization => 'Bearer ' . $b->access_token);
my %async = (Prefer => 'respond-async', Accept => 'application/fhir+json');
sub post { my ($path, $body, %h) = @_; req(POST => $path, %h, content => ref $body ? $json->encode($body) : $body) }
# The completed job's manifest, once the job at $status_url is done ({} if
# it does not complete).
sub manifest_at {
    my ($status_url) = @_;
    my $r = wait_for(30, sub { my $r = req(GET => $status_url, Authorization => "Bearer $tok");
                               $r->code == 200 ? $r : undef });
    return $r ? json_of($r) // {} : {};
}
# The manifest of the export a kick-off response started ({} if it did not).
sub manifest_of {
    my ($kickoff) = @_;
    return $kickoff->code == 202 ? manifest_at($kickoff->header('Content-Location')) : {};
}
# A manifest entry's sha256 extension ("sha256:<hex>"), or undef.
sub checksum_of {
    my ($f) = @_;
    my ($sum) = map { $_->{valueString} } grep { $_->{url} eq 'https://dpc.cms.gov/checksum' } @{ $f->{extension} // [] };
    return $sum;
}

# a roster of 5 beneficiaries of the claims store, one of them removed
my @mbis = map { sql("SELECT mbi FROM beneficiary ORDER BY mbi OFFSET $_ LIMIT 1") } 10 .. 14;
my $pr = json_of(post('/api/v2/Practitioner', { resourceType => 'Practitioner',
    identifier => [{ system => 'http://hl7.org/fhir/sid/us-npi', value => '1003000126' }],
    name => [{ family => 'Doe', given => ['Jo'] }] }, %ha));
my $prov = provenance($a->{id}, $pr->{id});
sub group { { resourceType => 'Group', type => 'person', actual => JSON::PP::true,
    member => [map { { entity => { identifier => { system => 'http://hl7.org/fhir/sid/us-mbi', value => $_ } },
        extension => [{ url => 'http://hl7.org/fhir/us/davinci-atr/StructureDefinition/ext-attributedProvider',
                        valueReference => { identifier => { system => 'http://hl7.org/fhir/sid/us-npi',
                                                            value => '1003000126' } } }] } } @_] } }
my $g = json_of(post('/api/v2/Group', group(@mbis), %ha, 'X-Provenance' => $prov));
post("/api/v2/Group/$g->{id}/\$remove", group($mbis[4]), %ha);
my $url = "/api/v2/Group/$g->{id}/\$export";

# --- kick-off refusals ------------------------------------------------------------
my @bad = (
    [ 'no Prefer: respond-async', [Accept => 'application/fhir+json'], '', 400 ],
    [ 'Accept of another type', [Prefer => 'respond-async', Accept => 'text/csv'], '', 400 ],
    [ 'an unknown _type', [%async], '?_type=Claim', 400 ],
    [ 'a bad _since', [%async], '?_since=yesterday', 400 ],
    [ 'a future _since', [%async], '?_since=2999-01-01T00:00:00Z', 400 ],
    [ 'a bad _outputFormat', [%async], '?_outputFormat=text/csv', 400 ],
    [ '_typeFilter without lenient', [%async], '?_typeFilter=ExplanationOfBenefit%3Fx%3Dy', 400 ],
    [ '_elements without lenient', [%async], '?_elements=id', 400 ],
    [ 'patient without lenient', [%async], '?patient=Patient/1', 400 ],
);
for my $c (@bad) {
    my ($name, $h, $q, $code) = @$c;
    my $res = req(GET => "$url$q", Authorization => "Bearer $tok", @$h);
    ok t_cmp($res->code . ' ' . (oo_code($res) ? 'OO' : '-'), "$code OO", "$name: $code");
}
ok t_cmp(sql("SELECT count(*) FROM export_job WHERE org_id = '$a->{id}'"), 0, 'no job recorded by any');
my $res = req(GET => "/api/v2/Group/00000000-0000-4000-8000-000000000000/\$export", %hb, %async);
ok t_cmp($res->code, 404, 'an unknown Group: 404');
$res = req(GET => $url, %hb, %async);
ok t_cmp($res->code, 404, "another organization's Group: 404");
$res = req(GET => $url, %async);
ok t_cmp($res->code, 401, 'no token: 401');

# --- kick-off ---------------------------------------------------------------------
$res = req(GET => "$url?_type=Patient,ExplanationOfBenefit&_outputFormat=ndjson", Authorization => "Bearer $tok", %async);
ok t_cmp($res->code, 202, 'kick-off: 202');
my $loc = $res->header('Content-Location') // '';
ok t_cmp($loc, qr{^http://.*/api/v2/Jobs/[0-9a-f-]{36}$}, 'with an absolute Content-Location');
my ($job) = $loc =~ m{/Jobs/([0-9a-f-]+)$};
ok t_cmp(sql("SELECT array_to_string(types, ',') FROM export_job WHERE id = '$job'"),
         'Patient,ExplanationOfBenefit', 'the types asked for');
ok t_cmp(sql("SELECT request_url FROM export_job WHERE id = '$job'"),
         qr{/api/v2/Group/$g->{id}/\$export\?_type=Patient,ExplanationOfBenefit&_outputFormat=ndjson$},
         'the exact request URL');
ok t_cmp(sql("SELECT sum(cardinality(mbis)) FROM export_batch WHERE job_id = '$job'"), 4,
         'only active members are exported');

# --- status --------------------------------------------------------------------------
my $done = wait_for(30, sub {
    my $r = req(GET => $loc, Authorization => "Bearer $tok");
    $r->code == 200 ? $r : undef });
ok t_cmp($done ? 200 : 'still running', 200, 'the job completes');
my $m = $done ? json_of($done) : {};
ok t_cmp($m->{request}, sql("SELECT request_url FROM export_job WHERE id = '$job'"), 'manifest: request');
ok t_cmp($m->{requiresAccessToken} ? 1 : 0, 1, 'manifest: requiresAccessToken');
ok t_cmp(ref $m->{error}, 'ARRAY', 'manifest: error is an array');
ok t_cmp($m->{transactionTime} // '', qr/^\d{4}-\d\d-\d\dT/, 'manifest: transactionTime');
ok t_cmp($done ? ($done->header('Expires') // '') : '', qr/GMT$/, 'Expires: an HTTP date');
my %count;
my $ok_files = 0;
my $n_files = scalar @{ $m->{output} // [] };
for my $f (@{ $m->{output} // [] }) {
    my $sum = checksum_of($f);
    my ($len) = map { $_->{valueDecimal} } grep { $_->{url} eq 'https://dpc.cms.gov/file_length' } @{ $f->{extension} };
    my $r = req(GET => $f->{url}, Authorization => "Bearer $tok");
    my $body = $r->content;
    $ok_files++ if $r->code == 200 && "sha256:" . sha256_hex($body) eq $sum && length($body) == $len
        && ($body =~ tr/\n//) == $f->{count} && ($r->header('Content-Type') // '') =~ m{^application/fhir\+ndjson};
    $count{ $f->{type} } += $f->{count};
}
ok t_cmp($n_files > 0 ? $ok_files : -1, $n_files, 'every file: 200 NDJSON, checksum, length and count as listed');
my $in = join ',', map { "'$_'" } @mbis[0 .. 3];
ok t_cmp($count{ExplanationOfBenefit} // 0, sql("SELECT count(*) FROM claims_resource WHERE fhir_version = 4
    AND resource_type = 'ExplanationOfBenefit' AND mbi IN ($in)"), 'every EOB of the active members');
ok t_cmp($count{Patient} // 0, sql("SELECT count(*) FROM claims_resource WHERE fhir_version = 4
    AND resource_type = 'Patient' AND mbi IN ($in)"), 'every Patient');
ok t_cmp(exists $count{Coverage} ? 1 : 0, 0, 'and no Coverage: not asked for');

# --- downloads: ranges, caching, someone else's, paths ---------------------------------
my $first = $m->{output}[0]{url} // '';
$res = req(GET => $first, Authorization => "Bearer $tok", Range => 'bytes=0-9');
ok t_cmp($res->code . ' ' . length($res->content), '206 10', 'Range: 206 with 10 bytes');
my $etag = req(GET => $first, Authorization => "Bearer $tok")->header('ETag');
$res = req(GET => $first, Authorization => "Bearer $tok", 'If-None-Match' => $etag // 'x');
ok t_cmp($res->code, 304, 'If-None-Match: 304');
$res = req(GET => $first, %hb);
ok t_cmp($res->code . ' ' . oo_code($res), '404 not-found', "another organization: 404");
$res = req(GET => $first);
ok t_cmp($res->code, 401, 'no token: 401');
(my $evil = $first) =~ s{/[^/]+$}{/..%2f..%2fetc%2fpasswd};
ok t_cmp(req(GET => $evil, Authorization => "Bearer $tok")->code, 404, 'a path that climbs: 404');
(my $guess = $first) =~ s/[0-9a-f]{32}/'0' x 32/e;
ok t_cmp(req(GET => $guess, Authorization => "Bearer $tok")->code, 404, 'a guessed name: 404');

# --- while an export of the Group runs, another kick-off is refused ------------------------
# (a job with no batches stays running: the workers have nothing of it to do)
my $running = sql("INSERT INTO export_job (org_id, roster_id, dialect, fhir_version, request_url,
    types, resources_per_file, gzip, file_lifetime)
    VALUES ('$a->{id}', '$g->{id}', 'dpc-v2', 4, 'x', '{Patient}', 10, true, '1 hour') RETURNING id");
$res = req(GET => $url, Authorization => "Bearer $tok", %async);
ok t_cmp($res->code, 429, 'a second kick-off while one runs: 429');
ok t_cmp($res->header('Retry-After') ? 1 : 0, 1, 'with Retry-After');
ok t_cmp($res->header('Content-Location') // '', qr{/Jobs/$running$}, "and the running job's Content-Location");
$res = req(GET => "/api/v2/Jobs/$running", Authorization => "Bearer $tok");
ok t_cmp($res->code . ' ' . ($res->header('X-Progress') // ''), qr/^202 In Progress \(\d+%, \d+ of \d+ batches\)$/, 'its status: 202 with X-Progress: In Progress, then the numbers');
req(DELETE => "/api/v2/Jobs/$running", Authorization => "Bearer $tok");

# --- a second export with _since, then cancel -------------------------------------------
$res = req(GET => "$url?_since=2026-01-01T00:00:00%2B00:00", Authorization => "Bearer $tok", %async);
ok t_cmp($res->code, 202, '_since with +hh:mm: 202');
my $loc2 = $res->header('Content-Location');
ok t_cmp(sql("SELECT since = '2026-01-01T00:00:00Z' FROM export_job WHERE id = '"
             . ($loc2 =~ m{/Jobs/(.+)$})[0] . "'"), 't', 'since recorded');
$res = req(DELETE => $loc2, %hb);
ok t_cmp($res->code, 404, "cancel another organization's job: 404");
$res = req(DELETE => $loc2, Authorization => "Bearer $tok");
ok t_cmp($res->code, 202, 'cancel: 202');
ok t_cmp(req(GET => $loc2, Authorization => "Bearer $tok")->code, 404, 'then its status: 404');
ok t_cmp(req(DELETE => $loc2, Authorization => "Bearer $tok")->code, 404, 'a second DELETE: 404');

# lenient: ignored parameters are accepted
$res = req(POST => $url, Authorization => "Bearer $tok", Prefer => 'respond-async, handling=lenient',
           'Content-Type' => 'application/fhir+json', Accept => 'application/fhir+json',
           content => $json->encode({ resourceType => 'Parameters', parameter => [
               { name => '_type', valueString => 'Coverage' },
               { name => '_type', valueString => 'Claim' },
               { name => '_elements', valueString => 'id' }] }));
ok t_cmp($res->code, 202, 'POST Parameters with handling=lenient: 202');
my ($j3) = ($res->header('Content-Location') // '') =~ m{/Jobs/(.+)$};
ok t_cmp(sql("SELECT array_to_string(notes, ',') FROM export_job WHERE id = '$j3'"), '_type=Claim,_elements',
         'the ignored parameters are noted');

# ... and said so in the manifest's error file
my $loc3 = "/api/v2/Jobs/$j3";
my $m3 = manifest_at($loc3);
my @err = @{ $m3->{error} // [] };
ok t_cmp(scalar(@err) . ' ' . ($err[0]{type} // ''), '1 OperationOutcome', 'lenient: one error file of OperationOutcomes');
sub fetch_lines {
    my ($f) = @_;
    my $r = req(GET => $f->{url}, Authorization => "Bearer $tok");
    my $sum = checksum_of($f);
    return ('bad: ' . $r->code) unless $r->code == 200 && defined $sum && "sha256:" . sha256_hex($r->content) eq $sum;
    return map { json_of(HTTP::Response->new(200, '', [], $_)) // 'not JSON' } split /\n/, $r->content;
}
my @lines = @err ? fetch_lines($err[0]) : ();
ok t_cmp(scalar(@lines) . ' ' . join(' ', map { ($_->{resourceType} // '') . '/' . ($_->{issue}[0]{severity} // '') } @lines),
         '2 OperationOutcome/warning OperationOutcome/warning', 'a warning OperationOutcome for each, checksum as listed');
ok t_cmp(join(' | ', map { $_->{issue}[0]{diagnostics} // '' } @lines),
         qr/_type=Claim was ignored.* \| .*_elements was ignored/, 'naming _type=Claim and _elements');
ok t_cmp(scalar @{ $m3->{output} // [] } > 0 ? 1 : 0, 1, 'and the Coverage was exported');

# --- beneficiaries that cannot be exported: error lines, data of the others ------------
my $nodata = '1EG4TE5MK73';
$nodata = '2EG4TE5MK73' if sql("SELECT count(*) FROM beneficiary WHERE mbi = '$nodata'");
my $pr2 = json_of(post('/api/v2/Practitioner', { resourceType => 'Practitioner',
    identifier => [{ system => 'http://hl7.org/fhir/sid/us-npi', value => '1003000134' }],
    name => [{ family => 'Roe', given => ['Al'] }] }, %ha));
(my $prov2 = $prov) =~ s/Practitioner\/$pr->{id}/Practitioner\/$pr2->{id}/;
(my $g2body = $json->encode(group($mbis[0], $nodata))) =~ s/1003000126/1003000134/g;
$res = post('/api/v2/Group', $g2body, %ha, 'X-Provenance' => $prov2);
ok t_cmp($res->code, 201, 'a roster with a registered MBI that has no claims data');
my $g2 = json_of($res) // {};
$res = req(GET => "/api/v2/Group/$g2->{id}/\$export?_type=Patient", Authorization => "Bearer $tok", %async);
my $m4 = manifest_of($res);
@lines = map { fetch_lines($_) } @{ $m4->{error} // [] };
ok t_cmp(scalar(@lines) . ' ' . ($lines[0]{issue}[0]{code} // '') . ' ' . ($lines[0]{issue}[0]{diagnostics} // ''),
         qr/^1 not-found .*$nodata/, 'one not-found OperationOutcome naming the MBI without data');
my @pats = map { fetch_lines($_) } @{ $m4->{output} // [] };
ok t_cmp(join(',', map { $_->{resourceType} // '?' } @pats), 'Patient', 'the other member is exported');

# A beneficiary who has opted out is on the roster still: the worker leaves
# the data out and says so in the error file.
sql("INSERT INTO opt_out (mbi) VALUES ('$mbis[1]')");
$res = req(GET => "$url?_type=Patient,Coverage", Authorization => "Bearer $tok", %async);
my $m5 = manifest_of($res);
@lines = map { fetch_lines($_) } @{ $m5->{error} // [] };
ok t_cmp(scalar(@lines) . ' ' . ($lines[0]{issue}[0]{code} // '') . ' ' . ($lines[0]{issue}[0]{diagnostics} // ''),
         qr/^1 suppressed .*$mbis[1].*opted out/, 'an opted-out beneficiary: one suppressed OperationOutcome');
my @data = map { fetch_lines($_) } @{ $m5->{output} // [] };
my $leak = grep { ($json->encode($_)) =~ /\Q$mbis[1]\E/ } @data;
my $pats = grep { ($_->{resourceType} // '') eq 'Patient' } @data;
ok t_cmp("$pats patients, $leak leaked", '3 patients, 0 leaked', "the other members' data only; none of the opted-out one's");
sql("DELETE FROM opt_out WHERE mbi = '$mbis[1]'");

# --- the gzip twin -------------------------------------------------------------------
my ($f0) = @{ $m->{output} // [] };
my $sum0 = checksum_of($f0);
$res = req(GET => $f0->{url} // '/', Authorization => "Bearer $tok", 'Accept-Encoding' => 'gzip');
ok t_cmp($res->code . ' ' . ($res->header('Content-Encoding') // 'none'), '200 gzip',
         'Accept-Encoding: gzip gets the gzip twin');
ok t_cmp($res->header('Content-Type') // '', qr{^application/fhir\+ndjson}, 'still typed as NDJSON');
ok t_cmp($res->header('Vary') // '', qr/Accept-Encoding/i, 'Vary: Accept-Encoding');
my $plain;
gunzip(\($res->content) => \$plain) or $plain = "gunzip: $GunzipError";
ok t_cmp('sha256:' . sha256_hex($plain), $sum0 // 'none', 'the twin unzips to the bytes the checksum describes');
ok t_cmp(length($res->content) < length($plain) ? 1 : 0, 1, 'and is smaller');
$res = req(GET => $f0->{url} // '/', Authorization => "Bearer $tok", 'Accept-Encoding' => 'br, gzip;q=0');
ok t_cmp(($res->header('Content-Encoding') // 'none') . ' ' . ('sha256:' . sha256_hex($res->content) eq ($sum0 // '') ? 'same' : 'differs'),
         'none same', 'gzip;q=0: the plain file');
ok t_cmp(($res->header('Vary') // '') =~ /Accept-Encoding/i ? 1 : 0, 1, 'which varies on Accept-Encoding too');
$res = req(GET => ($f0->{url} // '/') . '.gz', Authorization => "Bearer $tok");
ok t_cmp($res->code, 404, 'the twin has no URL of its own');
$res = req(GET => $f0->{url} // '/', %hb, 'Accept-Encoding' => 'gzip');
ok t_cmp($res->code, 404, "nor another organization's token a way in");

# --- a roster with no one left to export, kicked off leniently -----------------------
(my $rm = $json->encode(group($mbis[0], $nodata))) =~ s/1003000126/1003000134/g;
post("/api/v2/Group/$g2->{id}/\$remove", $rm, %ha);
$res = req(GET => "/api/v2/Group/$g2->{id}/\$export?_elements=id", Authorization => "Bearer $tok",
           Prefer => 'respond-async, handling=lenient');
my $m6 = manifest_of($res);
@lines = map { fetch_lines($_) } @{ $m6->{error} // [] };
ok t_cmp(scalar(@{ $m6->{output} // ['x'] }) . ' outputs, ' . scalar(@lines) . ' error line: '
         . ($lines[0]{issue}[0]{diagnostics} // ''), qr/^0 outputs, 1 error line: .*_elements was ignored/,
         'an empty roster: no output, and the ignored parameter still reported');
