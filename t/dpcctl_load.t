# dpcctl load (claims brought by the operator) and the operator commands
# jobs, workers and expire, against the real database, worker and export.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use JSON::PP;
use DPC::Test qw(req sql sql_rows dpcctl run json_of write_file slurp wait_for);
use DPC::JWT qw(gen_keys);
use DPC::Org;
use DPC::Export qw(make_roster kickoff wait_job);

plan tests => 110;

my $json = JSON::PP->new->canonical;
my $data = Apache::Test::vars("t_dir") . "/data/bfd";
my @v1 = glob("$data/v1/*.json");
my @v2 = glob("$data/v2/*.json");
my $tmp = tempdir(CLEANUP => 1);
my $MBI = '1EG4TE5MK73';          # what the samples' bene id 567834 gets
my $claims = sub { sql('SELECT count(*) FROM claims_resource') };
my $org;

# What this file loads goes at the end, however it ends, so that later
# tests see the claims store build/test made.
END {
    local $?;
    eval {
        dpcctl('org', 'delete', $org->{id}) if $org;
        sql(q{DELETE FROM beneficiary WHERE mbi IN ('1EG4TE5MK73', '2EG4TE5MK73', '3EG4TE5MK73',
            '4EG4TE5MK73', '5EG4TE5MK73', '6EG4TE5MK73', '7EG4TE5MK73', '8EG4TE5MK73',
            '2AA0AA0AA00')});
    };
}

# ---- BFD's samples, both versions, as they are ------------------------------
ok t_cmp(sql("SELECT count(*) FROM beneficiary WHERE bene_id = '567834' OR mbi = '$MBI'"), 0,
         'the samples\' beneficiary is not loaded yet');
# Their MBIs are not well-formed: without --mbi the Patient says so, and its
# claims have no beneficiary.
my $before = $claims->();
my ($st, $out, $err) = dpcctl('load', @v2);
ok t_cmp($st, 3, 'without an MBI for the bene id: exit 3 (bad lines skipped)');
ok t_cmp($err, qr{^\Q$data\E/v2/patientRead\.json:1: Patient 567834: its current MBI "3456789" is not a well-formed MBI}m,
         'FILE:LINE: the Patient\'s current MBI is not one');
ok t_cmp($err, qr{^\Q$data\E/v2/coverageSearchByPatientId\.json:1: entry 2: Coverage part-b-567834: Patient/567834 is neither in this load nor in the database$}m,
         'a Bundle entry is FILE:LINE: entry N');
ok t_cmp($claims->(), $before, 'nothing of it was written');

($st, $out, $err) = dpcctl('load', '--mbi', "567834=$MBI", @v1, @v2);
ok t_cmp($st, 0, 'the STU3 and R4 samples load with --mbi') or print STDERR $err;
my $sum = decode_json($out);
ok t_cmp(join(',', map { "$_=$sum->{$_}" } qw(files lines loaded replaced stale bad beneficiaries)),
         'files=22,lines=28,loaded=26,replaced=0,stale=2,bad=0,beneficiaries=1',
         'summary: 28 resources (Bundles\' entries included), Coverage part-a twice per version');
