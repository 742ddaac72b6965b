# install-ldconfig.cmake -- run last by `cmake --install`: after a real
# install (no DESTDIR) by root to /usr or /usr/local, refreshes the dynamic
# loader's cache, without which a program linked with -lpoolmalloc does not
# find /usr/local/lib/libpoolmalloc.so.0 until someone runs ldconfig.
# Other prefixes are not in the loader's search path: README, "Install".
if("$ENV{DESTDIR}" STREQUAL "" AND CMAKE_INSTALL_PREFIX MATCHES "^/usr(/local)?/?$")
  execute_process(COMMAND id -u OUTPUT_VARIABLE pm_uid OUTPUT_STRIP_TRAILING_WHITESPACE)
  find_program(pm_ldconfig ldconfig PATHS /sbin /usr/sbin)
  if(pm_uid STREQUAL "0" AND pm_ldconfig)
    message(STATUS "Running ${pm_ldconfig}")
    execute_process(COMMAND ${pm_ldconfig})
  endif()
endif()
