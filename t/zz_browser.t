# The DPC v2 guide's "Getting DPC Access", steps one to six, in a real
# browser (headless chromium through chromedriver): sign up, sign in, add a
# provider organization, upload a key made with `dpc-client keygen` and its
# signature, create a client token, make the JWT in the JWT Tool page,
# exchange it, and call /api/v2/Organization with the access token.  No
# request the browser made may carry the private key.  The JWT Tool also
# works saved to disk and opened from there.  Screenshots of each page go
# to $DPC_TEST_SCREENSHOTS (build/test: var/screenshots).
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use Apache::TestRequest ();
use File::Copy qw(copy);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use DPC::Test qw(req json_of sql run slurp);
use DPC::Browser;

plan tests => 29, need { 'chromium and chromedriver (apt: chromium chromium-driver)'
                         => DPC::Browser::available() };

sub yes { t_cmp($_[0] ? 'yes' : 'no', 'yes', $_[1]) }

my $shots = $ENV{DPC_TEST_SCREENSHOTS} || 't/logs/screenshots';
make_path($shots);
my $base = 'http://' . Apache::TestRequest::hostport();
my $dir = tempdir(CLEANUP => 1);
my $email = 'browser-' . time . '@example.org';
my $PW = 'a sandbox password';
my @sent;       # every request the browser made
my $n = 0;

my $b = DPC::Browser->new;
sub shot {
    my ($name) = @_;
    push @sent, @{ $b->requests };
    $b->screenshot(sprintf('%s/%02d-%s.png', $shots, ++$n, $name));
}
sub page_has { my ($re) = @_; $b->wait_until(10, sub { $b->source =~ $re }) }

# Step one: sign up, then sign in.
$b->go("$base/portal/signup");
shot('signup');
$b->type('#team', 'Browser Health IT');
$b->type('#email', $email);
$b->type('#password', $PW);
$b->type('#password2', $PW);
$b->click('form.stack button[type=submit]');
ok yes(page_has(qr/Your account is ready/), 'signed up: the sign-in page says so');
$b->type('#email', $email);
$b->type('#password', $PW);
shot('signin');
$b->click('form.stack button[type=submit]');
ok yes(page_has(qr/Provider Organizations/), 'signed in: the home page');
ok t_cmp($b->url, "$base/portal/", 'at the portal home');
ok t_cmp($b->script('return getComputedStyle(document.querySelector("header")).backgroundColor'),
         'rgb(11, 71, 120)', 'the stylesheet applies (the CSP and nosniff let it through)');

# Step two: add a provider organization.
$b->click('a.button[href$="/org/new"]');
ok yes(page_has(qr/fake provider NPI/), 'the Add Provider Organization page');
shot('add-organization');
$b->click('form.stack button[type=submit]');
ok yes(page_has(qr/Org ID: <code>/), 'the new organization is listed with its Org ID');
shot('home');
my ($org) = $b->source =~ /Org ID: <code>([0-9a-f-]{36})</;
ok yes($org, "Org ID $org");

# Step three: a key pair made with dpc-client, its public key and signature.
my ($st, $out, $err) = run("$ENV{DPC_TEST_TOP}/dpc-client", 'keygen', '--out', "$dir/key");
ok t_cmp($st, 0, 'dpc-client keygen');
my $private = slurp("$dir/key.pem");
$b->click("a[href\$='/org/$org']");
$b->click('a.button[href$="/key/new"]');
ok yes(page_has(qr/How to generate a public key and signature/), 'the key page and its instructions');
$b->script('document.querySelector("details").open = true');
$b->type('#label', 'browser key');
$b->type('#public_key', slurp("$dir/key.pub.pem"));
$b->type('#signature', slurp("$dir/key.sig"));
shot('add-key');
$b->click('form.stack button[type=submit]');
ok yes(page_has(qr/browser key/) && $b->url eq "$base/portal/org/$org",
       "back on the organization's page, the key listed");
my $kid = sql("SELECT id FROM public_key WHERE org_id = '$org'");
ok yes($kid && $b->source =~ /\Q$kid\E/, "key id $kid shown");

# Step four: a client token, shown once.
$b->click('a.button[href$="/token/new"]');
$b->type('#label', 'sandbox browser');
shot('add-token');
$b->click('form.stack button[type=submit]');
ok yes(page_has(qr/shown only once/), 'the token page');
my $ct = $b->text('#client-token');
ok t_cmp($ct, qr/^dpcct_[A-Za-z0-9_-]{43}$/, 'the client token');
ok t_cmp($b->prop('button.copy', 'offsetWidth') > 0 ? 'shown' : 'hidden', 'shown',
         'with a copy button (JavaScript on)');
shot('token-created');

