# The Sandbox Portal: sign-up, sign-in and out, organizations, public keys,
# client tokens, invites and the password, through its forms as a browser
# sends them; and its security rules: CSRF tokens, escaping, the CSP,
# team isolation (404), the sign-in slowdown, bad input changing nothing.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use DPC::Test qw(req json_of sql slurp wait_for);
use DPC::JWT qw(gen_keys pop_signature read_file);
use DPC::Portal;
use DPC::Org;

plan tests => 115;

my $dir = tempdir(CLEANUP => 1);
my $keys = gen_keys($dir, a => 'rsa', b => 'ec', small => 'rsa2048');
my $PW = 'correct horse battery';
my $XSS = q{"><script>alert(1)</script><img src=x onerror=alert(2)>};
my $loc = \&DPC::Portal::location;

sub n { sql($_[0]) }
# A condition as a named check.
sub yes { t_cmp($_[0] ? 'yes' : 'no', 'yes', $_[1]) }
sub luhn_npi_ok {
    my ($npi) = @_;
    my @d = split //, "80840$npi";
    my $sum = 0;
    for my $i (0 .. $#d) {
        my $v = $d[$#d - $i];
        $v *= 2 if $i % 2;
        $v -= 9 if $v > 9;
        $sum += $v;
    }
    return $sum % 10 == 0;
}
sub inert {
    my ($html) = @_;
    return $html !~ /<script>alert|<img src=x/ && $html =~ /&lt;script&gt;alert\(1\)&lt;\/script&gt;/;
}

# ---- sign-up ---------------------------------------------------------------------
my $a = DPC::Portal->new;
my $res = $a->get('/portal/signup');
ok t_cmp($res->code, 200, 'sign-up page');
my $csp = $res->header('Content-Security-Policy') // '';
ok yes($csp =~ /script-src 'self'/ && $csp =~ /style-src 'self'/ && $csp !~ /unsafe/
   && $csp =~ /frame-ancestors 'none'/, "strict CSP: $csp");
ok yes($res->content !~ /<script>(?!<)|<style|style="|on(click|load)=/, 'no inline script or style');
ok t_cmp($res->header('Set-Cookie') // '', qr/dpc_csrf=.*HttpOnly.*SameSite=Strict/i,
         'CSRF cookie: HttpOnly, SameSite=Strict');

$res = $a->post('/portal/signup', team => 'Team A', email => 'a@example.org',
                password => $PW, password2 => $PW, csrf => undef);
ok t_cmp($res->code, 403, 'sign-up without a CSRF token: refused');
$res = $a->post('/portal/signup', team => 'Team A', email => 'a@example.org',
                password => $PW, password2 => $PW, csrf => 'x' x 43);
ok t_cmp($res->code, 403, 'sign-up with a forged CSRF token: refused');
my $other = DPC::Portal->new;
$other->get('/portal/signup');
$res = $a->post('/portal/signup', team => 'Team A', email => 'a@example.org',
                password => $PW, password2 => $PW, csrf => $other->csrf);
ok t_cmp($res->code, 403, "another browser's CSRF token: refused");
$res = $a->post('/portal/signup', team => 'Team A', email => 'not an email',
                password => $PW, password2 => $PW);
ok t_cmp($res->code, 400, 'bad email: 400');
ok t_cmp($res->content, qr/email: .*email address/, 'bad email: says why');
$res = $a->post('/portal/signup', team => 'Team A', email => 'a@example.org',
                password => 'short', password2 => 'short');
ok t_cmp($res->code, 400, 'short password: 400');
ok t_cmp($res->content, qr/12 to 128 characters/, 'short password: says why');
$res = $a->post('/portal/signup', team => 'Team A', email => 'a@example.org',
                password => $PW, password2 => "$PW!");
ok t_cmp($res->content, qr/the two passwords differ/, 'passwords differ: says why');
$res = $a->post('/portal/signup', team => '   ', email => 'a@example.org',
                password => $PW, password2 => $PW);
ok t_cmp($res->code, 400, 'blank team: 400');
ok t_cmp(n("SELECT count(*) FROM portal_account") + n("SELECT count(*) FROM portal_team"), 0,
         'refused sign-ups stored nothing');

$res = $a->signup("Team A $XSS", 'A@Example.org', $PW);
ok t_cmp($res->code, 303, 'sign-up: 303');
ok t_cmp($loc->($res), '/portal/login?created=1', 'sign-up: to the sign-in page');
ok t_cmp(n("SELECT password_hash FROM portal_account WHERE email = 'a\@example.org'"),
         qr/^\$2y\$10\$/, 'password stored as a bcrypt hash, email in lower case');
$res = DPC::Portal->new->signup('Team Z', 'a@example.org', $PW);
ok t_cmp($res->code, 409, 'the same email again: 409');
ok t_cmp(n("SELECT count(*) FROM portal_team"), 1, 'and no second team');

# ---- sign-in ----------------------------------------------------------------------
$res = $a->get('/portal/');
ok t_cmp($loc->($res), '/portal/login', 'signed out: the home page sends to sign-in');
$res = $a->login('a@example.org', 'wrong password!!');
ok t_cmp($loc->($res), '/portal/login?failed=1', 'wrong password: back to sign-in');
$res = $a->get('/portal/login?failed=1');
ok t_cmp($res->content, qr/do not match an account/, 'and told so');
$res = DPC::Portal->new->post('/portal/dologin?csrf=' . ('x' x 43),
                              httpd_username => 'a@example.org', httpd_password => $PW);
ok t_cmp($res->code, 403, 'sign-in with a forged CSRF token: refused');
$res = $a->login('a@example.org', $PW);
ok t_cmp($loc->($res), '/portal/', 'sign-in: to the home page');
ok t_cmp($res->header('Set-Cookie') // '', qr/dpc_session=.*Max-Age=1800.*HttpOnly.*SameSite=Strict/i,
         'session cookie: 30 minutes, HttpOnly, SameSite=Strict');
$res = $a->get('/portal/');
ok t_cmp($res->code, 200, 'home page');
ok yes(inert($res->content), 'a team name with markup is shown as text');
ok t_cmp($res->content, qr/Add New Provider Org/, 'the button the guide names');

# ---- provider organizations ----------------------------------------------------------
$res = $a->get('/portal/org/new');
ok t_cmp($res->content, qr/fake provider NPI.*cannot be changed/s, 'the sandbox NPI is explained');
$res = $a->post('/portal/org/new', csrf => undef);
ok t_cmp($res->code, 403, 'add organization without a CSRF token: refused');
ok t_cmp(n("SELECT count(*) FROM portal_team_org"), 0, 'and nothing added');
$res = $a->post('/portal/org/new', name => "Clinic $XSS");
ok t_cmp($res->code, 303, 'add organization: 303');
ok t_cmp($loc->($res), '/portal/', 'back to the home page');
my ($org, $npi) = split /\|/, n("SELECT o.id || '|' || o.npi FROM organization o "
                                . "JOIN portal_team_org t ON t.org_id = o.id");
ok yes($org && luhn_npi_ok($npi), "generated NPI $npi has a valid check digit");
# the audit trail names the account (written once the response is sent)
my $audit;
wait_for(5, sub { $audit = n("SELECT actor || ' ' || (detail->>'npi') FROM audit_event
                              WHERE action = 'portal.organization_added' AND org_id = '$org'") });
ok t_cmp($audit, "account:a\@example.org $npi", 'the audit trail records it with the account');
ok t_cmp(n("SELECT count(*) FROM audit_event WHERE action = 'portal.signup'
            AND actor = 'account:a\@example.org'"), 1, 'and the sign-up, once');
$res = $a->get('/portal/');
ok t_cmp($res->content, qr/Org ID: <code>\Q$org\E<\/code>/, 'the Org ID is listed');
ok yes(inert($res->content), 'an organization name with markup is shown as text');
$res = $a->post('/portal/org/new', name => "\x01bad");
ok t_cmp($res->code, 400, 'a name with a control character: 400');
ok t_cmp(n("SELECT count(*) FROM portal_team_org"), 1, 'and nothing added');
$res = $a->get("/portal/org/$org");
ok t_cmp($res->code, 200, 'organization page');
ok t_cmp($res->content, qr/Public Keys.*Add New Key.*Client Tokens.*Add New Token/s,
         'keys and tokens sections');

# ---- public keys ------------------------------------------------------------------------
my $pem = read_file("$keys->{a}.pub.pem");
my $sig = pop_signature("$keys->{a}.pem");
$res = $a->get("/portal/org/$org/key/new");
ok t_cmp($res->content, qr/How to generate a public key and signature/, 'the instructions');
sub n_keys { n("SELECT count(*) FROM public_key WHERE org_id = '$org'") }
$res = $a->post("/portal/org/$org/key/new", label => 'k', public_key => $pem,
                signature => $sig, csrf => undef);
ok t_cmp($res->code, 403, 'add key without a CSRF token: refused');
$res = $a->post("/portal/org/$org/key/new", label => 'k', public_key => 'not a key',
                signature => $sig);
ok t_cmp($res->code, 400, 'not a PEM: 400');
ok t_cmp($res->content, qr/public key: /, 'says what is wrong');
$res = $a->post("/portal/org/$org/key/new", label => 'k',
                public_key => read_file("$keys->{small}.pub.pem"),
                signature => pop_signature("$keys->{small}.pem"));
ok t_cmp($res->content, qr/2048 bits is below the minimum of 4096/, 'RSA-2048: refused, says why');
$res = $a->post("/portal/org/$org/key/new", label => 'k', public_key => $pem,
                signature => pop_signature("$keys->{b}.pem"));
ok t_cmp($res->content, qr/signature: /, "another key's signature: refused");
$res = $a->post("/portal/org/$org/key/new", label => 'k', public_key => $pem, signature => '');
ok t_cmp($res->code, 400, 'no signature: 400');
$res = $a->post("/portal/org/$org/key/new", label => 'x' x 26, public_key => $pem,
                signature => $sig);
ok t_cmp($res->content, qr/label: 1 to 25/, 'a long label: refused');
ok t_cmp(n_keys(), 0, 'refused keys stored nothing');
$res = $a->post("/portal/org/$org/key/new", label => '<b>k</b>', public_key => $pem,
                signature => $sig);
ok t_cmp($res->code, 303, 'add key: 303');
ok t_cmp($loc->($res), "/portal/org/$org", "back to the organization's page");
my $kid = n("SELECT id FROM public_key WHERE org_id = '$org'");
$res = $a->get("/portal/org/$org");
ok t_cmp($res->content, qr/&lt;b&gt;k&lt;\/b&gt;.*\Q$kid\E/s, 'the key is listed, label escaped');
$res = $a->post("/portal/org/$org/key/new", label => 'again', public_key => $pem,
                signature => $sig);
ok t_cmp($res->code, 409, 'the same key again: 409');
ok t_cmp(n_keys(), 1, 'still one key');

# ---- client tokens ------------------------------------------------------------------------
sub n_tokens { n("SELECT count(*) FROM client_token WHERE org_id = '$org'") }
$a->get("/portal/org/$org/token/new");
$res = $a->post("/portal/org/$org/token/new", label => '', expires => '');
ok t_cmp($res->code, 400, 'no label: 400');
$res = $a->post("/portal/org/$org/token/new", label => 'ok', expires => '2001-01-01');
ok t_cmp($res->content, qr/expires: a date after today/, 'an expiry in the past: refused');
$res = $a->post("/portal/org/$org/token/new", label => 'ok', expires => 'soon');
ok t_cmp($res->content, qr/expires: a date such as/, 'an expiry that is no date: refused');
ok t_cmp(n_tokens(), 0, 'refused tokens stored nothing');
$res = $a->post("/portal/org/$org/token/new", label => "sandbox $XSS", expires => '');
ok t_cmp($res->code, 201, 'create token: 201');
my ($ct) = $res->content =~ /id="client-token"[^>]*>(dpcct_[A-Za-z0-9_-]+)</;
ok yes($ct, 'the token is shown');
ok t_cmp($res->header('Cache-Control') // '', 'no-store', 'and not cached');
ok t_cmp(n("SELECT token_hash FROM client_token WHERE org_id = '$org'"), sha256_hex($ct),
         'only its hash is stored');
ok yes(inert($res->content), 'a label with markup is shown as text');
$res = $a->get("/portal/org/$org");
ok yes(inert($res->content) && $res->content !~ /\Q$ct\E/, 'listed escaped, the token itself not again');

# The portal's credentials work on the API: JWT, access token, /Organization.
my $po = bless { id => $org, kid => $kid, key_file => "$keys->{a}.pem", client_token => $ct },
    'DPC::Org';
my $access = eval { $po->access_token };
ok yes($access, 'an access token with the key and token made in the portal');
$res = req(GET => '/api/v2/Organization', Authorization => "Bearer $access");
ok t_cmp(json_of($res)->{entry}[0]{resource}{id} // '', $org, 'GET /Organization names it');

# ---- another team sees nothing of it ---------------------------------------------------------
my $b = DPC::Portal->new;
$b->signup('Team B', 'b@example.org', $PW);
$b->login('b@example.org', $PW);
$res = $b->get('/portal/');
ok yes($res->code == 200 && $res->content !~ /\Q$org\E/, "team B's home does not list A's org");
$res = $b->get("/portal/org/$org");
ok t_cmp($res->code, 404, "A's organization: 404 for team B");
$res = $b->get("/portal/org/$org/key/new");
ok t_cmp($res->code, 404, "A's key form: 404 for team B");
$res = $b->post("/portal/org/$org/key/new", label => 'b', public_key => read_file("$keys->{b}.pub.pem"),
                signature => pop_signature("$keys->{b}.pem"));
ok t_cmp($res->code, 404, "adding a key to A's organization: 404");
$res = $b->post("/portal/org/$org/key/$kid/delete");
ok t_cmp($res->code, 404, "deleting A's key: 404");
$res = $b->post("/portal/org/$org/token/new", label => 'b');
ok t_cmp($res->code, 404, "a token for A's organization: 404");
ok t_cmp(n_keys() . '/' . n_tokens(), '1/1', "A's key and token untouched");
$res = $b->get('/portal/org/not-a-uuid');
ok t_cmp($res->code, 404, 'a malformed id: 404');

# ---- invites -----------------------------------------------------------------------------------
$a->get('/portal/team');
$res = $a->post('/portal/team/invite', email => 'b@example.org');
ok t_cmp($res->code, 409, 'inviting an email that has an account: 409');
$res = $a->post('/portal/team/invite', email => 'C@example.org');
my ($link) = $res->content =~ m{<code id="invite-link">https?://[^/]+(/portal/invite/[A-Za-z0-9_-]+)</code>};
ok yes($link, 'the invite link is shown');
my $log = slurp('t/logs/error_log');
ok t_cmp($log, qr/invited c\@example\.org: http\S+\Q$link\E/, 'and written to the error log');
ok t_cmp($res->content, qr/The invite was mailed to c\@example\.org/, 'and mailed, it says');
my $mail = slurp("$ENV{DPC_TEST_MAILBOX}/invites.txt");
ok t_cmp($mail, qr/^To: c\@example\.org\n.*\n\n.*\Q$link\E/s,
         'through DPCPortalSendmail: To: the invitee, the link in the body');
my $c = DPC::Portal->new;
$res = $c->get($link);
ok t_cmp($res->content, qr/c\@example\.org/, 'the invite page names the account');
$res = $c->post($link, password => 'short', password2 => 'short');
ok t_cmp($res->code, 400, 'a short password: 400, invite kept');
$res = $c->post($link, password => $PW, password2 => $PW);
ok t_cmp($loc->($res), '/portal/login?created=1', 'accepting the invite');
ok t_cmp(n("SELECT count(DISTINCT team_id) FROM portal_account WHERE email IN "
           . "('a\@example.org', 'c\@example.org')"), 1, 'the new account is in the team');
$res = $c->post($link, password => $PW, password2 => $PW);
ok t_cmp($res->code, 404, 'the link works once');
$c->login('c@example.org', $PW);
$res = $c->get("/portal/org/$org");
ok t_cmp($res->code, 200, "the teammate sees the team's organization");

# ---- every form refuses a POST without its CSRF token ---------------------------------------------
my $ctid = n("SELECT id FROM client_token WHERE org_id = '$org'");
my $before = join ',', map { n("SELECT count(*) FROM $_") }
    qw(portal_team portal_account portal_invite organization public_key client_token);
my @forms = ('/portal/signup', $link, '/portal/team/invite', '/portal/password', '/portal/org/new',
             "/portal/org/$org/key/new", "/portal/org/$org/key/$kid/delete",
             "/portal/org/$org/token/new", "/portal/org/$org/token/$ctid/delete",
             '/portal/logout', '/portal/dologin');
my @let = grep { $c->post($_, csrf => undef, label => 'x', email => 'x@example.org',
                          password => $PW, password2 => $PW, current => $PW,
                          httpd_username => 'c@example.org', httpd_password => $PW)->code != 403 } @forms;
ok t_cmp("@let", '', 'every form (' . scalar(@forms) . ') answers 403 without its CSRF token');
ok t_cmp(join(',', map { n("SELECT count(*) FROM $_") }
                  qw(portal_team portal_account portal_invite organization public_key client_token)),
         $before, 'and none changed anything');

# ---- deleting ---------------------------------------------------------------------------------------
$c->get("/portal/org/$org");
$res = $c->post("/portal/org/$org/token/$ctid/delete", csrf => undef);
ok t_cmp($res->code, 403, 'delete without a CSRF token: refused');
$res = $c->post("/portal/org/$org/token/$ctid/delete");
ok t_cmp($res->code, 303, 'delete token: 303');
ok t_cmp(n_tokens(), 0, 'the token is gone');

# ---- password and sign-out -----------------------------------------------------------------------------
$a->get('/portal/password');
$res = $a->post('/portal/password', current => 'wrong', password => "$PW 2", password2 => "$PW 2");
ok t_cmp($res->content, qr/current password is not right/, 'wrong current password: refused');
$res = $a->post('/portal/password', current => $PW, password => "$PW 2", password2 => "$PW 2");
ok t_cmp($loc->($res), '/portal/login?changed=1', 'password changed');
$res = $a->get('/portal/');
ok t_cmp($loc->($res), '/portal/login', 'the old session no longer works');
$res = $a->login('a@example.org', "$PW 2");
ok t_cmp($loc->($res), '/portal/', 'signed in with the new password');
$a->get('/portal/');
$res = $a->get('/portal/logout?csrf=' . $a->csrf);
ok t_cmp($res->code, 405, 'sign-out by GET: refused');
$res = $a->post('/portal/logout?csrf=' . $a->csrf);
ok t_cmp($loc->($res), '/portal/login?out=1', 'signed out');
$res = $a->get('/portal/');
ok t_cmp($loc->($res), '/portal/login', 'and the session is over');

# ---- sign-ins are slowed after repeated failures ------------------------------------------------------------
# Each refusal is counted for the client's address; the waits are the
# core's (unit-tested), so the failures beyond one are recorded directly,
# and the test does not depend on how fast sign-ins are.
sql('DELETE FROM portal_login_failure');
my $d = DPC::Portal->new;
$res = $d->login('b@example.org', 'wrong password!!');
# counted once the response is out (httpd's log phase)
wait_for(5, sub { n("SELECT count(*) FROM portal_login_failure") > 0 });
my $client = n("SELECT client FROM portal_login_failure");
ok t_cmp(n("SELECT count(*) FROM portal_login_failure") . ' ' . $loc->($res),
         '1 /portal/login?failed=1', 'a refused sign-in is counted');
$res = $d->login('b@example.org', $PW);
ok t_cmp($loc->($res), '/portal/', 'a success is not');
sql("INSERT INTO portal_login_failure (client) SELECT '$client' FROM generate_series(1, 8)");
$res = $d->login('b@example.org', 'wrong password!!');
ok t_cmp($res->code, 429, 'after 9 failures in a row, the next attempt waits: 429');
ok t_cmp($res->header('Retry-After') // '', qr/^(1[0-6]|[1-9])$/, 'Retry-After: the seconds left of 16');
ok t_cmp($res->content, qr/wait \d+ seconds/, 'and the page says so');
$res = $d->login('b@example.org', $PW);
ok t_cmp($res->code, 429, 'even with the right password, until the wait is over');
ok t_cmp(n("SELECT count(*) FROM portal_login_failure"), 9, 'a refused attempt is no new failure');
sql('DELETE FROM portal_login_failure');

# ---- the JWT Tool and the static files -----------------------------------------------------------------------
$res = DPC::Portal->new->get('/portal/assets/jwt.html');
ok t_cmp($res->code, 200, 'the JWT Tool, without signing in');
ok t_cmp($res->header('Content-Security-Policy') // '', qr/script-src 'self'/, 'under the CSP');
for (['portal.css', qr{^text/css}], ['jwt.js', qr{^text/javascript}], ['portal.js', qr{^text/javascript}]) {
    $res = DPC::Portal->new->get("/portal/assets/$_->[0]");
    ok t_cmp($res->code . ' ' . ($res->header('Content-Type') // ''), qr/^200 /, "$_->[0] served");
    ok t_cmp($res->header('Content-Type') // '', $_->[1], "$_->[0]: a type nosniff lets run");
}
$res = DPC::Portal->new->get('/portal/assets/snippet.txt');
ok t_cmp($res->content, 'This is the snippet used to verify a key pair in DPC.',
         'the snippet to sign, byte for byte');
