# The admin tool: migrations (idempotent, all-or-nothing) and organizations.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use File::Copy qw(copy);
use JSON::PP;
use DPC::Test qw(sql dpcctl);

plan tests => 25;

my ($st, $out, $err) = dpcctl('migrate');
ok t_cmp($st, 0, 'migrate again succeeds');
my $m = decode_json($out);
ok t_cmp($m->{applied}, 0, 'and applies nothing: already current');
($st, $out) = dpcctl('schema');
my $s = decode_json($out);
ok t_cmp($s->{schema_version}, $s->{latest}, 'schema is at the latest version');

# A migration that fails half-way leaves the schema as it was.
my $dir = tempdir(CLEANUP => 1);
copy($_, $dir) for glob("$ENV{DPC_TEST_TOP}/sql/[0-9]*.sql");
mkdir "$dir/functions" or die;
copy($_, "$dir/functions") for glob("$ENV{DPC_TEST_TOP}/sql/functions/*.sql");
open(my $fh, '>', "$dir/999_broken.sql") or die;
print $fh "CREATE TABLE dpc_half_done (x int);\nALTER TABLE no_such_table ADD COLUMN y int;\n";
close $fh;
($st, $out, $err) = dpcctl('migrate', '--sql-dir', $dir);
ok t_cmp($st, 1, 'a failing migration exits 1');
ok t_cmp($err, qr/999_broken\.sql/, 'and names the file');
ok t_cmp(sql("SELECT to_regclass('dpc_half_done') IS NULL"), 't', 'nothing of it stays');
ok t_cmp(sql('SELECT max(version) FROM dpc_schema_migration'), $s->{latest},
         'the recorded version is unchanged');

# Organizations
($st, $out) = dpcctl('org', 'create', '--name', 'Test Clinic', '--npi', '1234567893');
ok t_cmp($st, 0, 'org create');
my $org = decode_json($out);
ok t_cmp($org->{id}, qr/^[0-9a-f-]{36}$/, 'prints the new id');
ok t_cmp(sql("SELECT name FROM organization WHERE id = '$org->{id}'"), 'Test Clinic',
         'stored');
($st) = dpcctl('org', 'create', '--name', 'Other', '--npi', '12345');
ok t_cmp($st, 1, 'a malformed NPI is refused');
($st) = dpcctl('org', 'create');
ok t_cmp($st, 2, 'missing --name is a usage error');
($st, $out) = dpcctl('org', 'delete', $org->{id});
ok t_cmp($st, 0, 'org delete');
ok t_cmp(sql("SELECT count(*) FROM organization WHERE id = '$org->{id}'"), 0, 'gone');

# Synthetic claims: the same seed gives the same bytes, another seed others.
my $tmp = tempdir(CLEANUP => 1);
($st) = dpcctl('synth', '--patients', 5, '--seed', 42, '--out', "$tmp/a");
ok t_cmp($st, 0, 'synth --out');
dpcctl('synth', '--patients', 5, '--seed', 42, '--out', "$tmp/b");
dpcctl('synth', '--patients', 5, '--seed', 43, '--out', "$tmp/c");
ok t_cmp(system('cmp', '-s', "$tmp/a", "$tmp/b") == 0 ? 1 : 0, 1, 'same seed, same bytes');
ok t_cmp(system('cmp', '-s', "$tmp/a", "$tmp/c") == 0 ? 1 : 0, 0, 'another seed, other data');
ok t_cmp(-s "$tmp/a" > 100_000 ? 1 : 0, 1, 'realistic volume for 5 beneficiaries');

# What build/test loaded (30 beneficiaries, seed 7) has the claims store's shape.
ok t_cmp(sql('SELECT count(*) FROM beneficiary'), 30, '30 beneficiaries loaded');
ok t_cmp(sql(q{SELECT count(DISTINCT fhir_version) FROM claims_resource}), 2, 'STU3 and R4');
ok t_cmp(sql(q{SELECT count(*) FROM beneficiary b WHERE NOT EXISTS (SELECT 1 FROM
    claims_resource c WHERE c.mbi = b.mbi AND c.resource_type = 'Patient')}), 0,
    'every beneficiary has a Patient');
my $types = sql(q{SELECT count(DISTINCT substring(resource_id from '^[a-z]+'))
    FROM claims_resource WHERE resource_type = 'ExplanationOfBenefit' AND fhir_version = 4});
ok t_cmp($types, 8, 'all eight claim types');
ok t_cmp(sql(q{SELECT bool_and(body::jsonb->>'resourceType' = resource_type
    AND body::jsonb->'meta'->>'lastUpdated' IS NOT NULL) FROM claims_resource}), 't',
    'bodies are JSON of their type with meta.lastUpdated');
ok t_cmp(sql(q{SELECT count(*) FILTER (WHERE resource_type = 'ExplanationOfBenefit') || ' '
    || count(*) FILTER (WHERE claim_type IS DISTINCT FROM (SELECT lower(c->>'code')
           FROM jsonb_array_elements(body::jsonb->'type'->'coding') c
           WHERE c->>'system' = 'https://bluebutton.cms.gov/resources/codesystem/eob-type')
        OR service_start IS DISTINCT FROM (body::jsonb->'billablePeriod'->>'start')::date
        OR service_end IS DISTINCT FROM (body::jsonb->'billablePeriod'->>'end')::date
        OR coverage_status IS DISTINCT FROM CASE WHEN resource_type = 'Coverage'
                                             THEN body::jsonb->>'status' END)
    FROM claims_resource WHERE fhir_version IN (3, 4)}), qr/^[1-9]\d* 0$/,
    'synthetic claims are stored with the type, billable period and Coverage status their bodies say');
# Loading the same seed again replaces, it does not duplicate.
my $before = sql('SELECT count(*) FROM claims_resource');
dpcctl('synth', '--patients', 3, '--seed', 7);
ok t_cmp(sql('SELECT count(*) FROM claims_resource'), $before, 're-running a seed replaces');
