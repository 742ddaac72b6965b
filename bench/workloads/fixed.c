/* fixed.c -- fixed-size malloc/free loop.
 *
 * fixed/N: malloc(N), write its first and last byte, free it; repeat.  The
 * allocator's fastest path (the block just freed is the next one handed
 * out), and for sizes above its small classes, whatever it does for medium
 * and large requests (glibc's mmap threshold, jemalloc's extents, caches of
 * freed mappings).
 */
#include "workloads.h"

#define FIXED_BATCH 256

void pmb_fixed(pmb_state *st)
{
    size_t size = (size_t)pmb_arg(st, 0);
    while (pmb_keep_running_batch(st, FIXED_BATCH)) {
        for (int i = 0; i < FIXED_BATCH; i++) {
            char *p = pmb_check(malloc(size), size);
            p[0] = (char)i;
            p[size - 1] = (char)i;
            pmb_do_not_optimize(p);
            free(p);
        }
    }
}
