# What an operator does to a running CDN: ask its version, reload it, replace it, start a second
# one by mistake.
cdn_test(integration_operations
  SOURCES operations_test.cpp cluster.cpp
  DEPS cdn_test_support cdn_origin_sim Boost::json LABELS integration)
target_compile_definitions(integration_operations PRIVATE
  ORIGIN_SIM_BIN="$<TARGET_FILE:origin_sim>" EDGE_BIN="$<TARGET_FILE:edge>"
  PURGE_API_BIN="$<TARGET_FILE:purge_api>" GEODNS_BIN="$<TARGET_FILE:geodns>"
  CDN_VERSION="${CDN_VERSION}")
add_dependencies(integration_operations origin_sim edge purge_api geodns)
