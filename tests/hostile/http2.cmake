# Hostile HTTP/2 clients against the real edge (h2c) with origin_sim behind it (issue 13): closed
# flow-control windows on large pass-through objects, HPACK bombs, floods of frames that do no
# work, rapid reset spread over many connections. Raw frames (tests/support/h2_raw_client.hpp)
# for what real clients will not send; curl, nghttp and h2load for what they do.
cdn_test(hostile_http2
  SOURCES http2_test.cpp ../integration/cluster.cpp
  DEPS cdn_test_support Boost::json PkgConfig::NGHTTP2 LABELS hostile)
target_compile_definitions(hostile_http2 PRIVATE ORIGIN_SIM_BIN="$<TARGET_FILE:origin_sim>"
                                                 EDGE_BIN="$<TARGET_FILE:edge>")
add_dependencies(hostile_http2 origin_sim edge)
