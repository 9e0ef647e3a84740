package DPC::Export;
# Helpers of the export robustness tests: a roster to export, kick-off,
# waiting for the outcome, and counting what the files hold.
use strict;
use warnings FATAL => 'all';
use Exporter 'import';
use JSON::PP ();
use DPC::Test qw(req json_of sql sql_rows wait_for provenance);

our @EXPORT_OK = qw(make_roster kickoff wait_job tally stored_counts while_held counts_of);

my $json = JSON::PP->new->canonical;

sub _post {
    my ($path, $body, %h) = @_;
    return req(POST => $path, %h, 'Content-Type' => 'application/fhir+json',
               content => $json->encode($body));
}

# A practitioner of $org (a DPC::Org) with NPI $npi and a roster of @mbis;
# returns the Group's id.
sub make_roster {
    my ($org, $tok, $npi, @mbis) = @_;
    my %auth = (Authorization => "Bearer $tok");
    my $pr = json_of(_post('/api/v2/Practitioner', { resourceType => 'Practitioner',
        identifier => [{ system => 'http://hl7.org/fhir/sid/us-npi', value => $npi }],
        name => [{ family => 'Doe', given => ['Jo'] }] }, %auth)) or die 'Practitioner';
    my $prov = provenance($org->{id}, $pr->{id});
    my $g = json_of(_post('/api/v2/Group', { resourceType => 'Group', type => 'person',
        actual => JSON::PP::true,
        member => [map { { entity => { identifier => { system => 'http://hl7.org/fhir/sid/us-mbi', value => $_ } },
            extension => [{ url => 'http://hl7.org/fhir/us/davinci-atr/StructureDefinition/ext-attributedProvider',
                            valueReference => { identifier => { system => 'http://hl7.org/fhir/sid/us-npi',
                                                                value => $npi } } }] } } @mbis] },
        %auth, 'X-Provenance' => $prov)) or die 'Group';
    return $g->{id};
}

# Kick off an export of Group $gid; returns the job's id (or undef).
sub kickoff {
    my ($tok, $gid) = @_;
    my $res = req(GET => "/api/v2/Group/$gid/\$export", Authorization => "Bearer $tok",
                  Prefer => 'respond-async');
    my ($job) = ($res->header('Content-Location') // '') =~ m{/Jobs/(.+)$};
    return $job;
}

# Kick off an export of Group $gid and call $act->($job, $worker_row_id)
# while a worker holds one of its batches; should the export be over before
# a batch is seen held (or $act return false), cancel it and try again, up
# to 20 times (an export of a few batches can be over between two looks,
# each a psql).  Returns ($job, $worker_row_id), the latter undef if no
# batch was caught.
sub while_held {
    my ($tok, $gid, $act) = @_;
    my $job;
    for my $try (1 .. 20) {
        $job = kickoff($tok, $gid);
        wait_for(10, sub { sql("SELECT EXISTS (SELECT 1 FROM export_batch WHERE job_id = '$job'
            AND status = 'running') OR (SELECT status FROM export_job WHERE id = '$job') IS DISTINCT FROM 'running'") eq 't' });
        my $holder = sql("SELECT worker_id FROM export_batch WHERE job_id = '$job'
                          AND status = 'running' LIMIT 1");
        return ($job, $holder) if defined $holder && length $holder && $act->($job, $holder);
        req(DELETE => "/api/v2/Jobs/$job", Authorization => "Bearer $tok");
    }
    return ($job, undef);
}

# "Patient,Coverage,ExplanationOfBenefit" counts of a tally or of
# stored_counts, for comparing the two in one assertion.
sub counts_of {
    my ($c) = @_;
    return join ',', map { $c->{$_} // 0 } qw(Patient Coverage ExplanationOfBenefit);
}

# Poll the job until it is no longer running (or $secs pass); returns the
# last status response.
sub wait_job {
    my ($tok, $job, $secs) = @_;
    my $last;
    wait_for($secs, sub {
        $last = req(GET => "/api/v2/Jobs/$job", Authorization => "Bearer $tok");
        $last->code != 202 });
    return $last;
}

# Download every output file of manifest $m: (\%lines per type, number of
# resources seen more than once).
sub tally {
    my ($tok, $m) = @_;
    my (%lines, %ids, $dups);
    for my $f (@{ $m->{output} // [] }) {
        my $body = req(GET => $f->{url}, Authorization => "Bearer $tok")->content;
        for my $line (split /\n/, $body) {
            my ($type, $id) = $line =~ /^\{"resourceType":"(\w+)","id":"([^"]+)"/ or next;
            $lines{$type}++;
            $dups++ if $ids{"$type/$id"}++;
        }
    }
    return (\%lines, $dups // 0);
}

# What the claims store holds for @mbis in R4, per type.
sub stored_counts {
    my (@mbis) = @_;
    my $in = join ',', map { "'$_'" } @mbis;
    return { map { split /\|/ } sql_rows("SELECT resource_type, count(*) FROM claims_resource
        WHERE fhir_version = 4 AND mbi IN ($in) GROUP BY resource_type") };
}

1;
