/* gc_teardown.c -- code that runs while a collection tears its garbage down.
 *
 * Tearing down the garbage releases the objects it holds outside itself
 * (untracked ones, older generations); their finalizers run then, in the
 * middle of the collection.  Each case is one process (argv[1]):
 *
 *   outside_finalizer   such a finalizer allocates, releases, and asks for a
 *                       collection (which returns 0): the collection's count
 *                       and every object's fate stay exact
 *   weakref_made_late   a garbage object's finalizer makes a weak reference
 *                       to another garbage object (after the collection
 *                       cleared theirs): it is clear once the collection ends
 *   weakref_get_late    the same weak reference, read from the finalizer of an
 *                       outside object during the teardown, must give NULL
 *                       (the object is being reclaimed), not a strong
 *                       reference to memory about to be freed
 *   pools_back          garbage that filled thousands of pools: the
 *                       collection frees whole pools at once, and each pool
 *                       emptied that way goes back to its arena (it once
 *                       stayed on its class list, empty, for good); with
 *                       POOLMALLOC_ARENA_CACHE=0 (set by CMake), the arenas
 *                       beyond the reserve are unmapped by the time the
 *                       collection returns (the teardown batches them)
 *
 * Automatic collection is off. */
#include "gc_test.h"
#include "poolmalloc.h"  /* pm_stats_get */

static pm_gc_weakref *late_weak;
static void *late_got = (void *)1;
static size_t inner_collect = 99;
static tnode *made_inside;

/* t_fin's hook: ids 1.. are the garbage ring, 50 the outside (untracked)
 * object it holds. */
static int mode;
static void hook(tnode *n)
{
    if (n->id == 1 && mode >= 1 && !late_weak)
        late_weak = pm_gc_weakref_new(n->kid[0]); /* to the ring's next member */
    if (n->id == 50) {
        if (mode == 0) {
            inner_collect = pm_gc_collect(2);
            made_inside = gt_new(&t_plain, 60);
            tnode *tmp = gt_new(&t_fin, 61);
            pm_gc_decref(tmp);
        } else if (mode == 2) {
            late_got = pm_gc_weakref_get(late_weak);
        }
    }
}

/* A garbage ring 1 -> 2 -> 3 -> 1, with 1 holding the untracked object 50. */
static size_t collect_ring(void)
{
    tnode *r[3];
    gt_ring(&t_fin, r, 3, 1);
    tnode *outside = gt_new(&t_leaf, 50);
    gt_set(r[0], 1, outside);
    pm_gc_decref(outside);
    gt_drop_all(r, 3);
    fin_hook = hook;
    return pm_gc_collect(2);
}

/* 2 * PAIRS garbage objects of 80-byte blocks: about 3900 pools. */
static void pools_back(void)
{
    enum { PAIRS = 100000 };
    pm_stats_t before, full, after;
    pm_stats_get(&before);
    for (long i = 0; i < PAIRS; i++) {
        tnode *r[2];
        gt_ring(&t_plain, r, 2, GT_MAXID);
        gt_drop_all(r, 2);
    }
    pm_stats_get(&full);
    CHECK("the garbage filled pools", full.pools_live >= before.pools_live + 3000);
    CHECK("all of it is reclaimed", pm_gc_collect(2) == 2 * PAIRS);
    pm_stats_get(&after);
    /* what may stay: the list heads of the class and of its range's host,
     * whose 128-byte blocks served the first 80-byte ones (pools/pools.h,
     * pm_class_range), and the heap's spare pools (at most 16:
     * PM_SPARE_POOLS) */
    CHECK("the emptied pools went back to their arenas",
          after.pools_live <= before.pools_live + 2 + 16);
    /* the reserve (ARENA_RESERVE, 4) may keep four, and the pools left one */
    CHECK("the emptied arenas went back to the OS",
          after.arenas_live <= before.arenas_live + 5 && after.arenas_released > full.arenas_released);
    if (after.pools_live > before.pools_live + 2 + 16)
        fprintf(stderr, "pools: %llu before, %llu full, %llu after\n",
                (unsigned long long)before.pools_live, (unsigned long long)full.pools_live,
                (unsigned long long)after.pools_live);
    if (after.arenas_live > before.arenas_live + 5)
        fprintf(stderr, "arenas: %llu before, %llu full, %llu after\n",
                (unsigned long long)before.arenas_live, (unsigned long long)full.arenas_live,
                (unsigned long long)after.arenas_live);
}

int main(int argc, char **argv)
{
    pm_test_require_poolmalloc();
    pm_gc_disable();
    const char *c = argc > 1 ? argv[1] : "";
    if (!strcmp(c, "outside_finalizer")) {
        mode = 0;
        size_t got = collect_ring();
        CHECK("the ring is reclaimed", got == 3);
        CHECK("every finalizer once", fin_calls[1] == 1 && fin_calls[2] == 1 &&
                                          fin_calls[3] == 1 && fin_calls[50] == 1 &&
                                          fin_calls[61] == 1 && fin_total == 5);
        CHECK("a collection asked for during the teardown returns 0", inner_collect == 0);
        CHECK("an object made during the teardown lives",
              made_inside && made_inside->magic == GT_MAGIC && pm_gc_refcount(made_inside) == 1);
        pm_gc_decref(made_inside);
        pm_gc_stats s = gt_stats();
        CHECK("nothing left", gt_tracked(&s) == 0 && s.untracked == 0);
    } else if (!strcmp(c, "weakref_made_late")) {
        mode = 1;
        CHECK("the ring is reclaimed", collect_ring() == 3);
        CHECK("the late weak reference exists", late_weak != NULL);
        CHECK("and is clear", pm_gc_weakref_get(late_weak) == NULL);
        pm_gc_weakref_free(late_weak);
    } else if (!strcmp(c, "weakref_get_late")) {
        mode = 2;
        size_t got = collect_ring();
        CHECK("read during the teardown: NULL", late_got == NULL);
        if (late_got == NULL) { /* otherwise it may point to freed memory */
            CHECK("the ring is reclaimed", got == 3);
            CHECK("and the weak reference is clear", pm_gc_weakref_get(late_weak) == NULL);
        }
        pm_gc_weakref_free(late_weak);
    } else if (!strcmp(c, "pools_back")) {
        pools_back();
    } else {
        fprintf(stderr, "usage: %s outside_finalizer|weakref_made_late|weakref_get_late|pools_back\n",
                argv[0]);
        return 2;
    }
    return pm_test_finish();
}
