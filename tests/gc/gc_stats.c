/* gc_stats.c -- pm_gc_get_stats and the collection callbacks.
 *
 * Per generation: a collection of g counts in gen[g] only (collections,
 * collected, time); uncollectable stays 0.  The object counters (tracked per
 * generation and frozen, untracked, freed_by_refcount, finalized,
 * resurrected) follow each operation exactly.  Callbacks run at START and
 * STOP of every collection, in registration order, with the generation and,
 * at STOP, the number reclaimed; add and remove report errors with errno.
 * Automatic collection is off throughout. */
#include "gc_test.h"

static pm_gc_stats delta(const pm_gc_stats *a, const pm_gc_stats *b)
{
    pm_gc_stats d;
    for (int g = 0; g < 3; g++) {
        d.gen[g].collections = b->gen[g].collections - a->gen[g].collections;
        d.gen[g].collected = b->gen[g].collected - a->gen[g].collected;
        d.gen[g].uncollectable = b->gen[g].uncollectable - a->gen[g].uncollectable;
        d.gen[g].time_ns = b->gen[g].time_ns - a->gen[g].time_ns;
    }
    for (int g = 0; g < 4; g++)
        d.tracked[g] = b->tracked[g] - a->tracked[g];
    d.untracked = b->untracked - a->untracked;
    d.freed_by_refcount = b->freed_by_refcount - a->freed_by_refcount;
    d.finalized = b->finalized - a->finalized;
    d.resurrected = b->resurrected - a->resurrected;
    return d;
}

static void garbage_ring(int len)
{
    tnode *r[8];
    gt_ring(&t_fin, r, len, -1);
    gt_drop_all(r, len);
}

static void test_generation_stats(void)
{
    gt_settle();
    pm_gc_stats s0 = gt_stats();
    garbage_ring(2);
    CHECK("collect(0) = 2", pm_gc_collect(0) == 2);
    CHECK("collect(0) = 0", pm_gc_collect(0) == 0);
    garbage_ring(1);
    CHECK("collect(0) = 1", pm_gc_collect(0) == 1);
    garbage_ring(3);
    CHECK("collect(1) = 3", pm_gc_collect(1) == 3);
    CHECK("collect(1) = 0", pm_gc_collect(1) == 0);
    tnode *r[4];
    gt_ring(&t_fin, r, 4, -1);
    gt_drop_all(r + 1, 3); /* held through r[0] */
    pm_gc_collect(0); /* -> generation 1 */
    pm_gc_collect(1); /* -> generation 2 */
    pm_gc_decref(r[0]);
    CHECK("collect(2) = 4", pm_gc_collect(2) == 4);
    pm_gc_stats s1 = gt_stats();
    pm_gc_stats d = delta(&s0, &s1);
    CHECK("gen[0].collections +4", d.gen[0].collections == 4);
    CHECK("gen[1].collections +3", d.gen[1].collections == 3);
    CHECK("gen[2].collections +1", d.gen[2].collections == 1);
    CHECK("gen[0].collected +3", d.gen[0].collected == 3);
    CHECK("gen[1].collected +3", d.gen[1].collected == 3);
    CHECK("gen[2].collected +4", d.gen[2].collected == 4);
    CHECK("uncollectable stays 0", s1.gen[0].uncollectable == 0 &&
                                       s1.gen[1].uncollectable == 0 &&
                                       s1.gen[2].uncollectable == 0);
    CHECK("finalized: 10 ring members", d.finalized == 10);
    CHECK("freed_by_refcount: none", d.freed_by_refcount == 0);
    CHECK("nothing tracked", gt_tracked(&s1) == 0);

    /* time_ns grows with work; it never goes back. */
    enum { N = 100000 };
    static tnode *objs[N];
    for (int i = 0; i < N; i++)
        objs[i] = gt_new(&t_plain, -1);
    for (int i = 0; i < N; i++)
        gt_set(objs[i], 0, objs[(i + 1) % N]);
    gt_drop_all(objs, N);
    pm_gc_stats s2 = gt_stats();
    CHECK("collect(2) reclaims 100000", pm_gc_collect(2) == N);
    pm_gc_stats s3 = gt_stats();
    CHECK("time_ns of generation 2 grew", s3.gen[2].time_ns > s2.gen[2].time_ns);
    CHECK("time_ns of generations 0, 1 unchanged", s3.gen[0].time_ns == s2.gen[0].time_ns &&
                                                      s3.gen[1].time_ns == s2.gen[1].time_ns);
    CHECK("time_ns monotonic", s3.gen[0].time_ns >= s0.gen[0].time_ns &&
                                   s3.gen[1].time_ns >= s0.gen[1].time_ns);
}

