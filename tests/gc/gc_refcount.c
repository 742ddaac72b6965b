/* gc_refcount.c -- the reference-count half of poolmalloc_gc.h.
 *
 * pm_gc_new's contract (count 1, zeroed and aligned payload, errno), incref
 * and decref, NULL handling, and what happens when a count reaches zero:
 * the finalizer runs once (and may resurrect, which stops the release: the
 * object, its weak references and its children stay), then weak references
 * are cleared, children released, the memory freed.  Types without traverse
 * are never tracked.  Automatic collection is off throughout. */
#include "gc_test.h"

/* Raw payloads (written all over by the test): a tracked type whose
 * traverse reports nothing, and an untracked one. */
static void no_refs(void *obj, pm_gc_visit_fn visit, void *arg)
{
    (void)obj, (void)visit, (void)arg;
}
static const pm_gc_type t_raw = {"raw", no_refs, NULL, NULL};
static const pm_gc_type t_raw_leaf = {"raw_leaf", NULL, NULL, NULL};

static void test_new(void)
{
    static const size_t sizes[] = {0, 1, 8, 16, 24, 100, 512, 4096, 100000};
    for (size_t i = 0; i < 2 * sizeof sizes / sizeof sizes[0]; i++) {
        size_t sz = sizes[i / 2];
        const pm_gc_type *type = i % 2 ? &t_raw_leaf : &t_raw;
        unsigned char *p = pm_gc_new(type, sz);
        CHECK("new returns an object", p != NULL);
        if (!p)
            continue;
        CHECK("new: count is 1", pm_gc_refcount(p) == 1);
        CHECK("new: type", pm_gc_type_of(p) == type);
        CHECK("new: 8-aligned", ((uintptr_t)p & 7) == 0);
        if (sz % 16 == 0)
            CHECK("new: 16-aligned for a multiple of 16", ((uintptr_t)p & 15) == 0);
        size_t nonzero = 0;
        for (size_t j = 0; j < sz; j++)
            nonzero += p[j] != 0;
        CHECK("new: payload zeroed", nonzero == 0);
        memset(p, 0xA5, sz); /* the whole payload is ours to write */
        pm_gc_decref(p);
    }

    /* A freed object's memory is reused, and the payload is zeroed again. */
    for (int round = 0; round < 6; round++) {
        unsigned char *p = pm_gc_new(round % 2 ? &t_raw_leaf : &t_raw, 48);
        int zero = 1;
        for (int j = 0; j < 48; j++)
            zero &= p[j] == 0;
        CHECK("new: payload zeroed after reuse", zero);
        memset(p, 0x5A, 48);
        pm_gc_decref(p);
    }

    errno = 0;
    CHECK("new(NULL type) fails", pm_gc_new(NULL, 16) == NULL);
    CHECK("new(NULL type): EINVAL", errno == EINVAL);
    errno = 0;
    CHECK("new(SIZE_MAX) fails", pm_gc_new(&t_raw, SIZE_MAX) == NULL);
    CHECK("new(SIZE_MAX): ENOMEM", errno == ENOMEM);
    errno = 0;
    CHECK("new(SIZE_MAX - 8) fails", pm_gc_new(&t_raw_leaf, SIZE_MAX - 8) == NULL);
    CHECK("new(SIZE_MAX - 8): ENOMEM", errno == ENOMEM);
    errno = 0;
    CHECK("new(SIZE_MAX / 2) fails", pm_gc_new(&t_raw, SIZE_MAX / 2) == NULL);
    CHECK("new(SIZE_MAX / 2): ENOMEM", errno == ENOMEM);
    pm_gc_stats s = gt_stats();
    CHECK("failed news leave nothing behind", gt_tracked(&s) == 0 && s.untracked == 0);
}

static void test_counts_and_null(void)
{
    tnode *a = gt_new(&t_plain, 1);
    pm_gc_incref(a);
    pm_gc_incref(a);
    CHECK("incref twice: 3", pm_gc_refcount(a) == 3);
    pm_gc_decref(a);
    CHECK("decref: 2", pm_gc_refcount(a) == 2);
    pm_gc_decref(a);
    CHECK("decref: 1", pm_gc_refcount(a) == 1);

    /* NULL is accepted like Py_XINCREF / Py_XDECREF. */
    pm_gc_incref(NULL);
    pm_gc_decref(NULL);
    CHECK("refcount(NULL) is 0", pm_gc_refcount(NULL) == 0);
    CHECK("type_of(NULL) is NULL", pm_gc_type_of(NULL) == NULL);
    pm_gc_decref(a);
}

