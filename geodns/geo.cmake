# cdn_geodns_geo: libmaxminddb lookups (geo/), configured CIDR nets, and the nearest-healthy-edge
# steering policy (policy/).
cdn_library(cdn_geodns_geo
  SOURCES geo/geo_database.cpp geo/nets.cpp policy/class_table.cpp policy/geo_steering.cpp
  DEPS cdn_common PkgConfig::MAXMINDDB)
