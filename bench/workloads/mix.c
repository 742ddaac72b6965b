/* mix.c -- single-threaded mixes of small sizes (8..512 bytes).
 *
 * random_mix:   a working set of 1024 live blocks; each operation frees a
 *               random one and allocates a block of a random size 8..512 in
 *               its place.
 * small_loop:   rounds of 1000 blocks of random sizes 8..512, freed in a
 *               shuffled order, a byte written in each; also run on 1..N
 *               threads as threads_small_loop.
 * object_churn: an interpreter-like heap: objects of typical CPython sizes,
 *               most of them dying young in a nursery, some promoted into a
 *               long-lived set where they replace older objects.
 * One operation is one malloc and one free.
 */
#include "workloads.h"

#define MIX_SLOTS 1024          /* power of two */
#define MIX_SIZES 4096          /* power of two */

void pmb_random_mix(pmb_state *st)
{
    uint32_t *sizes = pmb_check(malloc(MIX_SIZES * sizeof *sizes), MIX_SIZES * sizeof *sizes);
    char **slots = pmb_check(malloc(MIX_SLOTS * sizeof *slots), MIX_SLOTS * sizeof *slots);
    uint64_t seed = 0x9E3779B97F4A7C15ULL + (uint64_t)pmb_thread_index(st);
    pmb_uniform_sizes(sizes, MIX_SIZES, 8, 512, seed);
    for (int i = 0; i < MIX_SLOTS; i++) {
        slots[i] = pmb_check(malloc(sizes[i]), sizes[i]);
        slots[i][0] = 1;
    }
    uint64_t rng = seed ^ 0x5851F42D4C957F2DULL;
    uint32_t k = 0;
    while (pmb_keep_running_batch(st, 256)) {
        for (int i = 0; i < 256; i++) {
            uint32_t slot = (uint32_t)(pmb_rand(&rng) >> 40) & (MIX_SLOTS - 1);
            uint32_t size = sizes[k++ & (MIX_SIZES - 1)];
            free(slots[slot]);
            char *p = pmb_check(malloc(size), size);
            p[0] = (char)i;
            pmb_do_not_optimize(p);
            slots[slot] = p;
        }
    }
    for (int i = 0; i < MIX_SLOTS; i++)
        free(slots[i]);
    free(slots);
    free(sizes);
}

#define LOOP_BATCH 1000

void pmb_small_loop(pmb_state *st)
{
    uint32_t *sizes = pmb_check(malloc(LOOP_BATCH * sizeof *sizes), LOOP_BATCH * sizeof *sizes);
    uint32_t *order = pmb_check(malloc(LOOP_BATCH * sizeof *order), LOOP_BATCH * sizeof *order);
    char **slots = pmb_check(malloc(LOOP_BATCH * sizeof *slots), LOOP_BATCH * sizeof *slots);
    uint64_t seed = 88172645463325252ULL + 7919 * (uint64_t)pmb_thread_index(st);
    pmb_uniform_sizes(sizes, LOOP_BATCH, 8, 512, seed);
    pmb_shuffle(order, LOOP_BATCH, seed + 1);
    unsigned long sum = 0;
    while (pmb_keep_running_batch(st, LOOP_BATCH)) {
        for (int i = 0; i < LOOP_BATCH; i++) {
            char *p = pmb_check(malloc(sizes[i]), sizes[i]);
            p[0] = (char)i;
            slots[i] = p;
        }
        for (int i = 0; i < LOOP_BATCH; i++) {
            char *p = slots[order[i]];
            sum += (unsigned char)p[0];
            free(p);
        }
    }
    pmb_do_not_optimize(&sum);
    free(slots);
    free(order);
    free(sizes);
}

/* Request sizes of a CPython heap with PYTHONMALLOC=malloc (64-bit; the 16
 * bytes of GC header included for container objects): floats 24, small ints
 * 28->32, 1- and 2-tuples 48/56, lists 56, short strings 50..90, dicts 64
 * and their key tables, frames, functions and larger containers.  The
 * weights are a rough census of a running interpreter, not a measurement;
 * what matters is a few hot sizes and a long tail. */
static const struct { uint16_t size, weight; } churn_table[] = {
    {16, 2}, {24, 10}, {32, 16}, {48, 10}, {56, 10}, {64, 12}, {72, 6},
    {80, 7}, {96, 6}, {112, 4}, {128, 4}, {160, 3}, {192, 3}, {256, 3},
    {368, 2}, {512, 2},
};

#define CHURN_SIZES 8192        /* power of two */
#define CHURN_NURSERY 256       /* power of two */
#define CHURN_OLD 16384         /* power of two */

void pmb_object_churn(pmb_state *st)
{
    size_t nt = sizeof churn_table / sizeof churn_table[0];
    unsigned total = 0;
    for (size_t i = 0; i < nt; i++)
        total += churn_table[i].weight;
    uint16_t *sizes = pmb_check(malloc(CHURN_SIZES * sizeof *sizes), CHURN_SIZES * sizeof *sizes);
    char **nursery = pmb_check(calloc(CHURN_NURSERY, sizeof *nursery), CHURN_NURSERY * sizeof *nursery);
    char **old = pmb_check(calloc(CHURN_OLD, sizeof *old), CHURN_OLD * sizeof *old);
    uint64_t rng = 0xC0FFEE123456789ULL + (uint64_t)pmb_thread_index(st);
    for (int i = 0; i < CHURN_SIZES; i++) {
        unsigned w = (unsigned)(pmb_rand(&rng) % total);
        size_t j = 0;
        while (w >= churn_table[j].weight) {
            w -= churn_table[j].weight;
            j++;
        }
        sizes[i] = churn_table[j].size;
    }
    /* Start from a populated old generation, as a warmed-up interpreter. */
    for (int i = 0; i < CHURN_OLD; i++) {
        old[i] = pmb_check(malloc(sizes[i & (CHURN_SIZES - 1)]), sizes[i & (CHURN_SIZES - 1)]);
        old[i][0] = 1;
    }
    uint32_t k = 0, head = 0;
    while (pmb_keep_running_batch(st, 256)) {
        for (int i = 0; i < 256; i++) {
            uint16_t size = sizes[k++ & (CHURN_SIZES - 1)];
            char *obj = pmb_check(malloc(size), size);
            obj[0] = (char)i;
            obj[size - 1] = (char)i;
            /* The nursery is a FIFO: the object leaving it dies (85%) or
             * is promoted, replacing (freeing) a random old object. */
            char *leaving = nursery[head];
            nursery[head] = obj;
            head = (head + 1) & (CHURN_NURSERY - 1);
            if (leaving == NULL)
                continue;
            uint64_t r = pmb_rand(&rng);
            if ((r & 0xFF) < 218) {
                free(leaving);
            } else {
                uint32_t slot = (uint32_t)(r >> 40) & (CHURN_OLD - 1);
                free(old[slot]);
                old[slot] = leaving;
            }
        }
    }
    for (int i = 0; i < CHURN_NURSERY; i++)
        free(nursery[i]);
    for (int i = 0; i < CHURN_OLD; i++)
        free(old[i]);
    free(old);
    free(nursery);
    free(sizes);
}
