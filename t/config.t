# Startup refuses a wrong configuration with a clear message: each broken
# configuration is started in an httpd of its own, which must exit and say
# why.  And each directive is taken exactly where README's configuration
# reference says (its context column), checked with httpd -t in the main
# server, in a <VirtualHost> and in a <Location>.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use IO::Socket::INET ();
use POSIX qw(WNOHANG);
use DPC::Test qw(wait_for run);

my $dir = tempdir(CLEANUP => 1);
my $mods = $ENV{DPC_TEST_MODULES};

# A port that nothing uses now, as the system picks it: a port that another
# run happens to hold would make httpd refuse for the wrong reason.
sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', ReuseAddr => 1) or die "socket: $!";
    my $p = $s->sockport;
    close $s;
    return $p;
}

my @cases = (
    [ 'mod_dbd missing', "DPCTokenSecretFile $ENV{DPC_TEST_SECRET}\nDPCWorkers 0\n"
      . "<Location /api/v2>\nDPCAPI dpc-v2\n</Location>\n", qr/mod_dbd is required/, 0 ],
    [ 'unknown dialect', "<Location /api/v2>\nDPCAPI fhir\n</Location>\n",
      qr/DPCAPI must be one of/, 1 ],
    [ 'DPCAPI outside a Location', "DPCAPI dpc-v2\n", qr/DPCAPI/, 1 ],
    [ 'bad worker count', "DPCWorkers many\n", qr/DPCWorkers must be a whole number from 0 to 64/, 1 ],
    [ 'bad duration', "DPCFileLifetime 3 weeks\n", qr/DPCFileLifetime/, 1 ],
    [ 'workers without a database', "DPCWorkers 1\nDPCExportRoot $dir\n",
      qr/DPCWorkerDatabase is required/, 1 ],
    [ 'workers without an export root', "DPCWorkerDatabase \"$ENV{DPC_TEST_DB}\"\n",
      qr/DPCExportRoot is required/, 1 ],
    [ 'export root not a directory', "DPCWorkerDatabase \"$ENV{DPC_TEST_DB}\"\n"
      . "DPCExportRoot $dir/nope\n", qr/DPCExportRoot .* is not a directory/, 1 ],
    [ 'API without a token secret', "DPCWorkers 0\n<Location /api/v2>\nDPCAPI dpc-v2\n"
      . "</Location>\n", qr/DPCTokenSecretFile is required/, 1 ],
    [ 'token secret too short', do {
          open(my $fh, '>', "$dir/short") or die; print $fh "0123456789"; close $fh;
          "DPCWorkers 0\nDPCTokenSecretFile $dir/short\n<Location /api/v2>\nDPCAPI dpc-v2\n"
          . "</Location>\n" }, qr/DPCTokenSecretFile .*short.*32/, 1 ],
    [ 'a server-wide directive in a Location', "<Location /x>\nDPCWorkers 2\n</Location>\n",
      qr/DPCWorkers not allowed in <Location> context/, 1 ],
    [ 'a module-wide directive in a VirtualHost',
      "<VirtualHost 127.0.0.1:80>\nDPCWorkers 2\n</VirtualHost>\n",
      qr/DPCWorkers cannot occur within <VirtualHost> section/, 1 ],
);

# README's configuration reference: directive => its context column.
my %context;
open(my $readme, '<', "$ENV{DPC_TEST_TOP}/README") or die "README: $!";
while (<$readme>) {
    $context{$1} = $2 if /^\| (DPC\w+)(?:[^|\\]|\\.)*\| ([^|]+?) \|/;
}
close $readme;
# A valid value of each directive, to try it in each context.
my %value = (
    DPCAPI => 'dpc-v2', DPCPublicURL => 'https://dpc.example.org/api/v2',
    DPCWorkers => 0, DPCWorkerDatabase => "\"$ENV{DPC_TEST_DB}\"", DPCExportRoot => $dir,
    DPCTokenSecretFile => $ENV{DPC_TEST_SECRET}, DPCClientTokenLifetime => '30d',
    DPCKeyMinBits => 4096, DPCRosterCap => 10, DPCAttributionDays => 30,
    DPCResourcesPerFile => 5, DPCExportBatch => 5, DPCFileLifetime => '1h',
    DPCManifestPageSize => 50,
    DPCExportGzip => 'On', DPCAuditRetention => '2190d', DPCSyntheticIdentifiers => 'On',
    DPCPortal => 'On', DPCPortalSignup => 'On', DPCPortalAPI => '/api/v2',
    DPCPortalSendmail => '"/usr/sbin/sendmail -t"', DPCDownloadLimit => 3,
    DPCTokenEndpoint => 'On', DPCEncryptFiles => 'Off',
);
# Where each context column lets a directive be: main server, VirtualHost,
# Location.
my %allowed = ('server config' => [1, 0, 0], 'server, vhost' => [1, 1, 0],
               'Location' => [0, 0, 1], 'server, vhost, Location' => [1, 1, 1]);
