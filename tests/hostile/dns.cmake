# Hostile DNS clients against the real geodns (issue 13): TCP slot hogging, UDP reflection floods
# (response rate limiting) and malformed packets, over raw UDP/TCP sockets on loopback.
cdn_test(hostile_dns
  SOURCES dns_test.cpp ../integration/geodns_fixture.cpp
  DEPS cdn_test_support LABELS hostile)
target_compile_definitions(hostile_dns PRIVATE
  GEODNS_BIN="$<TARGET_FILE:geodns>"
  GEODNS_TEST_DATA="${PROJECT_SOURCE_DIR}/tests/data")
add_dependencies(hostile_dns geodns)
