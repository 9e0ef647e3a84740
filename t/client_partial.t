# dpc-client export on partial manifests, against a large export (25
# beneficiaries: 9 batches, some 200 files of 10 resources, pages of 4 in
# t/conf/extra.conf.in): it downloads files while the export runs,
# follows the pages' next links, and ends on the final manifest with every
# file downloaded once.  With --no-partial it waits for the manifest.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use JSON::PP;
use POSIX ();
use DPC::Test qw(req json_of sql sql_rows run note_err write_file wait_for);
use DPC::Export qw(make_roster);
use DPC::JWT qw(gen_keys);
use DPC::Org;

plan tests => 12;

my $dir = tempdir(CLEANUP => 1);
gen_keys($dir, cp1 => 'ec');
my $org = DPC::Org->new(name => 'Client Partial', key_path => "$dir/cp1", alg => 'ES384');
my $json = JSON::PP->new->canonical;
my $hostport = Apache::TestRequest::hostport();
my $base = "http://$hostport/api/v2";
my $sandbox = "$dir/sandbox.json";
write_file($sandbox, encode_json({
    private_key => "$dir/cp1.pem", key_id => $org->{kid},
    client_token => $org->{client_token}, token_url => $org->token_url,
    base_url => $base }));
my $tok = $org->access_token;
my @mbis = sql_rows('SELECT mbi FROM beneficiary ORDER BY mbi LIMIT 25 OFFSET 2');
my $gid = make_roster($org, $tok, '1003000126', @mbis);
my $log = Apache::Test::vars('t_logs') . '/access_log';

# The client in the background: (pid, file of its stdout, of its stderr).
sub client_bg {
    my ($out, @args) = @_;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open(STDOUT, '>', "$out.stdout") or POSIX::_exit(3);
        open(STDERR, '>', "$out.stderr") or POSIX::_exit(3);
        exec("$ENV{DPC_TEST_TOP}/dpc-client", 'export', '--sandbox', $sandbox,
             '--group', $gid, '--dir', $out, '--parallel', '2', @args) or POSIX::_exit(3);
    }
    return $pid;
}
sub slurp_or { my ($f) = @_; open(my $fh, '<', $f) or return ''; local $/; <$fh> // '' }
sub files_in { my ($d) = @_; opendir(my $dh, $d) or return (); grep { /\.ndjson$/ } readdir $dh }

# Hold every batch but the first (the worker skips rows locked FOR UPDATE)
# as soon as the job exists, so the export runs with one batch's files
# listed until the test lets it go.
sub hold_batches {
    open(my $tx, '|-', 'psql', '-X', '-qAt', '-v', 'ON_ERROR_STOP=1', '-o', '/dev/null',
         '-d', $ENV{DPC_TEST_DB}) or die "psql: $!";
    $tx->autoflush(1);
    my $job = wait_for(20, sub { sql("SELECT id FROM export_job WHERE org_id = '$org->{id}'"
                                     . " AND status = 'running'") });
    print $tx "BEGIN; SELECT seq FROM export_batch WHERE job_id = '$job' AND seq >= 1"
            . " AND status = 'pending' FOR UPDATE;\n";
    wait_for(10, sub { sql("SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'"
                           . " AND query LIKE 'BEGIN; SELECT seq FROM export_batch%'") });
    return ($tx, $job);
}

# --- downloads while the export runs -------------------------------------------------
my $out = "$dir/out";
my $before = -s $log // 0;
my $pid = client_bg($out);
my ($tx, $job) = hold_batches();
my $held = sql("SELECT count(*) FROM export_batch WHERE job_id = '$job' AND status = 'pending'");
ok t_cmp($held > 4 ? 1 : 0, 1, "the export is held with batches to go ($held)");
my $early = wait_for(60, sub { my @f = files_in($out); @f ? scalar(@f) : 0 });
my $running = sql("SELECT status FROM export_job WHERE id = '$job'");
ok t_cmp(($early // 0) > 0 ? "$running files" : "$running none", 'running files',
         "files are downloaded while the export runs ($early)");
ok t_cmp(waitpid($pid, POSIX::WNOHANG()), 0, 'and the client waits for the rest');
print $tx "ROLLBACK;\n";
close $tx;
sql("SELECT pg_notify('dpc_jobs', '$job')");
my $done = wait_for(120, sub { waitpid($pid, POSIX::WNOHANG()) == $pid });
my $st = $done ? $? >> 8 : 'still running';
ok t_cmp($st, 0, 'the client finishes') or note_err(slurp_or("$out.stderr"));
my $sum = eval { $json->decode(slurp_or("$out.stdout")) } // {};
my $total = sql("SELECT count(*) FROM export_file WHERE job_id = '$job' AND type <> 'OperationOutcome'");
ok t_cmp(($sum->{files} // '-') . ' ' . (($sum->{verified} // 0) ? 'verified' : '-'), "$total verified",
         "every file of the final manifest, verified ($total)");
ok t_cmp(scalar(files_in($out)), $total, 'all of them in DIR');
ok t_cmp($sum->{resources}, sql("SELECT sum(count) FROM export_file WHERE job_id = '$job'"
                                . " AND type <> 'OperationOutcome'"), 'every resource');
my $new_log = '';
if (open(my $lh, '<', $log)) { seek $lh, $before, 0; local $/; $new_log = <$lh> // '' }
my %gets;
$gets{$_}++ for $new_log =~ m{"GET /api/v2/data/\Q$job\E/([^ "?]+) HTTP}g;
ok t_cmp(scalar(keys %gets) . ' ' . scalar(grep { $_ > 1 } values %gets), "$total 0",
         'each file downloaded once, none twice');
my @pages = $new_log =~ m{"GET /api/v2/Jobs/\Q$job\E\?page=(\d+) HTTP}g;
my %page_seen = map { $_ => 1 } @pages;
ok t_cmp(scalar(keys %page_seen) > 2 ? 1 : 0, 1, 'following the next links through '
         . (scalar(keys %page_seen) + 1) . ' pages');
ok t_cmp($sum->{first_byte_ms} // -1, qr/^\d+$/, 'the summary says when the first byte came');

# --- --no-partial: nothing before the manifest ------------------------------------------
my $out2 = "$dir/out2";
($st, my $o, my $err) = run("$ENV{DPC_TEST_TOP}/dpc-client", 'export', '--sandbox', $sandbox,
                            '--group', $gid, '--dir', $out2, '--no-partial', '--type', 'Patient');
ok t_cmp($st, 0, 'export --no-partial') or note_err($err);
my $job2 = (eval { $json->decode($o) } // {})->{job} // '';
ok t_cmp(sql("SELECT allow_partial::int FROM export_job WHERE id = '" . ($job2 =~ s{.*/}{}r || '0') . "'"), 0,
         'asks for no partial manifests');
