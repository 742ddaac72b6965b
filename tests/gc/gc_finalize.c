/* gc_finalize.c -- finalizers, resurrection (PEP 442) and weak references
 * in collections, and frees and allocations made from finalizers.
 *
 * A collection clears the weak references to the unreachable objects, runs
 * every pending finalizer once (all of them before anything is torn down),
 * then reclaims only what is still unreachable: a finalizer that stores a
 * reference to its object keeps it and everything it reaches alive, and
 * that object's finalizer never runs again.  A reference stored into other
 * garbage resurrects nothing.  Finalizers may drop references (freeing
 * objects by their count in the middle of the collection), create objects,
 * and call pm_gc_collect (which returns 0 there).  Automatic collection is
 * off unless a test says otherwise. */
#include "gc_test.h"

/* ---- every finalizer once, all before any teardown ----------------------- */

static int leaf_fin_before_ring_fin, self_weak_alive_in_fin;
static pm_gc_weakref *self_weak[3];
static unsigned long ring_fins;

static void order_hook(tnode *n)
{
    if (n->id >= 100 && n->id < 103) {
        ring_fins++;
        /* No leaf was released yet: teardown starts after the last
         * finalizer. */
        for (int i = 0; i < 3; i++)
            leaf_fin_before_ring_fin += fin_calls[110 + i] != 0;
        /* Weak references to the garbage were cleared before any finalizer. */
        self_weak_alive_in_fin += gt_alive(self_weak[n->id - 100]);
        CHECK("finalizer: its references intact",
              n->kid[0] && n->kid[0]->magic == GT_MAGIC && n->kid[1]->magic == GT_MAGIC);
    }
}

static void test_order(void)
{
    gt_reset_fin();
    tnode *r[3];
    gt_ring(&t_fin, r, 3, 100);
    for (int i = 0; i < 3; i++) {
        tnode *leaf = gt_new(&t_leaf, 110 + i);
        gt_set(r[i], 1, leaf);
        pm_gc_decref(leaf);
        self_weak[i] = pm_gc_weakref_new(r[i]);
    }
    gt_drop_all(r, 3);
    fin_hook = order_hook;
    size_t got = pm_gc_collect(2);
    CHECK("order: 3 reclaimed (leaves are untracked)", got == 3);
    CHECK("order: three ring finalizers", ring_fins == 3);
    CHECK("order: every finalizer once",
          fin_calls[100] == 1 && fin_calls[101] == 1 && fin_calls[102] == 1 &&
              fin_calls[110] == 1 && fin_calls[111] == 1 && fin_calls[112] == 1);
    CHECK("order: finalizers ran before any teardown", leaf_fin_before_ring_fin == 0);
    CHECK("order: weak refs cleared before finalizers", self_weak_alive_in_fin == 0);
    for (int i = 0; i < 3; i++)
        pm_gc_weakref_free(self_weak[i]);
    gt_reset_fin();
}

/* ---- resurrection -------------------------------------------------------- */

static tnode *saved;
static long resurrect_id;

static void resurrect_hook(tnode *n)
{
    if (n->id == resurrect_id && !saved) {
        pm_gc_incref(n);
        saved = n;
    }
}

static void test_resurrect(void)
{
    gt_reset_fin();
    pm_gc_stats s0 = gt_stats();
    /* Ring 200 -> 201 -> 202 -> 203 -> 200; 201 resurrects itself, and with
     * it everything it reaches: the whole ring. A second garbage ring (210,
     * 211) in the same collection is reclaimed. */
    tnode *r[4], *g[2];
    pm_gc_weakref *w[4];
    gt_ring(&t_fin, r, 4, 200);
    gt_ring(&t_fin, g, 2, 210);
    for (int i = 0; i < 4; i++)
        w[i] = pm_gc_weakref_new(r[i]);
    tnode *want = r[1];
    gt_drop_all(r, 4);
    gt_drop_all(g, 2);
    saved = NULL;
    resurrect_id = 201;
    fin_hook = resurrect_hook;

    size_t got = pm_gc_collect(2);
    pm_gc_stats s1 = gt_stats();
    CHECK("resurrect: only the other ring is reclaimed", got == 2);
    CHECK("resurrect: every pending finalizer ran once", fin_total == 6);
    CHECK("resurrect: the finalizer saved its object", saved == want);
    CHECK("resurrect: count is the saved reference plus the ring's",
          pm_gc_refcount(saved) == 2);
    int intact = 1;
    tnode *p = saved;
    for (int i = 0; i < 4; i++, p = p->kid[0])
        intact &= p->magic == GT_MAGIC && p->id == 200 + (1 + i) % 4;
    CHECK("resurrect: the ring is intact", intact && p == saved);
    int cleared = 1;
    for (int i = 0; i < 4; i++)
        cleared &= !gt_alive(w[i]);
    CHECK("resurrect: weak refs to the ring stay cleared", cleared);
    CHECK("resurrect: counted as resurrected", s1.resurrected > s0.resurrected);
    CHECK("resurrect: the ring is still tracked", gt_tracked(&s1) == gt_tracked(&s0) + 4);
    CHECK("resurrect: gen[2].collected counts 2", s1.gen[2].collected - s0.gen[2].collected == 2);

    /* Still referenced: collections keep it, finalizers do not run. */
    CHECK("resurrected ring kept by later collections", pm_gc_collect(2) == 0);
    CHECK("no finalizer ran again", fin_total == 6);

    /* Let go: reclaimed without any finalizer call. */
    tnode *last = saved;
    saved = NULL;
    resurrect_id = -1;
    pm_gc_decref(last);
    CHECK("let go: the ring is reclaimed", pm_gc_collect(2) == 4);
    CHECK("let go: finalizers not run a second time", fin_total == 6);
    for (int i = 0; i < 4; i++) {
        CHECK("each finalized exactly once", fin_calls[200 + i] == 1);
        pm_gc_weakref_free(w[i]);
    }
    gt_reset_fin();
}

