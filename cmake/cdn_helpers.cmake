# cdn_library(name SOURCES ... DEPS ...): a static component library rooted at the repo top,
# so includes read "edge/cache/freshness.hpp".
function(cdn_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# cdn_test(name SOURCES ... DEPS ...): a Catch2 test binary whose TEST_CASEs become ctest tests.
function(cdn_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} Catch2::Catch2WithMain)
  # "-w NoTests": a ctest entry whose filter matches no test case fails instead of passing
  # vacuously (a ';' in a test name once split entries that then ran nothing).
  catch_discover_tests(${name} TEST_PREFIX "${name}: " EXTRA_ARGS -w NoTests
                       PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT 120)
endfunction()
