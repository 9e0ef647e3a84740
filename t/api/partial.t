# The output options of the Bulk Data IG's next version on DPC v2 and v1:
# allowPartialManifests (status answers 202 with the files finished so far,
# in pages linked by "next"; the last page on 200) and organizeOutputBy=
# Patient (files of whole patients, the Patient first).  Bad values: 400,
# and no job.  t/conf/extra.conf.in: pages of 4 files, files of 10
# resources, batches of 3 beneficiaries.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use JSON::PP;
use DPC::Test qw(req json_of oo_code sql sql_rows wait_for);
use DPC::Export qw(make_roster stored_counts counts_of);
use DPC::JWT qw(gen_keys);
use DPC::Org;

plan tests => 43;

my $dir = tempdir(CLEANUP => 1);
gen_keys($dir, p1 => 'ec');
my $org = DPC::Org->new(name => 'Partial', key_path => "$dir/p1", alg => 'ES384');
my $tok = $org->access_token;
my %auth = (Authorization => "Bearer $tok");
my %async = (Prefer => 'respond-async', Accept => 'application/fhir+json');
my $json = JSON::PP->new->canonical;
my $PAGE = 4;

# 12 beneficiaries: 4 batches
my @mbis = sql_rows('SELECT mbi FROM beneficiary ORDER BY mbi LIMIT 12 OFFSET 12');
my $gid = make_roster($org, $tok, '1518963047', @mbis);
my $url = "/api/v2/Group/$gid/\$export";
sub jobs { sql("SELECT count(*) FROM export_job WHERE org_id = '$org->{id}'") }
sub job_of { my ($res) = @_; (($res->header('Content-Location') // '') =~ m{/Jobs/([0-9a-f-]+)$})[0] }
sub sha_of { my ($f) = @_; (map { $_->{valueString} } grep { $_->{url} =~ /checksum$/ } @{ $f->{extension} // [] })[0] // '' }
sub cancel { req(DELETE => "/api/v2/Jobs/$_[0]", %auth) }

# --- bad input: 400 naming the value, no job ----------------------------------------
my @bad = (
    [ '?allowPartialManifests=yes', 'invalid', qr/allowPartialManifests must be true or false, not "yes"/ ],
    [ '?organizeOutputBy=Coverage', 'not-supported', qr/organizeOutputBy=Coverage is not supported/ ],
    [ '?organizeOutputBy=', 'not-supported', qr/organizeOutputBy= is not supported/ ],
);
for my $b (@bad) {
    my $res = req(GET => "$url$b->[0]", %auth, %async);
    ok t_cmp(join('|', $res->code, oo_code($res) // '', (json_of($res) // {})->{issue}[0]{diagnostics} // ''),
             qr/^400\|$b->[1]\|/, "$b->[0]: 400 $b->[1]");
    ok t_cmp((json_of($res) // {})->{issue}[0]{diagnostics} // '', $b->[2], '... naming the value');
}
my $res = req(POST => $url, %auth, %async, 'Content-Type' => 'application/fhir+json',
              content => encode_json({ resourceType => 'Parameters', parameter => [
                  { name => 'allowPartialManifests', valueInteger => 1 } ] }));
ok t_cmp($res->code . '|' . (oo_code($res) // ''), '400|structure', 'POST: a valueInteger is refused');
ok t_cmp(jobs(), 0, 'no job was recorded by any of them');

# --- organizeOutputBy=Patient -------------------------------------------------------------
$res = req(POST => $url, %auth, %async, 'Content-Type' => 'application/fhir+json',
           content => encode_json({ resourceType => 'Parameters', parameter => [
               { name => 'organizeOutputBy', valueString => 'Patient' },
               { name => 'allowPartialManifests', valueBoolean => JSON::PP::false } ] }));
ok t_cmp($res->code, 202, 'POST organizeOutputBy=Patient: 202');
my $job = job_of($res) // 'none';
ok t_cmp(sql("SELECT coalesce(organize_by, '-') || ' ' || allow_partial::int FROM export_job WHERE id = '$job'"),
         'Patient 0', 'the job is organized by Patient, without partial manifests');
my $done = wait_for(60, sub { my $r = req(GET => "/api/v2/Jobs/$job", %auth); $r->code == 200 ? $r : undef });
my $m = $done ? json_of($done) : {};
ok t_cmp($m->{outputOrganizedBy} // '', 'Patient', 'the manifest says outputOrganizedBy');
ok t_cmp(scalar(grep { exists $_->{type} } @{ $m->{output} // [] }), 0, 'output entries carry no type');
ok t_cmp(scalar(@{ $m->{output} // [] }) > 1 ? 1 : 0, 1, 'several files (' . scalar(@{ $m->{output} // [] }) . ')');
ok t_cmp(exists $m->{link} ? 'link' : 'none', 'none', 'no pages without allowPartialManifests');
my (%where, %seen, @problems, %count, $shas_ok);
$shas_ok = 1;
for my $f (@{ $m->{output} // [] }) {
    my $r = req(GET => $f->{url}, %auth);
    $shas_ok = 0 unless $r->code == 200 && 'sha256:' . sha256_hex($r->content) eq sha_of($f);
    my ($cur, $n) = ('', 0);
    for my $line (split /\n/, $r->content) {
        my $res = decode_json($line);
        my $t = $res->{resourceType};
        $count{$t}++;
        my $p = $t eq 'Patient' ? $res->{id} : (($res->{patient} // $res->{beneficiary} // {})->{reference} // '') =~ s{^Patient/}{}r;
        if ($t eq 'Patient') {
            push @problems, "Patient $p twice" if $seen{$p}++;
            $cur = $p;
        }
        else {
            push @problems, "$t of $p after Patient $cur" if $p ne $cur;
        }
        push @problems, "$p in two files" if $where{$p} && $where{$p} ne $f->{url};
        $where{$p} = $f->{url};
        $n++;
    }
    push @problems, "a file of $n lines" unless $n == $f->{count};
}
ok t_cmp($shas_ok, 1, 'every file downloads, matching its checksum');
ok t_cmp(join('; ', @problems[0 .. ($#problems < 4 ? $#problems : 4)]), '',
         'each patient whole in one file, the Patient first, then its resources');
ok t_cmp(counts_of(\%count), counts_of(stored_counts(@mbis)), 'every resource of every type, once');
ok t_cmp(scalar(keys %seen), 12, 'every patient');
ok t_cmp(sql("SELECT count(*) FROM export_file WHERE job_id = '$job' AND count > 10 AND type <> 'OperationOutcome'")
         <= sql("SELECT count(*) FROM export_file WHERE job_id = '$job' AND type <> 'OperationOutcome'") ? 1 : 0,
         1, 'files end at a patient boundary (a patient may make a file longer than 10)');

# a token that reads one type cannot download a file that holds every type
my $narrow = $org->access_token(scope => 'system/Patient.read');
my $first = ($m->{output} // [])->[0]{url} // '/api/v2/data/none/x';
$res = req(GET => $first, Authorization => "Bearer $narrow");
ok t_cmp($res->code, 403, 'an organized file needs a scope of every type it holds');

# lenient: another organizeOutputBy is ignored and reported
$res = req(GET => "$url?organizeOutputBy=Encounter", %auth, %async,
           Prefer => 'respond-async, handling=lenient');
ok t_cmp($res->code, 202, 'lenient: organizeOutputBy=Encounter is ignored: 202');
$job = job_of($res) // 'none';
ok t_cmp(sql("SELECT coalesce(organize_by, '-') || ' ' || array_to_string(notes, ',') FROM export_job WHERE id = '$job'"),
         '- organizeOutputBy=Encounter', '... and noted for the error file');
wait_for(60, sub { req(GET => "/api/v2/Jobs/$job", %auth)->code == 200 });

# organized and filtered: the job's _typeFilter and _until apply to the
# patient-sorted statement too (checked against SQL of the same rule)
$res = req(GET => "$url?organizeOutputBy=Patient&_typeFilter=ExplanationOfBenefit%3Ftype%3Dcarrier"
           . '&_until=2099-01-01T00:00:00Z', %auth, %async);
$job = job_of($res) // 'none';
$done = wait_for(60, sub { my $r = req(GET => "/api/v2/Jobs/$job", %auth); $r->code == 200 ? $r : undef });
$m = $done ? json_of($done) : {};
my (%fcount, @fproblems);
for my $f (@{ $m->{output} // [] }) {
    my $cur = '';
    for my $line (split /\n/, req(GET => $f->{url}, %auth)->content) {
        my $r = decode_json($line);
        $fcount{$r->{resourceType}}++;
        push @fproblems, 'a Patient after its resources' if $r->{resourceType} eq 'Patient' && $cur eq 'other';
        $cur = $r->{resourceType} eq 'Patient' ? 'patient' : 'other';
    }
}
my $in = join ',', map { "'$_'" } @mbis;
my %want = map { split /\|/ } sql_rows("SELECT resource_type, count(*) FROM claims_resource"
    . " WHERE fhir_version = 4 AND mbi IN ($in)"
    . " AND (resource_type <> 'ExplanationOfBenefit' OR claim_type = 'carrier') GROUP BY resource_type");
ok t_cmp(($m->{outputOrganizedBy} // '') . ' ' . counts_of(\%fcount) . ' ' . scalar(@fproblems),
         'Patient ' . counts_of(\%want) . ' 0',
         'organized with _typeFilter and _until: exactly the carrier claims, every Patient and '
         . 'Coverage, each Patient before its resources');
ok t_cmp(($want{ExplanationOfBenefit} // 0) > 0 && ($want{ExplanationOfBenefit} // 0) < stored_counts(@mbis)->{ExplanationOfBenefit}
         ? 1 : 0, 1, '... a proper subset of the claims');

# --- allowPartialManifests while the export runs ------------------------------------------
# A transaction holding the job's last batch: the worker skips it (SKIP
# LOCKED), so the job runs on with every other batch's files listed.
sub hold_last_batch {
    my ($job) = @_;
    open(my $tx, '|-', 'psql', '-X', '-qAt', '-v', 'ON_ERROR_STOP=1', '-o', '/dev/null',
         '-d', $ENV{DPC_TEST_DB}) or die "psql: $!";
    $tx->autoflush(1);
    print $tx "BEGIN; SELECT seq FROM export_batch WHERE job_id = '$job' AND status = 'pending'"
            . " AND seq = (SELECT max(seq) FROM export_batch WHERE job_id = '$job') FOR UPDATE;\n";
    wait_for(10, sub { sql("SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'"
                           . " AND query LIKE 'BEGIN; SELECT seq FROM export_batch%'") });
    return $tx;
}
my ($tx, $status, $loc, $listed);
for my $try (1 .. 5) {
    $res = req(GET => "$url?allowPartialManifests=true&_type=Patient,ExplanationOfBenefit", %auth, %async);
    $job = job_of($res) // 'none';
    $loc = $res->header('Content-Location') // '';
    $tx = hold_last_batch($job);
    # every other batch done, and the held one still pending
    wait_for(60, sub { sql("SELECT count(*) FROM export_batch WHERE job_id = '$job' AND status <> 'done'") <= 1 });
    last if sql("SELECT status FROM export_batch WHERE job_id = '$job' ORDER BY seq DESC LIMIT 1") eq 'pending'
            && sql("SELECT status FROM export_job WHERE id = '$job'") eq 'running';
    close $tx;
    cancel($job);
}
$listed = sql("SELECT files_listed FROM export_job WHERE id = '$job'");
$res = req(GET => $loc, %auth);
ok t_cmp($res->code, 202, 'running with allowPartialManifests: 202');
ok t_cmp($res->header('X-Progress') // '', qr/^In Progress \(75%, 3 of 4 batches\)$/, 'with X-Progress as ever');
ok t_cmp($res->header('Content-Type') // '', qr{^application/json}, 'and a JSON body');
my $p1 = json_of($res) // {};
ok t_cmp(scalar(@{ $p1->{output} // [] }) + scalar(@{ $p1->{error} // [] }), $listed > $PAGE ? $PAGE : $listed,
         "page 1: the first files listed ($listed listed, pages of $PAGE)");
ok t_cmp($listed > 2 * $PAGE ? 1 : 0, 1, 'enough files for more than two pages');
ok t_cmp($p1->{link}[0]{relation} // '', 'next', 'a full page links the next');
ok t_cmp($p1->{link}[0]{url} // '', "$loc?page=2", '... at ?page=2');

# Walk the pages while it runs: every listed file once, each downloadable
my (%running, @run_order);
my ($dl_ok, $pages) = (1, 0);
my $next = $loc;
while ($next && $pages < 50) {
    my $r = req(GET => $next, %auth);
    last unless $r->code == 202;
    my $p = json_of($r) // {};
    $pages++;
    for my $f (@{ $p->{output} // [] }, @{ $p->{error} // [] }) {
        $running{$f->{url}}++;
        push @run_order, $f->{url};
        my $d = req(GET => $f->{url}, %auth);
        $dl_ok = 0 unless $d->code == 200 && 'sha256:' . sha256_hex($d->content) eq sha_of($f);
    }
    $next = ($p->{link} // [])->[0]{url};
}
ok t_cmp(scalar(keys %running) . ' ' . (grep { $_ > 1 } values %running), "$listed 0",
         "the pages ($pages) list every file recorded so far, once");
ok t_cmp($dl_ok, 1, 'a running job\'s listed files download, matching their checksums');
ok t_cmp(req(GET => "$loc?page=" . ($pages + 2), %auth)->code, 404, 'a page not linked yet: 404');
ok t_cmp(req(GET => "$loc?page=0", %auth)->code, 400, 'page=0: 400');

# the held batch goes, the job completes: the same pages, then the rest
print $tx "ROLLBACK;\n";
close $tx;
sql("SELECT pg_notify('dpc_jobs', '$job')");
$done = wait_for(60, sub { my $r = req(GET => $loc, %auth); $r->code == 200 ? $r : undef });
ok t_cmp($done ? 200 : 'running', 200, 'completed: page 1 on 200');
my (%final, @order);
$next = $loc;
$pages = 0;
my $codes = '';
while ($next && $pages < 50) {
    my $r = req(GET => $next, %auth);
    $codes .= $r->code . ' ';
    my $p = json_of($r) // {};
    $pages++;
    push @order, map { $_->{url} } @{ $p->{output} // [] }, @{ $p->{error} // [] };
    $next = ($p->{link} // [])->[0]{url};
}
$final{$_}++ for @order;
my $total = sql("SELECT count(*) FROM export_file WHERE job_id = '$job'");
ok t_cmp($codes, qr/^(200 )+$/, 'every page of a completed job: 200');
ok t_cmp(scalar(keys %final) . ' ' . scalar(@order), "$total $total", "the pages list all $total files, once each");
ok t_cmp(join(',', grep { !$final{$_} } keys %running), '', 'every file seen while running is still listed');
ok t_cmp(join(',', @order[0 .. $#run_order]) eq join(',', @run_order) ? 1 : 0, 1, '... at the places they had');

# --- DPC v1 (STU3): both options -------------------------------------------------------
my $v1 = req(GET => "/api/v1/Group/$gid/\$export?allowPartialManifests=true&organizeOutputBy=Patient",
             %auth, %async);
ok t_cmp($v1->code, 202, 'DPC v1 takes both options: 202');
$job = job_of($v1) // 'none';
ok t_cmp(sql("SELECT fhir_version || ' ' || allow_partial::int || ' ' || organize_by FROM export_job WHERE id = '$job'"),
         '3 1 Patient', 'an STU3 job, with partial manifests, organized by Patient');
$done = wait_for(60, sub { my $r = req(GET => $v1->header('Content-Location'), %auth); $r->code == 200 ? $r : undef });
$m = $done ? json_of($done) : {};
ok t_cmp(join(' ', $m->{outputOrganizedBy} // '-', scalar(@{ $m->{output} // [] }) + scalar(@{ $m->{error} // [] }),
              ($m->{link} // [])->[0]{relation} // '-'),
         "Patient $PAGE next", 'its first page: organized, full, linking the next');
