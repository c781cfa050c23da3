# muparser for the arm64 cross build (packaging/toolchain-arm64.cmake): the arm64 shared
# library from libmuparser2v5:arm64 and the headers libmuparser-dev installs for the build
# machine (the same on every architecture).
set(muparser_VERSION 2.3.3)
if(NOT TARGET muparser::muparser)
  find_library(MUPARSER_ARM64_LIBRARY NAMES libmuparser.so.2 PATHS /usr/lib/aarch64-linux-gnu NO_DEFAULT_PATH)
  find_path(MUPARSER_INCLUDE_DIR muParser.h PATHS /usr/include NO_DEFAULT_PATH)
  if(NOT MUPARSER_ARM64_LIBRARY OR NOT MUPARSER_INCLUDE_DIR)
    set(muparser_FOUND FALSE)
    set(muparser_NOT_FOUND_MESSAGE "needs libmuparser2v5:arm64 and libmuparser-dev (scripts/cross-build-arm64.sh)")
    return()
  endif()
  add_library(muparser::muparser SHARED IMPORTED)
  set_target_properties(muparser::muparser PROPERTIES
    IMPORTED_LOCATION ${MUPARSER_ARM64_LIBRARY}
    IMPORTED_SONAME libmuparser.so.2
    INTERFACE_INCLUDE_DIRECTORIES ${MUPARSER_INCLUDE_DIR})
endif()