/* A finalizer that stores its object into other garbage resurrects
 * nothing: both groups are reclaimed in the same collection. */
static tnode *other_garbage;

static void store_in_garbage_hook(tnode *n)
{
    if (n->id == 300)
        gt_set(other_garbage, 2, n);
}

static void test_resurrect_into_garbage(void)
{
    gt_reset_fin();
    tnode *a[2], *b[3];
    gt_ring(&t_fin, a, 2, 300);
    gt_ring(&t_fin, b, 3, 310);
    other_garbage = b[1];
    gt_drop_all(a, 2);
    gt_drop_all(b, 3);
    fin_hook = store_in_garbage_hook;
    CHECK("stored into garbage: all 5 reclaimed", pm_gc_collect(2) == 5);
    CHECK("stored into garbage: 5 finalizers", fin_total == 5);
    CHECK("stored into garbage: nothing left", pm_gc_collect(2) == 0);
    gt_reset_fin();
}

/* A finalizer (not the object's own) resurrects another object of the
 * garbage by storing it in a global. */
static tnode *rescued;
static tnode *rescue_target;

static void rescue_hook(tnode *n)
{
    if (n->id == 402 && !rescued) {
        pm_gc_incref(rescue_target);
        rescued = rescue_target;
    }
}

static void test_rescue_other(void)
{
    gt_reset_fin();
    /* 400 -> 401 -> 402 -> 400, plus 401 -> 403 (a tail). 402 rescues 403:
     * only 403 survives, the ring is reclaimed. */
    tnode *r[3];
    gt_ring(&t_fin, r, 3, 400);
    tnode *tail = gt_new(&t_fin, 403);
    gt_set(r[1], 1, tail);
    rescue_target = tail;
    pm_gc_decref(tail);
    gt_drop_all(r, 3);
    rescued = NULL;
    fin_hook = rescue_hook;
    CHECK("rescue: the ring is reclaimed, the tail kept", pm_gc_collect(2) == 3);
    CHECK("rescue: four finalizers", fin_total == 4);
    CHECK("rescue: tail alive with one reference",
          rescued == tail && pm_gc_refcount(rescued) == 1 && rescued->magic == GT_MAGIC);
    fin_hook = NULL;
    pm_gc_decref(rescued);
    CHECK("rescue: the tail is freed by its count, not finalized again", fin_total == 4);
    rescued = NULL;
    gt_reset_fin();
}

/* ---- frees during a collection -------------------------------------------- */

static int count_ok_in_fin = 1;

static void drop_hook(tnode *n)
{
    if (n->id >= 500 && n->id < 510 && n->kid[0]) {
        /* Drop the reference to the next member: it may reach zero now,
         * and with it the rest of the ring, this object included. */
        gt_clear(n, 0);
        count_ok_in_fin &= pm_gc_refcount(n) >= 1 && n->magic == GT_MAGIC;
    }
}

