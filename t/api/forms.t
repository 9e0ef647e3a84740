# Every shape of form body, sent to every endpoint that reads one (the
# token endpoint of each dialect, also behind DPCPublicURL): each answers
# 400 with an OAuth error, and the httpd child that read it lives on.  A
# bare name such as "grant_type" once killed the child, and with it every
# request it was serving.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestUtil;
use DPC::Test qw(req json_of);

my @endpoints = ('/api/v2/Token/auth', '/api/v1/Token/auth', '/proxied/api/v2/Token/auth');

# Shapes, and what the refusal must talk about.
my @shapes = (
    [ 'grant_type',                        qr/grant_type/ ],          # bare name
    [ 'grant_type&scope&client_assertion', qr/grant_type/ ],
    [ 'grant_type=client_credentials&client_assertion_type', qr/client_assertion_type/ ],
    [ '=',                                 qr/no name/ ],             # empty name
    [ '=client_credentials',               qr/no name/ ],
    [ 'grant_type=client_credentials&=x',  qr/no name/ ],
    [ '&&',                                qr/grant_type/ ],          # nothing but separators
    [ '&',                                 qr/grant_type/ ],
    [ 'grant_type=client_credentials&&',   qr/client_assertion_type/ ], # trailing &
    [ '%',                                 qr/%-encoding/ ],          # bad escapes
    [ 'grant_type=%',                      qr/%-encoding/ ],
    [ 'grant_type=%4',                     qr/%-encoding/ ],
    [ 'grant_type=%zz',                    qr/%-encoding/ ],
    [ '%zz=1',                             qr/%-encoding/ ],
    [ 'grant_type=%00',                    qr/%-encoding/ ],
    [ 'grant_type&grant_type',             qr/more than once/ ],
    [ 'grant_type%',                       qr/%-encoding/ ],
);

plan tests => @endpoints * @shapes + 3;

for my $path (@endpoints) {
    for my $s (@shapes) {
        my ($body, $re) = @$s;
        my $res = req(POST => $path, content => $body,
                      'Content-Type' => 'application/x-www-form-urlencoded');
        my $j = json_of($res) // {};
        my $desc = $j->{error_description} // '';
        my $got = join ' ', $res->code, $j->{error} // '-', $desc =~ $re ? 'explained' : "'$desc'";
        ok t_cmp($got, '400 invalid_request explained', "$path: form '$body'");
    }
}

# No child died on any of them: httpd logs each such death (AH00052, "exit
# signal") in the error log this server writes.
my $log = Apache::Test::vars('t_logs') . '/error_log';
open(my $fh, '<', $log) or die "$log: $!";
my @deaths = grep { /exit signal/ } <$fh>;
close $fh;
print "# $_" for @deaths;
ok t_cmp(scalar(@deaths), 0, 'no httpd child died on a signal');

# And the server as a whole is still there, in both dialects.
ok t_cmp(req(GET => '/api/v2/metadata')->code, 200, 'v2 metadata after the forms');
ok t_cmp(req(GET => '/api/v1/metadata')->code, 200, 'v1 metadata after the forms');
