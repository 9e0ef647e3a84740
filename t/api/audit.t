# The audit trail: each audited action leaves exactly one row with the right
# fields (who, from where, which organization, job, file, what), whichever
# way it happens; the trail is append-only for the application's role; only
# the retention removes rows.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use JSON::PP ();
use DPC::Test qw(req json_of sql sql_rows wait_for provenance run);
use DPC::JWT qw(gen_keys pop_signature read_file);
use DPC::Org;
use DPC::Export qw(make_roster kickoff wait_job);

plan tests => 54;

my $json = JSON::PP->new->canonical;
my $dir = tempdir(CLEANUP => 1);
my $gen = gen_keys($dir, au1 => 'ec', au2 => 'ec');
my $org = DPC::Org->new(name => 'Audit Clinic', key_path => $gen->{au1}, alg => 'ES384');
my $oid = $org->{id};

# The audit rows of this organization after row $since, as hashes.
my $mark = 0;
sub rows_since {
    my ($since, $action) = @_;
    return map { $json->decode($_) } sql_rows("SELECT row_to_json(a) FROM audit_event a
        WHERE org_id = '$oid' AND id > $since" . ($action ? " AND action = '$action'" : '')
        . ' ORDER BY id');
}
sub last_id { sql('SELECT coalesce(max(id), 0) FROM audit_event') }

# --- token issued: one row, the credential, the address, the scope -----------------------
# (rows written after the response, by httpd's log_transaction hook, may
# land a moment after the client has its answer)
sub rows_soon {
    my ($since, $action, $n) = @_;
    my @r;
    wait_for(5, sub { @r = rows_since($since, $action); @r >= $n });
    return @r;
}

$mark = last_id();
my $tok = $org->access_token;
my @r = rows_soon($mark, undef, 1);
ok t_cmp(scalar @r, 1, 'an access token issued leaves one audit row');
ok t_cmp($r[0]{action}, 'token.issued', 'token.issued');
ok t_cmp($r[0]{actor}, "client_token:$org->{client_token_id}", 'naming the client token used');
ok t_cmp($r[0]{address}, '127.0.0.1', 'and the address it came from');
ok t_cmp($r[0]{detail}{scope}, 'system/*.*', 'and the scope granted');
ok t_cmp($r[0]{detail}{key}, $org->{kid}, 'and the key that signed the assertion');

# a refused token request leaves none
$mark = last_id();
my $bad = $org->token_request(client_assertion => 'not.a.jwt', scope => 'system/*.*');
ok t_cmp($bad->code, 400, 'a bad assertion is refused');
ok t_cmp(scalar(rows_since($mark)), 0, 'and leaves no audit row');

my %auth = (Authorization => "Bearer $tok", 'Content-Type' => 'application/json');
my $actor = "client_token:$org->{client_token_id}";

# --- credentials: made and deleted through the API, and by dpcctl -------------------------
$mark = last_id();
my $res = req(POST => '/api/v2/Token?label=audited', %auth);
ok t_cmp($res->code, 201, 'a client token is made');
my $ct = json_of($res)->{id};
@r = rows_since($mark);
ok t_cmp(scalar @r, 1, 'one audit row');
ok t_cmp("$r[0]{action} $r[0]{detail}{kind} $r[0]{detail}{id} $r[0]{actor}",
         "credential.created client_token $ct $actor", 'credential.created, by the caller');
$mark = last_id();
ok t_cmp(req(DELETE => "/api/v2/Token/$ct", %auth)->code, 200, 'and deleted');
@r = rows_since($mark);
ok t_cmp(scalar(@r) . " $r[0]{action} $r[0]{detail}{id} $r[0]{address}",
         "1 credential.deleted $ct 127.0.0.1", 'credential.deleted, from the address');

$mark = last_id();
my $pem = read_file("$gen->{au2}.pub.pem");
$res = req(POST => '/api/v2/Key?label=audited', %auth,
           content => $json->encode({ key => $pem, signature => pop_signature("$gen->{au2}.pem") }));
ok t_cmp($res->code, 201, 'a key is registered');
my $kid = json_of($res)->{id};
@r = rows_since($mark);
ok t_cmp(scalar(@r) . " $r[0]{action} $r[0]{detail}{kind} $r[0]{detail}{id}",
         "1 credential.created public_key $kid", 'credential.created for the key');
$mark = last_id();
my $dup = req(POST => '/api/v2/Key?label=again', %auth,
              content => $json->encode({ key => $pem, signature => pop_signature("$gen->{au2}.pem") }));
ok t_cmp($dup->code, 409, 'the same key again is refused');
ok t_cmp(scalar(rows_since($mark)), 0, 'and leaves no audit row');

