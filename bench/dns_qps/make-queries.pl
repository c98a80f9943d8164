#!/usr/bin/perl
# make-queries.pl - query files for bench/dns_qps.sh, in dnsperf's binary input format (-B: each
# query is a 2-byte length and the DNS message, as on TCP; dnsperf rewrites only the ID). Binary
# input is how every query carries its own EDNS Client Subnet option: dnsperf's -E puts one fixed
# option on every query of a run.
#
#   perl make-queries.pl --mix steered|mixed [--ecs] [--count N] [--seed S] --out FILE
#   perl make-queries.pl --mode noecs|ecs|mixed [--count N] [--seed S] --out FILE
#
# --mode names the benchmark modes of dns_qps.sh: noecs = --mix steered, ecs = --mix steered
# --ecs, mixed = --mix mixed --ecs.
#
# Every query has an OPT record (EDNS(0), UDP size 1232, no DO bit), so the ECS and no-ECS files
# differ only by the option. Mixes:
#   steered  www.cdn.example A (the geo-steered name) only
#   mixed    60% www A, 10% www AAAA (NODATA: the edges have no IPv6), 10% ns1 A (static),
#            5% SOA and 5% NS at the apex, 10% A for a random name that does not exist (NXDOMAIN)
# ECS subnets (--ecs): 70% a random /24 in 127.1-8/16 (the test DB's US, DE/GB, KR, BR, AU,
# Honolulu, ZA-without-location and IN networks), 10% the TEST-NET and MaxMind probe /24s, 10% a
# random /24 in 10/8 (not in the DB: default region), 10% a random /56 in 2001:db8:{1,2,3,6}::/48.
# Output is reproducible for a given seed.
use strict;
use warnings;
use Getopt::Long;

my ( $mix, $ecs, $count, $seed, $out, $mode ) = ( 'steered', 0, 20000, 42, undef, undef );
GetOptions(
    'mode=s'  => \$mode,
    'mix=s'   => \$mix,
    'ecs'     => \$ecs,
    'count=i' => \$count,
    'seed=i'  => \$seed,
    'out=s'   => \$out
) or die "usage: $0 --mix steered|mixed [--ecs] [--count N] [--seed S] --out FILE\n";
die "--out is required\n" unless defined $out;
if ( defined $mode ) {
    my %modes = ( noecs => [ 'steered', 0 ], ecs => [ 'steered', 1 ], mixed => [ 'mixed', 1 ] );
    die "unknown mode $mode (noecs, ecs, mixed)\n" unless $modes{$mode};
    ( $mix, $ecs ) = @{ $modes{$mode} };
}
die "--mix must be steered or mixed\n" unless $mix =~ /^(steered|mixed)$/;
srand($seed);

sub qname_wire {
    my ($name) = @_;
    return join( '', map { chr( length $_ ) . $_ } split /\./, $name ) . "\0";
}

my @fixed_v4 = qw(192.0.2.0 198.51.100.0 203.0.113.0 81.2.69.0 216.160.83.0 175.16.199.0
  89.160.20.0);

# Returns the ECS option (code 8) for one random client subnet.
sub ecs_option {
    my $r = rand();
    my ( $family, $prefix, @bytes );
    if ( $r < 0.7 ) {
        ( $family, $prefix ) = ( 1, 24 );
        @bytes = ( 127, 1 + int( rand(8) ), int( rand(256) ) );
    }
    elsif ( $r < 0.8 ) {
        ( $family, $prefix ) = ( 1, 24 );
        @bytes = ( split /\./, $fixed_v4[ int( rand(@fixed_v4) ) ] )[ 0 .. 2 ];
    }
    elsif ( $r < 0.9 ) {
        ( $family, $prefix ) = ( 1, 24 );
        @bytes = ( 10, int( rand(256) ), int( rand(256) ) );
    }
    else {
        ( $family, $prefix ) = ( 2, 56 );
        my $net = (qw(1 2 3 6))[ int( rand(4) ) ];
        @bytes = ( 0x20, 0x01, 0x0d, 0xb8, 0, $net, int( rand(256) ) );
    }
    my $data = pack( 'nCC', $family, $prefix, 0 ) . pack( 'C*', @bytes );
    return pack( 'nn', 8, length $data ) . $data;
}

my %type = ( A => 1, NS => 2, SOA => 6, AAAA => 28 );

sub pick {
    return ( 'www.cdn.example', 'A' ) if $mix eq 'steered';
    my $r = rand();
    return ( 'www.cdn.example', 'A' )    if $r < 0.60;
    return ( 'www.cdn.example', 'AAAA' ) if $r < 0.70;
    return ( 'ns1.cdn.example', 'A' )    if $r < 0.80;
    return ( 'cdn.example',     'SOA' )  if $r < 0.85;
    return ( 'cdn.example',     'NS' )   if $r < 0.90;
    return ( sprintf( 'nx%06d.cdn.example', int( rand(1000000) ) ), 'A' );
}

open my $fh, '>:raw', $out or die "$out: $!\n";
for my $i ( 1 .. $count ) {
    my ( $name, $t ) = pick();
    my $opts = $ecs ? ecs_option() : '';
    # header: id 0 (dnsperf sets it), flags 0 (no RD: an authoritative server), 1 question,
    # 1 additional (OPT)
    my $msg = pack( 'nnnnnn', 0, 0, 1, 0, 0, 1 )
      . qname_wire($name)
      . pack( 'nn', $type{$t}, 1 )
      . "\0"
      . pack( 'nnNn', 41, 1232, 0, length $opts )
      . $opts;
    print {$fh} pack( 'n', length $msg ), $msg;
}
close $fh or die "$out: $!\n";
