# HTTP/1.1: poisoning (absolute-form, Host, override fields), 1xx desync, Transfer-Encoding
# smuggling and slow readers, against the real edge with scripted origins and origin_sim.
cdn_test(hostile_http1 SOURCES http1_hostile_test.cpp ../integration/cluster.cpp
         DEPS cdn_test_support cdn_origin_sim LABELS "integration;hostile")
target_compile_definitions(hostile_http1 PRIVATE ORIGIN_SIM_BIN="$<TARGET_FILE:origin_sim>"
                                                 EDGE_BIN="$<TARGET_FILE:edge>")
add_dependencies(hostile_http1 origin_sim edge)
