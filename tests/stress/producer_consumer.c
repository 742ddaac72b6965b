/* producer_consumer.c -- blocks allocated in one thread, freed in another.
 *
 * PAIRS producer/consumer pairs.  Each producer allocates ITEMS blocks
 * (sizes 8..512 mostly, some up to 16 KiB, a few large up to 1 MiB), writes
 * a pattern derived from the block's sequence number, and passes them
 * through a bounded FIFO queue (mutex + condition variables, items moved in
 * batches) to its consumer, which checks the order, verifies the contents
 * and frees the block.  Every free is a cross-thread free.
 *
 * usage: producer_consumer [PAIRS=3] [ITEMS_PER_PAIR=1500000] */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pm_test.h"

#define QCAP 2048
#define BATCH 64

typedef struct {
    unsigned char *p;
    size_t size;
    uint64_t seq;
} item_t;

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    item_t ring[QCAP];
    size_t head, count;
    int done;
    /* per pair */
    int id;
    long items;
    long consumed;
    long errors;
    long alloc_failures;
    long large;
} queue_t;

/* Word at offset off (a multiple of 8) of block `seq`. */
static inline uint64_t word_at(uint64_t key, size_t off)
{
    return key + off * 0x9E3779B97F4A7C15ULL;
}

/* Blocks up to 4 KiB are filled completely; larger ones at the head, the
 * tail and one word per page (so every page is touched). */
#define FULL_LIMIT 4096
#define EDGE 256

static void fill_range(unsigned char *p, uint64_t key, size_t from, size_t to)
{
    for (size_t off = from & ~(size_t)7; off + 8 <= to; off += 8)
        pm_test_put64(p + off, word_at(key, off));
}

static int check_range(const unsigned char *p, uint64_t key, size_t from, size_t to)
{
    for (size_t off = from & ~(size_t)7; off + 8 <= to; off += 8)
        if (pm_test_get64(p + off) != word_at(key, off))
            return 0;
    return 1;
}

static void fill_block(unsigned char *p, size_t size, uint64_t key)
{
    if (size <= FULL_LIMIT) {
        fill_range(p, key, 0, size);
        if (size % 8) {
            uint64_t w = word_at(key, size & ~(size_t)7);
            memcpy(p + (size & ~(size_t)7), &w, size % 8);
        }
        return;
    }
    fill_range(p, key, 0, EDGE);
    for (size_t off = 4096; off + 8 <= size; off += 4096)
        pm_test_put64(p + off, word_at(key, off));
    fill_range(p, key, (size - EDGE) & ~(size_t)7, size);
}

static int check_block(const unsigned char *p, size_t size, uint64_t key)
{
    if (size <= FULL_LIMIT) {
        if (!check_range(p, key, 0, size))
            return 0;
        if (size % 8) {
            uint64_t w = word_at(key, size & ~(size_t)7);
            if (memcmp(p + (size & ~(size_t)7), &w, size % 8))
                return 0;
        }
        return 1;
    }
    if (!check_range(p, key, 0, EDGE))
        return 0;
    for (size_t off = 4096; off + 8 <= size; off += 4096)
        if (pm_test_get64(p + off) != word_at(key, off))
            return 0;
    return check_range(p, key, (size - EDGE) & ~(size_t)7, size);
}

static size_t pick_size(unsigned long long *rng, long *large)
{
    unsigned long long r = pm_test_rand(rng);
    unsigned pick = (unsigned)(r % 10000);
    r >>= 16;
    if (pick < 9700)
        return 8 + r % 505; /* 8..512 */
    if (pick < 9990)
        return 513 + r % (16384 - 512);
    (*large)++;
    return 16385 + r % (1u << 20);
}

