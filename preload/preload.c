/* preload.c -- the library's constructor and destructor (floor 3).
 *
 * Both only call down: start-up is _pm_process_init (which the first
 * malloc may already have run, before any constructor), the end is the
 * statistics report when asked for (pools/lifecycle.c).  A program that
 * leaves by _exit() runs no destructor, so it prints no report.
 */
#include "pools/pools.h"

__attribute__((constructor)) static void pm_constructor(void) { _pm_process_init(); }

__attribute__((destructor)) static void pm_destructor(void) { _pm_process_exit(); }
