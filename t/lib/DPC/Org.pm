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

# DPC::Org->new(name => ..., key => 'rsa1') registers keys/rsa1.pub.pem;
# key_path => '/dir/name' registers /dir/name.pub.pem and signs with
# /dir/name.pem instead (keys a test makes itself: DPC::JWT::gen_keys).
sub new {
    my ($class, %a) = @_;
    my $self = bless { %a }, $class;
    my $org = _ctl('org', 'create', '--name', $a{name} // 'Test Org');
    $self->{id} = $org->{id};
    my $base = $a{key_path} // "$ENV{DPC_TEST_KEYS}/" . ($a{key} // 'rsa1');
    $self->{key_file} = "$base.pem";
    my $key = _ctl('key', 'add', '--org', $self->{id}, '--label', 'test',
                   '--pem', "$base.pub.pem");
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
    return sign_jwt(key => $a{key_file} // $self->{key_file}, alg => $a{alg} // $self->{alg},
                    header => { kid => $self->{kid}, %{ $a{header} // {} } },
                    claims => $a{claims} // $self->claims, hmac_key => $a{hmac_key});
}

# POST the form to /Token/auth; the HTTP::Response.
sub token_request {
    my ($self, %form) = @_;
    my $api = delete $form{api} // 'v2';
    my $host = delete $form{Host};
    my %f = (grant_type => 'client_credentials', scope => 'system/*.*',
             client_assertion_type => 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
             %form);
    delete $f{$_} for grep { !defined $f{$_} } keys %f;
    my $body = join '&', map { _enc($_) . '=' . _enc($f{$_}) } sort keys %f;
    return req(POST => "/api/$api/Token/auth", content => $body,
               'Content-Type' => 'application/x-www-form-urlencoded',
               ($host ? (Host => $host) : ()));
}

sub _enc {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# A fresh access token (dies if the server refuses).  Options: scope,
# api (v2 or v1: the endpoint and the aud), assertion (a JWT to send
# instead of a fresh one made with the organization's first key and token).
sub access_token {
    my ($self, %a) = @_;
    my $api = $a{api} // 'v2';
    my $res = $self->token_request(api => $api,
                                   client_assertion => $a{assertion}
                                       // $self->assertion(claims => $self->claims(api => $api)),
                                   scope => $a{scope} // 'system/*.*');
    die 'token request failed: ' . $res->code . ' ' . $res->content unless $res->code == 200;
    return json_of($res)->{access_token};
}

# Another client token of this organization, made with dpcctl:
# {id, token, ...}.  expires => INSTANT for one that expires then.
sub new_client_token {
    my ($self, %a) = @_;
    return _ctl('token', 'create', '--org', $self->{id}, '--label', $a{label} // 'extra',
                defined $a{expires} ? ('--expires', $a{expires}) : ());
}

# Register another public key for this organization with dpcctl; $base is
# a path without .pem / .pub.pem.  Returns the key's id.
sub add_key {
    my ($self, $base, %a) = @_;
    return _ctl('key', 'add', '--org', $self->{id}, '--label', $a{label} // 'extra',
                '--pem', "$base.pub.pem")->{id};
}

1;
