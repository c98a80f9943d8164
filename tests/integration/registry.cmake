# Self-registration end to end: purge_api's registry, edges registering, geodns learning the
# fleet from it (real processes, short leases).
cdn_test(integration_registry
  SOURCES registry_test.cpp cluster.cpp purge_api_fixture.cpp geodns_fixture.cpp
  DEPS cdn_test_support Boost::json LABELS integration)
target_compile_definitions(integration_registry PRIVATE
  ORIGIN_SIM_BIN="$<TARGET_FILE:origin_sim>" EDGE_BIN="$<TARGET_FILE:edge>"
  PURGE_API_BIN="$<TARGET_FILE:purge_api>" GEODNS_BIN="$<TARGET_FILE:geodns>"
  GEODNS_TEST_DATA="${PROJECT_SOURCE_DIR}/tests/data")
add_dependencies(integration_registry origin_sim edge purge_api geodns)
