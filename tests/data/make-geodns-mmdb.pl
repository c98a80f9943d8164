#!/usr/bin/perl
# make-geodns-mmdb.pl - build the geodns test databases and their expected-results table.
#
# Needs Debian's libmaxmind-db-writer-perl. From the repository root:
#   perl tests/data/make-geodns-mmdb.pl [--dir tests/data]
# writes, byte-reproducibly (build epoch = SOURCE_DATE_EPOCH, default 1700000000):
#   geodns-test.mmdb           GeoIP2-City schema: country.iso_code, continent.code,
#                              location.latitude/longitude as double, city.names.en
#   geodns-test-flat.mmdb      flat schema of the npm @ip-location-db/*-city-mmdb packages:
#                              country_code, latitude/longitude as float, city; no continent
#   geodns-test.expected.tsv   one line per probe: what a lookup must return (found, country,
#                              continent, coordinates, prefix in the address's own family) and
#                              the three anchor regions sorted by great-circle distance in km.
#                              Computed here from the network list, not by reading the .mmdb.
#
# Both databases are IPv6 trees holding IPv4 data at ::/96 with ::ffff:0:0/96, 2001::/32 and
# 2002::/16 aliased to it. Reserved-network removal is off: otherwise the writer silently drops
# loopback, TEST-NET and 2001:db8::/32 data, which is all this file holds.
use strict;
use warnings;
use Getopt::Long;
use Socket qw(inet_pton AF_INET AF_INET6);
use MaxMind::DB::Writer::Tree;

my $dir = 'tests/data';
GetOptions( 'dir=s' => \$dir ) or die "usage: $0 [--dir DIR]\n";

# The anchors the expected order is computed for (same as infra/configs/geodns.example.toml).
my @regions = (
    [ 'us-east',      39.0438, -77.4874 ],    # Ashburn, VA
    [ 'eu-central',   50.1109, 8.6821 ],      # Frankfurt
    [ 'ap-northeast', 37.5665, 126.9780 ],    # Seoul
);

# code => [ geoname_id, name, continent code, in EU ]
my %countries = (
    US => [ 6252001, 'United States',  'NA', 0 ],
    DE => [ 2921044, 'Germany',        'EU', 1 ],
    GB => [ 2635167, 'United Kingdom', 'EU', 0 ],
    KR => [ 1835841, 'South Korea',    'AS', 0 ],
    BR => [ 3469034, 'Brazil',         'SA', 0 ],
    AU => [ 2077456, 'Australia',      'OC', 0 ],
    ZA => [ 953987,  'South Africa',   'AF', 0 ],
    IN => [ 1269750, 'India',          'AS', 0 ],
    CN => [ 1814991, 'China',          'AS', 0 ],
    SE => [ 2661886, 'Sweden',         'EU', 1 ],
);
my %continents = (
    AF => [ 6255146, 'Africa' ],
    AS => [ 6255147, 'Asia' ],
    EU => [ 6255148, 'Europe' ],
    NA => [ 6255149, 'North America' ],
    SA => [ 6255150, 'South America' ],
    OC => [ 6255151, 'Oceania' ],
);
# place => [ city name (or ''), latitude, longitude ]
my %places = (
    chicago    => [ 'Chicago',   41.8781,  -87.6298 ],
    berlin     => [ 'Berlin',    52.5200,  13.4050 ],
    london     => [ 'London',    51.5074,  -0.1278 ],
    seoul      => [ 'Seoul',     37.5665,  126.9780 ],
    saopaulo   => [ 'Sao Paulo', -23.5505, -46.6333 ],
    sydney     => [ 'Sydney',    -33.8688, 151.2093 ],
    honolulu   => [ 'Honolulu',  21.3069,  -157.8583 ],
    mumbai     => [ 'Mumbai',    19.0760,  72.8777 ],
    ashburn    => [ 'Ashburn',   39.0438,  -77.4874 ],
    frankfurt  => [ 'Frankfurt', 50.1109,  8.6821 ],
    # the coordinates of the same probes in MaxMind's GeoIP2-City-Test.mmdb
    mm_london  => [ 'London',    51.5142,  -0.0931 ],
    mm_milton  => [ 'Milton',    47.2513,  -122.3149 ],
    mm_chang   => [ 'Changchun', 43.8800,  125.3228 ],
    mm_linkop  => [ 'Linkoping', 58.4167,  15.6167 ],
    mm_kr      => [ '',          37.0000,  127.5000 ],
);

