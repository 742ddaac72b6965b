/* threads.c -- workloads where blocks cross threads.
 *
 * producer_consumer: two threads; thread 0 allocates blocks of random sizes
 *   8..512 and passes them through a single-producer single-consumer ring
 *   to thread 1, which reads and frees them: every free is a free of
 *   another thread's block.  One operation is one block passed (one malloc
 *   on the producer, one free on the consumer).
 * larson: a server simulation after Larson and Krishnan (1998): all threads
 *   replace random slots of one shared array of 4096 blocks (sizes 8..512);
 *   each replacement allocates the new block and frees the slot's previous
 *   one, most often allocated by another thread.  One operation is one
 *   malloc and one free.
 * buffer_handoff: producer_consumer's two threads and ring with buffers of
 *   32..96 KiB (a byte written per page), at most 1024 in flight (about 62
 *   MB): a reader thread that fills buffers a writer thread sends and frees
 *   (a pipeline's stages, a server's I/O threads), every free of a large
 *   block allocated by the other thread.
 * All use google benchmark's threads: all enter their timed loop together
 * and leave it together, with the same number of iterations each.
 */
#include <sched.h>
#include <stdatomic.h>

#include "workloads.h"

/* ---- producer/consumer -------------------------------------------------- */

#define RING_SLOTS 4096         /* power of two */
#define PC_BATCH 256
#define PC_SIZES 4096           /* power of two */

static struct {
    _Alignas(64) _Atomic uint64_t head;     /* next slot the producer fills */
    _Alignas(64) _Atomic uint64_t tail;     /* next slot the consumer empties */
    _Alignas(64) char *slots[RING_SLOTS];
} ring;

/* Spin briefly, then let the other thread have the CPU (the machine may
 * have fewer free cores than threads). */
static void ring_wait(unsigned *spins)
{
    if (++*spins < 64)
        __asm__ volatile("pause");
    else
        sched_yield();
}

static void ring_push_within(char *p, uint64_t most)
{
    uint64_t h = atomic_load_explicit(&ring.head, memory_order_relaxed);
    unsigned spins = 0;
    while (h - atomic_load_explicit(&ring.tail, memory_order_acquire) >= most)
        ring_wait(&spins);
    ring.slots[h & (RING_SLOTS - 1)] = p;
    atomic_store_explicit(&ring.head, h + 1, memory_order_release);
}

static void ring_push(char *p) { ring_push_within(p, RING_SLOTS); }

static char *ring_pop(void)
{
    uint64_t t = atomic_load_explicit(&ring.tail, memory_order_relaxed);
    unsigned spins = 0;
    while (atomic_load_explicit(&ring.head, memory_order_acquire) == t)
        ring_wait(&spins);
    char *p = ring.slots[t & (RING_SLOTS - 1)];
    atomic_store_explicit(&ring.tail, t + 1, memory_order_release);
    return p;
}

/* The consumer of producer_consumer and buffer_handoff: pops, reads the
 * first byte and frees, batch blocks per timed step; the producer counts
 * the blocks. */
static void ring_consume(pmb_state *st, int batch)
{
    unsigned long sum = 0;
    while (pmb_keep_running_batch(st, batch)) {
        for (int i = 0; i < batch; i++) {
            char *p = ring_pop();
            sum += (unsigned char)p[0];
            free(p);
        }
    }
    pmb_do_not_optimize(&sum);
    pmb_set_items(st, 0);
}

