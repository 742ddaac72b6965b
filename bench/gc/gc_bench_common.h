/* gc_bench_common.h -- what gc_bench.c (poolmalloc's collector) and
 * boehm_bench.c (Boehm GC) share, so that both measure and report alike:
 * the clock, the shuffling generator, the options and the report line.
 * Each program defines bench_garbage() and bench_list() for its collector. */
#ifndef GC_BENCH_COMMON_H
#define GC_BENCH_COMMON_H

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_state = 42;
static uint64_t rng(void) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One line per shape: the median and best ns per object, then every run. */
static void report(const char *shape, long n, int reps, double *ns)
{
    double sorted[64];
    memcpy(sorted, ns, (size_t)reps * sizeof *ns);
    qsort(sorted, (size_t)reps, sizeof *sorted, cmp_double);
    double median = reps % 2 ? sorted[reps / 2] : (sorted[reps / 2 - 1] + sorted[reps / 2]) / 2;
    printf("shape=%s n=%ld reps=%d median_ns_per_obj=%.2f min_ns_per_obj=%.2f ns=", shape, n, reps,
           median, sorted[0]);
    for (int i = 0; i < reps; i++)
        printf("%s%.2f", i ? "," : "", ns[i]);
    printf("\n");
    fflush(stdout);
}

typedef struct bench_opts {
    long n;             /* objects per shape */
    int reps;           /* timed collections per shape */
    const char *shapes;
} bench_opts;

/* -n N -r REPS -s SHAPES -S SEED; exits 2 on a bad option. */
static bench_opts bench_parse(int argc, char **argv, const char *prog)
{
    bench_opts o = {1000000, 5, "garbage,list,shuffled"};
    int opt;
    while ((opt = getopt(argc, argv, "n:r:s:S:")) != -1) {
        switch (opt) {
        case 'n': o.n = atol(optarg); break;
        case 'r': o.reps = atoi(optarg); break;
        case 's': o.shapes = optarg; break;
        case 'S': rng_state = strtoull(optarg, NULL, 0); break;
        default:
            fprintf(stderr, "usage: %s [-n N] [-r REPS] [-s garbage,list,shuffled] [-S SEED]\n",
                    argv[0]);
            exit(2);
        }
    }
    if (o.n < 2 || o.reps < 1 || o.reps > 64) {
        fprintf(stderr, "%s: need N >= 2 and 1 <= REPS <= 64\n", prog);
        exit(2);
    }
    return o;
}

static void bench_garbage(long n, int reps, double *ns);
static void bench_list(long n, int reps, double *ns, int shuffled);

/* Times and reports the shapes asked for. */
static void bench_run(const bench_opts *o)
{
    double ns[64];
    if (strstr(o->shapes, "garbage")) {
        bench_garbage(o->n, o->reps, ns);
        report("garbage", o->n, o->reps, ns);
    }
    if (strstr(o->shapes, "list")) {
        bench_list(o->n, o->reps, ns, 0);
        report("list", o->n, o->reps, ns);
    }
    if (strstr(o->shapes, "shuffled")) {
        bench_list(o->n, o->reps, ns, 1);
        report("shuffled", o->n, o->reps, ns);
    }
}

#endif