# [ network, country, place or undef (country only, no coordinates), note ]
# A more specific network listed after its parent overrides that part of it.
my @nets = (
    [ '127.1.0.0/16',      'US', 'chicago',   'plain case: us-east' ],
    [ '127.2.0.0/16',      'DE', 'berlin',    'plain case: eu-central' ],
    [ '127.2.1.0/24',      'GB', 'london',    'more specific /24 inside 127.2/16 (scope)' ],
    [ '127.3.0.0/16',      'KR', 'seoul',     'plain case: ap-northeast' ],
    [ '127.4.0.0/16',      'BR', 'saopaulo',  'continent without a region: us-east by distance' ],
    [ '127.5.0.0/16',      'AU', 'sydney',    'continent without a region: ap-northeast' ],
    [ '127.6.0.0/16',      'US', 'honolulu',  'US by country, ap-northeast by km (antimeridian)' ],
    [ '127.7.0.0/16',      'ZA', undef,       'country only, no location: default region' ],
    [ '127.8.0.0/16',      'IN', 'mumbai',    'ap-northeast, eu-central second' ],
    [ '127.21.0.0/16',     'US', 'ashburn',   'failover drill: us-east' ],
    [ '127.22.0.0/16',     'DE', 'frankfurt', 'failover drill: eu-central' ],
    [ '127.23.0.0/16',     'KR', 'seoul',     'failover drill: ap-northeast' ],
    [ '192.0.2.0/24',      'US', 'chicago',   'TEST-NET-1 as ECS data' ],
    [ '198.51.100.0/24',   'DE', 'berlin',    'TEST-NET-2 as ECS data' ],
    [ '203.0.113.0/24',    'KR', 'seoul',     'TEST-NET-3 as ECS data' ],
    [ '2001:db8:1::/48',   'US', 'chicago',   'IPv6 us-east' ],
    [ '2001:db8:2::/48',   'DE', 'berlin',    'IPv6 eu-central' ],
    [ '2001:db8:2:1::/64', 'GB', 'london',    'IPv6 more specific /64' ],
    [ '2001:db8:3::/48',   'KR', 'seoul',     'IPv6 ap-northeast' ],
    [ '2001:db8:6::/48',   'US', 'honolulu',  'IPv6 antimeridian' ],
    [ '2001:db8:7::/48',   'ZA', undef,       'IPv6 country only' ],
    # MaxMind's probe addresses, same country and coordinates as in their test DB, widened to
    # a /24 so that an ECS probe such as +subnet=81.2.69.142/24 (sent as 81.2.69.0) hits data.
    [ '81.2.69.0/24',      'GB', 'mm_london', 'MaxMind probe 81.2.69.142 as a /24' ],
    [ '216.160.83.0/24',   'US', 'mm_milton', 'MaxMind probe 216.160.83.56 as a /24' ],
    [ '175.16.199.0/24',   'CN', 'mm_chang',  'MaxMind probe 175.16.199.0/24' ],
    [ '89.160.20.0/24',    'SE', 'mm_linkop', 'MaxMind probe 89.160.20.112 as a /24' ],
    [ '2001:220::/32',     'KR', 'mm_kr',     'MaxMind probe 2001:220::/32' ],
    # the edge answer addresses of the example config
    [ '127.10.0.1/32',     'US', 'ashburn',   'edge address us-east' ],
    [ '127.10.0.2/32',     'DE', 'frankfurt', 'edge address eu-central' ],
    [ '127.10.0.3/32',     'KR', 'seoul',     'edge address ap-northeast' ],
    [ '2001:db8:e::1/128', 'US', 'ashburn',   'edge address us-east IPv6' ],
    [ '2001:db8:e::2/128', 'DE', 'frankfurt', 'edge address eu-central IPv6' ],
    [ '2001:db8:e::3/128', 'KR', 'seoul',     'edge address ap-northeast IPv6' ],
);
# Addresses in no network (and extra probes inside networks): [ address, note ].
my @probes = (
    [ '127.0.0.1',         'not in the DB: unknown client' ],
    [ '127.9.255.255',     'not in the DB, between 127.8/16 and 127.10.0.1' ],
    [ '10.1.2.3',          'not in the DB, far from any network' ],
    [ '127.2.200.1',       'inside 127.2/16 away from the /24' ],
    [ '127.10.0.0',        'next to the /32 edge addresses' ],
    [ '2001:db8:ffff::1',  'IPv6 not in the DB' ],
    [ '2001:db8:2:2::1',   'IPv6 inside 2001:db8:2::/48 next to the /64' ],
    [ '2001:db8:e::4',     'IPv6 next to the /128 edge addresses' ],
);
# The writer's IPv4 aliases: subtrees pointing at ::/96 (they count as networks for IPv6 misses).
my @aliases = ( '::ffff:0:0/96', '2001::/32', '2002::/16' );

