# The 2019 BCDA technical getting-started guide (reference 004), its
# commands as it prints them, with only the host and the ids the server
# returned substituted: the token with the extra-small sandbox ACO's
# credentials, the metadata, and the ExplanationOfBenefit, Patient and
# Coverage exports from kick-off to download.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use JSON::PP ();
use DPC::Guide qw(guide_host guide_run guide_aco guide_export);

plan tests => 19;

my $json = JSON::PP->new;
guide_aco('A9994', '3841c594-a8c0-41e5-98cc-38bb45360d3c',
          'f9780d323588f1cdfc3e63e95a8cbdcdd47602ff48a537b51dc5d7834bf466416a716bd4508e904a', 6, 16);
my $host = guide_host();

# "Authentication and Authorization": the cURL command
my ($out) = guide_run(<<'SH');
curl -X POST "https://sandbox.bcda.cms.gov/auth/token" -H "accept: application/json" -H "authorization: Basic Mzg0MWM1OTQtYThjMC00MWU1LTk4Y2MtMzhiYjQ1MzYwZDNjOm\
Y5NzgwZDMyMzU4OGYxY2RmYzNlNjNlOTVhOGNiZGNkZDQ3NjAy\
ZmY0OGE1MzdiNTFkYzVkNzgzNGJmNDY2NDE2YTcxNmJkNDUwOGU5MDRh"
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
