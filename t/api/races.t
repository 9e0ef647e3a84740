# Races between a roster write and the deletion of what it depends on: the
# Group itself, its Practitioner, a Patient it names.  Each pair of requests
# is sent at once, round after round, each from its own process on a
# connection it opened beforehand, with the start of one shifted by a few
# milliseconds either way so that the rounds sweep the window where they
# overlap.  The export kick-off, which records a job of the Group, races
# the Group's DELETE too.  Whichever wins, nothing answers 5xx; the loser hears what
# happened (404 or 409, or the 422 it would get had the deletion come
# first); and the database agrees with every answer: a write that was
# answered 2xx is attested, one that was refused left nothing behind.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest ();
use File::Temp qw(tempdir);
use HTTP::Request ();
use JSON::PP;
use LWP::UserAgent ();
use POSIX ();
use Time::HiRes qw(sleep time);
use DPC::Test qw(req json_of sql sql_rows provenance);
use DPC::JWT qw(gen_keys);
use DPC::Org;

my $ROUNDS = 20;
my @PAIRS = ('$add vs Group DELETE', 'PUT vs Group DELETE', '$remove vs Group DELETE',
             'POST Group vs Practitioner DELETE', '$add vs Patient DELETE',
             'PUT vs Patient DELETE', '$export vs Group DELETE');
plan tests => 3 * @PAIRS + 4;

my $started = time;
my $dir = tempdir(CLEANUP => 1);
gen_keys($dir, k => 'ec');
my $org = DPC::Org->new(name => 'Races', key_path => "$dir/k", alg => 'ES384');
my $json = JSON::PP->new->canonical;
my %h = (Authorization => 'Bearer ' . $org->access_token,
         'Content-Type' => 'application/fhir+json');