static void test_object_stats(void)
{
    gt_settle();
    gt_reset_fin();
    pm_gc_stats s0 = gt_stats(), s1, d;

    tnode *a = gt_new(&t_fin, 1), *b = gt_new(&t_plain, 2), *l = gt_new(&t_leaf, 3);
    s1 = gt_stats();
    d = delta(&s0, &s1);
    CHECK("new: tracked[0] +2", d.tracked[0] == 2 && d.tracked[1] == 0 && d.tracked[2] == 0);
    CHECK("new: untracked +1", d.untracked == 1);

    pm_gc_collect(0);
    s1 = gt_stats();
    d = delta(&s0, &s1);
    CHECK("collect(0): tracked[1] +2", d.tracked[0] == 0 && d.tracked[1] == 2);
    pm_gc_collect(1);
    s1 = gt_stats();
    d = delta(&s0, &s1);
    CHECK("collect(1): tracked[2] +2", d.tracked[1] == 0 && d.tracked[2] == 2);
    pm_gc_freeze();
    s1 = gt_stats();
    d = delta(&s0, &s1);
    CHECK("freeze: tracked[3] +2", d.tracked[2] == 0 && d.tracked[3] == 2);
    CHECK("freeze: freeze_count agrees", pm_gc_freeze_count() == s1.tracked[3]);
    pm_gc_unfreeze();
    s1 = gt_stats();
    d = delta(&s0, &s1);
    CHECK("unfreeze: tracked[2] +2", d.tracked[2] == 2 && d.tracked[3] == 0);

    pm_gc_decref(a);
    pm_gc_decref(b);
    pm_gc_decref(l);
    s1 = gt_stats();
    d = delta(&s0, &s1);
    CHECK("released: nothing tracked", d.tracked[2] == 0 && d.untracked == 0);
    CHECK("released: freed_by_refcount +3", d.freed_by_refcount == 3);
    CHECK("released: finalized +2 (a and the leaf)", d.finalized == 2 && fin_total == 2);
    CHECK("released: resurrected 0", d.resurrected == 0);
    CHECK("released: no collection counted as collecting them",
          d.gen[0].collected == 0 && d.gen[1].collected == 0 && d.gen[2].collected == 0);
}

/* ---- callbacks ----------------------------------------------------------- */

#define MAXEV 256
static struct event {
    int phase, generation;
    size_t collected, uncollectable;
    int who;
} ev[MAXEV];
static int nev;

static void cb(int phase, const pm_gc_callback_info *info, void *arg)
{
    if (nev < MAXEV)
        ev[nev] = (struct event){phase, info->generation, info->collected, info->uncollectable,
                                 (int)(intptr_t)arg};
    nev++;
}

static void cb_other(int phase, const pm_gc_callback_info *info, void *arg)
{
    cb(phase, info, (void *)((intptr_t)arg + 1000));
}

static int ev_is(int i, int phase, int generation, size_t collected, int who)
{
    if (i >= nev || i >= MAXEV)
        return 0;
    return ev[i].phase == phase && ev[i].generation == generation &&
           ev[i].collected == collected && ev[i].uncollectable == 0 && ev[i].who == who;
}

