cdn_test(integration_edge
  SOURCES edge_cache_test.cpp edge_robustness_test.cpp edge_stale_test.cpp edge_collapse_test.cpp edge_origins_test.cpp edge_streaming_test.cpp edge_disk_test.cpp edge_purge_test.cpp
          edge_tls_test.cpp edge_origin_tls_test.cpp edge_cache_control_test.cpp edge_shutdown_test.cpp edge_log_test.cpp edge_tiers_test.cpp edge_compress_test.cpp edge_slice_test.cpp edge_hints_test.cpp cluster.cpp
  DEPS cdn_test_support cdn_origin_sim Boost::json LABELS integration)
target_compile_definitions(integration_edge PRIVATE ORIGIN_SIM_BIN="$<TARGET_FILE:origin_sim>"
                                                    EDGE_BIN="$<TARGET_FILE:edge>")
add_dependencies(integration_edge origin_sim edge)
target_link_libraries(integration_edge PRIVATE ZLIB::ZLIB)  # gzip request bodies
# The compression tests decode what the edge encodes.
