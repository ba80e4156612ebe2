# Run by `cmake --install` (see install.cmake) to fill in the files that
# name install locations: every template in NETD_TEMPLATES (FILE.in) becomes
# NETD_OUT/FILE, with the prefix this install really uses.
#
# In: NETD_TEMPLATES, NETD_OUT, NETD_VERSION, and the GNUInstallDirs
# directories NETD_BINDIR, NETD_LIBDIR, NETD_INCLUDEDIR, NETD_DOCDIR as
# configured (relative to the prefix, or absolute).

set(NETD_PREFIX "${CMAKE_INSTALL_PREFIX}")
string(REGEX REPLACE "(.)/+$" "\\1" NETD_PREFIX "${NETD_PREFIX}")

# For each directory: the absolute path (NETD_FULL_x) and the form netd.pc
# uses, relative to ${prefix} where it lies under the prefix (NETD_PC_x).
foreach(dir BINDIR LIBDIR INCLUDEDIR DOCDIR)
  set(rel "${NETD_${dir}}")
  if(IS_ABSOLUTE "${rel}")
    set(NETD_FULL_${dir} "${rel}")
    set(NETD_PC_${dir} "${rel}")
  else()
    set(NETD_FULL_${dir} "${NETD_PREFIX}/${rel}")
    set(NETD_PC_${dir} "\${prefix}/${rel}")
  endif()
endforeach()

foreach(template ${NETD_TEMPLATES})
  get_filename_component(name "${template}" NAME)
  string(REGEX REPLACE "\\.in$" "" name "${name}")
  configure_file("${template}" "${NETD_OUT}/${name}" @ONLY)
endforeach()
