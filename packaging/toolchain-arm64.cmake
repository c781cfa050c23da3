# CMake toolchain for cross-building to arm64 (aarch64) on Debian 12 with its multiarch
# packages: the compilers from crossbuild-essential-arm64, the arm64 libraries and their
# CMake configs in /usr/lib/aarch64-linux-gnu, arch-independent headers from /usr/include.
# There is no separate sysroot: Debian's cross compilers search the multiarch folders.
# Used by scripts/cross-build-arm64.sh (which installs all of that).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# find_library and find_package look in /usr/lib/aarch64-linux-gnu, never in the build
# machine's /usr/lib/x86_64-linux-gnu.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)

# pkg-config reads only the arm64 .pc files (and arch-independent ones).
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)

# libmuparser-dev is not Multi-Arch: same, so its arm64 copy would remove the build
# machine's; the arm64 runtime library (libmuparser2v5:arm64) and the shared headers are
# enough, with this small package config for them.
set(muparser_DIR ${CMAKE_CURRENT_LIST_DIR}/cross-arm64/muparser CACHE PATH "muparser config for arm64")
# libpq-dev is not Multi-Arch: same either: the arm64 libpq5 and the shared headers.
set(PostgreSQL_LIBRARY /usr/lib/aarch64-linux-gnu/libpq.so.5 CACHE FILEPATH "libpq for arm64")
set(PostgreSQL_INCLUDE_DIR /usr/include/postgresql CACHE PATH "libpq's headers")

# cpack -G DEB names and marks the packages arm64 (dpkg would say the build machine's).
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64)
