/* gc_bench.c -- time poolmalloc's cycle collector per tracked object on three
 * graph shapes; gc_bench.py (CPython's gc) and boehm_bench.c (Boehm GC) build
 * the same shapes, and run.py compares the three.
 *
 * Every node is one tagged object with a 16-byte payload: one reference and
 * an int.  Shapes, at N nodes:
 *
 *   garbage   N nodes in small cycles (alternately pairs and triangles), all
 *             unreachable: time one pm_gc_collect(2), per object reclaimed.
 *   list      a live singly-linked list, allocated and linked in address
 *             order, held by its head: after a first full collection has
 *             settled it in generation 2, time pm_gc_collect(2), per object
 *             scanned (steady full collections).
 *   shuffled  the same list with its links in a random permutation of the
 *             allocation order (every step of a walk along the links lands
 *             somewhere else in memory).
 *
 * Usage: gc_bench [-n N] [-r REPS] [-s SHAPE[,SHAPE...]] [-S SEED]
 * Prints one line per shape:
 *   shape=list n=1000000 reps=5 median_ns_per_obj=... min_ns_per_obj=... ns=t1,t2,...
 * Each timed collection's result is checked (N reclaimed for garbage, 0 for
 * the live shapes); a mismatch exits 1. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "poolmalloc_gc.h"

typedef struct node {
    struct node *next;
    int val;
} node; /* 16 bytes */

static void node_traverse(void *obj, pm_gc_visit_fn visit, void *arg)
{
    node *n = obj;
    if (n->next)
        visit(n->next, arg);
}

static const pm_gc_type NODE = {"node", node_traverse, NULL};

static node *new_node(int val)
{
    node *n = pm_gc_new(&NODE, sizeof(node));
    if (!n) {
        perror("pm_gc_new");
        exit(2);
    }
    n->val = val;
    return n;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_state;
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

static void check(const char *shape, size_t got, size_t want)
{
    if (got != want) {
        fprintf(stderr, "gc_bench: %s: pm_gc_collect(2) returned %zu, expected %zu\n", shape,
                got, want);
        exit(1);
    }
}

/* garbage: cycles of 2 and 3 nodes, alternately, n nodes in all. */
static void bench_garbage(long n, int reps, double *ns)
{
    for (int r = 0; r < reps; r++) {
        long made = 0;
        for (int k = 0; made < n; k++) {
            int len = k % 2 ? 3 : 2;
            if (made + len > n)
                len = (int)(n - made);
            node *first = new_node(0), *p = first;
            for (int i = 1; i < len; i++) {
                node *q = new_node(i);
                p->next = q; /* the new node's reference moves into the link */
                p = q;
            }
            p->next = first; /* closes the cycle: the caller's reference moves in */
            made += len;
        }
        uint64_t t0 = now_ns();
        size_t got = pm_gc_collect(2);
        uint64_t t1 = now_ns();
        check("garbage", got, (size_t)n);
        ns[r] = (double)(t1 - t0) / (double)n;
    }
}

/* list / shuffled: nodes allocated in address order, linked in order or in
 * a random permutation; the head is the only outside reference. */
static void bench_list(long n, int reps, double *ns, int shuffled)
{
    const char *shape = shuffled ? "shuffled" : "list";
    node **v = malloc((size_t)n * sizeof *v);
    long *perm = malloc((size_t)n * sizeof *perm);
    if (!v || !perm) {
        perror("malloc");
        exit(2);
    }
    for (long i = 0; i < n; i++) {
        v[i] = new_node((int)i);
        perm[i] = i;
    }
    if (shuffled)
        for (long i = n - 1; i > 0; i--) {
            long j = (long)(rng() % (uint64_t)(i + 1));
            long t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
    for (long i = 0; i + 1 < n; i++)
        v[perm[i]]->next = v[perm[i + 1]]; /* v[perm[i+1]]'s reference moves in */
    node *head = v[perm[0]];
    free(v);
    free(perm);

    check(shape, pm_gc_collect(2), 0); /* settles the list in generation 2 */
    for (int r = 0; r < reps; r++) {
        uint64_t t0 = now_ns();
        size_t got = pm_gc_collect(2);
        uint64_t t1 = now_ns();
        check(shape, got, 0);
        ns[r] = (double)(t1 - t0) / (double)n;
    }
    pm_gc_decref(head);
}

int main(int argc, char **argv)
{
    long n = 1000000;
    int reps = 5;
    const char *shapes = "garbage,list,shuffled";
    rng_state = 42;
    int opt;
    while ((opt = getopt(argc, argv, "n:r:s:S:")) != -1) {
        switch (opt) {
        case 'n': n = atol(optarg); break;
        case 'r': reps = atoi(optarg); break;
        case 's': shapes = optarg; break;
        case 'S': rng_state = strtoull(optarg, NULL, 0); break;
        default:
            fprintf(stderr, "usage: %s [-n N] [-r REPS] [-s garbage,list,shuffled] [-S SEED]\n",
                    argv[0]);
            return 2;
        }
    }
    if (n < 2 || reps < 1 || reps > 64) {
        fprintf(stderr, "gc_bench: need N >= 2 and 1 <= REPS <= 64\n");
        return 2;
    }
    pm_gc_disable(); /* only the timed collections run */
    double ns[64];
    if (strstr(shapes, "garbage")) {
        bench_garbage(n, reps, ns);
        report("garbage", n, reps, ns);
    }
    if (strstr(shapes, "list")) {
        bench_list(n, reps, ns, 0);
        report("list", n, reps, ns);
    }
    if (strstr(shapes, "shuffled")) {
        bench_list(n, reps, ns, 1);
        report("shuffled", n, reps, ns);
    }
    return 0;
}
