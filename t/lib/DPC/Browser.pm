package DPC::Browser;
# A real browser for the tests: Debian's chromium, headless, driven through
# chromedriver's W3C WebDriver protocol (plain HTTP and JSON, so LWP is the
# whole client).  Chrome's performance log lists every request the page
# made, with its body, for tests that must show what was (not) sent.
use strict;
use warnings FATAL => 'all';
use File::Temp qw(tempdir);
use IO::Socket::INET ();
use JSON::PP ();
use LWP::UserAgent ();
use MIME::Base64 qw(decode_base64);
use Time::HiRes qw(sleep time);

my $json = JSON::PP->new->canonical;
my $ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';
our $CHROMIUM = '/usr/bin/chromium';
our $DRIVER = '/usr/bin/chromedriver';

sub available { -x $CHROMIUM && -x $DRIVER }

sub _free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0)
        or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# Start chromedriver and a browser session with a fresh profile.
sub new {
    my ($class, %a) = @_;
    my $dir = tempdir(CLEANUP => 1);
    my $port = _free_port();
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        # a process group of its own: quit ends chromedriver and every
        # chromium process it started, whatever state the session is in
        setpgrp(0, 0);
        $ENV{HOME} = $dir;      # chromium writes its caches under HOME
        open STDOUT, '>', "$dir/chromedriver.log";
        open STDERR, '>&', \*STDOUT;
        exec $DRIVER, "--port=$port" or die "exec $DRIVER: $!";
    }
    my $self = bless { pid => $pid, base => "http://127.0.0.1:$port", dir => $dir,
                       ua => LWP::UserAgent->new(timeout => 120) }, $class;
    my $until = time + 20;
    sleep 0.1 until eval { $self->_call(GET => '/status')->{ready} } || time > $until;
    my $caps = { browserName => 'chrome',
                 'goog:loggingPrefs' => { performance => 'ALL' },
                 'goog:chromeOptions' => { binary => $CHROMIUM,
                     args => ['--headless=new', '--no-sandbox', '--disable-gpu',
                              '--disable-dev-shm-usage', '--no-first-run',
                              "--user-data-dir=$dir/profile",
                              '--window-size=' . ($a{size} // '1024,900'),
                              '--force-device-scale-factor=1'] } };
    $self->{sid} = $self->_call(POST => '/session',
                                { capabilities => { alwaysMatch => $caps } })->{sessionId};
    return $self;
}

sub _call {
    my ($self, $method, $path, $body) = @_;
    my $req = HTTP::Request->new($method => $self->{base} . $path,
                                 ['Content-Type' => 'application/json']);
    $req->content($json->encode($body)) if $body;
    my $res = $self->{ua}->request($req);
    my $v = eval { $json->decode($res->content) } // {};
    die "WebDriver $method $path: " . $res->status_line . ' ' . substr($res->content, 0, 400)
        unless $res->is_success;
    return $v->{value};
}

sub _s { my ($self, $method, $path, $body) = @_; $self->_call($method, "/session/$self->{sid}$path", $body) }

sub go { my ($self, $url) = @_; $self->_s(POST => '/url', { url => $url }) }
sub url { $_[0]->_s(GET => '/url') }
sub title { $_[0]->_s(GET => '/title') }
sub source { $_[0]->_s(GET => '/source') }

# The element a CSS selector finds (waiting up to 10 s for it).
sub find {
    my ($self, $css) = @_;
    my $until = time + 10;
    while (1) {
        my $v = eval { $self->_s(POST => '/element', { using => 'css selector', value => $css }) };
        return $v->{$ELEMENT} if $v;
        die "no element $css on " . $self->url . "\n" if time > $until;
        sleep 0.1;
    }
}

sub type {
    my ($self, $css, $text) = @_;
    $self->_s(POST => '/element/' . $self->find($css) . '/value', { text => $text });
}

sub click {
    my ($self, $css) = @_;
    $self->_s(POST => '/element/' . $self->find($css) . '/click', {});
}

sub text {
    my ($self, $css) = @_;
    return $self->_s(GET => '/element/' . $self->find($css) . '/text');
}

# A property of an element (a textarea's value, a button's disabled).
sub prop {
    my ($self, $css, $name) = @_;
    return $self->_s(GET => '/element/' . $self->find($css) . "/property/$name");
}

sub script {
    my ($self, $js, @args) = @_;
    return $self->_s(POST => '/execute/sync', { script => $js, args => \@args });
}

# Wait up to $secs for $cond->() to be true; its last value.
sub wait_until {
    my ($self, $secs, $cond) = @_;
    my $until = time + $secs;
    my $v;
    sleep 0.1 until ($v = $cond->()) || time > $until;
    return $v;
}

# Save a PNG of the window.
sub screenshot {
    my ($self, $file) = @_;
    my $png = decode_base64($self->_s(GET => '/screenshot'));
    open(my $fh, '>:raw', $file) or die "$file: $!";
    print $fh $png;
    close $fh;
    return length $png;
}

# Every request the browser sent since the last call: [{url, method,
# body}], bodies included (from Chrome's performance log).
sub requests {
    my ($self) = @_;
    my @out;
    for my $e (@{ $self->_s(POST => '/se/log', { type => 'performance' }) // [] }) {
        my $m = eval { $json->decode($e->{message})->{message} } or next;
        next unless ($m->{method} // '') eq 'Network.requestWillBeSent';
        my $r = $m->{params}{request};
        my $body = $r->{postData} // join '', map { $_->{bytes} // '' } @{ $r->{postDataEntries} // [] };
        $body = decode_base64($body) if !defined $r->{postData} && $body ne '';
        push @out, { url => $r->{url}, method => $r->{method}, body => $body };
    }
    return \@out;
}

sub quit {
    my ($self) = @_;
    return unless $self->{pid};
    eval { $self->_s(DELETE => '') } if $self->{sid};
    kill 'TERM', -$self->{pid};
    waitpid $self->{pid}, 0;
    $self->{pid} = 0;
}

sub DESTROY { $_[0]->quit }

1;
