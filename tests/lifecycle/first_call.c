/* first_call.c -- the first allocation of the process comes from a library
 * constructor, before poolmalloc's own (issue 9, section 2): with statistics
 * on, that block must be counted like any other.  An uncounted first block
 * shows, once freed, as a class with more frees than allocations and a
 * current byte count wrapped below zero; under memcheck, as errors on a block
 * valgrind was never told about.
 *
 * libpm_first's constructor makes the first call (PM_FIRST_CALL picks which,
 * see first_call_lib.c).  main frees the block it kept, allocates and frees a
 * little more, and, when POOLMALLOC_STATS=1, reads the counters
 * (pm_stats_get, looked up in the preloaded library) and checks them: for
 * every class frees <= allocs and current bytes == (allocs - frees) * block
 * size, peak >= current; large frees <= large allocs; no byte count wrapped.
 * The report printed at exit comes from the same counters. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "first_call_lib.h"
#include "pm_test.h"
#include "poolmalloc.h"

#define WRAPPED(v) ((v) > ((uint64_t)1 << 62))

int main(void)
{
    pm_test_require_poolmalloc();
    const char *mode = first_call_mode();
    CHECK("constructor's first call", first_call_errors() == 0);
    free(first_call_take());
    for (int i = 0; i < 100; i++)
        free(malloc((size_t)(i * 97) % 20000 + 1));

    const char *stats = getenv("POOLMALLOC_STATS");
    if (stats && !strcmp(stats, "1")) {
        void (*get)(pm_stats_t *) = (void (*)(pm_stats_t *))dlsym(RTLD_DEFAULT, "pm_stats_get");
        size_t (*class_size)(int) = (size_t (*)(int))dlsym(RTLD_DEFAULT, "pm_class_block_size");
        CHECK("pm_stats_get found", get != NULL && class_size != NULL);
        if (get && class_size) {
            pm_stats_t s;
            get(&s);
            uint64_t allocs = 0;
            for (int c = 0; c < PM_SMALL_CLASSES + PM_MEDIUM_CLASSES; c++) {
                pm_class_stats_t *k = &s.classes[c];
                uint64_t size = class_size(c);
                allocs += k->allocs;
                int ok = k->frees <= k->allocs && !WRAPPED(k->current_bytes) &&
                         !WRAPPED(k->peak_bytes) &&
                         k->current_bytes == (k->allocs - k->frees) * size &&
                         k->peak_bytes >= k->current_bytes;
                if (!ok)
                    fprintf(stderr,
                            "  %s: class %d (%" PRIu64 " bytes): allocs=%" PRIu64
                            " frees=%" PRIu64 " current=%" PRIu64 " peak=%" PRIu64 "\n",
                            mode, c, size, k->allocs, k->frees, k->current_bytes,
                            k->peak_bytes);
                CHECK("class counts consistent", ok);
            }
            CHECK("something was counted", allocs > 0);
            int large_ok = s.large_frees <= s.large_allocs && !WRAPPED(s.large_live_bytes);
            if (!large_ok)
                fprintf(stderr,
                        "  %s: large: allocs=%" PRIu64 " frees=%" PRIu64
                        " live-bytes=%" PRIu64 "\n",
                        mode, s.large_allocs, s.large_frees, s.large_live_bytes);
            CHECK("large counts consistent", large_ok);
        }
    }
    printf("first call: %s\n", mode);
    return pm_test_finish();
}
