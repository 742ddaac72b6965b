/* gc_cycles.c -- what the cycle collector reclaims, and what it keeps.
 *
 * Garbage cycles of length 1 to 4 (alone and together, with tails hanging
 * off them) are reclaimed, and pm_gc_collect returns exactly the number of
 * unreachable objects; objects freed by the count as a consequence (an
 * untracked object, an object of an older generation held only by the
 * garbage) are not in that number.  Cycles reachable from a live object, or
 * held by the program, are kept intact.  References from an older
 * generation into the collected ones count as external.  Collections of a
 * live structure that is a long chain or a wide graph keep everything.
 * Garbage of small, medium and large blocks, and garbage made by threads
 * that have exited (serialized, as the thread contract asks), is reclaimed.
 * Automatic collection is off throughout. */
#include "gc_test.h"
#include "poolmalloc.h"

#include <pthread.h>

/* A cycle of each length 1..4, dropped: collect(2) returns its length, and
 * every member is finalized once. */
static void test_rings(void)
{
    for (int len = 1; len <= 4; len++) {
        gt_reset_fin();
        tnode *n[4];
        pm_gc_weakref *w[4];
        gt_ring(&t_fin, n, len, 100);
        for (int i = 0; i < len; i++)
            w[i] = pm_gc_weakref_new(n[i]);
        CHECK("ring member held by caller and predecessor", pm_gc_refcount(n[0]) == 2);
        gt_drop_all(n, len);
        CHECK("ring: counts keep it alive", gt_alive(w[0]) && fin_total == 0);

        pm_gc_stats s0 = gt_stats();
        size_t r = pm_gc_collect(2);
        pm_gc_stats s1 = gt_stats();
        CHECK("ring: collect returns its length", r == (size_t)len);
        CHECK("ring: each member finalized once", fin_total == (unsigned long)len);
        int dead = 1;
        for (int i = 0; i < len; i++) {
            dead &= !gt_alive(w[i]) && fin_calls[100 + i] == 1;
            pm_gc_weakref_free(w[i]);
        }
        CHECK("ring: every member reclaimed", dead);
        CHECK("ring: gen[2].collected", s1.gen[2].collected - s0.gen[2].collected == (uint64_t)len);
        CHECK("ring: not counted as freed by refcount",
              s1.freed_by_refcount == s0.freed_by_refcount);
        CHECK("ring: nothing left to collect", pm_gc_collect(2) == 0);
    }

    /* All four at once, plus a self-loop of a plain type. */
    gt_reset_fin();
    tnode *a[1], *b[2], *c[3], *d[4], *e[1];
    gt_ring(&t_fin, a, 1, 200);
    gt_ring(&t_fin, b, 2, 210);
    gt_ring(&t_fin, c, 3, 220);
    gt_ring(&t_fin, d, 4, 230);
    gt_ring(&t_plain, e, 1, 240);
    gt_drop_all(a, 1);
    gt_drop_all(b, 2);
    gt_drop_all(c, 3);
    gt_drop_all(d, 4);
    gt_drop_all(e, 1);
    CHECK("rings 1+2+3+4+1: collect returns 11", pm_gc_collect(2) == 11);
    CHECK("rings: 10 finalizers", fin_total == 10);
}

/* A denser garbage graph: four nodes, every node referencing every other
 * one and itself (16 references), plus a tracked tail of three hanging off
 * it. All seven are unreachable. */
static void test_dense_and_tail(void)
{
    gt_reset_fin();
    tnode *n[4];
    for (int i = 0; i < 4; i++)
        n[i] = gt_new(&t_fin, 300 + i);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            gt_set(n[i], j, n[j]);
    tnode *tail = gt_new(&t_fin, 310);
    tnode *t2 = gt_new(&t_plain, 311);
    tnode *t3 = gt_new(&t_fin, 312);
    gt_set(t2, 0, t3);
    gt_set(tail, 0, t2);
    gt_set(tail, 1, t2); /* twice */
    pm_gc_decref(t2);
    pm_gc_decref(t3);
    gt_clear(n[3], 3);    /* n[3] no longer references itself... */
    gt_set(n[3], 3, tail); /* ...but the tail */
    pm_gc_decref(tail);
    CHECK("dense: n[0] held 4 times + caller", pm_gc_refcount(n[0]) == 5);
    gt_drop_all(n, 4);
    CHECK("dense + tail: collect returns 7", pm_gc_collect(2) == 7);
    CHECK("dense + tail: 6 finalizers", fin_total == 6);
}

