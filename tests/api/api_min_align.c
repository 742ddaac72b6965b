/* api_min_align.c -- POOLMALLOC_MIN_ALIGN.
 *
 * Run twice (CMakeLists.txt): with POOLMALLOC_MIN_ALIGN=16, every malloc,
 * calloc and realloc of more than 8 bytes must be 16-aligned, in place
 * growth included; with the default (8), classes stay 8 bytes apart, so a
 * request of 24 bytes gets a 24-byte block (the option changes nothing
 * else).  Both runs check that pm_option_set accepts only 8 and 16. */
#include "pm_test.h"

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <poolmalloc.h>

#define ROUNDS 8

int main(void)
{
    pm_test_require_poolmalloc();
    const char *env = getenv("POOLMALLOC_MIN_ALIGN");
    int want16 = env && strcmp(env, "16") == 0;
    CHECK("option value", pm_option_get(PM_OPTION_MIN_ALIGN) == (want16 ? 16 : 8));

    int misaligned = 0;
    void *keep[ROUNDS][64];
    for (int r = 0; r < ROUNDS; r++) {       /* several blocks per class: all offsets */
        for (size_t n = 9; n <= 512; n += 8) {
            void *p = malloc(n);
            CHECK("malloc", p != NULL);
            if (want16 && ((uintptr_t)p & 15))
                misaligned++;
            keep[r][(n - 9) / 8] = p;
        }
    }
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < 63; i++)
            free(keep[r][i]);
    CHECK("malloc 9..512 16-aligned", misaligned == 0);

    misaligned = 0;
    for (size_t n = 9; n <= 20000; n += (n < 600 ? 1 : 97)) {
        void *p = calloc(1, n);
        void *q = malloc(n);
        if (want16 && (((uintptr_t)p | (uintptr_t)q) & 15))
            misaligned++;
        q = realloc(q, n + 8);               /* may stay in place: still aligned */
        if (want16 && ((uintptr_t)q & 15))
            misaligned++;
        free(p);
        free(q);
    }
    CHECK("calloc, malloc, realloc up to 20000 16-aligned", misaligned == 0);

    /* The design's spacing stays without the option. */
    void *p = malloc(24);
    CHECK("24-byte request", malloc_usable_size(p) == (want16 ? 32 : 24));
    free(p);
    p = malloc(8);
    CHECK("8-byte request", malloc_usable_size(p) == (want16 ? 16 : 8));
    free(p);

    CHECK("12 rejected", pm_option_set(PM_OPTION_MIN_ALIGN, 12) == EINVAL);
    CHECK("32 rejected", pm_option_set(PM_OPTION_MIN_ALIGN, 32) == EINVAL);
    CHECK("16 accepted", pm_option_set(PM_OPTION_MIN_ALIGN, 16) == 0);
    p = malloc(40);
    CHECK("40 after pm_option_set(16)", ((uintptr_t)p & 15) == 0 && malloc_usable_size(p) == 48);
    free(p);
    CHECK("8 accepted", pm_option_set(PM_OPTION_MIN_ALIGN, 8) == 0);
    p = malloc(40);
    CHECK("40 after pm_option_set(8)", malloc_usable_size(p) == 40);
    free(p);

    /* A host's group split (pools.h, pm_class_host: 65..80 bytes share
     * the 80-byte host until a heap holds 8 of its pools): then a 72-byte
     * request has its own class, 16-aligned only with the option, whether
     * the option came first or after the split. */
    pm_option_set(PM_OPTION_MIN_ALIGN, want16 ? 16 : 8);
    static void *many[1200];
    for (int i = 0; i < 1200; i++)
        many[i] = malloc(72);
    void *a = malloc(72);
    CHECK("72 after the split", malloc_usable_size(a) == (want16 ? 80 : 72) &&
                                    (!want16 || ((uintptr_t)a & 15) == 0));
    CHECK("16 accepted again", pm_option_set(PM_OPTION_MIN_ALIGN, 16) == 0);
    void *b = malloc(72);
    CHECK("72 after the split and pm_option_set(16)",
          ((uintptr_t)b & 15) == 0 && malloc_usable_size(b) == 80);
    CHECK("8 accepted again", pm_option_set(PM_OPTION_MIN_ALIGN, 8) == 0);
    void *c = malloc(72);
    CHECK("72 after the split and pm_option_set(8)", malloc_usable_size(c) == 72);
    free(a);
    free(b);
    free(c);
    for (int i = 0; i < 1200; i++)
        free(many[i]);
    return pm_test_finish();
}
