# The one place the release number lives: the top-level project, the packages and --version
# read it (common/CMakeLists.txt includes this file too, for the standalone fuzz project).
set(CDN_VERSION 0.14.0)
