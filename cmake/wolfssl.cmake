# wolfSSL for netd: the target netd_wolfssl.
#
# Debian's libwolfssl is built without AES-NI and without the x86-64
# assembly, which makes TLS through netd several times slower than the CPU
# allows. With NETD_WOLFSSL=auto (the default, on x86-64) the configure step
# builds the same wolfSSL version from Debian's source package, with
# Debian's configure flags plus --enable-aesni --enable-intelasm, into
# NETD_WOLFSSL_PREFIX (tools/build-wolfssl; once, then reused). When that is
# not possible (no deb-src, no network, another CPU) netd uses the system's
# library, and says so. `netd --version` and `stats` name the one that runs.
#
# The build tree's programs find the private library through their RPATH;
# `cmake --install` drops that RPATH, so an installed netd uses the system's.

set(NETD_WOLFSSL "auto" CACHE STRING
    "wolfSSL: auto (netd's own build with AES-NI when possible, else the system's) or system")
set_property(CACHE NETD_WOLFSSL PROPERTY STRINGS auto system)
set(NETD_WOLFSSL_PREFIX "${CMAKE_BINARY_DIR}/wolfssl" CACHE PATH
    "Where netd's own wolfSSL build is installed (shared by build directories that name it)")

set(own_wolfssl OFF)
if(NETD_WOLFSSL STREQUAL "auto")
  if(NOT CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
    message(STATUS "wolfSSL: the system's (AES-NI and x86-64 assembly need an x86-64 CPU)")
  else()
    message(STATUS "wolfSSL: netd's own build with AES-NI, in ${NETD_WOLFSSL_PREFIX}")
    execute_process(COMMAND sh ${CMAKE_SOURCE_DIR}/tools/build-wolfssl ${NETD_WOLFSSL_PREFIX}
                    RESULT_VARIABLE rc)
    if(rc EQUAL 0 AND EXISTS ${NETD_WOLFSSL_PREFIX}/lib/libwolfssl.so)
      set(own_wolfssl ON)
    else()
      message(WARNING "wolfSSL: netd's own build was not possible; using the system's library "
                      "(without AES-NI). See ${NETD_WOLFSSL_PREFIX}.work/build.log")
    endif()
  endif()
endif()

# For the tests: which build netd links.
set(NETD_WOLFSSL_OWN ${own_wolfssl})
if(own_wolfssl)
  add_library(netd_wolfssl SHARED IMPORTED GLOBAL)
  set_target_properties(netd_wolfssl PROPERTIES
    IMPORTED_LOCATION ${NETD_WOLFSSL_PREFIX}/lib/libwolfssl.so
    INTERFACE_INCLUDE_DIRECTORIES ${NETD_WOLFSSL_PREFIX}/include
    INTERFACE_COMPILE_DEFINITIONS "NETD_WOLFSSL_OWN_DIR=\"${NETD_WOLFSSL_PREFIX}/lib\"")
else()
  pkg_check_modules(WOLFSSL REQUIRED IMPORTED_TARGET wolfssl)
  add_library(netd_wolfssl INTERFACE IMPORTED GLOBAL)
  target_link_libraries(netd_wolfssl INTERFACE PkgConfig::WOLFSSL)
endif()
