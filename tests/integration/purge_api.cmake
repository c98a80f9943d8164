cdn_test(integration_purge_api
         SOURCES purge_api_test.cpp purge_api_ops_test.cpp purge_api_zone_test.cpp
                 purge_api_fixture.cpp
         DEPS cdn_test_support Boost::json LABELS integration)
target_compile_definitions(integration_purge_api PRIVATE PURGE_API_BIN="$<TARGET_FILE:purge_api>")
add_dependencies(integration_purge_api purge_api)