# A valid NPI (Luhn over the 80840 prefix) and MBI for each number < 1000.
sub npi {
    my $base = sprintf '2%08d', $_[0];
    my @d = reverse split //, "80840$base";
    my $sum = 0;
    for my $i (0 .. $#d) { my $v = $d[$i] * ($i % 2 ? 1 : 2); $sum += $v > 9 ? $v - 9 : $v }
    return $base . ((10 - $sum % 10) % 10);
}
sub mbi { sprintf '3EG%dTE5MK%02d', int($_[0] / 100), $_[0] % 100 }

sub prac { { resourceType => 'Practitioner', name => [{ family => 'Race', given => ['Ann'] }],
             identifier => [{ system => 'http://hl7.org/fhir/sid/us-npi', value => $_[0] }] } }
sub pat { { resourceType => 'Patient', name => [{ family => 'Race', given => ['Bo'] }],
            birthDate => '1950-01-01',
            identifier => [{ system => 'http://hl7.org/fhir/sid/us-mbi', value => $_[0] }] } }
sub group {
    my ($npi, @refs) = @_;
    return { resourceType => 'Group', type => 'person', actual => JSON::PP::true,
             characteristic => [{ code => { coding => [{ code => 'attributed-to' }] },
                 valueCodeableConcept => { coding => [{ system => 'http://hl7.org/fhir/sid/us-npi',
                                                        code => $npi }] } }],
             member => [map { { entity => { reference => "Patient/$_" } } } @refs] };
}

# Setup requests, one at a time; dies unless the answer is $code.
sub must {
    my ($code, $method, $path, $body, @hdr) = @_;
    my $res = req($method => $path, %h, @hdr,
                  (defined $body ? (content => $json->encode($body)) : ()));
    die "$method $path: " . $res->code . ' ' . $res->content . "\n" unless $res->code == $code;
    return json_of($res);
}
sub new_prac { must(201, POST => '/api/v2/Practitioner', prac(npi($_[0])))->{id} }
sub new_patients {
    my $b = must(200, POST => '/api/v2/Patient/$submit', { resourceType => 'Parameters',
        parameter => [{ name => 'resource', resource => { resourceType => 'Bundle',
        type => 'collection', entry => [map { { resource => pat(mbi($_)) } } @_] } }] });
    return map { $_->{resource}{id} } @{ $b->{entry} };
}
sub new_group {
    my ($n, $prac, @refs) = @_;
    return must(201, POST => '/api/v2/Group', group(npi($n), @refs),
                'X-Provenance' => provenance($org->{id}, $prac))->{id};
}

# A request the children send: METHOD, path, body (or undef), more headers.
sub rq {
    my ($method, $path, $body, @hdr) = @_;
    return HTTP::Request->new($method => Apache::TestRequest::resolve_url($path), [%h, @hdr],
                              defined $body ? $json->encode($body) : undef);
}

# Send two requests at once, each from a process of its own on a connection
# it opened first; the second starts $shift seconds after the first (before
# it when negative).  Returns {code, diag, body} for each.
sub race {
    my ($shift, @reqs) = @_;
    pipe(my $go_r, my $go_w) or die "pipe: $!";
    pipe(my $ready_r, my $ready_w) or die "pipe: $!";
    my @kids;
    for my $i (0 .. $#reqs) {
        pipe(my $out_r, my $out_w) or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            close $_ for $go_w, $ready_r, $out_r;
            my $ua = LWP::UserAgent->new(keep_alive => 1, timeout => 60);
            $ua->get(Apache::TestRequest::resolve_url('/api/v2/metadata'));
            syswrite $ready_w, 'r';
            sysread $go_r, my $x, 1;             # end of file: go
            my $wait = $i ? $shift : -$shift;
            sleep $wait if $wait > 0;
            my $res = $ua->request($reqs[$i]);
            print $out_w $res->code, "\n", $res->content;
            close $out_w;
            POSIX::_exit(0);
        }
        close $out_w;
        push @kids, [$pid, $out_r];
    }
    close $_ for $go_r, $ready_w;
    my $ready = 0;
    while ($ready < @reqs) { sysread($ready_r, my $x, 8) or last; $ready += length $x }
    close $go_w;
    my @out;
    for my $k (@kids) {
        my $fh = $k->[1];
        my ($code, $body) = split /\n/, do { local $/; <$fh> } // '', 2;
        waitpid($k->[0], 0);
        my $v = eval { $json->decode($body // '') } // {};
        push @out, { code => $code // 'none', body => $body // '',
                     diag => ($v->{issue} ? $v->{issue}[0]{diagnostics} // '' : '') };
    }
    return @out;
}

# The shift of round $i: -10 ms to +10 ms and back, in 2 ms steps.
sub shift_of { my $k = $_[0] % 11; (($_[0] / 11) % 2 ? 5 - $k : $k - 5) * 0.002 }

# What a write's answer says happened: 'won' (it was written), 'lost'
# (nothing was written, and the answer says why), or 'bad: ...'.
# %lost maps the codes a loser may get to the diagnostics they must match.
sub outcome {
    my ($a, %lost) = @_;
    return 'won' if $a->{code} =~ /^2/;
    return 'won' if $a->{code} == 409 && $a->{diag} =~ /was written, but another request deleted/;
    return 'lost' if $lost{ $a->{code} } && $a->{diag} =~ $lost{ $a->{code} };
    return "bad: $a->{code} $a->{diag}" . ($a->{diag} ? '' : " $a->{body}");
}

# Report one pair: no 5xx, only expected answers, and the database's view
# (@wrong: rounds where it disagrees with the answers).
sub report {
    my ($pair, $answers, $wrong) = @_;
    my $n5 = grep { $_->{code} =~ /^5|none/ } @$answers;
    my (%w, %d);
    for my $i (0 .. $#$answers) {
        my $a = $answers->[$i];
        my $when = $a->{diag} =~ /while this/ ? ' during' : $a->{diag} =~ /was written, but/
                 ? ' after' : '';
        ($i % 2 ? $d{ $a->{code} } : $w{ $a->{code} . $when })++;
    }
    print STDERR "# $pair: write ", join(', ', map { "$_ x$w{$_}" } sort keys %w),
                 "; delete ", join(', ', map { "$_ x$d{$_}" } sort keys %d), "\n";
    ok t_cmp($n5, 0, "$pair: no 5xx in $ROUNDS rounds");
    my @bad = grep { $_->{outcome} =~ /^bad/ } @$answers;
    print STDERR "# unexpected: $_->{outcome}\n" for @bad;
    ok t_cmp(scalar @bad, 0, "$pair: every answer is 2xx, or says what happened");
    print STDERR "# $_\n" for @$wrong;
    ok t_cmp(scalar @$wrong, 0, "$pair: the database agrees with every answer");
}

# The database's view of many rounds in one query: $expr (SQL over a
# round's id, r) for each; @$wrong gets the rounds where it is not what
# their answers imply.  A round: [number, id, expected view, the answer].
sub verify {
    my ($expr, $rounds, $wrong) = @_;
    my $ids = join ',', map { "'$_->[1]'" } @$rounds;
    my %got = map { split /\|/, $_, 2 }
        sql_rows("SELECT r, $expr FROM unnest(ARRAY[$ids]::uuid[]) r");
    for (@$rounds) {
        my ($i, $id, $want, $said) = @$_;
        push @$wrong, "round $i: $said, but the database holds " . ($got{$id} // 'nothing')
                      . ", not $want" if ($got{$id} // '') ne $want;
    }
}

my $GONE = qr/no such Group|Group\/\S+ was deleted by another request/;
my $GONE_PRAC = qr/deleted by another request while .*: Practitioner\/|no Practitioner of your/;
my $GONE_PAT = qr/deleted by another request while .*: Patient\/|not patients of your organization/;
my ($y) = new_patients(900);                     # a member that stays

# --- the Group deleted while a write runs ------------------------------------------------
for my $w (['$add', 'add', sub { rq(POST => "/api/v2/Group/$_[0]/\$add", group($_[1], $_[2]),
                                    'X-Provenance' => $_[3]) }],
           ['PUT', 'replace', sub { rq(PUT => "/api/v2/Group/$_[0]", group($_[1], $_[2], $y),
                                       'X-Provenance' => $_[3]) }],
           ['$remove', undef, sub { rq(POST => "/api/v2/Group/$_[0]/\$remove",
                                       group($_[1], $y)) }]) {
    my ($name, $action, $make) = @$w;
    my $k = { '$add' => 1, PUT => 2, '$remove' => 3 }->{$name};
    my ($z) = new_patients(900 + $k);
    my (@answers, @wrong, @rounds);
    for my $i (1 .. $ROUNDS) {
        my $n = 200 + 30 * $k + $i;              # a practitioner a round: one roster each
        my $prac = new_prac($n);
        my $gid = new_group($n, $prac, $y);
        my ($wr, $del) = race(shift_of($i),
                              $make->($gid, npi($n), $z, provenance($org->{id}, $prac)),
                              rq(DELETE => "/api/v2/Group/$gid"));
        $wr->{outcome} = outcome($wr, 404 => $GONE, 409 => $GONE);
        $del->{outcome} = $del->{code} == 200 ? 'won' : "bad: DELETE answered $del->{code}";
        push @answers, $wr, $del;
        my $attested = $action && $wr->{outcome} eq 'won' ? 1 : 0;
        push @rounds, [$i, $gid, "left 0, attested $attested", "$name answered $wr->{code}"];
    }
    # nothing of the Group is left; an accepted write was attested ($remove never is)
    verify("format('left %s, attested %s', (SELECT count(*) FROM roster WHERE id = r)"
           . ' + (SELECT count(*) FROM attribution WHERE roster_id = r),'
           . ' (SELECT count(*) FROM attestation WHERE roster_id = r'
           . " AND action = '" . ($action // 'remove') . "'))", \@rounds, \@wrong);
    report("$name vs Group DELETE", \@answers, \@wrong);
}

# --- the Practitioner deleted while its roster is created -------------------------------
# (DPC v1: a roster's practitioner is registered first; a v2 Group registers
# the NPIs it names, so there is nothing of it to delete first)
{
    my (@answers, @wrong, @rounds);
    for my $i (1 .. $ROUNDS) {
        my $n = 100 + $i;
        my $prac = new_prac($n);
        my ($wr, $del) = race(shift_of($i), rq(POST => '/api/v1/Group', group(npi($n), $y),
                                               'X-Provenance' => provenance($org->{id}, $prac)),
                              rq(DELETE => "/api/v2/Practitioner/$prac"));
        $wr->{outcome} = outcome($wr, 409 => $GONE_PRAC, 422 => $GONE_PRAC);
        $del->{outcome} = $del->{code} == 200 ? 'won' : "bad: DELETE answered $del->{code}";
        push @answers, $wr, $del;
        push @rounds, [$i, $prac, sprintf('left 0, attested %d', $wr->{outcome} eq 'won' ? 1 : 0),
                       "POST answered $wr->{code}"];
    }
    # neither the practitioner nor a roster of it is left; an accepted create was attested
    verify("format('left %s, attested %s', (SELECT count(*) FROM practitioner WHERE id = r)"
           . ' + (SELECT count(*) FROM roster WHERE practitioner_id = r),'
           . ' (SELECT count(*) FROM attestation WHERE practitioner_id = r))', \@rounds, \@wrong);
    report('POST Group vs Practitioner DELETE', \@answers, \@wrong);
}

# --- a Patient deleted while a write names it --------------------------------------------
# The write names the patient being deleted, $x, and one that stays, $v: the
# write is all or nothing, so $v is a member exactly when it was accepted.
for my $w (['$add', 'add', sub { rq(POST => "/api/v2/Group/$_[0]/\$add", group($_[1], @_[2, 3]),
                                    'X-Provenance' => $_[4]) }],
           ['PUT', 'replace', sub { rq(PUT => "/api/v2/Group/$_[0]", group($_[1], @_[2, 3]),
                                       'X-Provenance' => $_[4]) }]) {
    my ($name, $action, $make) = @$w;
    my $n = $name eq 'PUT' ? 5 : 4;
    my $prac = new_prac($n);
    my $gid = new_group($n, $prac, $y);
    my (@answers, @wrong);
    my $members = $y;                             # what the roster holds
    my $attests = 1;                              # its create
    for my $i (1 .. $ROUNDS) {
        my ($x, $v) = new_patients(map { $n * 100 + 2 * $i + $_ } 0, 1);
        my ($wr, $del) = race(shift_of($i), $make->($gid, npi($n), $x, $v,
                                                    provenance($org->{id}, $prac)),
                              rq(DELETE => "/api/v2/Patient/$x"));
        $wr->{outcome} = outcome($wr, 409 => $GONE_PAT, 422 => $GONE_PAT);
        $del->{outcome} = $del->{code} == 200 ? 'won' : "bad: DELETE answered $del->{code}";
        push @answers, $wr, $del;
        if ($wr->{outcome} eq 'won') {
            $attests++;
            $members = $action eq 'add' ? join(' ', sort split(' ', $members), $v) : $v;
        }
        my ($left, $attested, $now) = split /\|/, sql(
            "SELECT (SELECT count(*) FROM patient WHERE id = '$x')"
            . " + (SELECT count(*) FROM attribution WHERE patient_id = '$x'),"
            . " (SELECT count(*) FROM attestation WHERE roster_id = '$gid'),"
            . " (SELECT string_agg(patient_id::text, ' ' ORDER BY patient_id) FROM attribution"
            . " WHERE roster_id = '$gid')");
        $now //= '';
        push @wrong, "round $i: Patient/$x or a membership of it is still there" if $left;
        push @wrong, "round $i: $name answered $wr->{code}; the roster holds [$now], not [$members]"
            if $now ne $members;
        push @wrong, "round $i: $name answered $wr->{code}; $attested attestations, not $attests"
            if $attested != $attests;
        $members = $now;                          # one wrong round is reported once
        $attests = $attested;
    }
    report("$name vs Patient DELETE", \@answers, \@wrong);
}
# --- the Group deleted while its export is kicked off ---------------------------------------
{
    my (@answers, @wrong, @rounds);
    for my $i (1 .. $ROUNDS) {
        my $n = 400 + $i;
        my $prac = new_prac($n);
        my $gid = new_group($n, $prac, $y);
        my ($wr, $del) = race(shift_of($i), rq(GET => "/api/v2/Group/$gid/\$export", undef,
                                               Prefer => 'respond-async'),
                              rq(DELETE => "/api/v2/Group/$gid"));
        $wr->{outcome} = outcome($wr, 404 => $GONE);
        $del->{outcome} = $del->{code} == 200 ? 'won' : "bad: DELETE answered $del->{code}";
        push @answers, $wr, $del;
        push @rounds, [$i, $gid, sprintf('jobs %d', $wr->{code} == 202 ? 1 : 0),
                       "\$export answered $wr->{code}"];
    }
    # a job was recorded exactly when the kick-off was accepted
    verify(q{format('jobs %s', (SELECT count(*) FROM export_job}
           . q{ WHERE request_url LIKE '%' || r || '%'))},
           \@rounds, \@wrong);
    report('$export vs Group DELETE', \@answers, \@wrong);
}
# A request that meets another transaction, step by step: psql runs
# $first (BEGIN and a statement) and holds it; the request is sent; once the
# request waits for a lock (a backend whose query matches $waiting), psql
# runs $second (ending with COMMIT).  Returns ('waited' or 'never waited',
# the request's status code, its diagnostics).
sub held_race {
    my ($first, $request, $waiting, $second) = @_;
    open(my $tx, '|-', 'psql', '-X', '-qAt', '-v', 'ON_ERROR_STOP=1', '-d', $ENV{DPC_TEST_DB})
        or die "psql: $!";
    $tx->autoflush(1);
    print $tx "$first\n";
    (my $head = $first) =~ s/^BEGIN;\s*//;
    $head = substr($head, 0, 15);          # "UPDATE attribut": no quote to escape
    my $holds = DPC::Test::wait_for(20, sub { sql("SELECT count(*) FROM pg_stat_activity"
        . " WHERE state = 'idle in transaction' AND query LIKE '$head%'") });
    pipe(my $rd, my $wr) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $rd;
        my ($a) = race(0, $request);
        print $wr "$a->{code}\n$a->{diag}";
        close $wr;
        POSIX::_exit(0);
    }
    close $wr;
    my $waits = DPC::Test::wait_for(20, sub { sql("SELECT count(*) FROM pg_stat_activity"
        . " WHERE wait_event_type = 'Lock' AND query LIKE '%$waiting%'") });
    print $tx "$second\n";
    close $tx;
    my ($code, $diag) = split /\n/, do { local $/; <$rd> } // '', 2;
    waitpid($pid, 0);
    return ($holds && $waits ? 'waited' : 'never waited', $code // 'none', $diag // '');
}

# --- a deadlock with another writer ------------------------------------------------------
# Another transaction holds a membership row that an $add re-attests, and
# once the $add waits for it, changes the member's MBI, which must wait for
# the $add's hold on that patient: a deadlock.  PostgreSQL breaks it by
# failing the $add (it waited first, so its deadlock check runs first),
# which answers 409 and leaves nothing behind.
{
    my $prac = new_prac(7);
    my ($x) = new_patients(950);
    my $gid = new_group(7, $prac, $x);
    my $before = sql("SELECT count(*) FROM attestation WHERE roster_id = '$gid'");
    my @got = held_race("BEGIN; UPDATE attribution SET removed_at = now()"
                        . " WHERE roster_id = '$gid' AND patient_id = '$x';",
                        rq(POST => "/api/v2/Group/$gid/\$add", group(npi(7), $x),
                           'X-Provenance' => provenance($org->{id}, $prac)),
                        'dpc_roster_write',
                        "UPDATE patient SET mbi = '" . mbi(951) . "' WHERE id = '$x'; COMMIT;");
    ok t_cmp("@got", qr/^waited 409 .*at the same time: nothing was written; try again/,
             'an $add that loses a deadlock: 409, try again');
    ok t_cmp(sql("SELECT count(*) - $before FROM attestation WHERE roster_id = '$gid'") . ' '
             . sql("SELECT removed_at IS NOT NULL FROM attribution WHERE patient_id = '$x'"),
             '0 t', 'and nothing of it was written; the other transaction was');
}

# --- an MBI registered by another transaction while an $add registers it --------------------
# The other transaction has inserted the patient but not committed when the
# $add finds the MBI unknown; the $add's insert waits for it, and once it
# commits, takes that row: the member is on the roster, not silently left out.
{
    my $prac = new_prac(8);
    my $gid = new_group(8, $prac, $y);
    my $m = mbi(960);
    my $v2 = { resourceType => 'Group', type => 'person', actual => JSON::PP::true,
        member => [{ entity => { identifier => { system => 'http://hl7.org/fhir/sid/us-mbi',
                                                 value => $m } },
            extension => [{ url => 'http://hl7.org/fhir/us/davinci-atr/StructureDefinition/'
                                   . 'ext-attributedProvider',
                valueReference => { identifier => { system => 'http://hl7.org/fhir/sid/us-npi',
                                                     value => npi(8) } } }] }] };
    my ($waited, $code) = held_race("BEGIN; INSERT INTO patient (org_id, mbi, resource)"
                                    . " VALUES ('$org->{id}', '$m', '{}');",
                                    rq(POST => "/api/v2/Group/$gid/\$add", $v2,
                                       'X-Provenance' => provenance($org->{id}, $prac)),
                                    'dpc_roster_write', 'COMMIT;');
    ok t_cmp("$waited $code " . sql(
             "SELECT count(*) FROM attribution t JOIN patient p ON p.id = t.patient_id"
             . " WHERE t.roster_id = '$gid' AND p.mbi = '$m' AND t.removed_at IS NULL"),
             'waited 200 1', 'an MBI registered meanwhile by another request is on the roster');
}

# --- a statement PostgreSQL rolls back to break a deadlock runs again --------------------------
# A Patient PUT that changes the MBI updates the patient and ends its
# memberships; another transaction holds a membership and then wants the
# patient.  PostgreSQL fails the PUT (it waited first); the PUT was a
# transaction of its own, so the server runs it again, and it succeeds once
# the other commits.
{
    my $prac = new_prac(9);
    my ($x) = new_patients(970);
    new_group(9, $prac, $x);
    my $log = Apache::Test::vars('t_logs') . '/error_log';
    my $retries = sub { open(my $fh, '<', $log) or return 0; scalar grep { /DPC00157/ } <$fh> };
    my $before = $retries->();
    my ($waited, $code) = held_race("BEGIN; UPDATE attribution SET period_end = period_end"
                                    . " WHERE patient_id = '$x';",
                                    rq(PUT => "/api/v2/Patient/$x", pat(mbi(971))),
                                    'UPDATE patient p SET mbi',
                                    "UPDATE patient SET updated_at = now() WHERE id = '$x'; COMMIT;");
    ok t_cmp(join(' ', $waited, $code, sql("SELECT mbi FROM patient WHERE id = '$x'"),
                  DPC::Test::wait_for(5, sub { $retries->() > $before }) ? 'ran again' : 'once'),
             "waited 200 " . mbi(971) . ' ran again',
             'a PUT that loses a deadlock runs again and succeeds');
}
printf STDERR "# %d rounds in %.1f s\n", $ROUNDS * @PAIRS, time - $started;
