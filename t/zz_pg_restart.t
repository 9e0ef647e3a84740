# PostgreSQL goes away and comes back in the middle of an export: requests
# get 503 with Retry-After meanwhile, then work again; the export worker
# reconnects by itself, puts back the batch it held, and the job completes
# with every resource exactly once.  Runs last (it restarts the suite's
# database).
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep);
use DPC::Test qw(req oo_code sql sql_rows run wait_for json_of);
use DPC::Export qw(make_roster wait_job tally stored_counts while_held counts_of);
use DPC::JWT qw(gen_keys);
use DPC::Org;

plan tests => 11;

my $dir = tempdir(CLEANUP => 1);
gen_keys($dir, z1 => 'ec');
my $org = DPC::Org->new(name => 'Restart', key_path => "$dir/z1", alg => 'ES384');
my $tok = $org->access_token;
my %auth = (Authorization => "Bearer $tok");
my ($pgdir) = $ENV{DPC_TEST_DB} =~ /host=(\S+)/;
my $pg_ctl = '/usr/lib/postgresql/15/bin/pg_ctl';
# the beneficiaries with the most claims: batches that take long enough for
# PostgreSQL to stop while the worker holds one
my @mbis = sql_rows('SELECT b.mbi FROM beneficiary b ORDER BY (SELECT count(*) FROM claims_resource c'
                    . ' WHERE c.mbi = b.mbi) DESC, b.mbi LIMIT 24');
my $gid = make_roster($org, $tok, '1588667638', @mbis);

ok t_cmp(req(GET => '/api/v2/Token', %auth)->code, 200, 'before: 200');
# Stop PostgreSQL while the worker holds a batch; should the export be over
# first, cancel it and try again.
my ($job, $holder) = while_held($tok, $gid, sub { 1 });
my $held = defined $holder;
my $beat = sql('SELECT max(heartbeat) FROM worker WHERE stopped_at IS NULL');
my ($st) = run($pg_ctl, '-D', "$pgdir/data", '-m', 'fast', '-w', 'stop');
ok t_cmp($held ? $st : 'no batch held', 0, 'PostgreSQL stopped while the worker held a batch');
sleep 1.2;    # past the revocation list's refresh interval
my $res = req(GET => '/api/v2/Token', %auth);
ok t_cmp($res->code . ' ' . oo_code($res), '503 transient', 'database down: 503 transient');
ok t_cmp(defined $res->header('Retry-After') ? 1 : 0, 1, 'with Retry-After');
sleep 1;
run($pg_ctl, '-D', "$pgdir/data", '-l', "$pgdir/postgres.log", '-w', 'start');
# Every pooled connection of every child saw its session end: none of them
# may cost a request (they are reconnected and the statement run again).
Apache::TestRequest::user_agent(reset => 1, keep_alive => 0);
my %codes;
$codes{ req(GET => '/api/v2/Token', %auth)->code }++ for 1 .. 40;
ok t_cmp(join(' ', map { "$_ x$codes{$_}" } sort keys %codes), '200 x40',
         'database back: every request 200 at once, none lost to a dead pooled connection');
ok t_cmp(wait_for(20, sub {
    sql("SELECT count(*) FROM worker WHERE stopped_at IS NULL AND heartbeat > '$beat'") > 0 }) ? 1 : 0,
    1, 'the worker reconnected and heartbeats');
ok t_cmp(req(GET => '/api/v2/metadata')->code, 200, 'and the server never stopped');

# The worker put its batch back itself on reconnecting (it says so), rather
# than leaving it to be reclaimed when stale.
$res = wait_job($tok, $job, 15);
ok t_cmp($res->code, 200, 'the export completes');
open(my $log, '<', Apache::Test::vars('t_logs') . '/error_log') or die "error_log: $!";
# (unless PostgreSQL stopped just as the batch committed, or between the
# batch and the claim of the next: then there was nothing to put back)
my $released = grep { /DPC00012: worker released 1 export batch|DPC01108: .* connection lost at commit|DPC01115: cannot claim an export batch/ } <$log>;
close $log;
my ($lines, $dups) = tally($tok, json_of($res) // {});
my $db = stored_counts(@mbis);
ok t_cmp(counts_of($lines), counts_of($db), 'every resource of every type');
ok t_cmp($dups, 0, 'none twice');
ok t_cmp(($released ? 'released' : 'not released') . ', old row stopped '
         . (sql("SELECT stopped_at IS NOT NULL FROM worker WHERE id = " . ($holder || 0)) // 'no such row'),
         'released, old row stopped t',
         "the worker's row from before the restart is marked stopped");