/* A cycle reachable from a live object, or held by the program, is kept. */
static void test_reachable_kept(void)
{
    gt_reset_fin();
    tnode *root = gt_new(&t_fin, 400);
    tnode *r3[3];
    gt_ring(&t_fin, r3, 3, 401);
    gt_set(root, 0, r3[1]);
    gt_drop_all(r3, 3);
    /* A second ring, held only through one member the program keeps. */
    tnode *h4[4];
    gt_ring(&t_fin, h4, 4, 410);
    tnode *held = h4[2];
    pm_gc_incref(held);
    gt_drop_all(h4, 4);
    /* And garbage next to them, to show the collection did run. */
    tnode *g2[2];
    gt_ring(&t_fin, g2, 2, 420);
    gt_drop_all(g2, 2);

    size_t r = pm_gc_collect(2);
    CHECK("reachable: only the garbage ring is reclaimed", r == 2);
    CHECK("reachable: garbage finalized", fin_calls[420] == 1 && fin_calls[421] == 1);
    CHECK("reachable: nothing else finalized", fin_total == 2);
    tnode *p = root->kid[0];
    int intact = 1;
    for (int i = 0; i < 3; i++, p = p->kid[0])
        intact &= p->magic == GT_MAGIC && p->id == 401 + (i + 1) % 3;
    CHECK("reachable: ring from root intact", intact && p == root->kid[0]);
    CHECK("reachable: counts intact", pm_gc_refcount(root->kid[0]) == 2 &&
                                          pm_gc_refcount(root->kid[0]->kid[0]) == 1);
    p = held;
    intact = 1;
    for (int i = 0; i < 4; i++, p = p->kid[0])
        intact &= p->magic == GT_MAGIC && p->id == 410 + (2 + i) % 4;
    CHECK("held: ring intact", intact && p == held);
    CHECK("again: nothing to reclaim", pm_gc_collect(2) == 0);

    /* Dropping the root makes its ring garbage; the held ring stays. */
    pm_gc_decref(root);
    CHECK("root freed by count", fin_calls[400] == 1);
    CHECK("root's ring now reclaimed", pm_gc_collect(2) == 3);
    pm_gc_decref(held);
    CHECK("held ring reclaimed", pm_gc_collect(2) == 4);
    CHECK("all finalized once", fin_total == 10);
}

/* What the count frees as a consequence of a collection is not counted in
 * pm_gc_collect's result: an untracked object, and an object of an older
 * generation, held only by garbage. */
static void test_cascade_not_counted(void)
{
    gt_reset_fin();
    tnode *old = gt_new(&t_fin, 500);
    pm_gc_collect(1); /* old is now in generation 2 */
    pm_gc_stats s = gt_stats();
    CHECK("old object in generation 2", s.tracked[2] >= 1);

    tnode *r[2];
    gt_ring(&t_fin, r, 2, 501);
    tnode *leaf = gt_new(&t_leaf, 503);
    gt_set(r[0], 1, leaf);
    gt_set(r[1], 1, old);
    pm_gc_decref(leaf);
    pm_gc_decref(old);
    gt_drop_all(r, 2);

    pm_gc_stats s0 = gt_stats();
    size_t got = pm_gc_collect(0);
    pm_gc_stats s1 = gt_stats();
    CHECK("cascade: collect(0) counts the 2 unreachable only", got == 2);
    CHECK("cascade: leaf and old object finalized", fin_calls[503] == 1 && fin_calls[500] == 1);
    CHECK("cascade: everything finalized once", fin_total == 4);
    CHECK("cascade: leaf and old object freed by their count",
          s1.freed_by_refcount - s0.freed_by_refcount == 2);
    CHECK("cascade: gen[0].collected is 2", s1.gen[0].collected - s0.gen[0].collected == 2);
    CHECK("cascade: generation 2 lost the old object", s0.tracked[2] - s1.tracked[2] == 1);
    CHECK("cascade: untracked count back", s0.untracked - s1.untracked == 1);
}

/* References from an older generation into the collected ones are
 * external: what they reach survives a young collection. */
