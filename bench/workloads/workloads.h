/* workloads.h -- the benchmark workloads of pm_bench and their registry.
 *
 * Each workload is a C function over the shim's state (bench/shim/pmb.h)
 * that calls only the plain malloc API, so the one program measures
 * whichever allocator the dynamic linker binds malloc to (LD_PRELOAD).
 * registry.c lists the cases (a workload with its arguments); shim.cpp
 * registers them with google benchmark.  The program is compiled with
 * -fno-builtin: the compiler may not elide, merge or move the calls.
 *
 * One "operation" is what a case counts per iteration (its family's unit),
 * usually one malloc + one free of a block.
 */
#ifndef PMB_WORKLOADS_H
#define PMB_WORKLOADS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "pmb.h"

/* How a case is run. */
enum pmb_threading {
    PMB_SINGLE = 0,     /* one thread, CPU time */
    PMB_PAIR,           /* exactly two threads (roles by thread index), wall time */
    PMB_ALL_CORES,      /* max(2, online CPUs) threads, wall time */
    PMB_SCALING,        /* 1, 2, ..., online CPUs threads, wall time */
    PMB_HELPERS         /* one thread, with threads of its own, wall time */
};

typedef void (*pmb_fn)(pmb_state *st);

/* Rounds a "rounds" workload (object_rounds, buffer_rounds,
 * buffer_rounds_kept) runs before its clock starts: the first faults its
 * set in under every allocator; in the second an allocator that keeps a
 * phase's memory only once the phase has come back (poolmalloc's arena
 * reserve and large cache) faults it in once more.  Timed, such a round
 * outlasted the minimum time on a busy machine and was then the whole
 * measurement: buffer_rounds read 207-242 us an operation under
 * poolmalloc in one run of three and 215-250 ns in the others, for the
 * same code. */
#define PMB_ROUNDS_WARM 2

/* A family of cases: one workload function and what it stands for. */
typedef struct pmb_family_s {
    const char *name;   /* benchmark name prefix, e.g. "fixed" */
    pmb_fn fn;          /* the workload */
    int threading;      /* enum pmb_threading */
    const char *unit;   /* what one operation is */
    const char *doc;    /* one sentence: the real pattern it stands for */
} pmb_family_t;

/* One registered case: a family with up to two arguments. */
typedef struct pmb_case_s {
    const pmb_family_t *family;
    int nargs;          /* 0..2 */
    int64_t args[2];    /* State::range(0), range(1) */
    size_t max_size;    /* largest request the case makes, in bytes */
} pmb_case_t;

extern const pmb_family_t pmb_families[];   /* terminated by a NULL name */
extern const pmb_case_t pmb_cases[];        /* terminated by a NULL family */

/* ---- the workloads (one file each) ------------------------------------ */
void pmb_fixed(pmb_state *st);              /* fixed.c */
void pmb_random_mix(pmb_state *st);         /* mix.c */
void pmb_small_loop(pmb_state *st);         /* mix.c */
void pmb_object_churn(pmb_state *st);       /* mix.c */
void pmb_batch_lifo(pmb_state *st);         /* batch.c */
void pmb_batch_fifo(pmb_state *st);         /* batch.c */
void pmb_batch_random(pmb_state *st);       /* batch.c */
void pmb_producer_consumer(pmb_state *st);  /* threads.c */
void pmb_larson(pmb_state *st);             /* threads.c */
void pmb_realloc_append(pmb_state *st);     /* realloc.c */
void pmb_realloc_double(pmb_state *st);     /* realloc.c */
void pmb_calloc(pmb_state *st);             /* calloc_aligned.c */
void pmb_calloc_sparse(pmb_state *st);      /* calloc_aligned.c */
void pmb_aligned(pmb_state *st);            /* calloc_aligned.c */
void pmb_locality_fresh(pmb_state *st);     /* locality.c */
void pmb_locality_churned(pmb_state *st);   /* locality.c */
void pmb_big_churn(pmb_state *st);          /* big.c */
void pmb_request_buffers(pmb_state *st);    /* big.c */
void pmb_live_buffers(pmb_state *st);       /* big.c */
void pmb_buffer_rounds(pmb_state *st);      /* big.c */
void pmb_buffer_rounds_kept(pmb_state *st); /* big.c */
void pmb_object_rounds(pmb_state *st);      /* batch.c */
void pmb_medium_batches(pmb_state *st);     /* batch.c */
void pmb_buffer_handoff(pmb_state *st);     /* threads.c */
void pmb_larson_server(pmb_state *st);      /* handoff.c */
void pmb_xmalloc_batches(pmb_state *st);    /* handoff.c */
void pmb_rptest_mix(pmb_state *st);         /* handoff.c */
void pmb_many_producers(pmb_state *st);     /* handoff.c */
void pmb_false_sharing_active(pmb_state *st);   /* sharing.c */
void pmb_false_sharing_passive(pmb_state *st);  /* sharing.c */
void pmb_thread_churn(pmb_state *st);       /* churn.c */
void pmb_cxx_objects(pmb_state *st);        /* cxx_objects.cpp */

/* ---- shared helpers ---------------------------------------------------- */

/* xorshift64*: deterministic, seeded per case and thread. */
static inline uint64_t pmb_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ULL;
}

/* A workload cannot go on without its memory: say which request failed. */
static inline void *pmb_check(void *p, size_t size)
{
    if (p == NULL) {
        fprintf(stderr, "pm_bench: allocation of %zu bytes failed\n", size);
        abort();
    }
    return p;
}

/* Fill sizes[0..n) with sizes drawn uniformly from lo..hi. */
static inline void pmb_uniform_sizes(uint32_t *sizes, size_t n, uint32_t lo, uint32_t hi,
                                     uint64_t seed)
{
    uint64_t s = seed | 1;
    for (size_t i = 0; i < n; i++)
        sizes[i] = lo + (uint32_t)(pmb_rand(&s) % (hi - lo + 1));
}

/* Fill order[0..n) with a random permutation of 0..n-1. */
static inline void pmb_shuffle(uint32_t *order, size_t n, uint64_t seed)
{
    uint64_t s = seed | 1;
    for (size_t i = 0; i < n; i++)
        order[i] = (uint32_t)i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(pmb_rand(&s) % (i + 1));
        uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

#endif /* PMB_WORKLOADS_H */