/* decref to zero: finalizer once, weak refs cleared, children released. */
static tnode *order_parent_kid;
static pm_gc_weakref *order_parent_weak;
static int order_parent_intact_in_fin, order_parent_weak_cleared_in_kid_fin;

static void order_hook(tnode *n)
{
    if (n->id == 10) {
        /* The parent's finalizer runs first: its children are untouched. */
        order_parent_intact_in_fin =
            n->kid[0] == order_parent_kid && order_parent_kid->magic == GT_MAGIC &&
            pm_gc_refcount(order_parent_kid) == 1;
    } else if (n->id == 11) {
        /* The child is released after the parent's weak references were
         * cleared. */
        order_parent_weak_cleared_in_kid_fin = pm_gc_weakref_get(order_parent_weak) == NULL;
    }
}

static void test_release(void)
{
    gt_reset_fin();
    pm_gc_stats s0 = gt_stats();
    tnode *parent = gt_new(&t_fin, 10);
    tnode *kid = gt_new(&t_fin, 11);
    tnode *leaf = gt_new(&t_leaf, 12);
    tnode *shared = gt_new(&t_fin, 13);
    gt_set(parent, 0, kid);
    gt_set(parent, 1, leaf);
    gt_set(parent, 2, shared);
    gt_set(parent, 3, shared); /* two fields, two references */
    pm_gc_decref(kid);
    pm_gc_decref(leaf);
    CHECK("shared held 3 times", pm_gc_refcount(shared) == 3);

    pm_gc_weakref *wp = pm_gc_weakref_new(parent);
    pm_gc_weakref *wk = pm_gc_weakref_new(kid);
    pm_gc_weakref *wl = pm_gc_weakref_new(leaf);
    CHECK("weakref does not add a count", pm_gc_refcount(parent) == 1);
    order_parent_kid = kid;
    order_parent_weak = wp;
    fin_hook = order_hook;

    pm_gc_decref(parent);
    CHECK("parent finalized once", fin_calls[10] == 1);
    CHECK("kid finalized once", fin_calls[11] == 1);
    CHECK("untracked leaf finalized once", fin_calls[12] == 1);
    CHECK("shared object not finalized (still held)", fin_calls[13] == 0);
    CHECK("shared object lost both references", pm_gc_refcount(shared) == 1);
    CHECK("parent's finalizer saw its children intact", order_parent_intact_in_fin);
    CHECK("weak refs cleared before children are released",
          order_parent_weak_cleared_in_kid_fin);
    CHECK("weakref to parent cleared", !gt_alive(wp));
    CHECK("weakref to kid cleared", !gt_alive(wk));
    CHECK("weakref to leaf cleared", !gt_alive(wl));

    pm_gc_stats s1 = gt_stats();
    CHECK("freed_by_refcount counts parent, kid, leaf",
          s1.freed_by_refcount - s0.freed_by_refcount == 3);
    CHECK("finalized counts 3", s1.finalized - s0.finalized == 3);
    CHECK("nothing resurrected", s1.resurrected == s0.resurrected);

    pm_gc_decref(shared);
    CHECK("shared finalized when its last reference goes", fin_calls[13] == 1);
    pm_gc_weakref_free(wp);
    pm_gc_weakref_free(wk);
    pm_gc_weakref_free(wl);
    pm_gc_weakref_free(NULL);
    gt_reset_fin();
}

/* A finalizer that stores a new reference to its object: the release stops
 * there. The finalizer never runs again. */
static tnode *saved;
static void resurrect_hook(tnode *n)
{
    if (n->id == 20 && !saved) {
        pm_gc_incref(n);
        saved = n;
    }
}