static void test_callbacks(void)
{
    gt_settle();
    nev = 0;
    errno = 0;
    CHECK("add(NULL) fails", pm_gc_callback_add(NULL, NULL) == -1 && errno == EINVAL);
    errno = 0;
    CHECK("remove of nothing: ENOENT", pm_gc_callback_remove(cb, (void *)1) == -1 &&
                                           errno == ENOENT);
    CHECK("add cb(1)", pm_gc_callback_add(cb, (void *)1) == 0);
    CHECK("add cb(2)", pm_gc_callback_add(cb, (void *)2) == 0);
    CHECK("add cb_other(3)", pm_gc_callback_add(cb_other, (void *)3) == 0);

    garbage_ring(3);
    size_t r = pm_gc_collect(1);
    CHECK("collect(1) = 3", r == 3);
    CHECK("six events", nev == 6);
    CHECK("START cb(1)", ev_is(0, PM_GC_PHASE_START, 1, 0, 1));
    CHECK("START cb(2)", ev_is(1, PM_GC_PHASE_START, 1, 0, 2));
    CHECK("START cb_other(3)", ev_is(2, PM_GC_PHASE_START, 1, 0, 1003));
    CHECK("STOP cb(1) with 3 collected", ev_is(3, PM_GC_PHASE_STOP, 1, 3, 1));
    CHECK("STOP cb(2)", ev_is(4, PM_GC_PHASE_STOP, 1, 3, 2));
    CHECK("STOP cb_other(3)", ev_is(5, PM_GC_PHASE_STOP, 1, 3, 1003));

    /* Removal is by (fn, arg). */
    errno = 0;
    CHECK("remove cb(7): not registered", pm_gc_callback_remove(cb, (void *)7) == -1 &&
                                              errno == ENOENT);
    errno = 0;
    CHECK("remove cb_other(1): not registered",
          pm_gc_callback_remove(cb_other, (void *)1) == -1 && errno == ENOENT);
    CHECK("remove cb(1)", pm_gc_callback_remove(cb, (void *)1) == 0);
    nev = 0;
    CHECK("collect(0) = 0", pm_gc_collect(0) == 0);
    CHECK("two callbacks left", nev == 4 && ev_is(0, PM_GC_PHASE_START, 0, 0, 2) &&
                                    ev_is(1, PM_GC_PHASE_START, 0, 0, 1003) &&
                                    ev_is(2, PM_GC_PHASE_STOP, 0, 0, 2) &&
                                    ev_is(3, PM_GC_PHASE_STOP, 0, 0, 1003));

    /* The same (fn, arg) twice: called twice; remove takes the first off. */
    CHECK("add cb(2) again", pm_gc_callback_add(cb, (void *)2) == 0);
    nev = 0;
    garbage_ring(2);
    CHECK("collect(2) = 2", pm_gc_collect(2) == 2);
    CHECK("duplicate registration: called twice",
          nev == 6 && ev_is(0, PM_GC_PHASE_START, 2, 0, 2) &&
              ev_is(1, PM_GC_PHASE_START, 2, 0, 1003) && ev_is(2, PM_GC_PHASE_START, 2, 0, 2) &&
              ev_is(3, PM_GC_PHASE_STOP, 2, 2, 2) && ev_is(4, PM_GC_PHASE_STOP, 2, 2, 1003) &&
              ev_is(5, PM_GC_PHASE_STOP, 2, 2, 2));
    CHECK("remove cb(2) once", pm_gc_callback_remove(cb, (void *)2) == 0);
    nev = 0;
    pm_gc_collect(2);
    CHECK("after removing the first: order cb_other(3), cb(2)",
          nev == 4 && ev_is(0, PM_GC_PHASE_START, 2, 0, 1003) &&
              ev_is(1, PM_GC_PHASE_START, 2, 0, 2));
    CHECK("remove cb(2)", pm_gc_callback_remove(cb, (void *)2) == 0);
    CHECK("remove cb_other(3)", pm_gc_callback_remove(cb_other, (void *)3) == 0);
    errno = 0;
    CHECK("remove cb(2) a third time: ENOENT", pm_gc_callback_remove(cb, (void *)2) == -1 &&
                                                   errno == ENOENT);
    nev = 0;
    pm_gc_collect(2);
    CHECK("no callbacks left", nev == 0);

    /* Many registrations, all called in order. */
    for (int i = 0; i < 100; i++)
        CHECK("add 100 callbacks", pm_gc_callback_add(cb, (void *)(intptr_t)(10 + i)) == 0);
    nev = 0;
    pm_gc_collect(0);
    int inorder = nev == 200;
    for (int i = 0; i < 100 && inorder; i++)
        inorder = ev_is(i, PM_GC_PHASE_START, 0, 0, 10 + i) &&
                  ev_is(100 + i, PM_GC_PHASE_STOP, 0, 0, 10 + i);
    CHECK("100 callbacks in registration order", inorder);
    for (int i = 99; i >= 0; i--)
        CHECK("remove 100 callbacks", pm_gc_callback_remove(cb, (void *)(intptr_t)(10 + i)) == 0);
    nev = 0;
    pm_gc_collect(0);
    CHECK("all removed", nev == 0);
}

/* The statistics seen from a STOP callback already include that
 * collection. */
static pm_gc_stats at_stop;
static void stop_cb(int phase, const pm_gc_callback_info *info, void *arg)
{
    (void)info;
    (void)arg;
    if (phase == PM_GC_PHASE_STOP)
        pm_gc_get_stats(&at_stop);
}

static void test_stats_in_callback(void)
{
    gt_settle();
    pm_gc_stats s0 = gt_stats();
    pm_gc_callback_add(stop_cb, NULL);
    garbage_ring(4);
    CHECK("collect(0) = 4", pm_gc_collect(0) == 4);
    pm_gc_callback_remove(stop_cb, NULL);
    CHECK("at STOP: collections counted",
          at_stop.gen[0].collections == s0.gen[0].collections + 1);
    CHECK("at STOP: collected counted", at_stop.gen[0].collected == s0.gen[0].collected + 4);
    CHECK("at STOP: the ring is gone", gt_tracked(&at_stop) == gt_tracked(&s0));
}

int main(void)
{
    pm_test_require_poolmalloc();
    pm_gc_disable();
    test_generation_stats();
    test_object_stats();
    test_callbacks();
    test_stats_in_callback();
    return pm_test_finish();
}