my @where = (['the main server', '%s'],
             ['a VirtualHost', "<VirtualHost 127.0.0.1:80>\n%s\n</VirtualHost>"],
             ['a Location', "<Location /api/v2>\n%s\n</Location>"]);

plan tests => 2 * @cases + 1 + 3 * keys %value;

# An httpd configuration file holding $conf (with mod_dbd if $with_dbd) for
# an httpd on port $n.
sub conf_file {
    my ($n, $conf, $with_dbd) = @_;
    my $file = "$dir/httpd-$n.conf";
    open(my $fh, '>', $file) or die "$file: $!";
    print $fh <<"CONF";
ServerRoot "$dir"
ServerName localhost
Listen 127.0.0.1:$n
PidFile "$dir/httpd-$n.pid"
DefaultRuntimeDir "$dir"
ErrorLog "$dir/error-$n.log"
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
CONF
    print $fh "LoadModule dbd_module $mods/mod_dbd.so\nDBDriver pgsql\n"
        . "DBDParams \"$ENV{DPC_TEST_DB}\"\n" if $with_dbd;
    print $fh "LoadModule dpc_module $ENV{DPC_TEST_MODULE}\n$conf";
    close $fh;
    return $file;
}

for my $c (@cases) {
    my ($name, $conf, $expect, $with_dbd) = @$c;
    my $n = free_port();
    my $file = conf_file($n, $conf, $with_dbd);
    # The httpd the suite runs (under the sanitizers, with their runtime
    # preloaded), in the foreground, so that a refusal is the process
    # ending; one that is still running after 10 s started, and is stopped.
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open(STDOUT, '>', "$dir/out-$n.log");
        open(STDERR, '>&', \*STDOUT);
        exec(Apache::Test::vars('httpd'), '-f', $file, '-DFOREGROUND') or exit 127;
    }
    my $ended = wait_for(10, sub { waitpid($pid, WNOHANG) == $pid });
    if (!$ended) {
        kill 'TERM', $pid;
        waitpid($pid, 0);
    }
    my $said = join '', map { -f $_ ? do { local (@ARGV, $/) = ($_); <> } : '' }
        "$dir/out-$n.log", "$dir/error-$n.log";
    ok t_cmp($ended ? 'refused' : 'started', 'refused', "$name: httpd does not start");
    ok t_cmp($said, $expect, "$name: and says why")
        or print STDERR "# $name: httpd said instead:\n", map { "#   $_\n" } split /\n/, $said;
}

# Every directive of the reference is tried in every context: httpd -t reads
# the configuration (where contexts are enforced) and says whether it takes
# it.
ok t_cmp(join(' ', sort keys %context), join(' ', sort keys %value),
         "README's configuration reference lists every directive tried here");
for my $d (sort keys %value) {
    my $ctx = $context{$d} // 'not in README';
    for my $i (0 .. 2) {
        my ($where, $wrap) = @{ $where[$i] };
        my $n = free_port();
        my $file = conf_file($n, sprintf($wrap, "$d $value{$d}") . "\n", 1);
        my ($st, $out) = run(Apache::Test::vars('httpd'), '-t', '-f', $file);
        my $want = $allowed{$ctx} ? ($allowed{$ctx}[$i] ? 'taken' : 'refused') : $ctx;
        ok t_cmp($st == 0 ? 'taken' : 'refused', $want, "$d ($ctx) in $where")
            or print STDERR map { "#   $_\n" } split /\n/, $out;
    }
}
