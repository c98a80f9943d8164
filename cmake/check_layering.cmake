# The include rules of DESIGN section 2, checked on the sources (cmake -P; run by the build through
# the cdn_layering target, and by ctest as `layering`). Every directory's headers are reachable
# through the include path, so the compiler alone would accept a wrong include; this fails
# instead, naming file:line and the rule.
#
#   cmake -DSOURCE_DIR=<repo> [-DSTAMP=<file to touch on success>] -P cmake/check_layering.cmake
#
# A file is judged by the most specific rule whose folder holds it; an include is one of the
# project's when it starts with a top-level folder (common/, edge/, purge_api/, geodns/,
# origin_sim/, tests/); others (<boost/...>, <nghttp2/...>) are not checked.
cmake_minimum_required(VERSION 3.25)

if(NOT SOURCE_DIR)
  message(FATAL_ERROR "check_layering: pass -DSOURCE_DIR=<repository root>")
endif()

# folder | what its files may include (besides nothing else of the project's). The edge folders
# mirror their CMake targets (edge/CMakeLists.txt): common <- storage <- cache <- proxy ->
# upstream, http. The edge's root (config.*, main.cpp) wires everything, like proxy/.
set(rules
  "common/|common/"
  "edge/storage/|common/ edge/storage/"
  "edge/cache/|common/ edge/storage/ edge/cache/"
  "edge/upstream/|common/ edge/upstream/"
  "edge/http/|common/ edge/http/"
  "edge/proxy/|common/ edge/"
  "edge/|common/ edge/"
  "origin_sim/|common/ origin_sim/"
  "purge_api/|common/ purge_api/"
  "geodns/|common/ geodns/")
set(project_roots common/ edge/ purge_api/ geodns/ origin_sim/ tests/)

set(violations "")
set(checked 0)
foreach(root common edge origin_sim purge_api geodns)
  file(GLOB_RECURSE files RELATIVE "${SOURCE_DIR}" "${SOURCE_DIR}/${root}/*.hpp"
       "${SOURCE_DIR}/${root}/*.cpp" "${SOURCE_DIR}/${root}/*.h")
  foreach(file IN LISTS files)
    # The rule: the longest folder that holds the file.
    set(best "")
    set(allowed "")
    foreach(rule IN LISTS rules)
      string(REPLACE "|" ";" parts "${rule}")
      list(GET parts 0 folder)
      list(GET parts 1 allow)
      string(LENGTH "${folder}" flen)
      string(LENGTH "${best}" blen)
      string(FIND "${file}" "${folder}" at)
      if(at EQUAL 0 AND flen GREATER blen)
        set(best "${folder}")
        separate_arguments(allowed UNIX_COMMAND "${allow}")
      endif()
    endforeach()
    if(best STREQUAL "")
      continue()
    endif()
    math(EXPR checked "${checked} + 1")
    file(STRINGS "${SOURCE_DIR}/${file}" includes REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
    foreach(line IN LISTS includes)
      if(NOT line MATCHES "#[ \t]*include[ \t]*[<\"]([^>\"]+)[>\"]")
        continue()
      endif()
      set(target "${CMAKE_MATCH_1}")
      set(ours FALSE)
      foreach(r IN LISTS project_roots)
        string(FIND "${target}" "${r}" at)
        if(at EQUAL 0)
          set(ours TRUE)
        endif()
      endforeach()
      if(NOT ours)
        continue()
      endif()
      set(ok FALSE)
      foreach(a IN LISTS allowed)
        string(FIND "${target}" "${a}" at)
        if(at EQUAL 0)
          set(ok TRUE)
        endif()
      endforeach()
      if(ok)
        continue()
      endif()
      # The line number, for the message: count the newlines before the include.
      file(READ "${SOURCE_DIR}/${file}" content)
      string(FIND "${content}" "${target}" pos)
      string(SUBSTRING "${content}" 0 ${pos} before)
      string(REGEX MATCHALL "\n" newlines "${before}")
      list(LENGTH newlines n)
      math(EXPR lineno "${n} + 1")
      string(REPLACE ";" ", " allowed_text "${allowed}")
      list(APPEND violations
           "${file}:${lineno}: includes \"${target}\", but files in ${best} may include only ${allowed_text}")
    endforeach()
  endforeach()
endforeach()

if(checked EQUAL 0)
  message(FATAL_ERROR "check_layering: no sources found under ${SOURCE_DIR}")
endif()
if(violations)
  list(LENGTH violations count)
  foreach(v IN LISTS violations)
    message(NOTICE "${v}")  # unwrapped, one per line: file:line first
  endforeach()
  message(FATAL_ERROR
          "${count} include(s) against the layering of DESIGN section 2 "
          "(edge/README.md, \"Layering\"; rules in cmake/check_layering.cmake)")
endif()
if(STAMP)
  file(TOUCH "${STAMP}")
endif()