sub bits {    # address text -> string of '0'/'1' (32 or 128 long)
    my ($ip) = @_;
    my $v6 = $ip =~ /:/;
    my $raw = inet_pton( $v6 ? AF_INET6 : AF_INET, $ip ) // die "bad address $ip\n";
    return unpack 'B*', $raw;
}

sub cpl {    # common prefix length of two bit strings
    my ( $a, $b ) = @_;
    my $n = 0;
    $n++ while $n < length $a && substr( $a, $n, 1 ) eq substr( $b, $n, 1 );
    return $n;
}

# Every network as [ bits of the base, prefix length ] in the address's own family, plus the
# same in IPv6 space (IPv4 data lives at ::/96) for IPv6 probes.
my ( @tree4, @tree6 );
for my $n (@nets) {
    my ( $base, $len ) = split m{/}, $n->[0];
    if ( $base =~ /:/ ) {
        push @tree6, [ bits($base), $len, $n ];
    }
    else {
        push @tree4, [ bits($base), $len, $n ];
        push @tree6, [ ( '0' x 96 ) . bits($base), 96 + $len, undef ];
    }
}
for my $a (@aliases) {
    my ( $base, $len ) = split m{/}, $a;
    push @tree6, [ bits($base), $len, undef ];
}

# What a lookup of $ip finds: the most specific network containing it (undef when none), and the
# prefix length of the tree leaf it ends in, i.e. the widest block around $ip that every
# address of gets the same answer: at least as long as the network, and one bit longer than
# the common prefix with any network that does not contain $ip.
sub expect {
    my ($ip) = @_;
    my $b = bits($ip);
    my $tree = length $b == 32 ? \@tree4 : \@tree6;
    my ( $best, $prefix ) = ( undef, 0 );
    for my $t (@$tree) {
        my ( $tb, $len, $net ) = @$t;
        my $c = cpl( $b, $tb );
        if ( $c >= $len ) {    # contains $ip
            ( $best, $prefix ) = ( $t, $len ) if !$best || $len > $best->[1];
        }
    }
    for my $t (@$tree) {
        my ( $tb, $len ) = @$t;
        my $c = cpl( $b, $tb );
        next if $c >= $len;
        $prefix = $c + 1 if $c + 1 > $prefix;
    }
    return ( $best ? $best->[2] : undef, $prefix );
}

my %types = (
    continent => 'map', country => 'map', registered_country => 'map', location => 'map',
    names => 'map', code => 'utf8_string', iso_code => 'utf8_string', en => 'utf8_string',
    geoname_id => 'uint32', accuracy_radius => 'uint16', is_in_european_union => 'boolean',
    country_code => 'utf8_string',
);

