# The schema: numbered migrations, then the stored functions, one file each
# (sql/functions/NAME.sql), applied after the migrations when their text
# changed.  A database that went through them has exactly the functions of
# sql/functions, one signature each; an upgraded one keeps its jobs, given
# the settings they were exported with before.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Digest::SHA qw(sha256_hex);
use File::Basename qw(basename);
use File::Copy qw(copy);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use JSON::PP qw(decode_json);
use DPC::Test qw(sql run dpcctl slurp write_file);

plan tests => 31;

my $sql_dir = "$ENV{DPC_TEST_TOP}/sql";
my @files = sort map { basename($_) } glob("$sql_dir/functions/*.sql");
my $names = join ' ', map { s/\.sql$//r } @files;

# The functions of a database (not an extension's), each with its arguments.
my $procs_sql = q{SELECT string_agg(p.proname || '(' || pg_get_function_identity_arguments(p.oid)
                                    || ')', ' ' ORDER BY p.proname)
                    FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
                     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid
                                     AND d.deptype = 'e')};
# Just their names, in order.
sub names_of { join ' ', map { s/\(.*//r } split / (?=\w+\()/, $_[0] // '' }

# --- the test database, migrated from nothing by build/test ------------------------
my ($st, $out, $err) = dpcctl('migrate');
my $m = $st ? {} : decode_json($out);
ok t_cmp("$st $m->{applied} " . scalar @{ $m->{functions_applied} // [1] }, '0 0 0',
         'migrating a current database applies nothing, no function file either');
my $procs = sql($procs_sql);
ok t_cmp(names_of($procs), $names,
         'a fresh database has exactly the functions of sql/functions, one signature each');
ok t_cmp($procs, qr/dpc_export_start\(p_org uuid, p_roster uuid, p_population text, p_dialect text,/,
         'dpc_export_start takes the dialect and the settings');
ok t_cmp(join(' ', sql_rows_of('dpc', 'SELECT name || \'=\' || sha256 FROM dpc_schema_function ORDER BY name')),
         join(' ', map { "$_=" . sha256_hex(slurp("$sql_dir/functions/$_")) } @files),
         'each function file is recorded with the SHA-256 of its text');

# --- a database migrated from nothing ------------------------------------------------
my $db = 'dpc_migrate_t';
(my $conninfo = $ENV{DPC_TEST_DB}) =~ s/dbname=\S+/dbname=$db/;
sub sql_rows_of {
    my ($which, $q) = @_;
    my $ci = $which eq 'dpc' ? $ENV{DPC_TEST_DB} : $conninfo;
    open(my $fh, '-|', 'psql', '-X', '-qAt', '-v', 'ON_ERROR_STOP=1', '-d', $ci, '-c', $q)
        or die "psql: $!";
    my @rows = map { chomp; $_ } <$fh>;
    close $fh or die "psql failed on: $q\n";
    return @rows;
}
sub sql_t { (sql_rows_of('t', $_[0]))[0] }
sub migrate_t {
    my ($st, $out, $err) = run("$ENV{DPC_TEST_TOP}/dpcctl", '--db', $conninfo, 'migrate', @_);
    print STDERR "# $err" if $st;
    return $st ? {} : decode_json($out);
}
sql("DROP DATABASE IF EXISTS $db");
sql("CREATE DATABASE $db");
$m = migrate_t();
ok t_cmp($m->{applied} // '', scalar(() = glob("$sql_dir/[0-9]*.sql")), 'a fresh database: every migration');
ok t_cmp(join(' ', @{ $m->{functions_applied} // [] }), join(' ', @files),
         'and every function file');
ok t_cmp(sql_t($procs_sql) // '', $procs, 'the same functions as the test database');
$m = migrate_t();
ok t_cmp(($m->{applied} // '') . ' ' . scalar @{ $m->{functions_applied} // [1] }, '0 0',
         're-running applies nothing');

# --- a function file changed ---------------------------------------------------------
my $new = tempdir(CLEANUP => 1);
make_path("$new/functions");
copy($_, $new) for glob("$sql_dir/[0-9]*.sql");
copy($_, "$new/functions") for glob("$sql_dir/functions/*.sql");
my $text = slurp("$new/functions/dpc_roster_lock.sql");
ok t_cmp($text =~ s/(\n    v_locked uuid\[\];)/$1 -- changed/ ? 1 : 0, 1, 'a function file changed');
write_file("$new/functions/dpc_roster_lock.sql", $text);
$m = migrate_t('--sql-dir', $new);
ok t_cmp(($m->{applied} // '') . ' ' . join(',', @{ $m->{functions_applied} // [] }),
         '0 dpc_roster_lock.sql', 'is applied again, alone');
ok t_cmp(sql_t(q{SELECT prosrc LIKE '%-- changed%' FROM pg_proc WHERE proname = 'dpc_roster_lock'}),
         't', 'the database has its new text');
ok t_cmp(sql_t(q{SELECT sha256 FROM dpc_schema_function WHERE name = 'dpc_roster_lock.sql'}),
         sha256_hex($text), 'and records it');
$m = migrate_t('--sql-dir', $new);
ok t_cmp(scalar @{ $m->{functions_applied} // [1] }, 0, 'once');
$m = migrate_t();
ok t_cmp(join(',', @{ $m->{functions_applied} // [] }), 'dpc_roster_lock.sql',
         'the compiled-in text differs again: applied again');
ok t_cmp(sql_t(q{SELECT prosrc LIKE '%-- changed%' FROM pg_proc WHERE proname = 'dpc_roster_lock'}),
         'f', 'back to what the build holds');

# --- a broken function file --------------------------------------------------------
write_file("$new/functions/dpc_roster_lock.sql",
           "CREATE OR REPLACE FUNCTION dpc_roster_lock() RETURNS int LANGUAGE sql AS 'SELECT 1';\n"
           . "SELECT no_such_function();\n");
my $before = sql_t($procs_sql);
($st, $out, $err) = run("$ENV{DPC_TEST_TOP}/dpcctl", '--db', $conninfo, 'migrate',
                        '--sql-dir', $new);
ok t_cmp($st, 1, 'a failing function file exits 1');
ok t_cmp($err, qr/function file dpc_roster_lock\.sql failed/, 'and names the file');
ok t_cmp(sql_t($procs_sql), $before, 'nothing of it stays');
ok t_cmp(sql_t(q{SELECT sha256 FROM dpc_schema_function WHERE name = 'dpc_roster_lock.sql'}),
         sha256_hex(slurp("$sql_dir/functions/dpc_roster_lock.sql")),
         'the record is unchanged');

ok t_cmp(names_of(sql_t($procs_sql)), $names, 'the functions are still those of sql/functions');

# --- a database of the last release, upgraded ---------------------------------------
sql("DROP DATABASE $db");
sql("CREATE DATABASE $db");
# The migrations up to 009, before functions had files of their own.
my $old = tempdir(CLEANUP => 1);
make_path("$old/functions");
copy($_, $old) for grep { basename($_) lt '010' } glob("$sql_dir/[0-9]*.sql");
$m = migrate_t('--sql-dir', $old);
ok t_cmp($m->{schema_version} // '', 9, 'the last release: schema 9');
ok t_cmp(sql_t($procs_sql) // '', qr/dpc_export_start\(p_org uuid, p_roster uuid, p_version smallint,/,
         'with its dpc_export_start');
my $org = sql_t(q{INSERT INTO organization (name) VALUES ('Upgraded') RETURNING id});
sql_t(qq{INSERT INTO export_job (org_id, fhir_version, request_url, types)
         VALUES ('$org', 3, 'http://x/api/v1/Group/1/\$export', '{Patient}'),
                ('$org', 4, 'http://x/api/v2/Group/1/\$export', '{Patient}') RETURNING id});

$m = migrate_t();
my $after9 = () = grep { /\/(\d{3})_[^\/]+\.sql$/ && $1 > 9 } glob("$ENV{DPC_TEST_TOP}/sql/*.sql");
ok t_cmp($m->{applied} // '', $after9, "upgrading applies the $after9 migrations after 009 (010 among them)");
ok t_cmp(join(' ', @{ $m->{functions_applied} // [] }), join(' ', @files),
         'and every function file');
ok t_cmp(sql_t($procs_sql) // '', $procs,
         'the functions are then exactly those of a fresh database: no stale overload');
ok t_cmp(join(' ', sql_rows_of('t', q{SELECT dialect || ',' || resources_per_file || ',' || gzip
    || ',' || file_lifetime FROM export_job ORDER BY fhir_version})),
         'dpc-v1,100000,false,24:00:00 dpc-v2,100000,false,24:00:00',
         "existing jobs get the settings workers used by default, and their FHIR version's dialect");
ok t_cmp(sql_t(q{SELECT count(*) FROM information_schema.columns WHERE table_name = 'export_job'
    AND column_name IN ('dialect', 'resources_per_file', 'gzip', 'file_lifetime')
    AND is_nullable = 'NO' AND column_default IS NULL}), 4,
         'the new columns are required, with no default of their own (the kick-off says)');
$m = migrate_t();
ok t_cmp(($m->{applied} // '') . ' ' . scalar @{ $m->{functions_applied} // [1] }, '0 0',
         'then re-running applies nothing');

# --- claims stored before the filter columns (018) are filled from their bodies -----
sql("DROP DATABASE $db");
sql("CREATE DATABASE $db");
my $pre18 = tempdir(CLEANUP => 1);
make_path("$pre18/functions");
copy($_, $pre18) for grep { basename($_) lt '018' } glob("$sql_dir/[0-9]*.sql");
$m = migrate_t('--sql-dir', $pre18);
ok t_cmp(sql_t(q{SELECT count(*) FROM information_schema.columns
    WHERE table_name = 'claims_resource' AND column_name = 'claim_type'}), 0,
         'a database before 018 has no claim_type');
my $bfd = Apache::Test::vars('t_dir') . '/data/bfd';
my $json = JSON::PP->new->canonical->utf8;
my @rows = ("('1S00A00AA00', 4, 'Patient', '-1', now(), '{}')");
for my $f (glob("$bfd/v2/eobRead*.json"), "$bfd/v2/coverageRead.json", "$bfd/v1/eobReadPde.json") {
    my $r = decode_json(slurp($f));
    my $v = $f =~ m{/v1/} ? 3 : 4;
    push @rows, "('1S00A00AA00', $v, '$r->{resourceType}', '$r->{id}', now(), \$b\$"
        . $json->encode($r) . "\$b\$)";
}
# a claim whose type coding and period are not what the columns take
push @rows, q~('1S00A00AA00', 4, 'ExplanationOfBenefit', 'odd-1', now(), '{"type":{"coding":[~
    . q~{"system":"https://bluebutton.cms.gov/resources/codesystem/eob-type","code":"XYZ"}]},~
    . q~"billablePeriod":{"start":"2015-02-29","end":"2015-03"}}')~;
open(my $psql, '|-', 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $conninfo) or die "psql: $!";
print $psql "INSERT INTO beneficiary VALUES ('1S00A00AA00', '-1', now());
    INSERT INTO claims_resource (mbi, fhir_version, resource_type, resource_id, last_updated, body)
    VALUES " . join(', ', @rows) . ";\n";
close $psql or die 'psql failed on the old claims';
$m = migrate_t();
ok t_cmp($m->{applied} // '', scalar(() = grep { basename($_) ge '018' } glob("$sql_dir/[0-9]*.sql")),
         'upgrading applies 018 and what follows');
ok t_cmp(join(' ', sql_rows_of('t', q{SELECT fhir_version || ':' || resource_id || ':'
    || coalesce(claim_type, '-') || ':' || coalesce(service_start::text, '-') || ':'
    || coalesce(service_end::text, '-') || ':' || coalesce(coverage_status, '-')
    FROM claims_resource ORDER BY 1})),
    join(' ', qw(3:pde-89:pde:2015-05-12:2015-05-12:- 4:-1:-:-:-:-
    4:carrier-9991831999:carrier:1999-10-27:1999-10-27:- 4:dme-2188888888:dme:2014-02-03:2014-02-03:-
    4:hha-2925555555:hha:2015-06-23:2015-06-23:- 4:hospice-9992223422:hospice:2014-01-01:2014-01-30:-
    4:inpatient-333333222222:inpatient:2016-01-15:2016-01-27:- 4:odd-1:-:-:-:-
    4:outpatient-1234567890:outpatient:2011-01-24:2011-01-24:- 4:part-a-567834:-:-:-:cancelled
    4:pde-89:pde:2015-05-12:2015-05-12:- 4:snf-777777777:snf:2013-12-01:2013-12-18:-)),
         'the stored claims get their type and billable period, the Coverage its status, '
         . 'by the rules dpcctl load follows (an unknown code and impossible dates stay NULL)');
sql("DROP DATABASE $db");
