# deps.cmake - finds every external library once and exposes an imported
# target per dependency (all from Debian packages; see scripts/install-deps).
find_package(PkgConfig REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS C)
find_package(ZLIB REQUIRED)
pkg_check_modules(YAML REQUIRED IMPORTED_TARGET yaml-0.1)
pkg_check_modules(MSGPACK REQUIRED IMPORTED_TARGET msgpack)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(ZMQ REQUIRED IMPORTED_TARGET libzmq)
pkg_check_modules(SQLITE REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)
# PLplot draws `shears plot` and `shears report`; without it (the container
# image) those two commands are left out.
pkg_check_modules(PLPLOT IMPORTED_TARGET plplot)

# OpenBLAS: prefer the OpenMP build (libopenblas-openmp-dev), which follows
# omp_set_num_threads() of the calling thread and runs single-threaded inside
# our own parallel regions. The pthread build would fight our OpenMP threads.
set(_blas_hint /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp)
set(_blas_inc_hint /usr/include/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp)
find_library(SHEARS_OPENBLAS_LIB NAMES openblas PATHS ${_blas_hint} NO_DEFAULT_PATH)
find_path(SHEARS_CBLAS_INCLUDE cblas.h PATHS ${_blas_inc_hint} NO_DEFAULT_PATH)
if(NOT SHEARS_OPENBLAS_LIB OR NOT SHEARS_CBLAS_INCLUDE)
  message(WARNING "OpenMP build of OpenBLAS not found; falling back to pkg-config openblas")
  pkg_check_modules(OPENBLAS REQUIRED openblas)
  find_library(SHEARS_OPENBLAS_LIB NAMES openblas PATHS ${OPENBLAS_LIBRARY_DIRS})
  set(SHEARS_CBLAS_INCLUDE ${OPENBLAS_INCLUDE_DIRS})
endif()
add_library(shears::openblas UNKNOWN IMPORTED)
set_target_properties(shears::openblas PROPERTIES
  IMPORTED_LOCATION ${SHEARS_OPENBLAS_LIB}
  INTERFACE_INCLUDE_DIRECTORIES ${SHEARS_CBLAS_INCLUDE})
# The library's SONAME (libopenblas.so.0) would otherwise resolve through
# Debian's alternatives to whichever variant is selected system-wide.
get_filename_component(SHEARS_OPENBLAS_DIR ${SHEARS_OPENBLAS_LIB} DIRECTORY)
list(APPEND CMAKE_INSTALL_RPATH ${SHEARS_OPENBLAS_DIR})
set(CMAKE_BUILD_RPATH_USE_ORIGIN OFF)
set(CMAKE_BUILD_RPATH ${SHEARS_OPENBLAS_DIR})
