# The control plane under hostile callers: the edge's admin purge (a token, JSON bodies only) and
# purge_api over TLS with edges that verify it. Real processes on loopback.
cdn_test(hostile_admin
  SOURCES admin_purge_test.cpp purge_tls_test.cpp ../integration/cluster.cpp
          ../integration/purge_api_fixture.cpp
  DEPS cdn_test_support Boost::json LABELS hostile)
target_compile_definitions(hostile_admin PRIVATE ORIGIN_SIM_BIN="$<TARGET_FILE:origin_sim>"
                                                 EDGE_BIN="$<TARGET_FILE:edge>"
                                                 PURGE_API_BIN="$<TARGET_FILE:purge_api>")
add_dependencies(hostile_admin origin_sim edge purge_api)
