package DPC::Org;
# A provider organization for a test: made with dpcctl, with a registered
# key and a client token, and the means to get access tokens for it.
use strict;
use warnings FATAL => 'all';
use JSON::PP qw(decode_json);
use Apache::TestRequest ();
use DPC::Test qw(req json_of dpcctl);
use DPC::JWT qw(sign_jwt random_jti);

sub _ctl {
    my (@args) = @_;
    my ($st, $out, $err) = dpcctl(@args);
    die "dpcctl @args: $err" if $st;
    return decode_json($out);
}

# DPC::Org->new(name => ..., key => 'rsa1') registers keys/rsa1.pub.pem.
sub new {
    my ($class, %a) = @_;
    my $self = bless { %a }, $class;
    my $org = _ctl('org', 'create', '--name', $a{name} // 'Test Org');
    $self->{id} = $org->{id};
    $self->{key_file} = "$ENV{DPC_TEST_KEYS}/" . ($a{key} // 'rsa1') . '.pem';
    my $key = _ctl('key', 'add', '--org', $self->{id}, '--label', 'test',
                   '--pem', "$ENV{DPC_TEST_KEYS}/" . ($a{key} // 'rsa1') . '.pub.pem');
    $self->{kid} = $key->{id};
    my $tok = _ctl('token', 'create', '--org', $self->{id}, '--label', 'test');
    $self->{client_token} = $tok->{token};
    $self->{client_token_id} = $tok->{id};
    return $self;
}

sub token_url {
    my ($self, $api) = @_;
    $api //= 'v2';
    return 'http://' . Apache::TestRequest::hostport() . "/api/$api/Token/auth";
}

# Good claims for an assertion, overridable.
sub claims {
    my ($self, %over) = @_;
    my $now = time;
    my %c = (iss => $self->{client_token}, sub => $self->{client_token},
             aud => $self->token_url($over{api}), exp => $now + 240, iat => $now,
             jti => random_jti(), %over);
    delete $c{api};
    delete $c{$_} for grep { !defined $c{$_} } keys %c;
    return \%c;
}

sub assertion {
    my ($self, %a) = @_;
    return sign_jwt(key => $a{key_file} // $self->{key_file}, alg => $a{alg},
                    header => { kid => $self->{kid}, %{ $a{header} // {} } },
                    claims => $a{claims} // $self->claims, hmac_key => $a{hmac_key});
}

# POST the form to /Token/auth; the HTTP::Response.
sub token_request {
    my ($self, %form) = @_;
    my $api = delete $form{api} // 'v2';
    my %f = (grant_type => 'client_credentials', scope => 'system/*.*',
             client_assertion_type => 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
             %form);
    delete $f{$_} for grep { !defined $f{$_} } keys %f;
    my $body = join '&', map { _enc($_) . '=' . _enc($f{$_}) } sort keys %f;
    return req(POST => "/api/$api/Token/auth", content => $body,
               'Content-Type' => 'application/x-www-form-urlencoded');
}

sub _enc {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# A fresh access token (dies if the server refuses).
sub access_token {
    my ($self, %a) = @_;
    my $res = $self->token_request(client_assertion => $self->assertion,
                                   scope => $a{scope} // 'system/*.*');
    die 'token request failed: ' . $res->code . ' ' . $res->content unless $res->code == 200;
    return json_of($res)->{access_token};
}

1;
