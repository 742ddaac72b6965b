/* thread_churn.c -- thousands of short-lived threads.
 *
 * THREADS threads (5000 by default) are created and joined in batches of
 * BATCH (8) running at once.  Each thread allocates a few hundred blocks of
 * various sizes, frees most of them, and hands HANDOFF blocks over when it
 * exits: the main thread frees half of them after the thread has exited, and
 * the other half are freed by the threads of the next batch (blocks of
 * already-exited threads).  It also frees the blocks it was handed by the
 * previous batch.  Every block is checked before it is freed.
 *
 * Memory must not grow without bound: VmRSS is read after the first 500
 * threads and at the end; the end may exceed the first reading by at most
 * 64 MiB (a leak of one 256 KiB heap per thread would be 1.2 GiB).
 *
 * usage: thread_churn [THREADS=5000] [BATCH=8] */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pm_test.h"

#define PER_THREAD 300
#define LIVE 48
#define HANDOFF 8
#define RSS_SLACK_KB (64L * 1024)

typedef struct {
    unsigned char *p;
    size_t size;
    uint64_t key;
} blk_t;

typedef struct {
    long index;            /* global thread number */
    blk_t inherited[HANDOFF]; /* blocks of an exited thread, to free */
    blk_t handoff[HANDOFF];   /* blocks this thread leaves behind */
    long errors;
    long failures;
} targ_t;

/* Small blocks are filled completely; large ones at both ends and once per
 * page.  Bytes past the last whole word are filled with the key's low byte. */
static void fill_block(const blk_t *b)
{
    size_t n = b->size;
    size_t words = n / 8;
    if (n <= 4096) {
        for (size_t w = 0; w < words; w++)
            pm_test_put64(b->p + 8 * w, b->key + w);
    } else {
        for (size_t w = 0; w < 32; w++)
            pm_test_put64(b->p + 8 * w, b->key + w);
        for (size_t w = 512; w < words; w += 512)
            pm_test_put64(b->p + 8 * w, b->key + w);
        for (size_t w = words - 32; w < words; w++)
            pm_test_put64(b->p + 8 * w, b->key + w);
    }
    for (size_t i = words * 8; i < n; i++)
        b->p[i] = (unsigned char)b->key;
}

static int check_block(const blk_t *b)
{
    size_t n = b->size;
    size_t words = n / 8;
    if (n <= 4096) {
        for (size_t w = 0; w < words; w++)
            if (pm_test_get64(b->p + 8 * w) != b->key + w)
                return 0;
    } else {
        for (size_t w = 0; w < 32; w++)
            if (pm_test_get64(b->p + 8 * w) != b->key + w)
                return 0;
        for (size_t w = 512; w < words; w += 512)
            if (pm_test_get64(b->p + 8 * w) != b->key + w)
                return 0;
        for (size_t w = words - 32; w < words; w++)
            if (pm_test_get64(b->p + 8 * w) != b->key + w)
                return 0;
    }
    for (size_t i = words * 8; i < n; i++)
        if (b->p[i] != (unsigned char)b->key)
            return 0;
    return 1;
}

/* Verifies and frees; counts an error on corruption. */
static void release(blk_t *b, long *errors, const char *who)
{
    if (!b->p)
        return;
    if (!check_block(b)) {
        if ((*errors)++ < 3)
            fprintf(stderr, "%s: block %p of %zu bytes corrupted\n", who, (void *)b->p, b->size);
    }
    free(b->p);
    b->p = NULL;
}

static size_t pick_size(unsigned long long *rng)
{
    unsigned long long r = pm_test_rand(rng);
    unsigned pick = (unsigned)(r % 1000);
    r >>= 10;
    if (pick < 850)
        return 1 + r % 512;
    if (pick < 985)
        return 513 + r % (8192 - 512);
    return 8193 + r % 200000;
}

static int alloc_block(blk_t *b, unsigned long long *rng, uint64_t tag)
{
    b->size = pick_size(rng);
    b->p = malloc(b->size);
    if (!b->p)
        return 0;
    b->key = pm_test_mix64(tag ^ (uintptr_t)b->p);
    fill_block(b);
    return 1;
}