static void test_older_is_external(void)
{
    gt_reset_fin();
    gt_settle();
    tnode *old = gt_new(&t_fin, 600);
    pm_gc_collect(0); /* old -> generation 1 */
    tnode *r[3];
    gt_ring(&t_fin, r, 3, 601);
    gt_set(old, 0, r[0]);
    gt_set(old, 1, old); /* a self-loop: old outlives the caller's reference */
    gt_drop_all(r, 3);
    pm_gc_decref(old); /* old is now garbage too, but in generation 1 */

    pm_gc_stats s0 = gt_stats();
    CHECK("young: 3 in gen 0, old in gen 1", s0.tracked[0] == 3 && s0.tracked[1] == 1);
    CHECK("collect(0): the ring is referenced from gen 1", pm_gc_collect(0) == 0);
    pm_gc_stats s1 = gt_stats();
    CHECK("collect(0): survivors promoted to gen 1", s1.tracked[0] == 0 && s1.tracked[1] == 4);
    CHECK("nothing finalized yet", fin_total == 0);

    /* old is garbage; old -> ring: collect(1) reclaims all four. */
    CHECK("collect(1) reclaims old and the ring", pm_gc_collect(1) == 4);
    CHECK("all four finalized", fin_total == 4);

    /* The same with generation 2 holding the ring and collect(1). */
    gt_reset_fin();
    tnode *elder = gt_new(&t_fin, 610);
    pm_gc_collect(1); /* -> gen 2 */
    tnode *q[2];
    gt_ring(&t_fin, q, 2, 611);
    gt_set(elder, 0, q[1]);
    gt_drop_all(q, 2);
    pm_gc_collect(0); /* the ring -> gen 1 */
    CHECK("collect(1): ring referenced from gen 2 kept", pm_gc_collect(1) == 0);
    s1 = gt_stats();
    CHECK("collect(1): ring promoted to gen 2", s1.tracked[2] == 3 && s1.tracked[1] == 0);
    gt_clear(elder, 0);
    CHECK("ring garbage once elder lets go", pm_gc_collect(2) == 2);
    pm_gc_decref(elder);
    CHECK("elder freed by count", fin_total == 3);
}

/* Live structures of every shape survive, with all counts intact. */
static void test_live_structures(void)
{
    gt_reset_fin();
    enum { N = 200000 };
    /* A chain held by its head, linked in allocation order. */
    tnode *head = gt_new(&t_plain, -1), *p = head;
    for (int i = 1; i < N; i++) {
        tnode *n = gt_new(&t_plain, -1);
        p->kid[0] = n; /* the reference from gt_new moves into the field */
        p = n;
    }
    /* A ring of N/4 held through one member, with cross links. */
    static tnode *ring[N / 4];
    for (int i = 0; i < N / 4; i++)
        ring[i] = gt_new(&t_fin, -1);
    for (int i = 0; i < N / 4; i++) {
        gt_set(ring[i], 0, ring[(i + 1) % (N / 4)]);
        gt_set(ring[i], 1, ring[(i * 7919) % (N / 4)]);
    }
    tnode *keep = ring[N / 8];
    pm_gc_incref(keep);
    gt_drop_all(ring, N / 4);

    for (int gen = 0; gen <= 2; gen++)
        CHECK("live structures: nothing reclaimed", pm_gc_collect(gen) == 0);
    CHECK("live structures: again", pm_gc_collect(2) == 0);
    CHECK("no finalizer ran", fin_total == 0);
    size_t len = 0;
    for (p = head; p; p = p->kid[0])
        len += p->magic == GT_MAGIC && pm_gc_refcount(p) == 1;
    CHECK("chain intact", len == N);

    pm_gc_decref(head); /* the chain goes by count */
    pm_gc_decref(keep); /* the ring becomes garbage */
    CHECK("ring reclaimed", pm_gc_collect(2) == N / 4);
    CHECK("ring finalized", fin_total == N / 4);
}

/* tnode at the start of a payload of any size. */
static tnode *sized(long id, size_t size)
{
    tnode *n = pm_gc_new(&t_fin, size);
    if (!n)
        exit(2);
    n->id = id;
    n->magic = GT_MAGIC;
    pm_gc_track(n);
    return n;
}

