cdn_test(integration_geodns
  SOURCES geodns_test.cpp geodns_failover_test.cpp geodns_reload_test.cpp geodns_quorum_test.cpp
          geodns_fixture.cpp
  DEPS cdn_test_support LABELS integration)
target_compile_definitions(integration_geodns PRIVATE
  GEODNS_BIN="$<TARGET_FILE:geodns>" EDGE_BIN="$<TARGET_FILE:edge>"
  GEODNS_TEST_DATA="${PROJECT_SOURCE_DIR}/tests/data")
add_dependencies(integration_geodns geodns edge)
