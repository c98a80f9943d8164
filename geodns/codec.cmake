# cdn_geodns_codec: the DNS wire codec (codec/) and the pure query -> response function
# (server/responder). No I/O; the UDP/TCP server and the fuzz target call respond().
cdn_library(cdn_geodns_codec
  SOURCES codec/name.cpp codec/query.cpp codec/response_writer.cpp server/responder.cpp
  DEPS Boost::headers)
