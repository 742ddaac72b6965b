/* realloc.c -- buffers grown with realloc.
 *
 * realloc_append/MAX: a buffer starts at 16 bytes and grows by 16 bytes per
 *   realloc up to MAX, the new tail written each time, then is freed.
 * realloc_double/MAX: a buffer starts at 16 bytes and doubles per realloc
 *   up to MAX, the new last byte written each time, then is freed.
 * One operation is one realloc call (the final free is included in the
 * time, as the malloc that starts the buffer is).
 */
#include "workloads.h"

void pmb_realloc_append(pmb_state *st)
{
    size_t max = (size_t)pmb_arg(st, 0);
    int64_t steps = (int64_t)(max / 16 - 1);
    while (pmb_keep_running_batch(st, steps)) {
        char *p = pmb_check(malloc(16), 16);
        p[0] = 1;
        for (size_t size = 32; size <= max; size += 16) {
            p = pmb_check(realloc(p, size), size);
            p[size - 16] = (char)size;
            p[size - 1] = (char)size;
        }
        pmb_do_not_optimize(p);
        free(p);
    }
}

void pmb_realloc_double(pmb_state *st)
{
    size_t max = (size_t)pmb_arg(st, 0);
    int64_t steps = 0;
    for (size_t size = 32; size <= max; size *= 2)
        steps++;
    while (pmb_keep_running_batch(st, steps)) {
        char *p = pmb_check(malloc(16), 16);
        p[0] = 1;
        for (size_t size = 32; size <= max; size *= 2) {
            p = pmb_check(realloc(p, size), size);
            p[size - 1] = (char)size;
        }
        pmb_do_not_optimize(p);
        free(p);
    }
}
