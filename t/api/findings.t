# Findings of an attack on the API, each a clear 4xx (or the right answer)
# that changes nothing: lenient _type values with quotes and backslashes,
# the roster cap's message, the manifest's request URL after an
# absolute-form target or doubled slashes, writes with no Content-Type,
# Parameters bodies of the wrong shape.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestRequest ();
use Apache::TestUtil;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use JSON::PP;
use DPC::Test qw(req json_of oo_code sql sql_rows wait_for provenance);
use DPC::JWT qw(gen_keys pop_signature read_file);
use DPC::Export qw(make_roster);
use DPC::Org;

plan tests => 64;

my $dir = tempdir(CLEANUP => 1);
my $gen = gen_keys($dir, f1 => 'ec', f2 => 'ec', up => 'ec');
my $a = DPC::Org->new(name => 'Findings A', key_path => $gen->{f1}, alg => 'ES384');
my $json = JSON::PP->new->canonical;
my $tok = $a->access_token;
my $tok1 = $a->access_token(api => 'v1');
my %auth = (Authorization => "Bearer $tok");
my %ha = (%auth, 'Content-Type' => 'application/fhir+json');
my %async = (Prefer => 'respond-async', Accept => 'application/fhir+json');
sub post { my ($path, $body, %h) = @_; req(POST => $path, %h, content => ref $body ? $json->encode($body) : $body) }
sub diag_of { my $v = json_of($_[0]) // {}; join ' | ', map { $_->{diagnostics} // '' } @{ $v->{issue} // [] } }
sub n_jobs { sql("SELECT count(*) FROM export_job WHERE org_id = '$a->{id}'") }
# The manifest of job $id once it is complete ({} if it does not complete).
sub manifest {
    my ($id) = @_;
    my $r = wait_for(30, sub { my $r = req(GET => "/api/v2/Jobs/$id", %auth); $r->code == 200 ? $r : undef });
    return $r ? json_of($r) // {} : {};
}
# The job a kick-off response started (a UUID of no job if none).
sub job_of { (($_[0]->header('Content-Location') // '') =~ m{/Jobs/([0-9a-f-]{36})$})[0]
             // '00000000-0000-0000-0000-000000000000' }

my @mbis = map { sql("SELECT mbi FROM beneficiary ORDER BY mbi OFFSET $_ LIMIT 1") } 24 .. 25;
my $gid = make_roster($a, $tok, '1003000126', @mbis);
my $url = "/api/v2/Group/$gid/\$export";

# --- lenient _type values with '"' and '\' ----------------------------------------------
my $res = req(GET => "$url?_type=Patient,Fo%22o,Ba%5Cr,%7Bx%7D,NULL", %auth, %async,
              Prefer => 'respond-async, handling=lenient');
ok t_cmp($res->code, 202, 'lenient _type with a quote, a backslash, braces and NULL: 202');
my $job = job_of($res);
ok t_cmp(sql("SELECT array_to_json(notes) FROM export_job WHERE id = '$job'"),
         $json->encode(['_type=Fo"o', '_type=Ba\\r', '_type={x}', '_type=NULL']),
         'each ignored type noted exactly as sent');
my $m = manifest($job);
my ($ef) = @{ $m->{error} // [] };
my $lines = $ef ? req(GET => $ef->{url}, %auth)->content : '';
my @diag = map { (json_of(HTTP::Response->new(200, '', [], $_)) // {})->{issue}[0]{diagnostics} // '' }
           split /\n/, $lines;
ok t_cmp(join(' | ', map { $_ // '' } @diag[0 .. 3]),
         'The kick-off parameter _type=Fo"o was ignored (Prefer: handling=lenient) | '
         . 'The kick-off parameter _type=Ba\\r was ignored (Prefer: handling=lenient) | '
         . 'The kick-off parameter _type={x} was ignored (Prefer: handling=lenient) | '
         . 'The kick-off parameter _type=NULL was ignored (Prefer: handling=lenient)',
         'the error file names each ignored type exactly as sent');
ok t_cmp(join(',', map { $_->{type} } @{ $m->{output} // [] }), 'Patient', 'and Patient was exported');

$res = post($url, { resourceType => 'Parameters', parameter => [
    { name => '_type', valueString => 'Patient' }, { name => '_type', valueString => 'a"b\\c' }] },
    %ha, %async, Prefer => 'respond-async, handling=lenient');
ok t_cmp($res->code, 202, 'the same in a POST Parameters body: 202');
$job = job_of($res);
ok t_cmp(sql("SELECT array_to_json(notes) FROM export_job WHERE id = '$job'"),
         $json->encode(['_type=a"b\\c']), 'noted exactly');
manifest($job);

my $n = n_jobs();
$res = req(GET => "$url?_type=Patient,%FF", %auth, %async, Prefer => 'respond-async, handling=lenient');
ok t_cmp($res->code . ' ' . oo_code($res), '400 invalid', 'a lenient _type that is not UTF-8: 400');
ok t_cmp(n_jobs(), $n, 'and no job');

# --- the manifest's request: the URL the client asked for --------------------------------
my $hostport = Apache::TestRequest::hostport();
# Send $target raw (LWP would rewrite it); the status, headers and body.
sub raw_get {
    my ($target) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => $hostport, Timeout => 10) or die "connect: $!";
    print $s "GET $target HTTP/1.1\r\nHost: $hostport\r\nAuthorization: Bearer $tok\r\n"
        . "Prefer: respond-async\r\nAccept: application/fhir+json\r\nConnection: close\r\n\r\n";
    my $text = do { local $/; <$s> } // '';
    close $s;
    my ($head, $body) = split /\r\n\r\n/, $text, 2;
    my ($code) = ($head // '') =~ m{^HTTP/1\.1 (\d+)};
    my ($loc) = ($head // '') =~ m{^Content-Location: (\S+)}mi;
    return ($code // 0, $loc // '', $body // '');
}
# the server's own name and port (ServerName), as Content-Location has them
my $base = 'http://' . $hostport . '/api/v2';
for my $t (["http://$hostport/api/v2/Group/$gid/\$export?_type=Patient", 'an absolute-form target'],
           ["/api/v2//Group/$gid/\$export?_type=Patient", 'a doubled slash after the base'],
           ["/api/v2/Group//$gid/\$export?_type=Patient", 'a doubled slash inside the path'],
           ["/api//v2/Group/$gid/\$export?_type=Patient", 'a doubled slash inside the base'],
           ["http://elsewhere.example:81/api/v2/Group/$gid/\$export?_type=Patient",
            "an absolute-form target naming another host (never echoed)"]) {
    my ($code, $loc) = raw_get($t->[0]);
    ok t_cmp($code, 202, "$t->[1]: 202");
    my ($id) = $loc =~ m{/Jobs/([0-9a-f-]+)$};
    my $mf = $id ? manifest($id) : {};
    ok t_cmp($mf->{request} // '', "$base/Group/$gid/\$export?_type=Patient",
             "$t->[1]: the manifest's request is the clean URL");
}

# --- the roster cap's message names the numbers ------------------------------------------
my @many = sql_rows('SELECT mbi FROM beneficiary ORDER BY mbi LIMIT 30');
my $pr2 = json_of(post('/api/v2/Practitioner', { resourceType => 'Practitioner',
    identifier => [{ system => 'http://hl7.org/fhir/sid/us-npi', value => '1003000134' }],
    name => [{ family => 'Cap', given => ['Jo'] }] }, %ha));
sub group { my ($npi, @m) = @_; { resourceType => 'Group', type => 'person', actual => JSON::PP::true,
    member => [map { { entity => { identifier => { system => 'http://hl7.org/fhir/sid/us-mbi', value => $_ } },
        extension => [{ url => 'http://hl7.org/fhir/us/davinci-atr/StructureDefinition/ext-attributedProvider',
                        valueReference => { identifier => { system => 'http://hl7.org/fhir/sid/us-npi',
                                                            value => $npi } } }] } } @m] } }
my $prov2 = provenance($a->{id}, $pr2->{id});
my $g2 = json_of(post('/api/v2/Group', group('1003000134', @many[0 .. 19]), %ha, 'X-Provenance' => $prov2)) // {};
ok t_cmp(scalar @{ $g2->{member} // [] }, 20, 'a roster of 20 (the cap is 25)');
my $members = sub { sql("SELECT count(*) FROM attribution WHERE roster_id = '$g2->{id}' AND removed_at IS NULL") };
$res = post("/api/v2/Group/$g2->{id}/\$add", group('1003000134', @many[20 .. 29]), %ha, 'X-Provenance' => $prov2);
ok t_cmp($res->code . ' ' . oo_code($res), '422 too-costly', '$add of 10 more: 422');
ok t_cmp(diag_of($res), 'the roster would have 30 members; at most 25 are allowed per Group',
         'the diagnostics name the count and the cap');
ok t_cmp($members->(), 20, 'and the roster is unchanged');

# --- writes with no Content-Type: 415 -----------------------------------------------------
my $prac = { resourceType => 'Practitioner',
             identifier => [{ system => 'http://hl7.org/fhir/sid/us-npi', value => '1245319599' }],
             name => [{ family => 'Nct', given => ['Jo'] }] };
my $pat = { resourceType => 'Patient', identifier => [{ system => 'http://hl7.org/fhir/sid/us-mbi',
            value => '1EG4TE5MK74' }], name => [{ family => 'Nct', given => ['Al'] }], birthDate => '1950-01-01' };
sub bundle { { resourceType => 'Parameters', parameter => [{ name => 'resource', resource => {
    resourceType => 'Bundle', type => 'collection', entry => [{ resource => $_[0] }] } }] } }
my $pid = sql("SELECT id FROM patient WHERE org_id = '$a->{id}' LIMIT 1");
my $state = sub {
    join ' ', map { sql("SELECT count(*) FROM $_ WHERE org_id = '$a->{id}'") }
        qw(practitioner patient roster public_key export_job);
};
my $before = $state->();
my $members_before = sql("SELECT count(*) FROM attribution t JOIN roster r ON r.id = t.roster_id"
                         . " WHERE r.org_id = '$a->{id}' AND t.removed_at IS NULL");
my $gid_members = group('1003000126', $many[25]);
for my $w (['POST', '/api/v2/Practitioner', $prac], ['PUT', "/api/v2/Practitioner/$pr2->{id}", $prac],
           ['POST', '/api/v2/Practitioner/$submit', bundle($prac)],
           ['POST', '/api/v2/Practitioner/$validate', $prac],
           ['POST', '/api/v2/Patient', $pat], ['PUT', "/api/v2/Patient/$pid", $pat],
           ['POST', '/api/v2/Patient/$submit', bundle($pat)], ['POST', '/api/v2/Patient/$validate', $pat],
           ['POST', '/api/v2/Group', group('1245319599', $many[25])],
           ['PUT', "/api/v2/Group/$gid", $gid_members],
           ['POST', "/api/v2/Group/$gid/\$add", $gid_members],
           ['POST', "/api/v2/Group/$gid/\$remove", group('1003000126', $mbis[0])],
           ['POST', $url, { resourceType => 'Parameters', parameter => [{ name => '_type', valueString => 'Patient' }] }]) {
    my ($method, $path, $body) = @$w;
    $res = req($method => $path, %auth, %async, 'X-Provenance' => provenance($a->{id}, $pr2->{id}),
               content => $json->encode($body));
    ok t_cmp($res->code . ' ' . oo_code($res) . ' ' . (diag_of($res) =~ m{application/fhir\+json} ? 'names it' : '-'),
             '415 not-supported names it', "$method $path with no Content-Type: 415 naming the type");
}
$res = req(POST => '/api/v2/Key?label=nct', %auth, content => $json->encode({
    key => read_file("$gen->{up}.pub.pem"), signature => pop_signature("$gen->{up}.pem") }));
ok t_cmp($res->code . ' ' . oo_code($res) . ' ' . (diag_of($res) =~ m{application/json} ? 'names it' : '-'),
         '415 not-supported names it', 'POST v2 /Key (JSON) with no Content-Type: 415');
$res = req(POST => '/api/v1/Key?label=nct', Authorization => "Bearer $tok1",
           content => read_file("$gen->{up}.pub.pem"));
ok t_cmp($res->code . ' ' . oo_code($res) . ' ' . (diag_of($res) =~ m{text/plain} ? 'names it' : '-'),
         '415 not-supported names it', 'POST v1 /Key (PEM) with no Content-Type: 415');
ok t_cmp($state->(), $before, 'none of them stored anything');
ok t_cmp(sql("SELECT count(*) FROM attribution t JOIN roster r ON r.id = t.roster_id"
             . " WHERE r.org_id = '$a->{id}' AND t.removed_at IS NULL"), $members_before,
         'nor changed a membership');
$res = req(POST => '/api/v1/Key?label=ct', Authorization => "Bearer $tok1",
           'Content-Type' => 'text/plain', content => read_file("$gen->{up}.pub.pem"));
ok t_cmp($res->code, 201, 'the same PEM as text/plain: 201');
$res = post($url, '', %auth, %async);
ok t_cmp($res->code, 202, 'a POST kick-off with no body at all needs no Content-Type: 202');
manifest(job_of($res));

# --- Parameters bodies of the wrong shape ---------------------------------------------------
$n = n_jobs();
for my $b ([{ resourceType => 'Parameters', parameter => { name => '_type', valueString => 'Patient' } },
            'parameter an object', 'Parameters.parameter'],
           [{ resourceType => 'Parameters', parameter => '_type=Patient' }, 'parameter a string', 'Parameters.parameter'],
           [{ resourceType => 'Parameters', parameter => 3 }, 'parameter a number', 'Parameters.parameter'],
           [{ resourceType => 'Parameters', parameter => undef }, 'parameter null', 'Parameters.parameter'],
           [{ resourceType => 'Group', parameter => [] }, 'a Group', 'Parameters'],
           [{ parameter => [] }, 'no resourceType', 'Parameters'],
           [[], 'an array', ''],
           [{ resourceType => 'Parameters', parameter => ['_type'] }, 'an entry a string', 'Parameters.parameter[0]'],
           [{ resourceType => 'Parameters', parameter => [{ name => '_type', valueString => 'Patient' }, undef] },
            'an entry null', 'Parameters.parameter[1]'],
           [{ resourceType => 'Parameters', parameter => [{ valueString => 'Patient' }] },
            'an entry with no name', 'Parameters.parameter[0]'],
           [{ resourceType => 'Parameters', parameter => [{ name => '_type', valueInteger => 3 }] },
            'a value that is not a string', 'Parameters.parameter[0]'],
           [{ resourceType => 'Parameters', parameter => [{ name => '_type', resource => { resourceType => 'Patient' } }] },
            'a resource instead of a value', 'Parameters.parameter[0]']) {
    $res = post($url, $b->[0], %ha, %async);
    my $v = json_of($res) // {};
    ok t_cmp($res->code . ' ' . ($v->{resourceType} // '') . ' ' . ($v->{issue}[0]{expression}[0] // ''),
             "400 OperationOutcome $b->[2]", "POST kick-off, $b->[1]: 400" . ($b->[2] ? " at $b->[2]" : ''));
}
ok t_cmp(n_jobs(), $n, 'none of them started an export');

# --- a Parameters entry with two value[x] ----------------------------------------------------
$res = post($url, { resourceType => 'Parameters', parameter => [{ name => '_type', valueString => 'Patient' },
    { name => '_since', valueString => 'x', valueInstant => '2026-01-01T00:00:00Z' }] }, %ha, %async);
ok t_cmp($res->code . ' ' . oo_code($res), '400 structure', 'a kick-off parameter with two value[x]: 400');
ok t_cmp(diag_of($res), 'Parameters.parameter[1]: the parameter _since has more than one value[x]: valueInstant and valueString',
         'naming the entry and the fields');
ok t_cmp(n_jobs(), $n, 'no export');
my $npracs = sql("SELECT count(*) FROM practitioner WHERE org_id = '$a->{id}'");
my $sb = bundle($prac);
$sb->{parameter}[0]{valueString} = 'x';
$res = post('/api/v2/Practitioner/$submit', $sb, %ha);
# $submit answers every body that is JSON but not what it takes with 422
ok t_cmp($res->code . ' ' . oo_code($res), '422 structure', '$submit: a resource parameter with a value[x] too: 422');
ok t_cmp(diag_of($res), qr/\QParameters.parameter[0]: the parameter resource must have one of value[x], resource or part, not valueString and resource\E/,
         'naming the entry and the fields');
$sb = bundle($prac);
push @{ $sb->{parameter} }, { name => 'other', valueString => 'a', valueCode => 'b' };
$res = post('/api/v2/Practitioner/$submit', $sb, %ha);
ok t_cmp(diag_of($res), qr/\QParameters.parameter[1]: the parameter other has more than one value[x]: valueCode and valueString\E/,
         '$submit: a second entry with two value[x] is named too');
ok t_cmp(sql("SELECT count(*) FROM practitioner WHERE org_id = '$a->{id}'"), $npracs, 'and nothing is stored');
$sb = bundle($prac);
$sb->{parameter}[0]{valueString} = 'x';
$res = post('/api/v2/Practitioner/$validate', $sb, %ha);
ok t_cmp(oo_code($res) . ' ' . diag_of($res), qr/^structure Parameters\.parameter\[0\]: the parameter resource must have one of/,
         '$validate reports the same');
my $wrapped = { resourceType => 'Parameters', parameter => [{ name => 'resource',
    resource => group('1003000134', $many[20]), valueBoolean => JSON::PP::true }] };
$res = post("/api/v2/Group/$g2->{id}/\$add", $wrapped, %ha, 'X-Provenance' => $prov2);
ok t_cmp($res->code . ' ' . diag_of($res), qr/^422 Parameters\.parameter\[0\]: the parameter resource must have one of value\[x\], resource or part, not valueBoolean and resource/,
         '$add of a Parameters whose entry has a resource and a value[x]: 422 naming both');
ok t_cmp($members->(), 20, 'and the roster is unchanged');
