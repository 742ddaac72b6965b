/* boehm_bench.c -- the shapes of gc_bench.c with the Boehm-Demers-Weiser
 * collector (Debian libgc-dev), timed with GC_gcollect().
 *
 * Nodes are GC_MALLOC'd 16-byte objects (one pointer and an int), scanned
 * conservatively.  Shapes, at N nodes:
 *
 *   garbage   small cycles (alternately pairs and triangles) dropped: one
 *             GC_gcollect(), ns per object (blocks holding only garbage are
 *             freed by the collection itself; the rest is swept lazily by
 *             later allocations, which are not timed)
 *   list      a live list allocated and linked in order, held by a global
 *             root: steady GC_gcollect() time per object after a first one
 *   shuffled  the same list with links in a random permutation
 *
 * Collections are disabled while building (GC_disable/GC_enable).  The
 * number of marker threads is libgc's default unless GC_MARKERS is set in
 * the environment (run.py sets GC_MARKERS=1, so that all three collectors
 * run on one thread; a program that creates no thread marks on its own
 * thread anyway: the run prints GC_get_parallel() on stderr).
 *
 * Usage: boehm_bench [-n N] [-r REPS] [-s SHAPES] [-S SEED]
 * Prints lines in gc_bench.c's format. */
#include "gc_bench_common.h"

#define GC_THREADS /* declares GC_get_parallel; no thread is created here */
#include <gc.h>

typedef struct node {
    struct node *next;
    int val;
} node;

static node *volatile root; /* the live list's head: a GC root (static data) */

static node *new_node(int val)
{
    node *n = GC_MALLOC(sizeof(node));
    if (!n) {
        fprintf(stderr, "GC_MALLOC failed\n");
        exit(2);
    }
    n->val = val;
    return n;
}

/* Builds the cycles in a frame of its own, so no pointer to them stays in
 * main's registers or stack slots. */
__attribute__((noinline)) static void build_garbage(long n)
{
    long made = 0;
    for (int k = 0; made < n; k++) {
        int len = k % 2 ? 3 : 2;
        if (made + len > n)
            len = (int)(n - made);
        node *first = new_node(0), *p = first;
        for (int i = 1; i < len; i++) {
            node *q = new_node(i);
            p->next = q;
            p = q;
        }
        p->next = first;
        made += len;
    }
}

/* Overwrites the stack area the builders used. */
__attribute__((noinline)) static void clear_stack(void)
{
    volatile char junk[16384];
    memset((char *)junk, 0, sizeof junk);
}

static void bench_garbage(long n, int reps, double *ns)
{
    for (int r = 0; r < reps; r++) {
        GC_disable();
        build_garbage(n);
        clear_stack();
        GC_enable();
        uint64_t t0 = now_ns();
        GC_gcollect();
        uint64_t t1 = now_ns();
        ns[r] = (double)(t1 - t0) / (double)n;
    }
}

__attribute__((noinline)) static void build_list(long n, int shuffled)
{
    node **v = malloc((size_t)n * sizeof *v); /* not scanned: plain malloc */
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
        v[perm[i]]->next = v[perm[i + 1]];
    root = v[perm[0]];
    free(v);
    free(perm);
}

static long list_length(void)
{
    long len = 0;
    for (node *p = root; p; p = p->next)
        len++;
    return len;
}

static void bench_list(long n, int reps, double *ns, int shuffled)
{
    GC_disable();
    build_list(n, shuffled);
    clear_stack();
    GC_enable();
    GC_gcollect(); /* settles: the first collection after the build */
    for (int r = 0; r < reps; r++) {
        uint64_t t0 = now_ns();
        GC_gcollect();
        uint64_t t1 = now_ns();
        ns[r] = (double)(t1 - t0) / (double)n;
    }
    if (list_length() != n) {
        fprintf(stderr, "boehm_bench: the live list lost nodes\n");
        exit(1);
    }
    root = NULL;
}

int main(int argc, char **argv)
{
    bench_opts o = bench_parse(argc, argv, "boehm_bench");
    GC_INIT();
    fprintf(stderr, "boehm_bench: libgc %u.%u.%u, GC_get_parallel() = %d\n",
            (unsigned)GC_get_version() >> 16, ((unsigned)GC_get_version() >> 8) & 0xff,
            (unsigned)GC_get_version() & 0xff, GC_get_parallel());
    bench_run(&o);
    return 0;
}
