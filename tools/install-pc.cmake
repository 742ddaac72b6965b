# install-pc.cmake -- run by `cmake --install` (install(SCRIPT) in
# CMakeLists.txt): writes poolmalloc.pc for this installation.
#
# The directories are computed now, from the prefix actually installed to
# (`cmake --install --prefix`, or CMAKE_INSTALL_PREFIX), so that the file is
# right for any prefix and libdir: /usr with Debian's multiarch
# lib/x86_64-linux-gnu gives includedir=/usr/include (a path relative to the
# .pc file's own directory would not).  DESTDIR is not part of the paths
# written, only of where the file goes (file(INSTALL) adds it).
# Set by CMakeLists.txt: PM_PC_TEMPLATE, PM_PC_WORK (a build directory),
# PM_PC_LIBDIR, PM_PC_INCLUDEDIR (GNUInstallDirs, relative or absolute),
# PM_PC_VERSION.
set(PM_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
foreach(kind LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${PM_PC_${kind}}")
    set(PM_PC_${kind}_FULL "${PM_PC_${kind}}")
  else()
    set(PM_PC_${kind}_FULL "${CMAKE_INSTALL_PREFIX}/${PM_PC_${kind}}")
    set(PM_PC_${kind} "\${prefix}/${PM_PC_${kind}}")
  endif()
endforeach()
# One scratch file per destination: installs to two prefixes from the same
# build tree may run at once (the install tests do).
string(MD5 pm_pc_key "$ENV{DESTDIR}|${CMAKE_INSTALL_PREFIX}")
set(pm_pc_tmp "${PM_PC_WORK}/pkgconfig-install/poolmalloc-${pm_pc_key}.pc")
configure_file("${PM_PC_TEMPLATE}" "${pm_pc_tmp}" @ONLY)
file(INSTALL DESTINATION "${PM_PC_LIBDIR_FULL}/pkgconfig" TYPE FILE
  RENAME poolmalloc.pc FILES "${pm_pc_tmp}")