$mark = last_id();
my ($st) = run($ENV{DPC_TEST_TOP} . '/dpcctl', '--db', $ENV{DPC_TEST_DB}, 'key', 'delete', $kid);
ok t_cmp($st, 0, 'dpcctl deletes the key');
@r = rows_since($mark);
ok t_cmp(scalar(@r) . " $r[0]{action} $r[0]{detail}{id}", "1 credential.deleted $kid",
         'which is audited too');
ok t_cmp($r[0]{actor}, qr/^db:/, 'naming the database session that did it');

# --- rosters: created with members, members removed and added, deleted ---------------------
my @mbis = sql_rows('SELECT mbi FROM beneficiary ORDER BY mbi LIMIT 4 OFFSET 26');
$mark = last_id();
my $gid = make_roster($org, $tok, '1497758544', @mbis[0 .. 2]);
my %act = map { $_->{action} => $_ } rows_since($mark);
ok t_cmp(join(',', sort keys %act), 'roster.created,roster.members_added',
         'a new Group: roster.created and roster.members_added (and a practitioner is not audited)');
ok t_cmp($act{'roster.created'}{detail}{roster}, $gid, 'naming the roster');
ok t_cmp(join(',', @{ $act{'roster.members_added'}{detail}{mbis} }), join(',', sort @mbis[0 .. 2]),
         'and the MBIs added');
ok t_cmp($act{'roster.members_added'}{actor}, $actor, 'by the caller');

my $prac = sql("SELECT practitioner_id FROM attribution WHERE roster_id = '$gid' LIMIT 1");
sub members {
    return { resourceType => 'Group', type => 'person', actual => JSON::PP::true,
        member => [map { { entity => { identifier => { system => 'http://hl7.org/fhir/sid/us-mbi', value => $_ } },
            extension => [{ url => 'http://hl7.org/fhir/us/davinci-atr/StructureDefinition/ext-attributedProvider',
                            valueReference => { identifier => { system => 'http://hl7.org/fhir/sid/us-npi',
                                                                value => '1497758544' } } }] } } @_] };
}
$mark = last_id();
$res = req(POST => "/api/v2/Group/$gid/\$remove", %auth, 'Content-Type' => 'application/fhir+json',
           content => $json->encode(members($mbis[0])));
ok t_cmp($res->code, 200, '$remove');
@r = rows_since($mark);
ok t_cmp(scalar(@r) . " $r[0]{action} @{ $r[0]{detail}{mbis} }", "1 roster.members_removed $mbis[0]",
         'one row: roster.members_removed with the MBI');

$mark = last_id();
$res = req(POST => "/api/v2/Group/$gid/\$add", %auth, 'Content-Type' => 'application/fhir+json',
           'X-Provenance' => provenance($oid, $prac), content => $json->encode(members($mbis[3])));
ok t_cmp($res->code, 200, '$add');
@r = rows_since($mark);
ok t_cmp(scalar(@r) . " $r[0]{action} @{ $r[0]{detail}{mbis} }", "1 roster.members_added $mbis[3]",
         'one row: roster.members_added with the MBI');

# --- an export: kicked off, completed; a download; a cancel --------------------------------
$mark = last_id();
my $job = kickoff($tok, $gid);
ok t_cmp($job, qr/^[0-9a-f-]{36}$/, 'an export is kicked off');
$res = wait_job($tok, $job, 60);
ok t_cmp($res->code, 200, 'and completes');
my $m = json_of($res);
%act = map { $_->{action} => $_ } rows_since($mark);
ok t_cmp(join(',', sort keys %act), 'export.completed,export.started', 'started and completed: one row each');
ok t_cmp("$act{'export.started'}{job_id} $act{'export.started'}{actor}", "$job $actor",
         'the start names the job and the caller');
ok t_cmp($act{'export.started'}{detail}{beneficiaries}, 3, 'and how many beneficiaries');
ok t_cmp($act{'export.completed'}{actor}, qr{^db:\w+/dpc-worker$}, 'the completion is the worker\'s');
my $files = @{ $m->{output} };
my $resources = 0;
$resources += $_->{count} for @{ $m->{output} };
ok t_cmp("$act{'export.completed'}{detail}{files} $act{'export.completed'}{detail}{resources}",
         "$files $resources", 'the completion says how many files and resources, as the manifest');