static void test_resurrect_at_zero(void)
{
    gt_reset_fin();
    pm_gc_stats s0 = gt_stats();
    tnode *a = gt_new(&t_fin, 20);
    tnode *kid = gt_new(&t_fin, 21);
    gt_set(a, 0, kid);
    pm_gc_decref(kid);
    pm_gc_weakref *wa = pm_gc_weakref_new(a);
    pm_gc_weakref *wk = pm_gc_weakref_new(kid);
    fin_hook = resurrect_hook;

    pm_gc_decref(a);
    CHECK("resurrected: finalizer ran once", fin_calls[20] == 1);
    CHECK("resurrected: the saved reference is the object", saved == a);
    CHECK("resurrected: count is the new reference", pm_gc_refcount(a) == 1);
    CHECK("resurrected: payload intact", a->magic == GT_MAGIC && a->kid[0] == kid);
    CHECK("resurrected: children kept", pm_gc_refcount(kid) == 1 && fin_calls[21] == 0);
    CHECK("resurrected: weak reference not cleared", gt_alive(wa));
    CHECK("resurrected: weak reference to child not cleared", gt_alive(wk));
    pm_gc_stats s1 = gt_stats();
    CHECK("stats: one resurrected", s1.resurrected - s0.resurrected == 1);
    CHECK("stats: not freed", s1.freed_by_refcount == s0.freed_by_refcount);

    /* Once more to zero: no second finalizer call, the object goes. */
    pm_gc_incref(a);
    pm_gc_decref(a);
    CHECK("count back to 1", pm_gc_refcount(a) == 1);
    saved = NULL;
    pm_gc_decref(a);
    CHECK("second release: finalizer not run again", fin_calls[20] == 1);
    CHECK("second release: child finalized", fin_calls[21] == 1);
    CHECK("second release: weak reference cleared", !gt_alive(wa));
    CHECK("second release: weak reference to child cleared", !gt_alive(wk));
    CHECK("second release: nothing saved", saved == NULL);
    pm_gc_stats s2 = gt_stats();
    CHECK("stats: object and child freed", s2.freed_by_refcount - s0.freed_by_refcount == 2);
    CHECK("stats: two finalizer calls", s2.finalized - s0.finalized == 2);
    CHECK("stats: still one resurrected", s2.resurrected - s0.resurrected == 1);
    pm_gc_weakref_free(wa);
    pm_gc_weakref_free(wk);
    gt_reset_fin();
}

/* Types without traverse are never tracked: in no generation, not counted
 * in generation 0's count. Tracked ones add one each, and a release takes
 * one off while the count is above zero. */
static void test_tracking(void)
{
    int c0[3], c1[3];
    gt_settle();
    pm_gc_get_count(c0);
    pm_gc_stats s0 = gt_stats();

    tnode *leaves[5];
    for (int i = 0; i < 5; i++)
        leaves[i] = gt_new(&t_leaf, 30 + i);
    pm_gc_get_count(c1);
    pm_gc_stats s1 = gt_stats();
    CHECK("untracked: gen-0 count unchanged", c1[0] == c0[0]);
    CHECK("untracked: counted as untracked", s1.untracked - s0.untracked == 5);
    CHECK("untracked: no generation holds them", gt_tracked(&s1) == gt_tracked(&s0) &&
                                                     s1.tracked[3] == s0.tracked[3]);

    tnode *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = gt_new(&t_plain, 40 + i);
    pm_gc_get_count(c1);
    s1 = gt_stats();
    CHECK("tracked: gen-0 count +4", c1[0] == c0[0] + 4);
    CHECK("tracked: in generation 0", s1.tracked[0] - s0.tracked[0] == 4);
    CHECK("tracked: untracked unchanged", s1.untracked - s0.untracked == 5);

    pm_gc_decref(t[0]);
    pm_gc_get_count(c1);
    CHECK("tracked release: gen-0 count -1", c1[0] == c0[0] + 3);
    for (int i = 0; i < 5; i++)
        pm_gc_decref(leaves[i]);
    pm_gc_get_count(c1);
    s1 = gt_stats();
    CHECK("untracked release: gen-0 count unchanged", c1[0] == c0[0] + 3);
    CHECK("untracked release: untracked back", s1.untracked == s0.untracked);

    /* After a collection the count is 0; releasing a survivor keeps it at 0
     * (it never goes below zero). */
    pm_gc_collect(0);
    pm_gc_get_count(c1);
    CHECK("after collect(0): gen-0 count 0", c1[0] == 0);
    for (int i = 1; i < 4; i++)
        pm_gc_decref(t[i]);
    pm_gc_get_count(c1);
    CHECK("release of survivors: count stays 0", c1[0] == 0);
    s1 = gt_stats();
    CHECK("everything released", gt_tracked(&s1) == gt_tracked(&s0) &&
                                     s1.untracked == s0.untracked);
}

int main(void)
{
    pm_test_require_poolmalloc();
    pm_gc_disable();
    CHECK("disabled", pm_gc_is_enabled() == 0);
    test_new();
    test_counts_and_null();
    test_release();
    test_resurrect_at_zero();
    test_tracking();
    return pm_test_finish();
}
