# The 2018 BCDA user guide (reference 003), its commands as it prints them,
# with only the host and the ids the server returned substituted: the
# token with its generic sandbox credentials, the metadata, and the
# ExplanationOfBenefit, Patient and Coverage exports from kick-off to
# download.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use JSON::PP ();
use DPC::Guide qw(guide_host guide_run guide_aco guide_export);

plan tests => 19;

my $json = JSON::PP->new;
guide_aco('A9990', '09869a7f-46ce-4908-a914-6129d080a2ae',
          '64916fe96f71adc79c5735e49f4e72f18ff941d0dd62cf43ee1ae0857e204f173ba10e4250c12c48', 8, 8);
my $host = guide_host();

# "Authentication and Authorization": the cURL command
my ($out) = guide_run(<<'SH');
curl -X POST "http://sandbox.bcda.cms.gov/auth/token" -H "accept: application/json" -H "authorization: Basic MDk4NjlhN2YtNDZjZS00OTA4LWE5MTQtNjEyOWQwODBhMmFlOj\
Y0OTE2ZmU5NmY3MWFkYzc5YzU3MzVlNDlmNGU3MmYxOGZmOTQx\
ZDBkZDYyY2Y0M2VlMWFlMDg1N2UyMDRmMTczYmExMGU0MjUwYzEyYzQ4"
SH
my $t = eval { $json->decode($out) } // {};
ok t_cmp($t->{token_type} // '', 'bearer', 'the guide\'s token command gets a bearer token');
my $token = $t->{access_token} // '';
ok t_cmp(length($token) > 20 ? 1 : 0, 1, '... with an access token');

# "BCDA Metadata"
($out) = guide_run("curl https://sandbox.bcda.cms.gov/api/v1/metadata\n");
my $md = eval { $json->decode($out) } // {};
ok t_cmp("$md->{resourceType}|$md->{fhirVersion}", 'CapabilityStatement|3.0.1',
         'metadata: an STU3 CapabilityStatement, no token');
ok t_cmp(($md->{status} // '') . '|' . ($md->{software}{name} // ''),
         'active|Beneficiary Claims Data API', '... active, and names the software as the guide does');

# Steps 2 to 4 of each export section; $n is the guide's example job id.
my %kickoff = (
    ExplanationOfBenefit => <<'SH',
curl -v https://sandbox.bcda.cms.gov/api/v1/ExplanationOfBenefit/\$export \
-H 'Authorization: Bearer {token}' \
-H 'Accept: application/fhir+json' \
-H 'Prefer: respond-async'
SH
    Patient => <<'SH',
curl -v https://sandbox.bcda.cms.gov/api/v1/Patient/\$export \
-H 'Authorization: Bearer {token}' \
-H 'Accept: application/fhir+json' \
-H 'Prefer: respond-async'
SH
    Coverage => <<'SH',
curl -v https://sandbox.bcda.cms.gov/api/v1/Coverage/\$export \
-H 'Authorization: Bearer {token}' \
-H 'Accept: application/fhir+json' \
-H 'Prefer: respond-async'
SH
);
my %example = (ExplanationOfBenefit => 42, Patient => 43, Coverage => 44);
# steps 3 and 4 are the same commands in each section, but for the job id
guide_export($token, $_, $example{$_}, $kickoff{$_}) for qw(ExplanationOfBenefit Patient Coverage);
