# The HTTP/2 server session (edge/http/http2_session) over loopback, driven by nghttp, curl,
# h2load (Debian nghttp2-client, curl) and a raw frame client.
cdn_test(integration_http2 SOURCES http2_session_test.cpp
         DEPS cdn_edge cdn_test_support LABELS integration)
