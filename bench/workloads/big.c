/* big.c -- big-block churn (mimalloc-bench's malloc-large).
 *
 * big_churn: blocks of 5..25 MiB, a few alive at once; each operation frees
 * the oldest of them, then allocates a block of a random size in that range
 * and writes one byte per page of it (the program uses what it asked for).
 * What decides the time is whether freed mappings are kept and reused
 * (glibc's adaptive mmap threshold, tcmalloc's and mimalloc 3's caches) or
 * given back and faulted in again page by page.
 *
 * request_buffers: each thread allocates 8 buffers of 64..192 KiB (sizes
 * drawn at random), writes the first and last byte of each, then frees
 * them all; one operation is one malloc and one free.  Per-request I/O
 * buffers of a server's worker threads, a compressor's windows, sort runs:
 * large enough for every allocator's large path (above jemalloc's and
 * glibc's thread caches), too small to be worth a system call each time.
 *
 * live_buffers: 2048 blocks of 8..64 KiB (sizes drawn at random) alive at
 * once; each operation frees one drawn at random and allocates another,
 * written one byte per page.  A cache of pages or images, a database's
 * page buffers, a message queue's backlog: many blocks of a few pages
 * (about 74 MB) that come and go one at a time, so what decides is how an
 * allocator lays out blocks of that size (a mapping each, or carved from
 * larger ones) and whether a freed one's pages serve the next.
 *
 * buffer_rounds: 1000 buffers of 32..96 KiB (sizes drawn at random, about
 * 62 MB) made, written one byte per page, and all freed, round after
 * round; one operation is one malloc and its free.  A batch job that
 * builds and drops a working set per input file, a server's big requests
 * one after the other: whether the pages of one round serve the next, or
 * go back to the OS to be faulted in again.  Two rounds run before the
 * clock starts (PMB_ROUNDS_WARM, workloads.h, says why).
 *
 * buffer_rounds_kept: the same rounds, but one buffer in five is kept
 * from round to round (about 12 MB: the results, the index, the state a
 * batch job carries from one input to the next); one operation is one
 * malloc and its free, of the four in five made again.  The use then
 * never falls near zero between rounds (the kept ones stay for the
 * process's life, as a program's would).
 */
#include "workloads.h"

#include <stdbool.h>

#define BIG_LIVE 4
#define BIG_MIN ((size_t)5 << 20)
#define BIG_SPAN ((size_t)20 << 20)
#define BIG_PAGE 4096

void pmb_big_churn(pmb_state *st)
{
    uint64_t rng = 0x2545F4914F6CDD1DULL + (uint64_t)pmb_thread_index(st);
    char *live[BIG_LIVE] = {NULL};
    unsigned oldest = 0;
    while (pmb_keep_running_batch(st, 1)) {
        free(live[oldest]);
        size_t size = BIG_MIN + (size_t)(pmb_rand(&rng) % BIG_SPAN);
        char *p = pmb_check(malloc(size), size);
        for (size_t off = 0; off < size; off += BIG_PAGE)
            p[off] = (char)off;
        pmb_do_not_optimize(p);
        live[oldest] = p;
        oldest = (oldest + 1) % BIG_LIVE;
    }
    for (unsigned i = 0; i < BIG_LIVE; i++)
        free(live[i]);
}

#define LIVE_COUNT 2048
#define LIVE_MIN ((size_t)8 << 10)
#define LIVE_SPAN ((size_t)56 << 10)

/* A buffer of min..min+span bytes (drawn at random), written one byte per
 * page. */
static char *written_buffer(uint64_t *rng, size_t min, size_t span)
{
    size_t size = min + (size_t)(pmb_rand(rng) % (span + 1));
    char *p = pmb_check(malloc(size), size);
    for (size_t off = 0; off < size; off += BIG_PAGE)
        p[off] = (char)off;
    return p;
}

static char *live_buffer(uint64_t *rng) { return written_buffer(rng, LIVE_MIN, LIVE_SPAN); }

