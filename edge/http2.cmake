# The HTTP/2 server session (nghttp2), a library of its own until the edge's listeners use it.
cdn_library(cdn_edge_http2
  SOURCES http/http2_session.cpp
  DEPS cdn_edge PkgConfig::NGHTTP2)