# Step five: the JWT Tool, reached from the key's "Make a JWT" link.
$b->go("$base/portal/org/$org");
$b->click("a[href*='jwt.html#kid=$kid']");
ok yes(page_has(qr/Generate JWT/), 'the JWT Tool');
ok t_cmp($b->prop('#key-id', 'value'), $kid, 'the key id filled in from the link');
ok t_cmp($b->prop('#token-url', 'value'), "$base/api/v2/Token/auth", 'and the token URL');
$b->type('#private-key', $private);
$b->type('#client-token', $ct);
$b->click('#generate');
my $jwt = $b->wait_until(20, sub { $b->prop('#jwt', 'value') });
ok t_cmp($jwt, qr/^[\w-]+\.[\w-]+\.[\w-]+$/, 'a JWT made in the page');
shot('jwt');

# Step six: exchange it, call the API.
$b->click('#exchange');
my $access = $b->wait_until(20, sub { $b->prop('#access-token', 'value') });
ok t_cmp($access, qr/^dpc2\./, 'an access token from /Token/auth');
$b->click('#call');
my $api = $b->wait_until(20, sub { $b->prop('#api-result', 'value') });
ok t_cmp($api, qr/HTTP 200.*"id": "\Q$org\E"/s, 'GET /Organization from the page names the organization');
shot('access-token');
my $res = req(GET => '/api/v2/Organization', Authorization => "Bearer $access");
ok t_cmp(json_of($res)->{entry}[0]{resource}{id} // '', $org,
         'GET /api/v2/Organization with the access token');

# The private key never left the page.
push @sent, @{ $b->requests };
my ($chunk) = $private =~ /^([A-Za-z0-9+\/]{64})$/m;
my @leaks = grep { index($_->{url} . $_->{body}, $chunk) >= 0
                   || $_->{body} =~ /PRIVATE KEY/ } @sent;
my ($exchange) = grep { $_->{url} =~ m{/Token/auth$} && $_->{method} eq 'POST' } @sent;
ok yes($exchange && $exchange->{body} =~ /client_assertion=/,
       'the request log holds the exchange, with its body (' . scalar(@sent) . ' requests)');
ok t_cmp(scalar(@leaks), 0, 'no request carried the private key');

# The JWT Tool saved to disk and opened from there, with no server.
my $offline = tempdir(CLEANUP => 1);
chmod 0755, $offline;
copy("$ENV{DPC_TEST_TOP}/portal/$_", "$offline/$_") or die "copy $_: $!"
    for qw(jwt.html jwt.js portal.css);
$b->go("file://$offline/jwt.html");
$b->type('#private-key', $private);
$b->type('#client-token', $ct);
$b->type('#key-id', $kid);
$b->type('#token-url', "$base/api/v2/Token/auth");
$b->click('#generate');
my $jwt2 = $b->wait_until(20, sub { $b->prop('#jwt', 'value') });
ok t_cmp($jwt2, qr/^[\w-]+\.[\w-]+\.[\w-]+$/, 'the JWT Tool works from a file');
shot('jwt-offline');
my @offline_sent = grep { $_->{url} !~ m{^(file|data|chrome|about):} } @{ $b->requests };
ok t_cmp(scalar(@offline_sent), 0, 'and sends nothing over the network');
my $form = join '&', 'grant_type=client_credentials', 'scope=system%2F*.*',
    'client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer',
    "client_assertion=$jwt2";
$res = req(POST => '/api/v2/Token/auth', content => $form,
           'Content-Type' => 'application/x-www-form-urlencoded');
ok t_cmp($res->code, 200, 'its JWT is accepted at /Token/auth');

# Readable at phone width.
my $phone = DPC::Browser->new(size => '390,844');
$phone->go("$base/portal/login");
ok t_cmp($phone->script('return document.documentElement.scrollWidth <= window.innerWidth') ? 1 : 0,
         1, 'the sign-in page fits a phone screen');
$phone->screenshot(sprintf('%s/%02d-phone-signin.png', $shots, ++$n));
# and so does every page once signed in
$phone->type('#email', $email);
$phone->type('#password', $PW);
$phone->click('form.stack button[type=submit]');
$phone->wait_until(10, sub { $phone->source =~ /Provider Organizations/ });
my @narrow;
for my $page ('/portal/', '/portal/team', '/portal/password', '/portal/org/new', "/portal/org/$org",
              "/portal/org/$org/key/new", "/portal/org/$org/token/new", '/portal/assets/jwt.html') {
    $phone->go("$base$page");
    push @narrow, $page unless $phone->script(
        'return document.documentElement.scrollWidth <= window.innerWidth');
}
ok t_cmp(join(' ', @narrow), '', 'every signed-in page and the JWT Tool fit a phone screen too');
# every form field has a label (a <label for> or an aria-label)
$phone->go("$base/portal/org/$org/key/new");
ok t_cmp($phone->script(q{return Array.from(document.querySelectorAll('input:not([type=hidden]), textarea, select'))
    .filter(e => !(e.id && document.querySelector('label[for="' + e.id + '"]')) && !e.getAttribute('aria-label'))
    .map(e => e.name || e.id).join(' ')}), '', 'every field of the key form is labelled');
$phone->quit;
$b->quit;
