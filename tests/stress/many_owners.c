/* many_owners.c -- one thread frees the blocks of many others, in turn.
 *
 * OWNERS threads each allocate PER_OWNER blocks a round (8..600 bytes,
 * small and medium), filled with a pattern derived from the slot and the
 * round, into every OWNERS-th slot of one array, and stay alive; a consumer
 * thread (a heap of its own) then checks and frees the whole array in slot
 * order, so that each free is of another owner's block than the one before
 * (more owners than the freeing thread batches at once: heap.c,
 * PM_REMOTE_WAYS).  Rounds repeat, the owners reusing what came back.  In
 * the last round half the owners exit before the consumer frees: their
 * blocks go into abandoned heaps, batched too.
 *
 * Checked: every block's contents (a block handed out twice, or a batch
 * link written into a live block, breaks a pattern); and that the blocks
 * come home: the bytes in pages after the last full round are at most
 * three times those after the first (a batch that never reached its owner
 * would leave them growing with every round).
 *
 * usage: many_owners [OWNERS=12] [ROUNDS=20] [PER_OWNER=2000] */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <malloc.h>

#include "pm_test.h"

static int owners, rounds, per_owner;
static unsigned char **slots;
static size_t *sizes;
static pthread_t *threads;
static pthread_barrier_t made, freed, done;
static long corruptions;

static unsigned char pattern(size_t slot, int round, size_t i)
{
    return (unsigned char)(slot * 131 + (size_t)round * 17 + i * 7 + 1);
}

static void *owner_thread(void *arg)
{
    int k = (int)(intptr_t)arg;
    uint64_t rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(k + 1);
    for (int r = 0; r < rounds; r++) {
        for (int j = 0; j < per_owner; j++) {
            size_t slot = (size_t)j * (size_t)owners + (size_t)k;
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            size_t size = 8 + (size_t)(rng % 593);
            unsigned char *p = malloc(size);
            if (!p) {
                fprintf(stderr, "FAIL many_owners: malloc(%zu) failed\n", size);
                exit(1);
            }
            for (size_t i = 0; i < size; i++)
                p[i] = pattern(slot, r, i);
            slots[slot] = p;
            sizes[slot] = size;
        }
        pthread_barrier_wait(&made);
        if (r == rounds - 1) {
            if (k % 2 == 0)   /* alive until its blocks are freed */
                pthread_barrier_wait(&done);
            return NULL;      /* odd: exits first, its heap abandoned */
        }
        pthread_barrier_wait(&freed);
    }
    return NULL;
}

static void *consumer_thread(void *arg)
{
    (void)arg;
    size_t first = 0;
    free(malloc(16));   /* a heap of its own: it batches what it frees */
    size_t n = (size_t)owners * (size_t)per_owner;
    for (int r = 0; r < rounds; r++) {
        pthread_barrier_wait(&made);
        if (r == rounds - 1)   /* the odd owners are gone before their blocks are freed */
            for (int k = 1; k < owners; k += 2)
                pthread_join(threads[k], NULL);
        for (size_t slot = 0; slot < n; slot++) {
            unsigned char *p = slots[slot];
            for (size_t i = 0; i < sizes[slot]; i++)
                if (p[i] != pattern(slot, r, i)) {
                    corruptions++;
                    break;
                }
            free(p);
        }
        /* mallinfo2's uordblks: the bytes in pages holding blocks (not
         * counting: docs/API.md) */
        if (r == 0)
            first = mallinfo2().uordblks;
        if (r == rounds - 2) {
            size_t now = mallinfo2().uordblks;
            printf("bytes in pages after round 1: %zu, after round %d: %zu\n", first, r + 1, now);
            CHECK("the blocks come home (bytes in pages stay bounded)", now <= 3 * first);
        }
        pthread_barrier_wait(r < rounds - 1 ? &freed : &done);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    pm_test_require_poolmalloc();
    owners = argc > 1 ? atoi(argv[1]) : 12;
    rounds = argc > 2 ? atoi(argv[2]) : 20;
    per_owner = argc > 3 ? atoi(argv[3]) : 2000;
    if (owners < 2 || rounds < 2 || per_owner < 1) {
        fprintf(stderr, "usage: many_owners [OWNERS>=2] [ROUNDS>=2] [PER_OWNER>=1]\n");
        return 2;
    }
    size_t n = (size_t)owners * (size_t)per_owner;
    slots = calloc(n, sizeof *slots);
    sizes = calloc(n, sizeof *sizes);
    threads = calloc((size_t)owners, sizeof *threads);
    if (!slots || !sizes || !threads ||
        pthread_barrier_init(&made, NULL, (unsigned)owners + 1) != 0 ||
        pthread_barrier_init(&freed, NULL, (unsigned)owners + 1) != 0 ||
        pthread_barrier_init(&done, NULL, (unsigned)(owners + 1) / 2 + 1) != 0) {
        fprintf(stderr, "FAIL many_owners: set-up\n");
        return 1;
    }
    pthread_t c;
    for (int k = 0; k < owners; k++)
        if (pthread_create(&threads[k], NULL, owner_thread, (void *)(intptr_t)k) != 0) {
            fprintf(stderr, "FAIL many_owners: pthread_create\n");
            return 1;
        }
    if (pthread_create(&c, NULL, consumer_thread, NULL) != 0) {
        fprintf(stderr, "FAIL many_owners: pthread_create\n");
        return 1;
    }
    pthread_join(c, NULL);   /* it joined the odd owners */
    for (int k = 0; k < owners; k += 2)
        pthread_join(threads[k], NULL);
    printf("%d owners, %d rounds, %zu blocks a round: %ld corrupted\n", owners, rounds, n,
           corruptions);
    CHECK("every block kept its contents", corruptions == 0);
    free(threads);
    free(slots);
    free(sizes);
    return pm_test_finish();
}
