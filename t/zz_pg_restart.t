# PostgreSQL goes away and comes back: requests get 503 with Retry-After
# meanwhile, then work again; the export worker reconnects by itself.  Runs
# last (it restarts the suite's database).
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use DPC::Test qw(req oo_code sql run wait_for);
use DPC::JWT qw(gen_keys);
use DPC::Org;

plan tests => 6;

my $dir = tempdir(CLEANUP => 1);
gen_keys($dir, z1 => 'ec');
my $org = DPC::Org->new(name => 'Restart', key_path => "$dir/z1", alg => 'ES384');
my %auth = (Authorization => 'Bearer ' . $org->access_token);
my ($pgdir) = $ENV{DPC_TEST_DB} =~ /host=(\S+)/;
my $pg_ctl = '/usr/lib/postgresql/15/bin/pg_ctl';

ok t_cmp(req(GET => '/api/v2/Token', %auth)->code, 200, 'before: 200');
my $beat = sql('SELECT max(heartbeat) FROM worker WHERE stopped_at IS NULL');
my ($st) = run($pg_ctl, '-D', "$pgdir/data", '-m', 'fast', '-w', 'stop');
sleep 1.2;    # past the revocation list's refresh interval
my $res = req(GET => '/api/v2/Token', %auth);
ok t_cmp($res->code . ' ' . oo_code($res), '503 transient', 'database down: 503 transient');
ok t_cmp(defined $res->header('Retry-After') ? 1 : 0, 1, 'with Retry-After');
run($pg_ctl, '-D', "$pgdir/data", '-l', "$pgdir/postgres.log", '-w', 'start');
ok t_cmp(wait_for(15, sub { req(GET => '/api/v2/Token', %auth)->code == 200 }) ? 1 : 0, 1,
         'database back: 200 again');
ok t_cmp(wait_for(20, sub {
    sql("SELECT count(*) FROM worker WHERE stopped_at IS NULL AND heartbeat > '$beat'") > 0 }) ? 1 : 0,
    1, 'the worker reconnected and heartbeats');
ok t_cmp(req(GET => '/api/v2/metadata')->code, 200, 'and the server never stopped');
