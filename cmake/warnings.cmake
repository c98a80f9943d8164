# Project-wide warnings; errors unless CDN_WERROR is OFF.
add_compile_options(-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
                    -Wcast-align -Woverloaded-virtual -Wimplicit-fallthrough)
# Not -Wnull-dereference: at -O2 it reports false positives inside Asio after inlining.
if(CDN_WERROR)
  add_compile_options(-Werror)
endif()
# Keep deprecated Asio names out of our code. (Beast 1.81 already speaks std::string_view.)
add_compile_definitions(BOOST_ASIO_NO_DEPRECATED)
