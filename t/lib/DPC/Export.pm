package DPC::Export;
# Helpers of the export robustness tests: a roster to export, kick-off,
# waiting for the outcome, and counting what the files hold.
use strict;
use warnings FATAL => 'all';
use Exporter 'import';
use JSON::PP ();
use DPC::Test qw(req json_of sql sql_rows wait_for);

our @EXPORT_OK = qw(make_roster kickoff wait_job tally stored_counts);

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
    my $prov = $json->encode({ resourceType => 'Provenance', recorded => '2026-01-01T00:00:00Z',
        reason => [{ coding => [{ system => 'http://hl7.org/fhir/v3/ActReason', code => 'TREAT' }] }],
        agent => [{ role => [{ coding => [{ system => 'http://hl7.org/fhir/v3/RoleClass', code => 'AGNT' }] }],
                    who => { reference => "Organization/$org->{id}" },
                    onBehalfOf => { reference => "Practitioner/$pr->{id}" } }] });
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