static void *thread_main(void *argp)
{
    targ_t *a = argp;
    unsigned long long rng = 0xc0ffee00ULL ^ ((unsigned long long)a->index << 20);
    blk_t live[LIVE];
    memset(live, 0, sizeof live);

    /* Free half of the inherited blocks at the start, half at the end. */
    for (int i = 0; i < HANDOFF / 2; i++)
        release(&a->inherited[i], &a->errors, "inherited");

    for (int i = 0; i < PER_THREAD; i++) {
        blk_t *b = &live[pm_test_rand(&rng) % LIVE];
        release(b, &a->errors, "own");
        if (!alloc_block(b, &rng, (uint64_t)a->index << 32 | (uint64_t)i))
            a->failures++;
    }
    /* Leave HANDOFF blocks behind; free the rest. */
    int h = 0;
    for (int i = 0; i < LIVE; i++) {
        if (live[i].p && h < HANDOFF)
            a->handoff[h++] = live[i];
        else
            release(&live[i], &a->errors, "own");
    }
    for (int i = HANDOFF / 2; i < HANDOFF; i++)
        release(&a->inherited[i], &a->errors, "inherited");
    return NULL;
}

int main(int argc, char **argv)
{
#ifndef PM_TEST_SYSTEM_MALLOC
    pm_test_require_poolmalloc();
#endif
    long nthreads = argc > 1 ? atol(argv[1]) : 5000;
    int batch = argc > 2 ? atoi(argv[2]) : 8;
    if (nthreads < 1 || batch < 1 || batch > 64) {
        fprintf(stderr, "usage: %s [THREADS] [BATCH]\n", argv[0]);
        return 2;
    }
    targ_t *cur = calloc((size_t)batch, sizeof *cur);
    targ_t *prev = calloc((size_t)batch, sizeof *prev);
    pthread_t *tids = calloc((size_t)batch, sizeof *tids);
    CHECK("tables", cur && prev && tids);
    if (!cur || !prev || !tids)
        return pm_test_finish();

    long done = 0, errors = 0, failures = 0, create_failures = 0;
    long rss_first = -1;
    long main_errors = 0;
    while (done < nthreads) {
        int n = (int)(nthreads - done < batch ? nthreads - done : batch);
        for (int i = 0; i < n; i++) {
            memset(&cur[i], 0, sizeof cur[i]);
            cur[i].index = done + i;
            /* Inherit the second half of the previous batch's hand-offs. */
            for (int k = HANDOFF / 2; k < HANDOFF; k++) {
                cur[i].inherited[k - HANDOFF / 2] = prev[i].handoff[k];
                prev[i].handoff[k].p = NULL;
            }
        }
        int started = 0;
        for (int i = 0; i < n; i++) {
            if (pthread_create(&tids[i], NULL, thread_main, &cur[i]) != 0) {
                create_failures++;
                break;
            }
            started++;
        }
        for (int i = 0; i < started; i++)
            pthread_join(tids[i], NULL);
        /* Blocks whose thread was not started are freed here. */
        for (int i = started; i < n; i++)
            for (int k = 0; k < HANDOFF; k++)
                release(&cur[i].inherited[k], &main_errors, "main");
        /* Main frees the first half of the hand-offs of the exited threads,
         * and anything left of the previous batch. */
        for (int i = 0; i < n; i++) {
            errors += cur[i].errors;
            failures += cur[i].failures;
            for (int k = 0; k < HANDOFF / 2; k++)
                release(&cur[i].handoff[k], &main_errors, "main");
        }
        for (int i = 0; i < batch; i++)
            for (int k = 0; k < HANDOFF; k++)
                release(&prev[i].handoff[k], &main_errors, "main");
        targ_t *t = prev;
        prev = cur;
        cur = t;
        for (int i = n; i < batch; i++)
            memset(&prev[i], 0, sizeof prev[i]);
        done += n;
        if (create_failures)
            break;
        if (rss_first < 0 && done >= 500)
            rss_first = (long)(pm_test_rss_mib() * 1024);
    }
    for (int i = 0; i < batch; i++)
        for (int k = 0; k < HANDOFF; k++)
            release(&prev[i].handoff[k], &main_errors, "main");
    long rss_end = (long)(pm_test_rss_mib() * 1024);
    if (rss_first < 0)
        rss_first = rss_end;

    printf("%ld threads; VmRSS after 500: %ld kB, at the end: %ld kB\n", done, rss_first, rss_end);
    CHECK("all threads created", create_failures == 0 && done == nthreads);
    CHECK("threads saw no corrupted blocks", errors == 0);
    CHECK("main saw no corrupted blocks", main_errors == 0);
    CHECK("no allocation failures", failures == 0);
    CHECK("VmRSS readable", rss_first > 0 && rss_end > 0);
    if (rss_end > rss_first + RSS_SLACK_KB)
        fprintf(stderr, "VmRSS grew from %ld kB to %ld kB\n", rss_first, rss_end);
    CHECK("memory does not grow with the number of threads", rss_end <= rss_first + RSS_SLACK_KB);
    free(cur);
    free(prev);
    free(tids);
    return pm_test_finish();
}