ok t_cmp(sql("SELECT bene_id FROM beneficiary WHERE mbi = '$MBI'"), '567834', 'beneficiary created');
ok t_cmp(join(' ', sql_rows("SELECT fhir_version || resource_type || count(*) FROM claims_resource
    WHERE mbi = '$MBI' GROUP BY fhir_version, resource_type ORDER BY 1")),
    '3Coverage4 3ExplanationOfBenefit8 3Patient1 4Coverage4 4ExplanationOfBenefit8 4Patient1',
    'each version: the Patient, four Coverage, the eight claim types');
# The filter columns, read from the bodies as they load.
my $COLUMNS = q{SELECT fhir_version || ':' || resource_id || ':' || coalesce(claim_type, '-')
    || ':' || coalesce(service_start::text, '-') || ':' || coalesce(service_end::text, '-')
    || ':' || coalesce(coverage_status, '-') FROM claims_resource WHERE mbi = '%s'
    AND fhir_version = 4 ORDER BY 1};
my $COLUMNS_V4 = join ' ', qw(4:567834:-:-:-:- 4:carrier-9991831999:carrier:1999-10-27:1999-10-27:-
    4:dme-2188888888:dme:2014-02-03:2014-02-03:- 4:hha-2925555555:hha:2015-06-23:2015-06-23:-
    4:hospice-9992223422:hospice:2014-01-01:2014-01-30:- 4:inpatient-333333222222:inpatient:2016-01-15:2016-01-27:-
    4:outpatient-1234567890:outpatient:2011-01-24:2011-01-24:- 4:part-a-567834:-:-:-:cancelled
    4:part-b-567834:-:-:-:active 4:part-c-567834:-:-:-:active 4:part-d-567834:-:-:-:active
    4:pde-89:pde:2015-05-12:2015-05-12:- 4:snf-777777777:snf:2013-12-01:2013-12-18:-);
ok t_cmp(join(' ', sql_rows(sprintf $COLUMNS, $MBI)), $COLUMNS_V4,
         'each claim has its type and billable period, each Coverage its status, in their columns');
ok t_cmp(sql("SELECT count(*) FROM claims_resource WHERE mbi = '$MBI' AND fhir_version = 3
    AND (claim_type IS NOT NULL) <> (resource_type = 'ExplanationOfBenefit')"), 0,
         'STU3 too: every claim has a type, nothing else has one');

# The stored bodies are the samples' resources, with the placeholder
# lastUpdated replaced by the file's time, numbers as written.
sub stored {
    my ($v, $type, $id) = @_;
    return decode_json(sql("SELECT body FROM claims_resource WHERE mbi = '$MBI'
        AND fhir_version = $v AND resource_type = '$type' AND resource_id = '$id'"));
}
sub same_but_meta {
    my ($a, $b) = @_;
    delete $_->{meta} for $a, $b;
    return $json->encode($a) eq $json->encode($b) ? 1 : 0;
}
my $carrier = stored(4, 'ExplanationOfBenefit', 'carrier-9991831999');
my $carrier_lu = $carrier->{meta}{lastUpdated};
ok t_cmp(same_but_meta($carrier, decode_json(slurp("$data/v2/eobReadCarrier.json"))), 1,
         'R4 carrier claim: the sample\'s resource');
ok t_cmp(same_but_meta(stored(3, 'Patient', '567834'), decode_json(slurp("$data/v1/patientRead.json"))), 1,
         'STU3 Patient (only an MBI hash: the MBI of its bene id)');
my $mtime = (stat("$data/v2/eobReadCarrier.json"))[9];
my @t = gmtime($mtime);
my $when = sprintf('%04d-%02d-%02dT%02d:%02d:%02d', $t[5] + 1900, $t[4] + 1, @t[3, 2, 1, 0]);
ok t_cmp($carrier_lu, qr/^\Q$when\E\.\d{3}Z$/, 'IGNORED_FIELD became the file\'s time');
ok t_cmp(sql("SELECT body ~ '\"value\":166\\.23[,}]' FROM claims_resource WHERE mbi = '$MBI'
    AND fhir_version = 4 AND resource_id = 'carrier-9991831999'"), 't', 'decimals as written (166.23)');

# Again: every row is there with the same time, so all of them are stale.
($st, $out) = dpcctl('load', @v1, @v2);
$sum = decode_json($out);
ok t_cmp("$st $sum->{loaded} $sum->{replaced} $sum->{stale}", '0 0 0 28',
         'loading the samples again (bene id now known): all stale, nothing replaced');

# --mbi names MBIs for bene ids the database does not know; it moves none.
$before = $claims->();
($st, $out, $err) = dpcctl('load', '--mbi', '567834=9EG4TE5MK73', @v2);
ok t_cmp($st, 1, '--mbi that disagrees with the beneficiary table fails the load');
ok t_cmp($err . $claims->(), qr/bene id 567834 is MBI \Q$MBI\E in the database\n\Q$before\E$/,
         'saying so, and writing nothing');

# ---- bad lines, each reported as FILE:LINE and skipped ---------------------
sub res {
    my ($type, $id, $lu, %more) = @_;
    return $json->encode({ resourceType => $type, id => $id, meta => { lastUpdated => $lu }, %more });
}
sub patient {
    my ($bene, $mbi, $lu) = @_;
    return res('Patient', $bene, $lu, identifier => [
        { system => 'https://bluebutton.cms.gov/resources/variables/bene_id', value => $bene,
          type => { coding => [{ code => 'MB' }] } },
        { system => 'http://hl7.org/fhir/sid/us-mbi', value => $mbi,
          type => { coding => [{ code => 'MC', extension => [{
              url => 'https://bluebutton.cms.gov/resources/codesystem/identifier-currency',
              valueCoding => { code => 'current' } }] }] } }]);
}
sub eob {
    my ($id, $bene, $lu, %more) = @_;
    return res('ExplanationOfBenefit', $id, $lu, patient => { reference => "Patient/$bene" },
               insurance => [{ focal => JSON::PP::true }], %more);
}
my $T0 = '2024-03-01T10:00:00Z';
my @lines = (
    patient('-81001', '2EG4TE5MK73', $T0),                        # 1 good
    '{"resourceType": "Patient", "id": ',                          # 2
    '[1, 2]',                                                      # 3
    res('Observation', 'o1', $T0),                                 # 4
    '{"resourceType":"Coverage","meta":{"lastUpdated":"' . $T0 . '"}}',   # 5
    eob('carrier-1', '-81001', '2024-03-01'),                      # 6
    res('Coverage', 'part-a-x', $T0, class => [], beneficiary => { reference => 'Patient/-89999' }),  # 7
    res('ExplanationOfBenefit', 'pde-1', $T0, insurance => []),    # 8
    res('Patient', '-81002', $T0, identifier => [{ type => {}, value => 'x' }]),   # 9
    '   ',                                                         # 10 blank
    eob('carrier-2', '-81001', $T0),                               # 11 good
    patient('-81003', '2EG4TE5MK73', $T0),                         # 12
    res('Coverage', 'part-b-1', $T0, beneficiary => { reference => 'Patient/-81001' }),  # 13
);
write_file("$tmp/bad.ndjson", join("\n", @lines) . "\n");
$before = $claims->();
($st, $out, $err) = dpcctl('load', "$tmp/bad.ndjson");
ok t_cmp($st, 3, 'bad lines: exit 3');
my %expect = (
    2 => 'not JSON: ',
    3 => 'not a JSON object',
    4 => 'resourceType "Observation" is not Patient, Coverage or ExplanationOfBenefit',
    5 => 'no id',
    6 => 'meta.lastUpdated "2024-03-01" is not a FHIR instant',
    7 => 'Coverage part-a-x: Patient/-89999 is neither in this load nor in the database',
    8 => 'no patient.reference to its Patient',
    9 => 'Patient -81002: no current MBI',
    12 => 'Patient -81003: MBI 2EG4TE5MK73 belongs to bene id -81001',
    13 => 'cannot tell STU3 from R4',
);
for my $n (sort { $a <=> $b } keys %expect) {
    ok t_cmp($err, qr{^\Q$tmp\E/bad\.ndjson:$n: \Q$expect{$n}\E}m, "line $n: $expect{$n}");
}
my @reported = $err =~ /^\Q$tmp\E\/bad\.ndjson:(\d+):/mg;
ok t_cmp("@reported", join(' ', sort { $a <=> $b } keys %expect), 'those lines only, in order (the blank one is no line)');
$sum = decode_json($out);
ok t_cmp("$sum->{lines} $sum->{loaded} $sum->{bad} $sum->{beneficiaries}", '12 2 10 1',
         'summary: 12 lines, 2 loaded, 10 bad, 1 beneficiary');
ok t_cmp($claims->(), $before + 2, 'the good lines were written');
ok t_cmp(sql("SELECT bene_id FROM beneficiary WHERE mbi = '2EG4TE5MK73'"), '-81001', 'keyed by the Patient\'s MBI');
ok t_cmp(sql("SELECT last_updated = '$T0' FROM claims_resource WHERE resource_id = 'carrier-2'"), 't',
         'with the resource\'s own lastUpdated');

# --strict: the same kind of file writes nothing at all.
write_file("$tmp/strict.ndjson", join("\n", patient('-82001', '3EG4TE5MK73', $T0),
                                      eob('carrier-3', '-82001', $T0), '{oops') . "\n");
$before = $claims->();
($st, $out, $err) = dpcctl('load', '--strict', "$tmp/strict.ndjson");
ok t_cmp($st, 1, '--strict with a bad line: exit 1');
ok t_cmp($err, qr{strict\.ndjson:3: not JSON}, 'the bad line is reported');
ok t_cmp($err, qr{nothing written}, 'and says nothing was written');
ok t_cmp($claims->() . ' ' . sql(q{SELECT count(*) FROM beneficiary WHERE mbi = '3EG4TE5MK73'}),
         "$before 0", 'no claim and no beneficiary of it');
($st) = dpcctl('load', '--fhir', 'dstu2', "$tmp/strict.ndjson");
ok t_cmp($st, 2, '--fhir other than stu3|r4 is a usage error');
($st, $out, $err) = dpcctl('load', "$tmp/no-such.ndjson");
ok t_cmp("$st " . $claims->(), "1 $before", 'an unreadable file fails the load before anything is written');

# A file read in parts (4 MB each, by two threads): line numbers run on.
my $pad = 'x' x 1000;
my @big = map { eob("carrier-big-$_", '-81001', $T0, note => $pad) } 1 .. 12000;
$big[4999] = '{"broken": ';
$big[11999] = res('Coverage', 'part-c-1', $T0, grouping => {});
write_file("$tmp/big.ndjson", join("\n", patient('-81001', '2EG4TE5MK73', $T0), @big) . "\n");
($st, $out, $err) = dpcctl('load', "$tmp/big.ndjson");
ok t_cmp(-s "$tmp/big.ndjson" > 8 * 1024 * 1024 ? 1 : 0, 1, 'a file of several parts');
ok t_cmp(join(' ', $err =~ /^\Q$tmp\E\/big\.ndjson:(\d+):/mg), '5001 12001',
         'bad lines in later parts keep their line numbers');
$sum = decode_json($out);
ok t_cmp("$st $sum->{lines} $sum->{loaded} $sum->{bad}", '3 12001 11998 2', 'and the rest is loaded');
sql(q{DELETE FROM claims_resource WHERE resource_id LIKE 'carrier-big-%'});

# ---- a reload: newer versions replace, older and equal ones do not ---------
my $T1 = '2024-06-01T10:00:00.5Z';
write_file("$tmp/v2.ndjson", join("\n",
    patient('-81001', '2EG4TE5MK73', $T1),                        # newer: replaces
    eob('carrier-2', '-81001', '2024-01-01T00:00:00Z'),           # older: stale
    eob('carrier-1', '-81001', $T0, status => 'active'),          # new row
    eob('carrier-1', '-81001', $T1, status => 'cancelled'),       # the same, newer: wins
) . "\n");
($st, $out, $err) = dpcctl('load', "$tmp/v2.ndjson");
$sum = decode_json($out);
ok t_cmp("$st $sum->{loaded} $sum->{replaced} $sum->{stale} $sum->{beneficiaries}", '0 1 1 2 0',
         'reload: 1 new, 1 replaced, 2 stale (an older one, a duplicate), no new beneficiary');
ok t_cmp(sql(q{SELECT last_updated = '2024-06-01T10:00:00.5Z' FROM claims_resource
    WHERE resource_type = 'Patient' AND resource_id = '-81001'}), 't', 'the Patient was replaced');
ok t_cmp(sql(q{SELECT last_updated = '2024-03-01T10:00:00Z' FROM claims_resource
    WHERE resource_id = 'carrier-2'}), 't', 'the older claim was not');
ok t_cmp(sql(q{SELECT body::jsonb->>'status' FROM claims_resource WHERE resource_id = 'carrier-1'}),
         'cancelled', 'of the same row twice in a load, the newer one');
ok t_cmp(sql(q{SELECT last_updated = '2024-06-01T10:00:00.5Z' FROM beneficiary WHERE mbi = '2EG4TE5MK73'}),
         't', 'the beneficiary\'s last_updated follows its latest row');

# ---- claims written in batches while the next ones are read ----------------
# Lines are written in batches (the first 4 MB part, then what was read by
# then) while the next batch is read; a claim whose Patient comes later
# waits for it.  What is written is what a load that reads every line first (--strict)
# writes.
sub bfd {
    my $v = decode_json(shift);
    my $type = delete $v->{resourceType};
    return qq({"resourceType":"$type",) . substr($json->encode($v), 1);
}
my $T2 = '2024-09-01T10:00:00Z';
my @batched = (
    bfd(eob('carrier-s-5', '-83001', $T0, status => 'claim line')),  # the first of two equals
    bfd(eob('carrier-s-1', '-83001', $T0, status => 'first')),     # written in the first batch,
    bfd(eob('carrier-s-2', '-83001', $T2)),                        # newer than its copy below
    bfd(eob('carrier-s-3', '-81001', $T0)),                        # bene id known to the table only
    (map { bfd(eob("carrier-pad-$_", '-83001', $T0, note => $pad)) } 1 .. 14000),
    bfd(eob('carrier-s-1', '-83001', $T1, status => 'second')),    # replaced by this, batches later
    bfd(eob('carrier-s-2', '-83001', $T1)),                        # older than the first: stale
    eob('carrier-s-5', '-83001', $T0, status => 'other line'),      # read before the claims lines
    patient('-83001', '4EG4TE5MK73', $T0),                         # the claims' Patient, last
);
write_file("$tmp/batched.ndjson", join("\n", @batched) . "\n");
my $n = scalar @batched;
my $state = sub {
    sql(q{SELECT count(*) || ' ' || md5(string_agg(mbi || fhir_version || resource_type || resource_id
          || last_updated || md5(body), ',' ORDER BY resource_type, resource_id))
          || ' ' || (SELECT bene_id || last_updated FROM beneficiary WHERE mbi = '4EG4TE5MK73')
          FROM claims_resource WHERE mbi = '4EG4TE5MK73' OR resource_id = 'carrier-s-3'});
};
my $counts = sub {
    my $s = eval { decode_json(shift) } // {};
    return join(' ', map { $s->{$_} // '-' } qw(lines loaded replaced stale bad beneficiaries));
};
($st, $out, $err) = dpcctl('load', "$tmp/batched.ndjson");
ok t_cmp(-s "$tmp/batched.ndjson" > 12 * 1024 * 1024 ? 1 : 0, 1, 'a file of several batches');
ok t_cmp("$st " . $counts->($out), "0 $n " . ($n - 3) . ' 0 3 0 1',
         'batches: every row loaded but the older or later of two copies, thrice; one new beneficiary')
    or print STDERR $err;
ok t_cmp(sql(q{SELECT body::jsonb->>'status' || ' ' || (last_updated = '2024-06-01T10:00:00.5Z')
    FROM claims_resource WHERE resource_id = 'carrier-s-1'}), 'second true',
         'a row written by an early batch is replaced by its newer copy in a later one');
ok t_cmp(sql(q{SELECT last_updated = '2024-09-01T10:00:00Z' FROM claims_resource
    WHERE resource_id = 'carrier-s-2'}), 't', 'an older copy in a later batch leaves the newer one');
ok t_cmp(sql(q{SELECT mbi FROM claims_resource WHERE resource_id = 'carrier-s-3'}), '2EG4TE5MK73',
         'a claim whose bene id only the beneficiary table knows takes its MBI');
ok t_cmp(sql(q{SELECT count(*) FROM claims_resource WHERE mbi = '4EG4TE5MK73'}), $n - 4,
         'claims before their Patient are keyed by its MBI');
ok t_cmp(sql(q{SELECT body::jsonb->>'status' FROM claims_resource WHERE resource_id = 'carrier-s-5'}),
         'claim line', 'of two copies as new, the first in the file stays, whichever is read first');
my $streamed = $state->();
($st, $out, $err) = dpcctl('load', "$tmp/batched.ndjson");
ok t_cmp("$st " . $counts->($out), "0 $n 0 0 $n 0 0", 'the same file again: every row stale');
ok t_cmp($state->(), $streamed, 'and nothing changed');
sql(q{DELETE FROM claims_resource WHERE mbi = '4EG4TE5MK73' OR resource_id = 'carrier-s-3'});
sql(q{DELETE FROM beneficiary WHERE mbi = '4EG4TE5MK73'});
my ($st2, $out2) = dpcctl('load', '--strict', "$tmp/batched.ndjson");
ok t_cmp("$st2 " . $counts->($out2), "0 $n " . ($n - 3) . ' 0 3 0 1',
         'read every line first (--strict): the same counts');
ok t_cmp($state->(), $streamed, 'and the same rows, bodies and beneficiary');
write_file("$tmp/newer.ndjson", bfd(eob('carrier-s-2', '-83001', '2024-12-01T00:00:00Z',
                                        status => 'newest')) . "\n");
($st, $out) = dpcctl('load', "$tmp/newer.ndjson");
ok t_cmp("$st " . $counts->($out) . ' ' . sql(q{SELECT body::jsonb->>'status' FROM claims_resource
    WHERE resource_id = 'carrier-s-2'}), '0 1 0 1 0 0 0 newest', 'a newer claim line replaces the stored row');
sql(q{DELETE FROM claims_resource WHERE resource_id LIKE 'carrier-pad-%'});

# A Patient on a line that starts as a claim (its resourceType twice, the
# last one counts) is a Patient: the claims it keys are loaded.
write_file("$tmp/surprise.ndjson", join("\n",
    bfd(eob('carrier-u-1', '-85001', $T0)),
    '{"resourceType":"Coverage",' . substr(patient('-85001', '5EG4TE5MK73', $T0), 1),
    bfd(eob('carrier-u-2', '-85009', $T0)),
) . "\n");
($st, $out, $err) = dpcctl('load', "$tmp/surprise.ndjson");
ok t_cmp("$st " . $counts->($out), '3 3 2 0 0 1 1', 'a Patient that starts as a Coverage: loaded, and its claim');
ok t_cmp(sql(q{SELECT string_agg(resource_type || ' ' || resource_id, ', ' ORDER BY resource_id)
    FROM claims_resource WHERE mbi = '5EG4TE5MK73'}), 'Patient -85001, ExplanationOfBenefit carrier-u-1',
         'keyed by its MBI');
ok t_cmp($err, qr{^\Q$tmp\E/surprise\.ndjson:3: ExplanationOfBenefit carrier-u-2: Patient/-85009 is neither}m,
         'a claim read in a batch without its Patient is reported FILE:LINE');

# ---- files side by side -------------------------------------------------------
# A Blue Button bulk export's layout, files named in the order `ls` gives:
# claims first, their Patient last.  They wait for it, and load as --strict
# loads them.
write_file("$tmp/Coverage.ndjson", join("\n",
    res('Coverage', 'part-a--87001', $T0, class => [], beneficiary => { reference => 'Patient/-87001' }),
    res('Coverage', 'part-b--81001', $T0, class => [], beneficiary => { reference => 'Patient/-81001' }),
) . "\n");
write_file("$tmp/ExplanationOfBenefit.ndjson", join("\n",
    eob('carrier-b-1', '-87001', $T0), eob('carrier-b-2', '-87001', $T1)) . "\n");
write_file("$tmp/Patient.ndjson", patient('-87001', '8EG4TE5MK73', $T0) . "\n");
my @bulk = map { "$tmp/$_.ndjson" } qw(Coverage ExplanationOfBenefit Patient);
my $bulk_state = sub {
    sql(q{SELECT count(*) || ' ' || md5(string_agg(mbi || fhir_version || resource_type || resource_id
          || last_updated || md5(body), ',' ORDER BY mbi, resource_type, resource_id))
          FROM claims_resource WHERE mbi = '8EG4TE5MK73' OR resource_id = 'part-b--81001'});
};
($st, $out, $err) = dpcctl('load', @bulk);
ok t_cmp("$st " . $counts->($out), '0 5 5 0 0 0 1', 'Coverage, EOB, Patient files: every line loaded')
    or print STDERR $err;
ok t_cmp(sql(q{SELECT string_agg(resource_id, ' ' ORDER BY resource_id) FROM claims_resource
    WHERE mbi = '8EG4TE5MK73'}), '-87001 carrier-b-1 carrier-b-2 part-a--87001',
         'the claims before their Patient are keyed by its MBI');
ok t_cmp(sql(q{SELECT mbi FROM claims_resource WHERE resource_id = 'part-b--81001'}), '2EG4TE5MK73',
         'and a claim of a stored beneficiary by the table\'s');
my $bulk_streamed = $bulk_state->();
sql(q{DELETE FROM claims_resource WHERE mbi = '8EG4TE5MK73' OR resource_id = 'part-b--81001'});
sql(q{DELETE FROM beneficiary WHERE mbi = '8EG4TE5MK73'});
($st, $out) = dpcctl('load', '--strict', @bulk);
ok t_cmp("$st " . $counts->($out) . ' ' . $bulk_state->(), "0 5 5 0 0 0 1 $bulk_streamed",
         'read every line first (--strict): the same counts and rows');

# Parts of several files are read side by side (a claim meets its Patient
# sooner), so a Patient may be met before one earlier in the files.  When
# two such disagree, the load starts over in file order: the first Patient
# in the files keeps its MBI, the later one is bad, whichever was met first.
my @inv = map { eob("carrier-inv-$_", '-86001', $T0, note => $pad) } 1 .. 4500;
write_file("$tmp/inv1.ndjson", join("\n", @inv, patient('-86001', '6EG4TE5MK73', $T0)) . "\n");
write_file("$tmp/inv2.ndjson", patient('-86001', '7EG4TE5MK73', $T1) . "\n");
($st, $out, $err) = dpcctl('load', "$tmp/inv1.ndjson", "$tmp/inv2.ndjson");
ok t_cmp(-s "$tmp/inv1.ndjson" > 4 * 1024 * 1024 ? 1 : 0, 1, 'the first file has its Patient in a later part');
ok t_cmp("$st " . $counts->($out), '3 4502 4501 0 0 1 1', 'two Patients disagree: the later one in the files is bad');
ok t_cmp($err, qr{^\Q$tmp\E/inv2\.ndjson:1: Patient -86001: its current MBI is 7EG4TE5MK73, but bene id -86001 is MBI 6EG4TE5MK73 \(another Patient of this load\)$}m,
         'reported against the first one in the files');
ok t_cmp(join(' ', $err =~ /^(\S+?):\d+:/mg), "$tmp/inv2.ndjson", 'and nothing else');
ok t_cmp(sql(q{SELECT mbi || ' ' || count(*) FROM claims_resource WHERE resource_id LIKE 'carrier-inv-%'
    GROUP BY mbi}), '6EG4TE5MK73 4500', 'the claims are keyed by the first Patient\'s MBI');
ok t_cmp(sql(q{SELECT count(*) FROM beneficiary WHERE mbi = '7EG4TE5MK73'}), 0, 'the other MBI has no beneficiary');
sql(q{DELETE FROM claims_resource WHERE resource_id LIKE 'carrier-inv-%' OR mbi = '6EG4TE5MK73'});
sql(q{DELETE FROM beneficiary WHERE mbi = '6EG4TE5MK73'});

# While the server works through a batch's COPY, the load asks about the
# next one on a second connection; a role that may have only one asks on its
# own, between the COPYs.
sql(q{DROP ROLE IF EXISTS dpc_load_one});
sql(q{CREATE ROLE dpc_load_one LOGIN CONNECTION LIMIT 1 IN ROLE dpc});
my @one = map { eob("carrier-one-$_", '-86002', $T0, note => $pad) } 1 .. 24000;
write_file("$tmp/one.ndjson", join("\n", patient('-86002', '6EG4TE5MK73', $T0), @one) . "\n");
my ($pg_dir) = $ENV{DPC_TEST_DB} =~ /host=(\S+)/;
my $pg_log = "$pg_dir/postgres.log";
my $log_at = -s $pg_log;
($st, $out, $err) = run($ENV{DPC_TEST_TOP} . '/dpcctl', '--db', "$ENV{DPC_TEST_DB} user=dpc_load_one",
                        'load', "$tmp/one.ndjson");
ok t_cmp(-s "$tmp/one.ndjson" > 16 * 1024 * 1024 ? 1 : 0, 1,
         'a file large enough for the load to try a second connection');
ok t_cmp("$st " . $counts->($out), '0 24001 24001 0 0 0 1', 'one connection only: every line loaded')
    or print STDERR $err;
ok t_cmp($err, '', 'and nothing said');
ok t_cmp(sql(q{SELECT count(*) FROM claims_resource WHERE mbi = '6EG4TE5MK73'}), 24001,
         'all of it (a file of several parts, so of several batches), keyed by the Patient\'s MBI');
sql(q{DELETE FROM beneficiary WHERE mbi = '6EG4TE5MK73'});
sql(q{DROP ROLE dpc_load_one});
ok t_cmp(substr(slurp($pg_log), $log_at) =~ /too many connections for role "dpc_load_one"/ ? 1 : 0, 1,
         'the server refused the second one');

# The second connection is made while the load goes on; a load over before
# it is made (one failing at once, or 17 MB of blank lines) ends it as the
# server expects, which then logs no broken connection.
write_file("$tmp/blank.ndjson", "\n" x (17 * 1024 * 1024));
($st, $out, $err) = dpcctl('load', '--mbi', '567834=9EG4TE5MK73', "$tmp/blank.ndjson");
ok t_cmp("$st $err", qr/^1 .*bene id 567834 is MBI \Q$MBI\E in the database/,
         'a large load that fails before its second connection is made');
($st, $out, $err) = dpcctl('load', "$tmp/blank.ndjson");
ok t_cmp("$st " . $counts->($out), '0 0 0 0 0 0 0', 'a large file of blank lines: nothing loaded, nothing bad');
write_file("$tmp/spaces.json", "[\n" . (' ' x (17 * 1024 * 1024)) . "]\n");
($st, $out, $err) = dpcctl('load', "$tmp/spaces.json");
ok t_cmp("$st " . $counts->($out), '3 1 0 0 0 1 0', 'a large document that is no resource: one bad line');
my $log = substr(slurp($pg_log), $log_at);
ok t_cmp(join(' | ', $log =~ /^.*(?:could not (?:send|receive) data|unexpected EOF|incomplete startup).*$/mg), '',
         'the server logged no broken connection from these loads');

# --mbi: an MBI is one bene id's, there as in the files.
($st, $out, $err) = dpcctl('load', '--mbi', '-88001=2AA0AA0AA00', '--mbi', '-88002=2AA0AA0AA00',
                           "$tmp/inv2.ndjson");
ok t_cmp("$st", 2, 'one MBI for two bene ids in --mbi: a usage error');
ok t_cmp($err, qr{--mbi -88002=2AA0AA0AA00: its MBI was given to another bene id before}, 'saying which');
write_file("$tmp/optmbi.ndjson", join("\n", patient('-88002', '2AA0AA0AA00', $T0),
                                      eob('carrier-opt-1', '-88001', $T0)) . "\n");
for my $how ([], ['--strict']) {
    ($st, $out, $err) = dpcctl('load', @$how, '--mbi', '-88001=2AA0AA0AA00', "$tmp/optmbi.ndjson");
    ok t_cmp("$st " . $counts->($out) . ' ' . ($err =~ /^\S+optmbi\.ndjson:1: Patient -88002: MBI 2AA0AA0AA00 belongs to bene id -88001$/m ? 'said' : 'unsaid'),
             (@$how ? '1 2 0 0 0 1 0 said' : '3 2 1 0 0 1 1 said'),
             "a Patient of another bene id with --mbi's MBI is bad (@$how)");
}
ok t_cmp(sql(q{SELECT c.mbi || ' ' || b.bene_id FROM claims_resource c JOIN beneficiary b USING (mbi)
    WHERE resource_id = 'carrier-opt-1'}), '2AA0AA0AA00 -88001', 'the claim takes --mbi\'s MBI');
sql(q{DELETE FROM beneficiary WHERE mbi = '2AA0AA0AA00'});

# ---- the loaded claims in a real export ------------------------------------
gen_keys($tmp, l1 => 'ec');
$org = DPC::Org->new(name => 'Load', key_path => "$tmp/l1", alg => 'ES384');
my $tok = $org->access_token;
my $gid = make_roster($org, $tok, '1407051949', $MBI);
my $job = kickoff($tok, $gid);
my $res = wait_job($tok, $job, 60);
ok t_cmp($res->code, 200, 'Group/$export of a roster holding the loaded MBI completes');
my $m = json_of($res) // {};
my %exported;
for my $f (@{ $m->{output} // [] }) {
    my $body = req(GET => $f->{url}, Authorization => "Bearer $tok")->content;
    push @{ $exported{$f->{type}} }, split /\n/, $body;
}
for my $type (qw(Patient ExplanationOfBenefit)) {
    my @db = sort(sql_rows("SELECT body FROM claims_resource WHERE mbi = '$MBI' AND fhir_version = 4
                           AND resource_type = '$type'"));
    my @got = sort @{ $exported{$type} // [] };
    ok t_cmp(scalar(@got) > 0 && "@got" eq "@db" ? 1 : 0, 1, "the export's $type lines are the loaded bodies");
}

# ---- dpcctl jobs --------------------------------------------------------------
($st, $out) = dpcctl('jobs', '--org', $org->{id});
my $jobs = decode_json($out)->{jobs};
ok t_cmp(scalar(@$jobs) . " $jobs->[0]{id} $jobs->[0]{status}", "1 $job completed",
         'jobs --org: the export, completed');
ok t_cmp("$jobs->[0]{batches_done}/$jobs->[0]{batches_total} " . join(' ', sort @{ $jobs->[0]{types} }),
         '1/1 Coverage ExplanationOfBenefit Patient', 'with its batches done of total and its types');
($st, $out) = dpcctl('jobs', '--status', 'completed');
ok t_cmp((grep { $_->{id} eq $job } @{ decode_json($out)->{jobs} }) ? 1 : 0, 1, 'jobs --status completed lists it');
($st, $out) = dpcctl('jobs', '--org', $org->{id}, '--status', 'running');
ok t_cmp(scalar @{ decode_json($out)->{jobs} }, 0, 'jobs --status running does not');
($st, $out) = dpcctl('jobs', $job);
my $one = decode_json($out);
my @files = sort(sql_rows("SELECT name FROM export_file WHERE job_id = '$job'"));
ok t_cmp(join(' ', sort map { $_->{name} } @{ $one->{files} }), join(' ', @files), 'jobs JOB_ID: its files');
ok t_cmp(scalar(@files) > 0 ? 1 : 0, 1, 'of which there are some');
ok t_cmp(join(',', map { "$_->{seq}:$_->{status}:$_->{beneficiaries}" } @{ $one->{batches} }),
         '0:done:1', 'and its batch: seq, status, beneficiaries');
($st) = dpcctl('jobs', '00000000-0000-0000-0000-000000000000');
ok t_cmp($st, 1, 'an unknown job: exit 1');
($st) = dpcctl('jobs', '--status', 'sleeping');
ok t_cmp($st, 2, 'an unknown status: usage error');

# ---- dpcctl workers -------------------------------------------------------------
($st, $out) = dpcctl('workers');
my @alive = grep { $_->{alive} } @{ decode_json($out)->{workers} };
ok t_cmp(scalar @alive, 1, 'workers: the httpd-started worker is alive');
ok t_cmp((kill(0, $alive[0]{pid}) || $!{EPERM}) ? 1 : 0, 1, 'its pid is a running process');
ok t_cmp($alive[0]{age} < 30 ? 1 : 0, 1, 'its heartbeat is fresh');
ok t_cmp(length($alive[0]{host}) > 0 ? 1 : 0, 1, 'it names its host');
ok t_cmp(sql("SELECT pid FROM worker WHERE id = $alive[0]{id}"), $alive[0]{pid}, 'as the worker table says');

# ---- dpcctl expire --------------------------------------------------------------
my $root = $ENV{DPC_TEST_EXPORT};
ok t_cmp(-d "$root/$job" ? 1 : 0, 1, 'the completed job has its directory');
($st, $out) = dpcctl('expire', '--export-root', $root);
ok t_cmp("$st " . (grep({ $_->{id} eq $job } @{ decode_json($out)->{removed} }) ? 1 : 0), '0 0',
         'expire leaves a job that has not expired');
# The worker sweeps every few seconds too: should it get there first, try
# again with another export of the same roster.
my $removed;
for my $try (1 .. 3) {
    sql("UPDATE export_job SET expires_at = now() - interval '1 second' WHERE id = '$job'");
    ($st, $out) = dpcctl('expire', '--export-root', $root);
    ($removed) = grep { $_->{id} eq $job } @{ decode_json($out)->{removed} };
    last if $removed;
    $job = kickoff($tok, $gid);
    wait_job($tok, $job, 60);
}
ok t_cmp($removed ? "$removed->{status} " . ($removed->{directory} ? 1 : 0) : 'not listed', 'completed 1',
         'expire removes an expired job and prints it');
ok t_cmp(-e "$root/$job" ? 1 : 0, 0, 'its directory is gone');
ok t_cmp(sql("SELECT files_removed FROM export_job WHERE id = '$job'"), 't', 'and that is recorded');
($st) = dpcctl('expire', '--export-root', "$tmp/no-such-dir");
ok t_cmp($st, 1, 'expire with an export root that is not a directory fails');
