# Purge end to end: origin_sim, purge_api and two edges as real processes.
cdn_test(integration_purge_e2e SOURCES purge_e2e_test.cpp cluster.cpp purge_api_fixture.cpp
         DEPS cdn_test_support Boost::json LABELS integration)
target_compile_definitions(integration_purge_e2e PRIVATE ORIGIN_SIM_BIN="$<TARGET_FILE:origin_sim>"
                                                         EDGE_BIN="$<TARGET_FILE:edge>"
                                                         PURGE_API_BIN="$<TARGET_FILE:purge_api>")
add_dependencies(integration_purge_e2e origin_sim edge purge_api)
