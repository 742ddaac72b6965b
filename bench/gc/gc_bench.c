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
#include "gc_bench_common.h"

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

static const pm_gc_type NODE = {"node", node_traverse, NULL, NULL};

static node *new_node(int val)
{
    node *n = pm_gc_new(&NODE, sizeof(node));
    if (!n) {
        perror("pm_gc_new");
        exit(2);
    }
    n->val = val;
    pm_gc_track(n);
    return n;
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
    bench_opts o = bench_parse(argc, argv, "gc_bench");
    pm_gc_disable(); /* only the timed collections run */
    bench_run(&o);
    return 0;
}
