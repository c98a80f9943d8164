cdn_test(integration_origin_sim SOURCES origin_sim_test.cpp
         DEPS cdn_test_support cdn_origin_sim Boost::json LABELS integration)
target_compile_definitions(integration_origin_sim PRIVATE ORIGIN_SIM_BIN="$<TARGET_FILE:origin_sim>")
add_dependencies(integration_origin_sim origin_sim)
