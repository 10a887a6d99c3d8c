package MagicLink::Timing;

# A timing distinguisher built the way an attacker would: learn a threshold from the answer
# times of generate for an address known to have an account and one known not to, then guess
# for fresh answers by the median of k of them. Accuracy 50 % means the times tell nothing.
# Used by t/061-timing.t (a bounded run) and bench/timing.pl (the figures).

use strict;
use warnings;
use Exporter qw(import);
use IO::Socket::INET;
use JSON::PP ();
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time);

our @EXPORT_OK = qw(answer_times distinguisher);

# A kept-alive connection that sends each request in one write, without Nagle's delay: the
# client adds as little noise as it can, as a careful attacker's would.
sub connect_to {
    my ($port) = @_;
    my $socket = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Proto => 'tcp')
        or die "connect to $port: $!";
    setsockopt($socket, IPPROTO_TCP, TCP_NODELAY, 1) or die "TCP_NODELAY: $!";
    return $socket;
}

# The answer to one request, or nothing when the server had closed the connection.
sub exchange {
    my ($socket, $request) = @_;
    syswrite($socket, $request) or return;
    my $answer = '';
    until ($answer =~ /\r\n\r\n/
           && length($answer) >= $+[0] + (($answer =~ /Content-Length: (\d+)/i)[0] // 0)) {
        sysread($socket, $answer, 4096, length $answer) or return;
    }
    return $answer;
}

# Milliseconds each of `count` generate requests for `email` took; `client` is
# { port, socket } and reconnects when nginx ends a kept-alive connection (keepalive_requests).
sub answer_times {
    my ($client, $path, $email, $count) = @_;
    my $body = JSON::PP::encode_json({ email => $email });
    my $request = "POST $path HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    my @times;
    while (@times < $count) {
        $client->{socket} //= connect_to($client->{port});
        my $started = time;
        my $answer = exchange($client->{socket}, $request);
        my $took = 1000 * (time - $started);
        if (!defined $answer) {  # closed by the server: measure again on a new connection
            delete $client->{socket};
            next;
        }
        die "generate answered: $answer\n" unless $answer =~ m{^HTTP/1\.1 200 };
        push @times, $took;
    }
    return @times;
}

sub median { my @sorted = sort { $a <=> $b } @_; return $sorted[int(@sorted / 2)] }

# The threshold and side ("known answers are slower" or faster) that classify the labelled
# training times best.
sub learn_threshold {
    my ($known, $unknown) = @_;
    my @points = sort { $a->[0] <=> $b->[0] } (map({ [$_, 1] } @$known), map({ [$_, 0] } @$unknown));
    my ($best, $threshold, $known_slower) = (-1, 0, 1);
    my ($known_below, $unknown_below) = (0, 0);
    for my $i (0 .. $#points) {
        $points[$i][1] ? $known_below++ : $unknown_below++;
        my $cut = $i < $#points ? ($points[$i][0] + $points[$i + 1][0]) / 2 : $points[$i][0] + 1;
        # Known slower: known above the cut, unknown below it (and the mirror image).
        for my $slower (1, 0) {
            my $right = $slower ? $unknown_below + (@$known - $known_below)
                                : $known_below + (@$unknown - $unknown_below);
            ($best, $threshold, $known_slower) = ($right, $cut, $slower) if $right > $best;
        }
    }
    return ($threshold, $known_slower);
}

# Trains on `training` requests per address, then measures `fresh` more per address and returns
# { k => accuracy } for each k in `ks`: the share of `trials` guesses (known or not, from the
# median of k fresh times drawn from one address) that were right; plus the medians.
sub distinguisher {
    my (%o) = @_;
    my $client = { port => $o{port} };
    # Runs of `block` requests for one address, then for the other: drift hits both alike, and
    # each answer follows answers for its own address, as in an attack on one address (the work
    # a request leaves for after its answer lands on the next answers).
    my $block = $o{block} // 10;
    my $sample = sub {
        my ($count) = @_;
        my (@known, @unknown);
        for (1 .. $count / $block) {
            push @known, answer_times($client, $o{path}, $o{known}, $block);
            push @unknown, answer_times($client, $o{path}, $o{unknown}, $block);
        }
        return (\@known, \@unknown);
    };
    $sample->(20);  # warm connections and caches
    my ($train_known, $train_unknown) = $sample->($o{training} // 200);
    my ($threshold, $known_slower) = learn_threshold($train_known, $train_unknown);
    my ($known, $unknown) = $sample->($o{fresh} // 600);

    srand(1);  # the same draws each run
    my %accuracy;
    for my $k (@{ $o{ks} }) {
        my ($right, $trials) = (0, $o{trials} // 2000);
        for my $trial (1 .. $trials) {
            my $is_known = $trial % 2;
            my $pool = $is_known ? $known : $unknown;
            my @draw = map { $pool->[int rand @$pool] } 1 .. $k;
            my $guess_known = (median(@draw) > $threshold) == $known_slower ? 1 : 0;
            $right++ if $guess_known == $is_known;
        }
        $accuracy{$k} = $right / $trials;
    }
    return { accuracy => \%accuracy, threshold => $threshold,
             known_median => median(@$known), unknown_median => median(@$unknown) };
}

1;
