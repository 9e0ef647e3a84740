# Downloads honour the access token's scope: a token that may read only
# Coverage gets its organization's Coverage files and the error file, and
# a 403 OperationOutcome for Patient and ExplanationOfBenefit files, which
# stay downloadable with a token that may read them.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use DPC::Test qw(req json_of sql sql_rows oo_code);
use DPC::JWT qw(gen_keys);
use DPC::Org;
use DPC::Export qw(make_roster kickoff wait_job);

plan tests => 8;

my $dir = tempdir(CLEANUP => 1);
gen_keys($dir, ds1 => 'ec');
my $org = DPC::Org->new(name => 'Scoped Downloads', key_path => "$dir/ds1", alg => 'ES384');
my $all = $org->access_token;
my $cov = $org->access_token(scope => 'system/Coverage.read');
my @mbis = sql_rows('SELECT mbi FROM beneficiary ORDER BY mbi LIMIT 3 OFFSET 5');
my $gid = make_roster($org, $all, '1639192982', @mbis);
# one member has opted out, so that the job has an error file (reporting it)
sql("INSERT INTO opt_out (mbi) VALUES ('$mbis[0]') ON CONFLICT DO NOTHING");
my $job = kickoff($all, $gid);
my $res = wait_job($all, $job, 60);
sql("DELETE FROM opt_out WHERE mbi = '$mbis[0]'");
ok t_cmp($res->code, 200, 'an export of every type completes');
my $m = json_of($res);
my %first = map { $_->{type} => $_->{url} } reverse @{ $m->{output} };
ok t_cmp(join(',', sort keys %first), 'Coverage,ExplanationOfBenefit,Patient', 'with files of each type');

$res = req(GET => $first{Patient}, Authorization => "Bearer $cov");
ok t_cmp($res->code . ' ' . oo_code($res), '403 forbidden',
         'a Coverage-only token cannot download the Patient file');
ok t_cmp(json_of($res)->{issue}[0]{diagnostics}, qr/scope \(system\/Coverage\.read\) does not cover Patient/,
         'saying which scope and which type');
ok t_cmp(req(GET => $first{ExplanationOfBenefit}, Authorization => "Bearer $cov")->code, 403,
         'nor an ExplanationOfBenefit file');
ok t_cmp(req(GET => $first{Coverage}, Authorization => "Bearer $cov")->code, 200,
         'but it downloads the Coverage file');
ok t_cmp(req(GET => $first{Patient}, Authorization => "Bearer $all")->code, 200,
         'and the Patient file goes to a token that may read it');

# the error file is the job's own: a token of the organization reads it
my ($eurl) = map { $_->{url} } @{ $m->{error} // [] };
ok t_cmp($eurl ? req(GET => $eurl, Authorization => "Bearer $cov")->code : 'no error file', 200,
         'the error file stays readable with the Coverage-only token');
