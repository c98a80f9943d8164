# purge_api's etcd store backend against a real etcd (skipped inside the test without one).
cdn_test(integration_purge_api_etcd SOURCES purge_api_etcd_test.cpp purge_api_fixture.cpp
         DEPS cdn_test_support Boost::json LABELS integration)
target_compile_definitions(integration_purge_api_etcd PRIVATE
                           PURGE_API_BIN="$<TARGET_FILE:purge_api>")
add_dependencies(integration_purge_api_etcd purge_api)

# Several instances on a 3-member etcd cluster acting as one service (issue 16).
cdn_test(integration_purge_api_ha SOURCES purge_api_ha_test.cpp purge_api_fixture.cpp
         DEPS cdn_test_support Boost::json LABELS integration)
target_compile_definitions(integration_purge_api_ha PRIVATE PURGE_API_BIN="$<TARGET_FILE:purge_api>")
add_dependencies(integration_purge_api_ha purge_api)

# An edge failing over between two instances that share the etcd log (the [failover] cases).
target_sources(integration_purge_api_etcd PRIVATE cluster.cpp)
target_compile_definitions(integration_purge_api_etcd PRIVATE
                           ORIGIN_SIM_BIN="$<TARGET_FILE:origin_sim>" EDGE_BIN="$<TARGET_FILE:edge>")
add_dependencies(integration_purge_api_etcd origin_sim edge)
