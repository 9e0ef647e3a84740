# The export worker: started with httpd, registered in the database,
# respawned within 5 s when killed with SIGKILL.  dpc-worker, the worker on
# its own, has no export settings: the jobs carry them.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use DPC::Test qw(sql wait_for run);

plan tests => 18;

# Each option that set what a job is exported with is refused, naming the
# directive that now does.
for my $c (['--per-file', '10', 'DPCResourcesPerFile'], ['--file-lifetime', '60', 'DPCFileLifetime'],
           ['--gzip', undef, 'DPCExportGzip']) {
    my ($opt, $arg, $directive) = @$c;
    my ($st, $out, $err) = run("$ENV{DPC_TEST_TOP}/dpc-worker", '--db', $ENV{DPC_TEST_DB},
                               '--export-root', '/nonexistent', $opt, defined $arg ? $arg : ());
    ok t_cmp($st, 2, "dpc-worker $opt: refused");
    ok t_cmp($err, qr/\Q$opt\E is gone: each export job carries its own settings.*\Q$directive\E/,
             "dpc-worker $opt: the job carries it, set by $directive");
}

my $live = q{SELECT pid FROM worker WHERE stopped_at IS NULL
             AND heartbeat > now() - interval '20 seconds' ORDER BY started_at DESC LIMIT 1};
my $pid = wait_for(10, sub { sql($live) });
ok t_cmp(defined $pid && $pid =~ /^\d+$/ ? 1 : 0, 1, 'a worker registered itself');
ok t_cmp(kill(0, $pid), 1, 'its process runs');

# It is a child of httpd's parent process.
open(my $st, '<', "/proc/$pid/stat") or die "stat: $!";
my @f = split ' ', <$st>;
close $st;
my $ppid = $f[3];
open(my $pf, '<', Apache::Test::vars('t_logs') . '/httpd.pid') or die "pid: $!";
chomp(my $httpd = <$pf>);
ok t_cmp($ppid, $httpd, 'forked by the httpd parent');

# Housekeeping a new worker does at once: expired JWT ids, old revocations
# and workers whose heartbeat stopped.
sql(q{INSERT INTO used_jti VALUES (gen_random_uuid(), 'old-jti', now() - interval '1 minute')});
sql(q{INSERT INTO revoked_credential (credential_id, revoked_at)
      VALUES (gen_random_uuid(), now() - interval '2 hours')});
sql(q{INSERT INTO worker (host, pid, started_at, heartbeat)
      VALUES ('gone.example', 1, now() - interval '1 hour', now() - interval '10 minutes')});

kill 'KILL', $pid;
my $new = wait_for(5, sub {
    my $p = sql("SELECT pid FROM worker WHERE stopped_at IS NULL AND pid <> $pid "
                . "AND started_at > now() - interval '10 seconds' LIMIT 1");
    return $p && kill(0, $p) ? $p : undef;
});
ok t_cmp(defined $new ? 1 : 0, 1, 'a new worker within 5 s of SIGKILL');
ok t_cmp(kill(0, $pid), 0, 'the old one is gone');
ok t_cmp($new != $pid, 1, 'with a new pid');
ok t_cmp(wait_for(5, sub { sql(q{SELECT count(*) FROM used_jti WHERE jti = 'old-jti'}) == 0 }),
         1, 'expired JWT ids are purged');
ok t_cmp(sql(q{SELECT count(*) FROM revoked_credential WHERE revoked_at < now() - interval '1 hour'}),
         0, 'old revocations are purged');
ok t_cmp(sql(q{SELECT stopped_at IS NOT NULL FROM worker WHERE host = 'gone.example'}), 't',
         'a worker with a stale heartbeat is marked gone');

# A graceful restart ends this generation's worker and starts a new one.
kill 'USR1', $httpd;
my $after = wait_for(15, sub {
    my $p = sql("SELECT pid FROM worker WHERE stopped_at IS NULL AND pid <> $new "
                . "AND started_at > now() - interval '15 seconds' ORDER BY started_at DESC LIMIT 1");
    return $p && kill(0, $p) ? $p : undef;
});
ok t_cmp(defined $after ? 1 : 0, 1, 'graceful restart: a new worker');
ok t_cmp(wait_for(10, sub { !kill(0, $new) }) ? 1 : 0, 1, 'graceful restart: the old one ended');
ok t_cmp(sql("SELECT stopped_at IS NOT NULL FROM worker WHERE pid = $new ORDER BY id DESC LIMIT 1"),
         't', 'and said so in its row');
