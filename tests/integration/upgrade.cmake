# Replacing a running edge binary under load (edge/README.md, "Upgrade"): one process, run in a
# network namespace of its own (tcp_migrate_req set there, not on the host).
add_executable(integration_upgrade upgrade_test.cpp cluster.cpp)
target_link_libraries(integration_upgrade PRIVATE cdn_test_support cdn_origin_sim Boost::json
                                                  Catch2::Catch2WithMain)
target_compile_definitions(integration_upgrade PRIVATE ORIGIN_SIM_BIN="$<TARGET_FILE:origin_sim>"
                                                       EDGE_BIN="$<TARGET_FILE:edge>")
add_dependencies(integration_upgrade origin_sim edge)
add_test(NAME integration_upgrade
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/in_netns.sh $<TARGET_FILE:integration_upgrade>)
set_tests_properties(integration_upgrade PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 180
                                                    LABELS integration RUN_SERIAL TRUE)