static void test_sizes(void)
{
    gt_reset_fin();
    /* small (pool), medium (span), large (own mapping) in one ring, twice */
    static const size_t sizes[] = {48, 3000, 100000, 16384, 200, 20000};
    tnode *n[6];
    for (int i = 0; i < 6; i++)
        n[i] = sized(800 + i, sizes[i]);
    for (int i = 0; i < 6; i++)
        gt_set(n[i], 0, n[(i + 1) % 6]);
    gt_drop_all(n, 6);
    CHECK("sizes: ring of small, medium and large reclaimed", pm_gc_collect(2) == 6);
    CHECK("sizes: six finalizers", fin_total == 6);
}

/* The teardown frees garbage a pool at a time (pools/gc_seam.c): pools
 * shared with plain malloc blocks of the same size and with survivors keep
 * them intact, and pools left empty (reset to uncarved) serve malloc and
 * pm_gc_new again. */
static void test_pools_shared(void)
{
    gt_reset_fin();
    enum { N = 3000, PLAIN = N / 3 };
    const size_t size = sizeof(tnode) + 32;   /* a tracked object's block: 32 bytes of header */
    static unsigned char *plain[PLAIN];
    static tnode *n[N];
    for (int round = 0; round < 3; round++) {
        int k = 0;
        for (int i = 0; i < N; i++) {
            n[i] = gt_new(&t_plain, -1);
            if (round != 1 && i % 3 == 0 && k < PLAIN) {   /* round 1: whole pools of garbage */
                plain[k] = pm_malloc(size);
                memset(plain[k], 0x40 + k % 64, size);
                k++;
            }
        }
        for (int i = 0; i < N; i += 2)
            gt_set(n[i], 0, n[i + 1]), gt_set(n[i + 1], 0, n[i]);  /* pairs */
        tnode *keep = n[N / 2];     /* one pair survives, in a pool of garbage */
        pm_gc_incref(keep);
        gt_drop_all(n, N);
        CHECK("pools: the garbage pairs are reclaimed", pm_gc_collect(2) == N - 2);
        CHECK("pools: the kept pair is intact", keep->magic == GT_MAGIC &&
                                                    keep->kid[0]->kid[0] == keep);
        int intact = 1;
        for (int j = 0; j < k; j++)
            for (size_t b = 0; b < size; b++)
                intact &= plain[j][b] == 0x40 + j % 64;
        CHECK("pools: plain blocks sharing the pools are intact", intact);
        /* reuse what the collection freed */
        static unsigned char *again[N];
        for (int i = 0; i < N; i++) {
            again[i] = pm_malloc(size);
            memset(again[i], 0x11, size);
        }
        for (int j = 0; j < k; j++)
            for (size_t b = 0; b < size; b++)
                intact &= plain[j][b] == 0x40 + j % 64;
        CHECK("pools: reused blocks do not overlap live ones", intact);
        for (int i = 0; i < N; i++)
            pm_free(again[i]);
        for (int j = 0; j < k; j++)
            pm_free(plain[j]);
        pm_gc_decref(keep);
        CHECK("pools: then the kept pair goes", pm_gc_collect(2) == 2);
    }
}

/* One collector per thread: threads run at once, each making garbage and a
 * live chain and collecting its own; main's garbage, made before, is
 * untouched by their collections and reclaimed by main's. */
enum { THREAD_RING = 5000, THREAD_CHAIN = 3000, THREADS = 4 };

typedef struct thread_result {
    size_t collected, collected_again, tracked_before, tracked_after, main_seen;
    size_t chain_len;
} thread_result;

static void *collect_own(void *arg)
{
    thread_result *res = arg;
    pm_gc_disable();
    tnode **r = malloc(THREAD_RING * sizeof *r);
    gt_ring(&t_plain, r, THREAD_RING, -1);
    gt_drop_all(r, THREAD_RING);
    free(r);
    tnode *chain = gt_new(&t_plain, -1);
    for (int i = 1; i < THREAD_CHAIN; i++) {
        tnode *n = gt_new(&t_plain, -1);
        n->kid[0] = chain;
        chain = n;
    }
    pm_gc_stats s = gt_stats();
    res->tracked_before = gt_tracked(&s);
    res->main_seen = pm_gc_get_objects(-1, NULL, 0);
    res->collected = pm_gc_collect(2);
    res->collected_again = pm_gc_collect(2);
    for (tnode *p = chain; p; p = p->kid[0])
        res->chain_len++;
    pm_gc_decref(chain);
    s = gt_stats();
    res->tracked_after = gt_tracked(&s);
    return NULL;
}