static void test_frees_in_finalizers(void)
{
    static const int lens[] = {1, 2, 3, 4, 10};
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        int len = lens[k];
        gt_reset_fin();
        tnode *r[10];
        pm_gc_weakref *w[10];
        gt_ring(&t_fin, r, len, 500);
        for (int i = 0; i < len; i++)
            w[i] = pm_gc_weakref_new(r[i]);
        gt_drop_all(r, len);
        fin_hook = drop_hook;
        count_ok_in_fin = 1;
        pm_gc_stats s0 = gt_stats();
        size_t got = pm_gc_collect(2);
        pm_gc_stats s1 = gt_stats();
        int once = 1, dead = 1;
        for (int i = 0; i < len; i++) {
            once &= fin_calls[500 + i] == 1;
            dead &= !gt_alive(w[i]);
            pm_gc_weakref_free(w[i]);
        }
        CHECK("frees in finalizers: each finalized once", once && fin_total == (unsigned long)len);
        CHECK("frees in finalizers: all gone", dead && gt_tracked(&s1) == gt_tracked(&s0) - len);
        CHECK("frees in finalizers: the object lives while its finalizer runs", count_ok_in_fin);
        /* What the finalizers freed through counts was unreachable too:
         * the whole ring counts as reclaimed by the collection. */
        CHECK("frees in finalizers: collect counts the whole ring", got == (size_t)len);
        CHECK("frees in finalizers: gen[2].collected agrees",
              s1.gen[2].collected - s0.gen[2].collected == (uint64_t)len);
        CHECK("frees in finalizers: nothing left", pm_gc_collect(2) == 0);
    }
    gt_reset_fin();
}

/* A finalizer that frees a live object the program handed over, and one
 * that releases a weak reference to its own (garbage) object. */
static tnode *handed;
static pm_gc_weakref *own_weak;

static void release_hook(tnode *n)
{
    if (n->id == 600) {
        pm_gc_decref(handed);
        handed = NULL;
    } else if (n->id == 601) {
        pm_gc_weakref_free(own_weak);
        own_weak = NULL;
    }
}

static void test_release_in_finalizer(void)
{
    gt_reset_fin();
    tnode *r[2];
    gt_ring(&t_fin, r, 2, 600);
    handed = gt_new(&t_fin, 610);
    own_weak = pm_gc_weakref_new(r[1]);
    gt_drop_all(r, 2);
    fin_hook = release_hook;
    CHECK("release in finalizer: the ring reclaimed", pm_gc_collect(2) == 2);
    CHECK("release in finalizer: handed object freed", fin_calls[610] == 1 && handed == NULL);
    CHECK("release in finalizer: weakref freed", own_weak == NULL);
    CHECK("release in finalizer: 3 finalizers", fin_total == 3);
    gt_reset_fin();
}

/* ---- allocation and collection requests from finalizers ---------------- */

static tnode *made[64];
static int nmade, depth, max_depth;
static size_t inner_collect = 99;

static void depth_cb(int phase, const pm_gc_callback_info *info, void *arg)
{
    (void)info;
    (void)arg;
    if (phase == PM_GC_PHASE_START) {
        depth++;
        if (depth > max_depth)
            max_depth = depth;
        /* A collection requested from a callback does nothing. */
        CHECK("collect from a callback returns 0", pm_gc_collect(2) == 0);
    } else {
        depth--;
    }
}

static void alloc_hook(tnode *n)
{
    if (n->id >= 700 && n->id < 710) {
        for (int i = 0; i < 6 && nmade < 64; i++) {
            tnode *r[2];
            gt_ring(&t_fin, r, 2, 720 + nmade); /* garbage made during a collection */
            made[nmade++] = r[0];
            pm_gc_decref(r[1]);
        }
        inner_collect = pm_gc_collect(2);
    }
}

static void test_alloc_in_finalizer(void)
{
    gt_reset_fin();
    gt_settle();
    /* Threshold 1: every pm_gc_new would collect, were it not inside a
     * collection already. */
    pm_gc_set_threshold(1, 1, 1);
    pm_gc_enable();
    CHECK("depth callback added", pm_gc_callback_add(depth_cb, NULL) == 0);
    tnode *r[3];
    pm_gc_disable();
    gt_ring(&t_fin, r, 3, 700);
    gt_drop_all(r, 3);
    pm_gc_enable();
    nmade = 0;
    fin_hook = alloc_hook;
    size_t got = pm_gc_collect(2);
    fin_hook = NULL;
    pm_gc_disable();
    CHECK("alloc in finalizer: ring reclaimed", got == 3);
    CHECK("alloc in finalizer: no nested collection", max_depth == 1 && depth == 0);
    CHECK("alloc in finalizer: pm_gc_collect inside returns 0", inner_collect == 0);
    CHECK("alloc in finalizer: objects made", nmade == 18);
    int ok = 1;
    for (int i = 0; i < nmade; i++)
        ok &= made[i]->magic == GT_MAGIC && pm_gc_refcount(made[i]) == 2;
    CHECK("alloc in finalizer: new objects intact", ok);
    CHECK("alloc in finalizer: new objects not finalized", fin_total == 3);
    gt_drop_all(made, nmade);
    CHECK("alloc in finalizer: the new garbage is reclaimed later", pm_gc_collect(2) == 36);
    CHECK("depth callback removed", pm_gc_callback_remove(depth_cb, NULL) == 0);
    pm_gc_set_threshold(700, 10, 10);
    gt_reset_fin();
}

