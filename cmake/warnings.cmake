# Project-wide warnings; errors unless CDN_WERROR is OFF.
add_compile_options(-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
                    -Wcast-align -Woverloaded-virtual -Wimplicit-fallthrough)
# Not -Wnull-dereference: at -O2 it reports false positives inside Asio after inlining.
# GCC 12 reports -Wrestrict false positives at -O2 on plain std::string concatenation
# ("a" + std::to_string(i); GCC bug 105329, fixed in 13): they broke the Release build three
# times in one session, so the warning is off for GCC 12 only.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  add_compile_options(-Wno-restrict)
endif()
if(CDN_WERROR)
  add_compile_options(-Werror)
endif()
# Keep deprecated Asio names out of our code. (Beast 1.81 already speaks std::string_view.)
add_compile_definitions(BOOST_ASIO_NO_DEPRECATED)
