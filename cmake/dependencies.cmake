# The Debian packages the libraries link against (README's dependency table says why each).
# Included by the top-level project and by the standalone fuzz project (tests/fuzz).
find_package(Threads REQUIRED)
find_package(Boost 1.81...<1.82 REQUIRED CONFIG COMPONENTS json)
find_package(tomlplusplus REQUIRED)
find_package(CLI11 REQUIRED)
find_package(fmt REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)
pkg_check_modules(NGHTTP2 REQUIRED IMPORTED_TARGET libnghttp2)
pkg_check_modules(MAXMINDDB REQUIRED IMPORTED_TARGET libmaxminddb)
find_package(ZLIB REQUIRED)
# brotli: the edge's compressed variants (encoder); the tests decode with libbrotlidec.
pkg_check_modules(BROTLIENC REQUIRED IMPORTED_TARGET libbrotlienc)
pkg_check_modules(BROTLIDEC REQUIRED IMPORTED_TARGET libbrotlidec)
find_package(OpenSSL 3 REQUIRED)
