# Active origin health checks (edge/upstream/health_checker) against a real origin_sim process.
cdn_test(integration_origin_health SOURCES origin_health_test.cpp cluster.cpp
         DEPS cdn_test_support cdn_edge cdn_origin_sim Boost::json LABELS integration)
target_compile_definitions(integration_origin_health PRIVATE ORIGIN_SIM_BIN="$<TARGET_FILE:origin_sim>"
                                                             EDGE_BIN="$<TARGET_FILE:edge>")
add_dependencies(integration_origin_health origin_sim edge)
