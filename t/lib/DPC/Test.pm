package DPC::Test;
# Helpers shared by the Apache::Test suite: JSON requests, the test
# database (through psql), the admin tool, and polling.
use strict;
use warnings FATAL => 'all';
use Exporter 'import';
use JSON::PP ();
use Time::HiRes qw(sleep time);
use Apache::TestRequest ();
use HTTP::Request ();
use IPC::Open3 ();
use Symbol ();

our @EXPORT_OK = qw(req json_of sql sql_rows run dpcctl wait_for oo_code
                    provenance note_err write_file slurp);

my $json = JSON::PP->new->canonical;

# req(METHOD, PATH, header => value..., [content => body]) -> HTTP::Response
sub req {
    my ($method, $path, %h) = @_;
    my $body = delete $h{content};
    my $r = HTTP::Request->new($method => Apache::TestRequest::resolve_url($path));
    $r->header($_ => $h{$_}) for keys %h;
    $r->content($body) if defined $body;
    return Apache::TestRequest::user_agent(keep_alive => 1)->request($r);
}

# The decoded JSON body, or undef when it is not JSON.
sub json_of {
    my ($res) = @_;
    my $v = eval { $json->decode($res->content) };
    return $v;
}

# The first issue's code of an OperationOutcome body ('' if not one).
sub oo_code {
    my ($res) = @_;
    my $v = json_of($res) or return '';
    return '' unless ($v->{resourceType} // '') eq 'OperationOutcome';
    return $v->{issue}[0]{code} // '';
}

sub _psql { ('psql', '-X', '-qAt', '-v', 'ON_ERROR_STOP=1', '-d', $ENV{DPC_TEST_DB}) }

# One value from a query.
sub sql {
    my ($q) = @_;
    my @rows = sql_rows($q);
    return $rows[0];
}

# Rows as "a|b|c" strings.
sub sql_rows {
    my ($q) = @_;
    open(my $fh, '-|', _psql(), '-c', $q) or die "psql: $!";
    my @rows = map { chomp; $_ } <$fh>;
    close $fh or die "psql failed on: $q\n";
    return @rows;
}

# Run a command; returns (exit status, stdout, stderr).  A command that
# dies on a signal (a crash) fails the test file there and then.
sub run {
    my (@cmd) = @_;
    my $pid = IPC::Open3::open3(my $in, my $out, my $err = Symbol::gensym(), @cmd);
    close $in;
    my $o = do { local $/; <$out> } // '';
    my $e = do { local $/; <$err> } // '';
    waitpid($pid, 0);
    my $st = $?;
    _keep_sanitizer_report($pid, \@cmd, $e);
    die "@cmd: died on signal " . ($st & 127) . "\n$e" if $st & 127;
    return ($st >> 8, $o, $e);
}

# Under the sanitizers (DPC_TEST_SANITIZE=1 build/test), an
# UndefinedBehaviorSanitizer report comes on the program's stderr, which
# the tests read: keep a copy where build/test looks for reports.
sub _keep_sanitizer_report {
    my ($pid, $cmd, $e) = @_;
    my $dir = $ENV{DPC_TEST_SANITIZER_REPORTS} or return;
    return unless $e =~ /runtime error:|Sanitizer/;
    open(my $fh, '>', "$dir/stderr.$pid") or die "$dir/stderr.$pid: $!";
    print $fh "@$cmd\n$e";
    close $fh;
}

# Run the admin tool against the test database.
sub dpcctl {
    my (@args) = @_;
    return run($ENV{DPC_TEST_TOP} . '/dpcctl', '--db', $ENV{DPC_TEST_DB}, @args);
}

# An X-Provenance attestation (as the DPC guides show it) by organization
# $org_id on behalf of practitioner $prac_id, as the header's JSON text.
sub provenance {
    my ($org_id, $prac_id) = @_;
    return $json->encode({ resourceType => 'Provenance', recorded => '2026-01-01T00:00:00Z',
        reason => [{ coding => [{ system => 'http://hl7.org/fhir/v3/ActReason', code => 'TREAT' }] }],
        agent => [{ role => [{ coding => [{ system => 'http://hl7.org/fhir/v3/RoleClass', code => 'AGNT' }] }],
                    who => { reference => "Organization/$org_id" },
                    onBehalfOf => { reference => "Practitioner/$prac_id" } }] });
}

# Show a command's stderr when a test about it fails (returns 0).
sub note_err {
    my ($text) = @_;
    print STDERR map { "# $_\n" } split /\n/, $text // '';
    return 0;
}

sub write_file {
    my ($path, $bytes) = @_;
    open(my $fh, '>:raw', $path) or die "$path: $!";
    print $fh $bytes;
    close $fh or die "$path: $!";
}

sub slurp {
    my ($path) = @_;
    open(my $fh, '<:raw', $path) or die "$path: $!";
    local $/;
    return <$fh>;
}

# Poll $cond every 50 ms for up to $secs; returns its last value.
sub wait_for {
    my ($secs, $cond) = @_;
    my $until = time + $secs;
    my $v;
    while (!($v = $cond->()) && time < $until) { sleep 0.05 }
    return $v;
}

1;