void pmb_producer_consumer(pmb_state *st)
{
    if (pmb_thread_index(st) == 0) {
        /* Producer.  The ring is empty here: the previous run's consumer
         * emptied it before the stop barrier. */
        atomic_store(&ring.head, 0);
        atomic_store(&ring.tail, 0);
        uint32_t *sizes = pmb_check(malloc(PC_SIZES * sizeof *sizes), PC_SIZES * sizeof *sizes);
        pmb_uniform_sizes(sizes, PC_SIZES, 8, 512, 0x6A09E667F3BCC909ULL);
        uint32_t k = 0;
        int64_t n = 0;
        while (pmb_keep_running_batch(st, PC_BATCH)) {
            for (int i = 0; i < PC_BATCH; i++) {
                uint32_t size = sizes[k++ & (PC_SIZES - 1)];
                char *p = pmb_check(malloc(size), size);
                p[0] = (char)size;
                ring_push(p);
            }
            n += PC_BATCH;
        }
        free(sizes);
        pmb_set_items(st, n);
    } else if (pmb_thread_index(st) == 1) {
        ring_consume(st, PC_BATCH);
    } else {
        pmb_fail(st, "producer_consumer runs on exactly two threads");
    }
}

#define HANDOFF_MOST 1024        /* buffers in flight */
#define HANDOFF_MIN (32 << 10)
#define HANDOFF_SPAN (64 << 10)
#define HANDOFF_BATCH 64

void pmb_buffer_handoff(pmb_state *st)
{
    if (pmb_thread_index(st) == 0) {
        atomic_store(&ring.head, 0);
        atomic_store(&ring.tail, 0);
        uint64_t rng = 0x3C6EF372FE94F82BULL;
        int64_t n = 0;
        while (pmb_keep_running_batch(st, HANDOFF_BATCH)) {
            for (int i = 0; i < HANDOFF_BATCH; i++) {
                size_t size = HANDOFF_MIN + (size_t)(pmb_rand(&rng) % (HANDOFF_SPAN + 1));
                char *p = pmb_check(malloc(size), size);
                for (size_t off = 0; off < size; off += 4096)
                    p[off] = (char)off;
                p[size - 1] = 1;
                ring_push_within(p, HANDOFF_MOST);
            }
            n += HANDOFF_BATCH;
        }
        pmb_set_items(st, n);
    } else if (pmb_thread_index(st) == 1) {
        ring_consume(st, HANDOFF_BATCH);
    } else {
        pmb_fail(st, "buffer_handoff runs on exactly two threads");
    }
}

/* ---- larson ------------------------------------------------------------- */

#define LARSON_SLOTS 4096       /* power of two */
#define LARSON_SIZES 4096       /* power of two */

static _Atomic(char *) larson_slots[LARSON_SLOTS];

void pmb_larson(pmb_state *st)
{
    int t = pmb_thread_index(st);
    uint32_t *sizes = pmb_check(malloc(LARSON_SIZES * sizeof *sizes), LARSON_SIZES * sizeof *sizes);
    pmb_uniform_sizes(sizes, LARSON_SIZES, 8, 512, 0xBB67AE8584CAA73BULL + (uint64_t)t);
    if (t == 0) {
        for (int i = 0; i < LARSON_SLOTS; i++) {
            uint32_t size = sizes[i];
            char *p = pmb_check(malloc(size), size);
            p[0] = 1;
            atomic_store_explicit(&larson_slots[i], p, memory_order_relaxed);
        }
    }
    uint64_t rng = 0x3C6EF372FE94F82BULL * (uint64_t)(t + 1);
    uint32_t k = 0;
    while (pmb_keep_running_batch(st, 256)) {
        for (int i = 0; i < 256; i++) {
            uint32_t size = sizes[k++ & (LARSON_SIZES - 1)];
            char *p = pmb_check(malloc(size), size);
            p[0] = (char)i;
            uint32_t slot = (uint32_t)(pmb_rand(&rng) >> 40) & (LARSON_SLOTS - 1);
            char *prev = atomic_exchange_explicit(&larson_slots[slot], p, memory_order_acq_rel);
            free(prev);
        }
    }
    /* Every thread has passed the stop barrier: nobody touches the array. */
    if (t == 0) {
        for (int i = 0; i < LARSON_SLOTS; i++)
            free(atomic_exchange_explicit(&larson_slots[i], NULL, memory_order_relaxed));
    }
    free(sizes);
}