sub record {
    my ( $flat, $cc, $place ) = @_;
    my ( $cid, $cname, $cont, $eu ) = @{ $countries{$cc} };
    my $p = defined $place ? $places{$place} : undef;
    if ($flat) {
        my %r = ( country_code => $cc, city => $p ? $p->[0] : '' );
        @r{qw(latitude longitude)} = ( $p->[1], $p->[2] ) if $p;
        return \%r;
    }
    my %country = ( geoname_id => $cid, iso_code => $cc, names => { en => $cname } );
    $country{is_in_european_union} = 1 if $eu;
    my %r = (
        continent => { code => $cont, geoname_id => $continents{$cont}[0],
                       names => { en => $continents{$cont}[1] } },
        country            => \%country,
        registered_country => {%country},
    );
    if ($p) {
        $r{city} = { names => { en => $p->[0] } } if length $p->[0];
        $r{location} = { latitude => $p->[1], longitude => $p->[2], accuracy_radius => 20 };
    }
    return \%r;
}

sub write_db {
    my ( $flat, $file ) = @_;
    my %t = ( %types, city => $flat ? 'utf8_string' : 'map',
              latitude => $flat ? 'float' : 'double', longitude => $flat ? 'float' : 'double' );
    my $tree = MaxMind::DB::Writer::Tree->new(
        ip_version               => 6,
        record_size              => 24,
        database_type            => $flat ? 'geodns-test-flat' : 'GeoIP2-City',
        languages                => ['en'],
        description              => { en => 'geodns test DB: fake data on loopback, TEST-NET and 2001:db8 ranges' },
        map_key_type_callback    => sub { $t{ $_[0] } // die "no type for key $_[0]\n" },
        remove_reserved_networks => 0,
        alias_ipv6_to_ipv4       => 1,
    );
    $tree->_set_build_epoch( $ENV{SOURCE_DATE_EPOCH} // 1700000000 );
    $tree->insert_network( $_->[0], record( $flat, $_->[1], $_->[2] ) ) for @nets;
    open my $fh, '>:raw', $file or die "open $file: $!\n";
    $tree->write_tree($fh);
    close $fh or die "close $file: $!\n";
    print "wrote $file (", -s $file, " bytes)\n";
}

write_db( 0, "$dir/geodns-test.mmdb" );
write_db( 1, "$dir/geodns-test-flat.mmdb" );

my $pi = 4 * atan2( 1, 1 );
sub km {
    my ( $la1, $lo1, $la2, $lo2 ) = map { $_ * $pi / 180 } @_;
    my $h = sin( ( $la2 - $la1 ) / 2 )**2 + cos($la1) * cos($la2) * sin( ( $lo2 - $lo1 ) / 2 )**2;
    return 2 * 6371 * atan2( sqrt($h), sqrt( 1 - $h ) );
}

my $file = "$dir/geodns-test.expected.tsv";
open my $ex, '>', $file or die "open $file: $!\n";
print {$ex} "# made by make-geodns-mmdb.pl; continent is empty in geodns-test-flat.mmdb\n";
print {$ex} join( "\t", qw(network sample_ip found country continent latitude longitude prefix
                           nearest_regions_km note) ), "\n";
my @rows = map {
    ( my $ip = $_->[0] ) =~ s{/.*}{};
    $ip =~ s/\.0$/.1/ if $ip !~ /:/;
    $ip .= '1' if $ip =~ /::$/;
    [ $ip, $_->[3] ];
} @nets;
for my $row ( @rows, @probes ) {
    my ( $ip, $note ) = @$row;
    my ( $net, $prefix ) = expect($ip);
    my @f = ( '-', $ip, 0, '-', '-', '-', '-', $prefix, '-', $note );
    if ($net) {
        my ( $cc, $place ) = @{$net}[ 1, 2 ];
        @f[ 0, 2, 3, 4 ] = ( $net->[0], 1, $cc, $countries{$cc}[2] );
        if ( defined $place ) {
            my ( $lat, $lon ) = @{ $places{$place} }[ 1, 2 ];
            @f[ 5, 6 ] = ( $lat, $lon );
            $f[8] = join ',', map { sprintf '%s=%.0f', @$_ }
                sort { $a->[1] <=> $b->[1] } map { [ $_->[0], km( $lat, $lon, $_->[1], $_->[2] ) ] } @regions;
        }
    }
    print {$ex} join( "\t", @f ), "\n";
}
close $ex or die "close $file: $!\n";
print "wrote $file (", scalar(@rows) + scalar(@probes), " probes)\n";
