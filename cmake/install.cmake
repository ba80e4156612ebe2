# What `cmake --install build` puts under the prefix (GNUInstallDirs):
#   bin/                      netd, netctl
#   lib*/                     libnetd.so.X.Y.Z (soname libnetd.so.X), libnetd.a,
#                             pkgconfig/netd.pc, cmake/netd/ (find_package(netd))
#   include/                  netd.h, netd/errors.h, netd/codec.h
#   share/man/                netd(8), netctl(1), netd-protocol(7) (when scdoc is found)
#   share/doc/netd/           README.md, netd.conf.example
#   share/bash-completion/completions/netctl, share/zsh/site-functions/_netctl
#   lib/systemd/system/       netd.service, netd.socket (NETD_SYSTEMD_UNITDIR)
#   lib/sysusers.d/netd.conf  the group netd (owner group of /run/netd/netd.sock)
include(CMakePackageConfigHelpers)

set(NETD_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
    "Where the systemd units go; relative paths are under the install prefix")
set(NETD_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/netd)

install(TARGETS netd netctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

install(TARGETS netd_shared netd_static EXPORT netdTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${CMAKE_SOURCE_DIR}/include/netd.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${CMAKE_SOURCE_DIR}/proto/errors.h ${CMAKE_SOURCE_DIR}/proto/codec.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/netd)

install(EXPORT netdTargets NAMESPACE netd:: DESTINATION ${NETD_CMAKEDIR})
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/netdConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/netdConfig.cmake
                              INSTALL_DESTINATION ${NETD_CMAKEDIR})
# 0.x: a new minor version may change the ABI (the soname says so too).
write_basic_package_version_file(${CMAKE_BINARY_DIR}/netdConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/netdConfig.cmake ${CMAKE_BINARY_DIR}/netdConfigVersion.cmake
        DESTINATION ${NETD_CMAKEDIR})

# netd.pc and the systemd units name install locations. They are filled in
# when installing, not when configuring, so that `cmake --install --prefix P`
# gets files that name P (DESTDIR, a staging root, is never part of them).
set(NETD_INSTALLED ${CMAKE_BINARY_DIR}/installed)
install(CODE "
  set(NETD_TEMPLATES \"${CMAKE_SOURCE_DIR}/cmake/netd.pc.in;${CMAKE_SOURCE_DIR}/systemd/netd.service.in;${CMAKE_SOURCE_DIR}/systemd/netd.socket.in\")
  set(NETD_OUT \"${NETD_INSTALLED}\")
  set(NETD_VERSION \"${PROJECT_VERSION}\")
  set(NETD_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  set(NETD_LIBDIR \"${CMAKE_INSTALL_LIBDIR}\")
  set(NETD_INCLUDEDIR \"${CMAKE_INSTALL_INCLUDEDIR}\")
  set(NETD_DOCDIR \"${CMAKE_INSTALL_DOCDIR}\")
  include(\"${CMAKE_SOURCE_DIR}/cmake/configure-installed.cmake\")")
install(FILES ${NETD_INSTALLED}/netd.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
install(FILES ${NETD_INSTALLED}/netd.service ${NETD_INSTALLED}/netd.socket
        DESTINATION ${NETD_SYSTEMD_UNITDIR})
# The group netd.socket gives its path socket to (systemd-sysusers creates it).
install(FILES ${CMAKE_SOURCE_DIR}/systemd/netd.sysusers DESTINATION lib/sysusers.d
        RENAME netd.conf)

install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${CMAKE_SOURCE_DIR}/systemd/netd.conf DESTINATION ${CMAKE_INSTALL_DOCDIR}
        RENAME netd.conf.example)
install(FILES ${CMAKE_SOURCE_DIR}/completion/netctl.bash
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME netctl)
install(FILES ${CMAKE_SOURCE_DIR}/completion/_netctl
        DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/site-functions)