static void test_threads(void)
{
    gt_settle();
    tnode *r[THREAD_RING / 10];
    gt_ring(&t_plain, r, THREAD_RING / 10, -1);
    gt_drop_all(r, THREAD_RING / 10);
    pthread_t t[THREADS];
    thread_result res[THREADS];
    memset(res, 0, sizeof res);
    for (int i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, collect_own, &res[i]) != 0)
            exit(2);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < THREADS; i++) {
        CHECK("threads: a thread's collector sees its own objects only",
              res[i].tracked_before == THREAD_RING + THREAD_CHAIN &&
                  res[i].main_seen == THREAD_RING + THREAD_CHAIN);
        CHECK("threads: its garbage reclaimed", res[i].collected == THREAD_RING);
        CHECK("threads: its live chain kept", res[i].collected_again == 0 &&
                                                  res[i].chain_len == THREAD_CHAIN);
        CHECK("threads: nothing left in it", res[i].tracked_after == 0);
    }
    CHECK("threads: main's garbage reclaimed by main", pm_gc_collect(2) == THREAD_RING / 10);
    pm_gc_stats s = gt_stats();
    CHECK("threads: nothing left", gt_tracked(&s) == 0);
}

/* Threads come and go: each makes a collector on its first call and frees
 * it at exit when nothing is left in it; one leaves a live object behind
 * (kept, never collected).  Tags are reused after 255 collectors. */
static void *short_life(void *arg)
{
    tnode *r[3];
    gt_ring(&t_plain, r, 3, -1);
    gt_drop_all(r, 3);
    *(size_t *)arg = pm_gc_collect(2);
    return NULL;
}
static tnode *left_behind;
static void *leave_one(void *arg)
{
    (void)arg;
    left_behind = gt_new(&t_plain, -1);
    gt_set(left_behind, 0, left_behind);
    return NULL;
}

static void test_thread_churn(void)
{
    enum { WAVES = 100, AT_ONCE = 4 };
    size_t got[AT_ONCE];
    int all = 1;
    for (int w = 0; w < WAVES; w++) {
        pthread_t t[AT_ONCE];
        for (int i = 0; i < AT_ONCE; i++)
            if (pthread_create(&t[i], NULL, short_life, &got[i]) != 0)
                exit(2);
        for (int i = 0; i < AT_ONCE; i++) {
            pthread_join(t[i], NULL);
            all &= got[i] == 3;
        }
    }
    CHECK("churn: 400 threads, each collects its own garbage", all);
    pthread_t t;
    pthread_create(&t, NULL, leave_one, NULL);
    pthread_join(t, NULL);
    CHECK("churn: an exited thread's object is no concern of main's collector",
          left_behind != NULL && pm_gc_collect(2) == 0 && pm_gc_get_objects(-1, NULL, 0) == 0);
}

static void test_collect_args(void)
{
    errno = 0;
    CHECK("collect(3) returns 0", pm_gc_collect(3) == 0);
    CHECK("collect(3): EINVAL", errno == EINVAL);
    errno = 0;
    CHECK("collect(-1) returns 0", pm_gc_collect(-1) == 0);
    CHECK("collect(-1): EINVAL", errno == EINVAL);
    /* collect runs while automatic collection is disabled. */
    tnode *r[2];
    gt_ring(&t_plain, r, 2, 700);
    gt_drop_all(r, 2);
    CHECK("disabled: collect(0) still runs", pm_gc_collect(0) == 2);
}

int main(void)
{
    pm_test_require_poolmalloc();
    pm_gc_disable();
    gt_settle();
    test_rings();
    test_dense_and_tail();
    test_reachable_kept();
    test_cascade_not_counted();
    test_older_is_external();
    test_live_structures();
    test_sizes();
    test_pools_shared();
    test_threads();
    test_thread_churn();
    test_collect_args();
    pm_gc_stats s = gt_stats();
    CHECK("nothing left tracked", gt_tracked(&s) == 0 && s.untracked == 0);
    return pm_test_finish();
}
