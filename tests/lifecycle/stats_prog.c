/* stats_prog -- a program with a known allocation count, for stats_output:
 * exactly 10000 malloc(40) (small) and 100 malloc(100000) (large) of its
 * own, all freed.  With "threads" the 10000 small ones are made by 4
 * threads and freed by main after the joins.
 * Prints one line with a checksum of what it stored. */
#define _GNU_SOURCE
#include "pm_test.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NSMALL 10000
#define NLARGE 100
#define NTHREADS 4

static void *small[NSMALL];

static void fill_small(int from, int to)
{
    for (int i = from; i < to; i++) {
        small[i] = malloc(40);
        if (!small[i]) { fprintf(stderr, "malloc(40) failed\n"); exit(1); }
        memset(small[i], 0, 40);
        *(uint32_t *)small[i] = (uint32_t)i;
    }
}

static void *thread_fn(void *arg)
{
    int t = (int)(intptr_t)arg, per = NSMALL / NTHREADS;
    fill_small(t * per, (t + 1) * per);
    return NULL;
}

int main(int argc, char **argv)
{
    pm_test_require_poolmalloc();
    int threads = argc > 1 && strcmp(argv[1], "threads") == 0;
    uint64_t sum = 0;

    if (threads) {
        pthread_t th[NTHREADS];
        for (int t = 0; t < NTHREADS; t++)
            if (pthread_create(&th[t], NULL, thread_fn, (void *)(intptr_t)t) != 0) return 1;
        for (int t = 0; t < NTHREADS; t++) pthread_join(th[t], NULL);
    } else {
        fill_small(0, NSMALL);
    }
    for (int i = 0; i < NSMALL; i++) sum += *(uint32_t *)small[i];
    for (int i = 0; i < NSMALL; i++) free(small[i]);

    for (int i = 0; i < NLARGE; i++) {
        unsigned char *p = malloc(100000);
        if (!p) return 1;
        memset(p, i, 100000);
        sum += p[99999];
        free(p);
    }
    printf("stats_prog: small=%d large=%d sum=%llu\n", NSMALL, NLARGE, (unsigned long long)sum);
    return 0;
}
