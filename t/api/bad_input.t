# Bad input of every kind gets a clear answer and changes nothing: bytes
# that are not UTF-8, identifier changes under a roster, racing writers,
# revocations committed out of order, wrong content types, huge bodies.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use File::Temp qw(tempdir);
use JSON::PP;
use POSIX qw(_exit);
use Time::HiRes qw(sleep);
use DPC::Test qw(req json_of oo_code sql wait_for provenance);
use DPC::JWT qw(gen_keys b64url);
use DPC::Org;

plan tests => 25;

my $dir = tempdir(CLEANUP => 1);
gen_keys($dir, b1 => 'ec');
my $a = DPC::Org->new(name => 'Bad Input', key_path => "$dir/b1", alg => 'ES384');
my $json = JSON::PP->new->canonical;
my %ha = (Authorization => 'Bearer ' . $a->access_token, 'Content-Type' => 'application/fhir+json');
sub post { my ($path, $body, %h) = @_; req(POST => $path, %h, content => ref $body ? $json->encode($body) : $body) }
sub form { req(POST => '/api/v2/Token/auth', content => $_[0],
               'Content-Type' => 'application/x-www-form-urlencoded') }

# --- bytes that are not UTF-8 never break a response -------------------------------
for my $body ('%FF=%', '%FF=1&%FF=2', "grant_type=\xff") {
    my $res = form($body);
    ok t_cmp($res->code . ' ' . (json_of($res) ? 'json' : 'not json'), '400 json',
             "form body '$body': 400 with JSON");
}
my $hdr = b64url('{"alg":"' . ('a' x 19) . "\xc3\xa9" . '","kid":"x","typ":"JWT"}');
my $res = form('grant_type=client_credentials&scope=system%2F*.*&client_assertion_type='
    . 'urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion='
    . "$hdr.e30.c2ln");
ok t_cmp(json_of($res) ? 1 : 0, 1, 'a multibyte alg cut short: still JSON');
$res = req(GET => '/api/v2/%FF%FE');
ok t_cmp($res->code . ' ' . oo_code($res), '404 not-found', 'a path that is not UTF-8: 404 OperationOutcome');
$res = req(GET => '/api/v2/metadata');
ok t_cmp($res->code, 200, 'and the server is still there');

# --- identifiers under a roster ------------------------------------------------------
my $mbi = sql(q{SELECT mbi FROM beneficiary ORDER BY mbi LIMIT 1});
my $other = sql(q{SELECT mbi FROM beneficiary ORDER BY mbi OFFSET 1 LIMIT 1});
my $pr = json_of(post('/api/v2/Practitioner', { resourceType => 'Practitioner',
    identifier => [{ system => 'http://hl7.org/fhir/sid/us-npi', value => '1003000126' }],
    name => [{ family => 'Doe', given => ['Jo'] }] }, %ha));
sub patient { { resourceType => 'Patient', identifier => [{ system => 'http://hl7.org/fhir/sid/us-mbi',
    value => $_[0] }], name => [{ family => 'Roe', given => ['Al'] }], birthDate => '1950-01-01' } }
