# libnetd: the C client library as third parties get it, shared (with a
# soname) and static, built from the same objects as netctl's netdclient
# and the daemon's netdproto.
#
# Public headers: include/netd.h (the client), and proto/errors.h and
# proto/codec.h, installed as <netd/errors.h> and <netd/codec.h> (the error
# kinds of the contract's codes, and the data encodings). The rest of proto/
# (framing, the JSON-RPC envelope, the method table) stays internal: the
# shared library exports only what those three headers declare
# (client/libnetd.map), and the headers of the rest are not installed.

# The soname follows the major version; while it is 0 any minor release may
# change the ABI, so the CMake package accepts only the same minor version.
set(NETD_SOVERSION ${PROJECT_VERSION_MAJOR})

set(NETD_PUBLIC_INCLUDES
    $<BUILD_INTERFACE:${CMAKE_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)

add_library(netd_shared SHARED $<TARGET_OBJECTS:netdproto_objs> $<TARGET_OBJECTS:netdclient_objs>)
set(NETD_MAP ${CMAKE_SOURCE_DIR}/client/libnetd.map)
target_link_options(netd_shared PRIVATE -Wl,--version-script=${NETD_MAP})
set_target_properties(netd_shared PROPERTIES
  OUTPUT_NAME netd
  EXPORT_NAME netd
  VERSION ${PROJECT_VERSION}
  SOVERSION ${NETD_SOVERSION}
  LINK_DEPENDS ${NETD_MAP})

add_library(netd_static STATIC $<TARGET_OBJECTS:netdproto_objs> $<TARGET_OBJECTS:netdclient_objs>)
set_target_properties(netd_static PROPERTIES OUTPUT_NAME netd EXPORT_NAME netd_static)

foreach(t netd_shared netd_static)
  target_include_directories(${t} INTERFACE ${NETD_PUBLIC_INCLUDES})
  # The installed package finds jansson again under this name
  # (cmake/netdConfig.cmake.in), whatever the user's project calls it.
  target_link_libraries(${t} PUBLIC $<BUILD_INTERFACE:PkgConfig::JANSSON>
                                    $<INSTALL_INTERFACE:PkgConfig::NETD_JANSSON>)
endforeach()
