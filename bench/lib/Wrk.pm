# wrk runs for the benchmarks (bench.pl, generate.pl): one call, one row's figures.
package Wrk;
use strict;
use warnings;
use Exporter qw(import);
our @EXPORT = qw(wrk);

our $connections = $ENV{BENCH_CONNECTIONS} // 16;
our $threads = $ENV{BENCH_THREADS} // 2;

# Runs wrk on `url` for `seconds` with an optional Lua script of bench/, its environment and a
# cookie; returns [requests/s, p50 ms, p99 ms, non-2xx/3xx responses].
sub wrk {
    my ($url, $seconds, %opts) = @_;
    local @ENV{ keys %{ $opts{env} // {} } } = values %{ $opts{env} // {} };
    local $ENV{WRK_THREADS} = $threads;
    my $script = $opts{script} ? "-s bench/$opts{script}" : '';
    my $header = $opts{cookie} ? "-H 'Cookie: $opts{cookie}'" : '';
    my $output = `wrk -t$threads -c$connections -d${seconds}s --latency $script $header '$url' 2>&1`;
    my ($rate) = $output =~ /Requests\/sec:\s+([\d.]+)/ or die "wrk failed:\n$output";
    my %percentile = $output =~ /^\s+(50|99)%\s+([\d.]+\w+)/mg;
    my ($errors) = $output =~ /Non-2xx or 3xx responses:\s+(\d+)/;
    return [$rate, map({ milliseconds($percentile{$_}) } 50, 99), $errors // 0];
}

sub milliseconds {
    my ($text) = @_;
    my ($value, $unit) = $text =~ /([\d.]+)(\w+)/;
    return $value * { us => 0.001, ms => 1, s => 1000 }->{$unit};
}

1;
