/* pm_prefixed.h -- builds a test written against the malloc API onto
 * poolmalloc's prefixed API instead; force-included (-include pm_prefixed.h).
 *
 * The sanitizer builds (tests/sanitize) link the allocator core, which has
 * only the pm_* entry points, into programs whose own malloc is the
 * sanitizer's.  This header maps the test's calls onto pm_*: every block the
 * test itself allocates comes from poolmalloc, while libc's internal
 * allocations (stdio, pthread) stay with the sanitizer's malloc, consistently.
 * The standard headers that declare these functions are included first, so
 * that only the test's own uses are renamed. */
#ifndef PM_PREFIXED_H
#define PM_PREFIXED_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "poolmalloc.h"

#define malloc pm_malloc
#define free pm_free
#define calloc pm_calloc
#define realloc pm_realloc
#define reallocarray pm_reallocarray
#define posix_memalign pm_posix_memalign
#define aligned_alloc pm_aligned_alloc
#define memalign pm_memalign
#define valloc pm_valloc
#define pvalloc pm_pvalloc
#define malloc_usable_size pm_malloc_usable_size
#define malloc_trim pm_malloc_trim

/* pm_test.h: malloc is pm_malloc by construction, nothing to look up. */
#define PM_TEST_PREFIXED 1

#endif