$mark = last_id();
my $f = $m->{output}[0];
my ($name) = $f->{url} =~ m{/([^/]+)$};
$res = req(GET => $f->{url}, Authorization => "Bearer $tok");
ok t_cmp($res->code, 200, 'a file is downloaded');
my $size = length $res->content;
$res = req(GET => $f->{url}, Authorization => "Bearer $tok", Range => 'bytes=0-9');
ok t_cmp($res->code, 206, 'and a range of it');
ok t_cmp(req(HEAD => $f->{url}, Authorization => "Bearer $tok")->code, 200, 'and a HEAD');
@r = rows_soon($mark, 'file.downloaded', 2);
ok t_cmp(scalar @r, 2, 'two downloads audited (the HEAD sent no data)');
ok t_cmp("$r[0]{job_id} $r[0]{detail}{file} $r[0]{detail}{bytes} $r[0]{detail}{complete}",
         "$job $name $size 1",
         'the whole file: job, file, bytes sent, complete');
ok t_cmp("$r[1]{detail}{bytes} $r[1]{detail}{status} $r[1]{detail}{complete}", '10 206 0',
         'the range: 10 bytes, partial');

$mark = last_id();
ok t_cmp(req(DELETE => "/api/v2/Jobs/$job", Authorization => "Bearer $tok")->code, 202,
         'the completed job is cancelled');
@r = rows_since($mark, 'export.cancelled');
ok t_cmp(scalar(@r) . " $r[0]{job_id}", "1 $job", 'export.cancelled, once');

$mark = last_id();
ok t_cmp(req(DELETE => "/api/v2/Group/$gid", %auth)->code, 200, 'the Group is deleted');
ok t_cmp(join(',', map { $_->{action} } rows_since($mark)), 'roster.deleted',
         'one row: roster.deleted (its memberships go with it)');

# --- dpcctl audit: by organization, job, action and time; bad options refused ------------
my @ctl = ($ENV{DPC_TEST_TOP} . '/dpcctl', '--db', $ENV{DPC_TEST_DB}, 'audit');
my ($cst, $cout) = run(@ctl, '--job', $job);
my @lines = map { $json->decode($_) } split /\n/, $cout;
ok t_cmp($cst . ' ' . join(',', map { $_->{action} } @lines),
         '0 export.started,export.completed,file.downloaded,file.downloaded,export.cancelled',
         "dpcctl audit --job: the job's rows, oldest first, one JSON object a line");
($cst, $cout) = run(@ctl, '--org', $oid, '--action', 'token.issued', '--since', '2020-01-01T00:00:00Z',
                    '--limit', '1');
@lines = map { $json->decode($_) } split /\n/, $cout;
ok t_cmp(scalar(@lines) . " $lines[0]{action} $lines[0]{org} $lines[0]{actor}",
         "1 token.issued $oid $actor", '--org, --action, --since and --limit');
($cst, $cout) = run(@ctl, '--org', $oid, '--until', '2020-01-01T00:00:00Z');
ok t_cmp("$cst [$cout]", '0 []', 'nothing before --until');
my @bad = map { [run(@ctl, @$_)] } ['--org', 'nope'], ['--since', 'yesterday'], ['--limit', '0'],
    ['--colour', 'red'], ['--job'];
ok t_cmp(join(',', map { $_->[0] } @bad), '2,2,2,2,2', 'bad options: usage errors (exit 2)');
ok t_cmp($bad[0][2] . $bad[1][2], qr/--org nope is not an id.*--since yesterday: /s,
         'saying what is wrong');

# --- append-only ------------------------------------------------------------------------------
my $psql = ['psql', '-X', '-qAt', '-d', $ENV{DPC_TEST_DB}, '-c'];
my $n = sql('SELECT count(*) FROM audit_event');
my @refused = grep { (run(@$psql, $_))[0] != 0 }
    ("UPDATE audit_event SET actor = 'someone else'", 'DELETE FROM audit_event',
     'TRUNCATE audit_event');
ok t_cmp(scalar(@refused) . ' ' . sql('SELECT count(*) FROM audit_event'), "3 $n",
         'UPDATE, DELETE and TRUNCATE are refused by the application role, and nothing changed');
ok t_cmp(sql("SELECT dpc_audit_expire(interval '100 years')"), 0,
         'the retention removes only what is older than it keeps');

# DPCAuditRetention 30d: the workers' sweep (every 10 s) removes rows older
# than that, and only those
my ($old, $young) = map { sql("INSERT INTO audit_event (at, action, org_id) VALUES
    (now() - interval '$_ days', 'test.aged', '$oid') RETURNING id") } (31, 29);
ok t_cmp(wait_for(25, sub { !sql("SELECT count(*) FROM audit_event WHERE id = $old") }), 1,
         'a row older than DPCAuditRetention is removed by the workers');
ok t_cmp(sql("SELECT count(*) FROM audit_event WHERE id = $young"), 1, 'a younger one stays');
