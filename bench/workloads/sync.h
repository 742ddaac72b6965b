/* sync.h -- what the multi-threaded workloads share: a barrier, a mailbox
 * of block batches between threads, and the tag each block carries.
 *
 * Everything here is the workloads' own plumbing, not what is measured; it
 * uses pthreads and C11 atomics only.  The machine may have fewer free cores
 * than threads, so every wait spins briefly and then yields.
 *
 * Tags: a block of `size` bytes (size >= 8) starts with its size (4 bytes)
 * and ends with a check byte derived from it, written after malloc and
 * checked before free.  That is cheap (two cache lines at most) and catches
 * a block handed out twice or overwritten by the allocator's own
 * bookkeeping (a free-list link stored in a live block).
 */
#ifndef PMB_SYNC_H
#define PMB_SYNC_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "workloads.h"

/* Most threads a multi-threaded workload here supports (they keep per-thread
 * state in static arrays). */
#define PMB_MAX_THREADS 256

/* Spin briefly, then give the CPU away. */
static inline void pmb_spin(unsigned *spins)
{
    if (++*spins < 64)
        __asm__ volatile("pause");
    else
        sched_yield();
}

/* ---- barrier ------------------------------------------------------------ */

/* A reusable barrier for n threads.  Zero-initialised; `count` is back at 0
 * after every round, so one static barrier serves cases of any thread count
 * as long as every thread of a case waits the same number of times. */
typedef struct pmb_barrier_s {
    _Alignas(64) _Atomic unsigned count;    /* threads arrived this round */
    _Atomic unsigned round;                 /* rounds completed */
} pmb_barrier_t;

static inline void pmb_barrier_wait(pmb_barrier_t *b, unsigned n)
{
    unsigned round = atomic_load_explicit(&b->round, memory_order_acquire);
    if (atomic_fetch_add_explicit(&b->count, 1, memory_order_acq_rel) + 1 == n) {
        /* Last to arrive: nobody can enter the next round before `round`
         * moves, so resetting the count first is safe. */
        atomic_store_explicit(&b->count, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&b->round, 1, memory_order_acq_rel);
        return;
    }
    unsigned spins = 0;
    while (atomic_load_explicit(&b->round, memory_order_acquire) == round)
        pmb_spin(&spins);
}

/* ---- block tags --------------------------------------------------------- */

#define PMB_TAG_MAX ((uint32_t)1 << 24)     /* largest size a tag records */

/* Write the tag into a fresh block of `size` bytes (8 <= size < 2^24): the
 * size in the first 4 bytes, a check byte derived from it in the last. */
static inline void pmb_tag(char *p, uint32_t size)
{
    memcpy(p, &size, sizeof size);
    p[size - 1] = (char)((size * 2654435761u) >> 24 ^ 0x5A);
}

/* Check a block's tag before it is freed; a mismatch is fatal (the
 * allocator handed out memory it should not have, or wrote into it). */
static inline void pmb_tag_check(const char *p, const char *where)
{
    uint32_t size;
    memcpy(&size, p, sizeof size);
    if (size < 8 || size >= PMB_TAG_MAX || p[size - 1] != (char)((size * 2654435761u) >> 24 ^ 0x5A)) {
        fprintf(stderr, "pm_bench: %s: block %p has a broken tag (size word %u)\n",
                where, (const void *)p, (unsigned)size);
        abort();
    }
}

/* ---- mailboxes of batches ----------------------------------------------- */

/* A batch of blocks passed from one thread to another; the batch record is
 * itself malloc'd by the sender and freed by the receiver. */
typedef struct pmb_batch_s {
    struct pmb_batch_s *next;   /* next batch in the mailbox */
    uint32_t from;              /* sending thread */
    uint32_t n;                 /* blocks in the batch */
    char *blocks[];             /* n blocks, each tagged */
} pmb_batch_t;

/* One thread's mailbox: batches other threads sent it, oldest first. */
typedef struct pmb_mailbox_s {
    _Alignas(64) pthread_mutex_t lock;
    pmb_batch_t *head;          /* oldest batch */
    pmb_batch_t *tail;          /* newest batch */
} pmb_mailbox_t;

static inline void pmb_mailbox_put(pmb_mailbox_t *m, pmb_batch_t *b)
{
    b->next = NULL;
    pthread_mutex_lock(&m->lock);
    if (m->tail)
        m->tail->next = b;
    else
        m->head = b;
    m->tail = b;
    pthread_mutex_unlock(&m->lock);
}

/* Take every batch out of the mailbox (oldest first), or NULL. */
static inline pmb_batch_t *pmb_mailbox_take_all(pmb_mailbox_t *m)
{
    pthread_mutex_lock(&m->lock);
    pmb_batch_t *b = m->head;
    m->head = m->tail = NULL;
    pthread_mutex_unlock(&m->lock);
    return b;
}

/* Free every block of a list of batches, checking their tags, and the
 * batches; the number of blocks freed. */
static inline int64_t pmb_batches_free(pmb_batch_t *b, const char *where)
{
    int64_t n = 0;
    while (b) {
        pmb_batch_t *next = b->next;
        for (uint32_t i = 0; i < b->n; i++) {
            pmb_tag_check(b->blocks[i], where);
            free(b->blocks[i]);
        }
        n += b->n;
        free(b);
        b = next;
    }
    return n;
}

#endif /* PMB_SYNC_H */
