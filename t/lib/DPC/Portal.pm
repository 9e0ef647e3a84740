package DPC::Portal;
# One browser's session with the Sandbox Portal, as a form-filling user
# agent: its own cookie jar, no redirects followed (tests look at them),
# and the CSRF token of the last page it read.
use strict;
use warnings FATAL => 'all';
use Apache::TestRequest ();
use HTTP::Cookies ();
use HTTP::Request::Common qw(GET POST);
use LWP::UserAgent ();

sub new {
    my ($class) = @_;
    my $ua = LWP::UserAgent->new(cookie_jar => HTTP::Cookies->new, max_redirect => 0,
                                 timeout => 60);
    return bless { ua => $ua, csrf => undef, last => undef }, $class;
}

sub url { Apache::TestRequest::resolve_url($_[1]) }

# GET a portal path ("/portal/..."); remembers the page's CSRF token.
sub get {
    my ($self, $path) = @_;
    my $res = $self->{ua}->request(GET $self->url($path));
    $self->_remember($res);
    return $res;
}

# POST a form to a path.  The page's CSRF token is added unless the
# fields name one (csrf => undef sends none).
sub post {
    my ($self, $path, %f) = @_;
    $f{csrf} = $self->{csrf} unless exists $f{csrf};
    delete $f{$_} for grep { !defined $f{$_} } keys %f;
    my $res = $self->{ua}->request(POST $self->url($path), [%f]);
    $self->_remember($res);
    return $res;
}

sub _remember {
    my ($self, $res) = @_;
    $self->{last} = $res;
    $self->{csrf} = $1 if $res->content =~ /name="csrf" value="([^"]+)"/;
}

sub csrf { $_[0]{csrf} }

# The path a redirect points to ('' for none).
sub location {
    my ($res) = @_;
    my $l = $res->header('Location') // '';
    $l =~ s{^https?://[^/]+}{};
    return $l;
}

sub signup {
    my ($self, $team, $email, $pw) = @_;
    $self->get('/portal/signup');
    return $self->post('/portal/signup', team => $team, email => $email, password => $pw,
                       password2 => $pw);
}

# Sign in through the login page's form (mod_auth_form); the response.
sub login {
    my ($self, $email, $pw) = @_;
    my $page = $self->get('/portal/login');
    my ($action) = $page->content =~ /action="([^"]*dologin[^"]*)"/;
    $action =~ s/&amp;/&/g;
    return $self->post($action, httpd_username => $email, httpd_password => $pw, csrf => undef);
}

1;
