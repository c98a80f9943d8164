# The fleet dashboard end to end: purge_api, two edges registering with it and an origin, the
# page rendered by headless Chromium (skipped, with a warning, when chromium is not installed).
cdn_test(integration_dashboard
  SOURCES dashboard_test.cpp cluster.cpp purge_api_fixture.cpp
  DEPS cdn_test_support Boost::json LABELS integration)
target_compile_definitions(integration_dashboard PRIVATE
  ORIGIN_SIM_BIN="$<TARGET_FILE:origin_sim>" EDGE_BIN="$<TARGET_FILE:edge>"
  PURGE_API_BIN="$<TARGET_FILE:purge_api>")
add_dependencies(integration_dashboard origin_sim edge purge_api)