void pmb_live_buffers(pmb_state *st)
{
    uint64_t rng = 0xD1B54A32D192ED03ULL;
    char **bufs = pmb_check(malloc(LIVE_COUNT * sizeof *bufs), LIVE_COUNT * sizeof *bufs);
    for (unsigned i = 0; i < LIVE_COUNT; i++)
        bufs[i] = live_buffer(&rng);
    while (pmb_keep_running_batch(st, 1)) {
        unsigned i = (unsigned)(pmb_rand(&rng) >> 40) % LIVE_COUNT;
        free(bufs[i]);
        bufs[i] = live_buffer(&rng);
        pmb_do_not_optimize(bufs[i]);
    }
    for (unsigned i = 0; i < LIVE_COUNT; i++)
        free(bufs[i]);
    free(bufs);
}

#define ROUND_COUNT 1000
#define ROUND_MIN ((size_t)32 << 10)
#define ROUND_SPAN ((size_t)64 << 10)

#define ROUND_KEEP_EVERY 5   /* buffer_rounds_kept: buffer i is kept when i % 5 == 0 */

static char *round_buffer(uint64_t *rng) { return written_buffer(rng, ROUND_MIN, ROUND_SPAN); }

/* Whether buffer i is one a round leaves alone (keep_every 0: none). */
static inline bool round_kept(unsigned i, unsigned keep_every)
{
    return keep_every && i % keep_every == 0;
}

/* A round: the buffers not kept, made and all freed. */
static void buffer_round(char **bufs, uint64_t *rng, unsigned keep_every)
{
    for (unsigned i = 0; i < ROUND_COUNT; i++)
        if (!round_kept(i, keep_every))
            bufs[i] = round_buffer(rng);
    pmb_clobber_memory();
    for (unsigned i = 0; i < ROUND_COUNT; i++)
        if (!round_kept(i, keep_every))
            free(bufs[i]);
}

void pmb_buffer_rounds(pmb_state *st)
{
    uint64_t rng = 0x2F5B8C07D3A91E65ULL;
    char **bufs = pmb_check(malloc(ROUND_COUNT * sizeof *bufs), ROUND_COUNT * sizeof *bufs);
    for (int warm = 0; warm < PMB_ROUNDS_WARM; warm++)   /* before the clock (above) */
        buffer_round(bufs, &rng, 0);
    while (pmb_keep_running_batch(st, ROUND_COUNT))
        buffer_round(bufs, &rng, 0);
    free(bufs);
}

/* The kept buffers stay from one call to the next (google benchmark calls a
 * workload several times to size its run): freed at the end of each call,
 * they made the use drop to zero between calls, which no program that
 * keeps them does, and a phase was seen that the rounds alone never make. */
static char *kept_bufs[ROUND_COUNT];

void pmb_buffer_rounds_kept(pmb_state *st)
{
    uint64_t rng = 0x8CB92BA72F3D8DD7ULL;
    for (unsigned i = 0; i < ROUND_COUNT; i++)
        if (round_kept(i, ROUND_KEEP_EVERY) && !kept_bufs[i])   /* else kept from the last call */
            kept_bufs[i] = round_buffer(&rng);
    for (int warm = 0; warm < PMB_ROUNDS_WARM; warm++)   /* before the clock (buffer_rounds) */
        buffer_round(kept_bufs, &rng, ROUND_KEEP_EVERY);
    const int64_t made = ROUND_COUNT - (ROUND_COUNT + ROUND_KEEP_EVERY - 1) / ROUND_KEEP_EVERY;
    while (pmb_keep_running_batch(st, made))
        buffer_round(kept_bufs, &rng, ROUND_KEEP_EVERY);
}

#define REQ_BUFFERS 8
#define REQ_MIN ((size_t)64 << 10)
#define REQ_SPAN ((size_t)128 << 10)

void pmb_request_buffers(pmb_state *st)
{
    uint64_t rng = 0x9E3779B97F4A7C15ULL + 7919 * (uint64_t)pmb_thread_index(st);
    char *bufs[REQ_BUFFERS];
    while (pmb_keep_running_batch(st, REQ_BUFFERS)) {
        for (unsigned i = 0; i < REQ_BUFFERS; i++) {
            size_t size = REQ_MIN + (size_t)(pmb_rand(&rng) % REQ_SPAN);
            char *p = pmb_check(malloc(size), size);
            p[0] = (char)i;
            p[size - 1] = (char)i;
            bufs[i] = p;
        }
        pmb_clobber_memory();
        for (unsigned i = 0; i < REQ_BUFFERS; i++)
            free(bufs[i]);
    }
}
