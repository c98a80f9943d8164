# Project-wide warnings; errors unless CDN_WERROR is OFF.
add_compile_options(-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
                    -Wcast-align -Woverloaded-virtual -Wimplicit-fallthrough)
# Not -Wnull-dereference: at -O2 it reports false positives inside Asio after inlining.
# GCC 12 reports -Wrestrict false positives at -O2 on plain std::string concatenation
# ("a" + std::to_string(i); GCC bug 105329, fixed in 13): they broke the Release build three
# times in one session, so the warning is off for GCC 12 only.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  add_compile_options(-Wno-restrict)
  # And -Wmismatched-new-delete false positives at -O2 on Asio's coroutine frames (awaitable_frame
  # has its own operator new/delete, which GCC 12 pairs wrongly after inlining): they broke the
  # default build type, RelWithDebInfo, on edge_handler.cpp and registrar.cpp.
  add_compile_options(-Wno-mismatched-new-delete)
endif()
if(CDN_WERROR)
  add_compile_options(-Werror)
endif()
# Keep deprecated Asio names out of our code. (Beast 1.81 already speaks std::string_view.)
add_compile_definitions(BOOST_ASIO_NO_DEPRECATED)