my $pt = json_of(post('/api/v2/Patient', patient($mbi), %ha));
my $prov = provenance($a->{id}, $pr->{id});
sub group { { resourceType => 'Group', type => 'person', actual => JSON::PP::true,
    characteristic => [{ code => { coding => [{ code => 'attributed-to' }] },
        valueCodeableConcept => { coding => [{ system => 'http://hl7.org/fhir/sid/us-npi',
                                               code => $_[0] }] } }],
    member => [map { { entity => { reference => "Patient/$_" } } } @_[1 .. $#_]] } }
post('/api/v2/Group', group('1003000126', $pt->{id}), %ha, 'X-Provenance' => $prov);
ok t_cmp(req(GET => "/api/v2/Patient/$pt->{id}/\$everything", %ha)->code, 200, 'attributed');
$res = req(PUT => "/api/v2/Patient/$pt->{id}", %ha, content => $json->encode(patient($other)));
ok t_cmp($res->code, 200, 'a patient may get another MBI');
ok t_cmp(req(GET => "/api/v2/Patient/$pt->{id}/\$everything", %ha)->code, 403,
         'but that ends its memberships: no claims of the other beneficiary without attestation');
$res = req(PUT => "/api/v2/Practitioner/$pr->{id}", %ha, content => $json->encode({
    resourceType => 'Practitioner', identifier => [{ system => 'http://hl7.org/fhir/sid/us-npi',
    value => '1003000142' }], name => [{ family => 'Doe', given => ['Jo'] }] }));
ok t_cmp($res->code, 409, "a practitioner's NPI stays while it has a roster");

# --- searches ----------------------------------------------------------------------------
$res = req(GET => '/api/v2/Patient?_count=0', %ha);
ok t_cmp(json_of($res)->{total}, sql("SELECT count(*) FROM patient WHERE org_id = '$a->{id}'"),
         '_count=0 still tells the total');
$res = req(GET => '/api/v2/Patient?_offset=1000', %ha);
ok t_cmp(json_of($res)->{total} > 0 ? 1 : 0, 1, 'so does a page past the end');
for my $q ('Patient?identifier=', 'Practitioner?identifier=|', 'Group?characteristic-value=attributed-to$',
           'Group?characteristic=attributed-to&characteristic-code=', 'Group?characteristic=attributed-to') {
    ok t_cmp(req(GET => "/api/v2/$q", %ha)->code, 400, "$q: 400, not everything");
}

# --- content types and sizes ------------------------------------------------------------
$res = post('/api/v2/Patient', patient('1EG4TE5MK73'), %ha, 'Content-Type' => 'text/plain');
ok t_cmp($res->code . ' ' . oo_code($res), '415 not-supported', 'text/plain: 415');
$res = post('/api/v2/Patient', '{"resourceType":"Patient","x":"' . ('a' x (1024 * 1024)) . '"}', %ha);
ok t_cmp($res->code, 413, 'a resource over 1 MB: 413');
ok t_cmp(sql("SELECT count(*) FROM patient WHERE org_id = '$a->{id}' AND mbi = '1EG4TE5MK73'"), 0,
         'neither stored anything');

# --- two rosters registering the same new MBI at once -------------------------------------
my @pr = map { json_of(post('/api/v2/Practitioner', { resourceType => 'Practitioner',
    identifier => [{ system => 'http://hl7.org/fhir/sid/us-npi', value => $_ }],
    name => [{ family => 'Doe', given => ['Jo'] }] }, %ha)) } ('1245319599', '1003000134');
sub prov_for { (my $p = $prov) =~ s/Practitioner\/[0-9a-f-]+/Practitioner\/$_[0]/; $p }
sub v2group { my ($npi, @mbis) = @_; { resourceType => 'Group', type => 'person', actual => JSON::PP::true,
    member => [map { { entity => { identifier => { system => 'http://hl7.org/fhir/sid/us-mbi', value => $_ } },
        extension => [{ url => 'http://hl7.org/fhir/us/davinci-atr/StructureDefinition/ext-attributedProvider',
                        valueReference => { identifier => { system => 'http://hl7.org/fhir/sid/us-npi',
                                                             value => $npi } } }] } } @mbis] } }
my @gid = map { json_of(post('/api/v2/Group', v2group($pr[$_]{identifier}[0]{value}, '1EG9TE9MK00'),
    %ha, 'X-Provenance' => prov_for($pr[$_]{id})))->{id} } 0, 1;
my @kids;
for my $round (1 .. 5) {
    for my $i (0, 1) {
        my $pid = fork // die;
        if (!$pid) {
            # a connection of our own: not the parent's kept-alive socket
            Apache::TestRequest::user_agent(reset => 1, keep_alive => 0);
            my $r = post("/api/v2/Group/$gid[$i]/\$add", v2group($pr[$i]{identifier}[0]{value},
                sprintf('1EG9TE%dMK%02d', $round, 50)), %ha, 'X-Provenance' => prov_for($pr[$i]{id}));
            if ($r->code != 200) {
                open(my $fh, '>>', "$dir/race.log");
                print $fh $r->code, ' ', $r->content, "\n";
                close $fh;
            }
            _exit($r->code == 200 ? 0 : 1);
        }
        push @kids, $pid;
    }
}
my $fails = 0;
for (@kids) { waitpid($_, 0); $fails++ if $? }
ok t_cmp($fails, 0, 'rosters racing to register the same MBIs all succeed');
print STDERR "# $_" for -f "$dir/race.log" ? do { open(my $fh, '<', "$dir/race.log"); <$fh> } : ();
ok t_cmp(sql("SELECT count(*) FROM patient WHERE org_id = '$a->{id}' AND mbi LIKE '1EG9TE_MK50'"), 5,
         'each MBI registered once');
# and both rosters hold it: the one that lost the race to register it takes
# the other's row, it is not silently left out
ok t_cmp(sql("SELECT count(*) FROM attribution t JOIN patient p ON p.id = t.patient_id"
             . " WHERE p.org_id = '$a->{id}' AND p.mbi LIKE '1EG9TE_MK50'"
             . " AND t.roster_id IN ('$gid[0]', '$gid[1]')"), 10,
         'each racing roster holds each MBI it was sent');

# --- a revocation that commits after a later one is still seen ---------------------------
my $t1 = $a->new_client_token;
my $t2 = $a->new_client_token;
my $tok1 = $a->access_token(assertion => $a->assertion(claims => $a->claims(iss => $t1->{token}, sub => $t1->{token})));
ok t_cmp(req(GET => '/api/v2/Token', Authorization => "Bearer $tok1")->code, 200, 'token 1 works');
my $bg = fork // die;
if (!$bg) {
    exec('psql', '-X', '-q', '-d', $ENV{DPC_TEST_DB}, '-c',
         "BEGIN; DELETE FROM client_token WHERE id = '$t1->{id}'; SELECT pg_sleep(2); COMMIT;")
        or _exit(1);
}
sleep 0.5;
DPC::Test::dpcctl('token', 'delete', $t2->{id});         # later, committed first
sleep 1.1;
req(GET => '/api/v2/Token', %ha) for 1 .. 8;             # every child refreshes
waitpid($bg, 0);
ok t_cmp(wait_for(3, sub { req(GET => '/api/v2/Token', Authorization => "Bearer $tok1")->code == 401 }) ? 1 : 0,
         1, 'the access token of the late revocation stops working');