/* ---- weak references ------------------------------------------------------ */

static void test_weakrefs(void)
{
    errno = 0;
    CHECK("weakref_new(NULL) is NULL", pm_gc_weakref_new(NULL) == NULL);
    CHECK("weakref_new(NULL): EINVAL", errno == EINVAL);

    tnode *a = gt_new(&t_plain, 800);
    pm_gc_weakref *w1 = pm_gc_weakref_new(a);
    pm_gc_weakref *w2 = pm_gc_weakref_new(a);
    CHECK("weakrefs made", w1 && w2);
    CHECK("weakref adds no count", pm_gc_refcount(a) == 1);
    tnode *got = pm_gc_weakref_get(w1);
    CHECK("get returns the object", got == a);
    CHECK("get adds a strong reference", pm_gc_refcount(a) == 2);
    pm_gc_decref(got);
    pm_gc_weakref_free(w2); /* freed before its object */
    pm_gc_decref(a);
    CHECK("cleared at count zero", pm_gc_weakref_get(w1) == NULL);
    /* The memory is reused by new objects: the weak reference stays clear. */
    tnode *fresh[64];
    for (int i = 0; i < 64; i++)
        fresh[i] = gt_new(&t_plain, 801);
    CHECK("stays clear after the memory is reused", pm_gc_weakref_get(w1) == NULL);
    for (int i = 0; i < 64; i++)
        pm_gc_decref(fresh[i]);
    pm_gc_weakref_free(w1);

    /* Untracked objects have weak references too. */
    tnode *leaf = gt_new(&t_leaf, 802);
    pm_gc_weakref *wl = pm_gc_weakref_new(leaf);
    CHECK("weakref to untracked object", gt_alive(wl));
    pm_gc_decref(leaf);
    CHECK("untracked: cleared at count zero", !gt_alive(wl));
    pm_gc_weakref_free(wl);

    /* In a collection: weak refs to garbage are cleared, weak refs to live
     * objects the garbage referenced are not. */
    tnode *live = gt_new(&t_plain, 803);
    tnode *r[2];
    gt_ring(&t_plain, r, 2, 804);
    gt_set(r[0], 1, live);
    pm_gc_weakref *wr[3] = {pm_gc_weakref_new(r[0]), pm_gc_weakref_new(r[1]),
                            pm_gc_weakref_new(live)};
    pm_gc_weakref *wr0b = pm_gc_weakref_new(r[0]);
    gt_drop_all(r, 2);
    CHECK("weakrefs before the collection", gt_alive(wr[0]) && gt_alive(wr[1]));
    CHECK("collection reclaims the pair", pm_gc_collect(2) == 2);
    CHECK("weakrefs to garbage cleared", !gt_alive(wr[0]) && !gt_alive(wr[1]) && !gt_alive(wr0b));
    CHECK("weakref to live object kept", gt_alive(wr[2]));
    CHECK("live object lost the garbage's reference", pm_gc_refcount(live) == 1);
    pm_gc_decref(live);
    CHECK("then cleared by its count", !gt_alive(wr[2]));
    for (int i = 0; i < 3; i++)
        pm_gc_weakref_free(wr[i]);
    pm_gc_weakref_free(wr0b);

    /* Many weak references to many objects. */
    enum { M = 10000 };
    static tnode *objs[M];
    static pm_gc_weakref *ws[M];
    for (int i = 0; i < M; i++) {
        objs[i] = gt_new(&t_plain, -1);
        if (i)
            gt_set(objs[i], 0, objs[i - 1]);
    }
    gt_set(objs[0], 0, objs[M - 1]); /* one big ring */
    for (int i = 0; i < M; i++)
        ws[i] = pm_gc_weakref_new(objs[i]);
    gt_drop_all(objs, M);
    int alive = 0;
    for (int i = 0; i < M; i++)
        alive += gt_alive(ws[i]);
    CHECK("10000 weakrefs: all alive before", alive == M);
    CHECK("big ring reclaimed", pm_gc_collect(2) == M);
    alive = 0;
    for (int i = 0; i < M; i++) {
        alive += gt_alive(ws[i]);
        pm_gc_weakref_free(ws[i]);
    }
    CHECK("10000 weakrefs: all cleared", alive == 0);
}

int main(void)
{
    pm_test_require_poolmalloc();
    pm_gc_disable();
    gt_settle();
    test_order();
    test_resurrect();
    test_resurrect_into_garbage();
    test_rescue_other();
    test_frees_in_finalizers();
    test_release_in_finalizer();
    test_alloc_in_finalizer();
    test_weakrefs();
    pm_gc_stats s = gt_stats();
    CHECK("nothing left tracked", gt_tracked(&s) == 0 && s.untracked == 0);
    return pm_test_finish();
}