static void *producer(void *arg)
{
    queue_t *q = arg;
    unsigned long long rng = 0xfeed0000ULL + (unsigned long long)q->id;
    item_t batch[BATCH];
    long seq = 0;
    while (seq < q->items) {
        int n = 0;
        while (n < BATCH && seq < q->items) {
            size_t size = pick_size(&rng, &q->large);
            unsigned char *p = malloc(size);
            if (!p) {
                q->alloc_failures++;
                seq++;
                continue;
            }
            uint64_t key = pm_test_mix64((uint64_t)seq ^ ((uint64_t)q->id << 56));
            fill_block(p, size, key);
            batch[n].p = p;
            batch[n].size = size;
            batch[n].seq = (uint64_t)seq;
            n++;
            seq++;
        }
        int i = 0;
        pthread_mutex_lock(&q->lock);
        while (i < n) {
            while (q->count == QCAP)
                pthread_cond_wait(&q->not_full, &q->lock);
            int was_empty = q->count == 0;
            while (i < n && q->count < QCAP) {
                q->ring[(q->head + q->count) % QCAP] = batch[i++];
                q->count++;
            }
            if (was_empty)
                pthread_cond_signal(&q->not_empty);
        }
        pthread_mutex_unlock(&q->lock);
    }
    pthread_mutex_lock(&q->lock);
    q->done = 1;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

static void *consumer(void *arg)
{
    queue_t *q = arg;
    item_t batch[BATCH];
    int64_t expect_seq = 0;
    for (;;) {
        int n = 0;
        pthread_mutex_lock(&q->lock);
        while (q->count == 0 && !q->done)
            pthread_cond_wait(&q->not_empty, &q->lock);
        if (q->count == 0 && q->done) {
            pthread_mutex_unlock(&q->lock);
            break;
        }
        int was_full = q->count == QCAP;
        while (n < BATCH && q->count > 0) {
            batch[n++] = q->ring[q->head];
            q->head = (q->head + 1) % QCAP;
            q->count--;
        }
        if (was_full)
            pthread_cond_signal(&q->not_full);
        pthread_mutex_unlock(&q->lock);

        for (int i = 0; i < n; i++) {
            item_t *it = &batch[i];
            if ((int64_t)it->seq < expect_seq) {
                if (q->errors++ < 5)
                    fprintf(stderr, "pair %d: block %llu out of order\n", q->id,
                            (unsigned long long)it->seq);
            }
            expect_seq = (int64_t)it->seq + 1;
            uint64_t key = pm_test_mix64(it->seq ^ ((uint64_t)q->id << 56));
            if (!check_block(it->p, it->size, key)) {
                if (q->errors++ < 5)
                    fprintf(stderr, "pair %d: block %llu (%p, %zu bytes) corrupted\n", q->id,
                            (unsigned long long)it->seq, (void *)it->p, it->size);
            }
            free(it->p);
            q->consumed++;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
#ifndef PM_TEST_SYSTEM_MALLOC
    pm_test_require_poolmalloc();
#endif
    int pairs = argc > 1 ? atoi(argv[1]) : 3;
    long items = argc > 2 ? atol(argv[2]) : 1500000;
    if (pairs < 1 || pairs > 64 || items < 1) {
        fprintf(stderr, "usage: %s [PAIRS] [ITEMS_PER_PAIR]\n", argv[0]);
        return 2;
    }
    queue_t *qs = calloc((size_t)pairs, sizeof *qs);
    pthread_t *tp = calloc((size_t)pairs * 2, sizeof *tp);
    CHECK("tables", qs && tp);
    if (!qs || !tp)
        return pm_test_finish();
    int started = 0;
    for (int i = 0; i < pairs; i++) {
        queue_t *q = &qs[i];
        pthread_mutex_init(&q->lock, NULL);
        pthread_cond_init(&q->not_empty, NULL);
        pthread_cond_init(&q->not_full, NULL);
        q->id = i;
        q->items = items;
        if (pthread_create(&tp[2 * i], NULL, consumer, q) != 0)
            break;
        if (pthread_create(&tp[2 * i + 1], NULL, producer, q) != 0) {
            /* let the consumer finish */
            pthread_mutex_lock(&q->lock);
            q->done = 1;
            pthread_cond_signal(&q->not_empty);
            pthread_mutex_unlock(&q->lock);
            pthread_join(tp[2 * i], NULL);
            break;
        }
        started++;
    }
    CHECK("all threads started", started == pairs);
    long total = 0, errors = 0, failures = 0, large = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(tp[2 * i + 1], NULL);
        pthread_join(tp[2 * i], NULL);
        total += qs[i].consumed;
        errors += qs[i].errors;
        failures += qs[i].alloc_failures;
        large += qs[i].large;
        if (qs[i].consumed != qs[i].items - qs[i].alloc_failures)
            fprintf(stderr, "pair %d: consumed %ld of %ld\n", i, qs[i].consumed, qs[i].items);
        CHECK("every block consumed", qs[i].consumed == qs[i].items - qs[i].alloc_failures);
    }
    printf("%d pairs, %ld blocks passed between threads (%ld large)\n", started, total, large);
    CHECK("no corrupted or reordered blocks", errors == 0);
    CHECK("no allocation failures", failures == 0);
    free(qs);
    free(tp);
    return pm_test_finish();
}
