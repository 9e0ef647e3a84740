# The admin tool: migrations (idempotent, all-or-nothing) and organizations.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use File::Copy qw(copy);
use JSON::PP;
use DPC::Test qw(sql dpcctl);

plan tests => 14;

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
