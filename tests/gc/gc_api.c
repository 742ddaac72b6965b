/* gc_api.c -- the parts of the API that follow CPython's gc module beyond
 * collecting: tracking, is_finalized, get_objects / get_referents /
 * get_referrers, DEBUG_SAVEALL and the garbage list, weak reference
 * callbacks (CPython's rules), freeze zeroing the counts, set_threshold with
 * fewer arguments, resize, PM_GC_SETREF / PM_GC_CLEAR.  Automatic collection
 * is off except where a test turns it on; every check is an exact count. */
#include "gc_test.h"

static int contains(void **v, size_t n, const void *p)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == p)
            return 1;
    return 0;
}

static void test_tracking(void)
{
    tnode *a = pm_gc_new(&t_plain, sizeof(tnode));
    CHECK("new: not tracked", !pm_gc_is_tracked(a));
    CHECK("NULL: not tracked", !pm_gc_is_tracked(NULL));
    pm_gc_stats s = gt_stats();
    CHECK("new: counted untracked", s.untracked == 1 && gt_tracked(&s) == 0);
    /* an untracked cycle is invisible to the collector */
    gt_set(a, 0, a);
    CHECK("untracked cycle not collected", pm_gc_collect(2) == 0);
    pm_gc_track(a);
    CHECK("tracked", pm_gc_is_tracked(a));
    s = gt_stats();
    CHECK("tracked: counted in generation 0", s.tracked[0] == 1 && s.untracked == 0);
    pm_gc_untrack(a);
    pm_gc_collect(2);
    CHECK("untracked again: kept", pm_gc_refcount(a) == 2);
    pm_gc_track(a);
    pm_gc_decref(a);
    CHECK("tracked cycle collected", pm_gc_collect(2) == 1);
    tnode *leaf = gt_new(&t_leaf, 1);
    CHECK("a type without traverse is never tracked", !pm_gc_is_tracked(leaf));
    pm_gc_untrack(leaf);    /* no effect */
    pm_gc_decref(leaf);
}

static tnode *resurrected;
static void hook_resurrect(tnode *n)
{
    if (n->id == 1 && !resurrected) {
        pm_gc_incref(n);
        resurrected = n;
    }
}

static void test_is_finalized(void)
{
    gt_settle();
    gt_reset_fin();
    tnode *r[2];
    gt_ring(&t_fin, r, 2, 1);
    CHECK("not finalized yet", !pm_gc_is_finalized(r[0]));
    fin_hook = hook_resurrect;
    gt_drop_all(r, 2);
    CHECK("resurrected: nothing collected", pm_gc_collect(2) == 0);
    CHECK("resurrected", resurrected == r[0]);
    CHECK("is_finalized after its finalizer ran", pm_gc_is_finalized(r[0]) &&
                                                      pm_gc_is_finalized(r[1]));
    fin_hook = NULL;
    tnode *p = resurrected;
    resurrected = NULL;
    pm_gc_decref(p);
    CHECK("then collected, not finalized again", pm_gc_collect(2) == 2 && fin_total == 2);
    CHECK("NULL: not finalized", !pm_gc_is_finalized(NULL));
    tnode *plain = gt_new(&t_plain, 9);
    CHECK("no finalizer: never finalized", !pm_gc_is_finalized(plain));
    pm_gc_decref(plain);
}

static void test_introspection(void)
{
    gt_settle();
    tnode *a = gt_new(&t_plain, 1), *b = gt_new(&t_plain, 2), *c = gt_new(&t_plain, 3);
    gt_set(a, 0, b);
    gt_set(a, 1, c);
    gt_set(c, 0, b);
    void *out[16];
    CHECK("get_objects(0): the three", pm_gc_get_objects(0, out, 16) == 3 &&
                                           contains(out, 3, a) && contains(out, 3, b) &&
                                           contains(out, 3, c));
    CHECK("get_objects(1): none", pm_gc_get_objects(1, out, 16) == 0);
    pm_gc_collect(0);   /* all three survive into generation 1 */
    CHECK("get_objects(1) after a collection", pm_gc_get_objects(1, out, 16) == 3);
    CHECK("get_objects(-1): all", pm_gc_get_objects(-1, out, 16) == 3);
    CHECK("get_objects with a short array: the total", pm_gc_get_objects(-1, out, 1) == 3);
    errno = 0;
    CHECK("get_objects(3): EINVAL", pm_gc_get_objects(3, out, 16) == 0 && errno == EINVAL);
    CHECK("get_referents(a): b and c", pm_gc_get_referents(a, out, 16) == 2 &&
                                            contains(out, 2, b) && contains(out, 2, c));
    CHECK("get_referents(b): none", pm_gc_get_referents(b, out, 16) == 0);
    CHECK("get_referrers(b): a and c", pm_gc_get_referrers(b, out, 16) == 2 &&
                                           contains(out, 2, a) && contains(out, 2, c));
    CHECK("get_referrers(a): none", pm_gc_get_referrers(a, out, 16) == 0);
    pm_gc_decref(b);
    pm_gc_decref(c);
    pm_gc_decref(a);
    CHECK("all freed by count", pm_gc_get_objects(-1, out, 16) == 0);
}

static void test_saveall(void)
{
    gt_settle();
    gt_reset_fin();
    pm_gc_set_debug(PM_GC_DEBUG_SAVEALL);
    CHECK("get_debug", pm_gc_get_debug() == PM_GC_DEBUG_SAVEALL);
    tnode *r[3];
    gt_ring(&t_fin, r, 3, 1);
    gt_drop_all(r, 3);
    CHECK("collected (counted as CPython does)", pm_gc_collect(2) == 3);
    CHECK("finalizers ran", fin_total == 3);
    void *g[8];
    CHECK("the garbage list holds them", pm_gc_garbage(g, 8) == 3 && contains(g, 3, r[0]) &&
                                             contains(g, 3, r[1]) && contains(g, 3, r[2]));
    CHECK("intact and inspectable", r[0]->magic == GT_MAGIC && r[0]->kid[0] == r[1] &&
                                        pm_gc_refcount(r[0]) == 2);
    CHECK("kept by the list in later collections", pm_gc_collect(2) == 0 &&
                                                       pm_gc_garbage(g, 8) == 3);
    pm_gc_set_debug(0);
    CHECK("garbage_clear: 3", pm_gc_garbage_clear() == 3);
    CHECK("list empty", pm_gc_garbage(g, 8) == 0);
    CHECK("then collected, finalizers not again", pm_gc_collect(2) == 3 && fin_total == 3);
}

/* DEBUG_STATS and DEBUG_COLLECTABLE write to stderr: captured in a file */
static void test_debug_output(void)
{
    gt_settle();
    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = dup(2);
    if (!tmp || saved < 0)
        exit(2);
    dup2(fileno(tmp), 2);
    pm_gc_set_debug(PM_GC_DEBUG_STATS | PM_GC_DEBUG_COLLECTABLE);
    tnode *r[2];
    gt_ring(&t_plain, r, 2, 1);
    void *first = r[0];
    gt_drop_all(r, 2);
    size_t got = pm_gc_collect(2);
    pm_gc_set_debug(0);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char text[2048] = {0};
    rewind(tmp);
    size_t len = fread(text, 1, sizeof text - 1, tmp);
    fclose(tmp);
    text[len] = 0;
    char want[64];
    snprintf(want, sizeof want, "gc: collectable <plain %p>", first);
    CHECK("debug: collected", got == 2);
    CHECK("DEBUG_STATS: start line", strstr(text, "gc: collecting generation 2...\n") != NULL);
    CHECK("DEBUG_STATS: sizes", strstr(text, "gc: objects in each generation: 2 0 0\n") != NULL);
    CHECK("DEBUG_STATS: end line", strstr(text, "gc: done, 2 unreachable, 0 uncollectable, ") != NULL);
    CHECK("DEBUG_COLLECTABLE: each object, with its type", strstr(text, want) != NULL);
    CHECK("DEBUG_LEAK is CPython's", PM_GC_DEBUG_LEAK == 38);
}

/* weak reference callbacks */
static int cb_calls, cb_saw_cleared;
static void *cb_owner;
static void cb(pm_gc_weakref *w, void *owner)
{
    cb_calls++;
    cb_saw_cleared += pm_gc_weakref_get(w) == NULL;
    cb_owner = owner;
}

static void test_weakref_callbacks(void)
{
    gt_settle();
    /* by count: runs after clearing, once */
    tnode *a = gt_new(&t_plain, 1);
    pm_gc_weakref *w1 = pm_gc_weakref_new_cb(a, cb, NULL);
    pm_gc_weakref *w2 = pm_gc_weakref_new_cb(a, cb, NULL);
    pm_gc_decref(a);
    CHECK("count: both callbacks ran", cb_calls == 2);
    CHECK("count: after the weak references were cleared", cb_saw_cleared == 2);
    pm_gc_weakref_free(w1);
    pm_gc_weakref_free(w2);

    /* by a collection, the owner alive: runs, owner passed and held */
    cb_calls = cb_saw_cleared = 0;
    tnode *owner = gt_new(&t_plain, 2);
    tnode *r[2];
    gt_ring(&t_plain, r, 2, 3);
    pm_gc_weakref *w = pm_gc_weakref_new_cb(r[0], cb, owner);
    gt_drop_all(r, 2);
    CHECK("collection: reclaimed", pm_gc_collect(2) == 2);
    CHECK("collection: the callback ran", cb_calls == 1 && cb_saw_cleared == 1);
    CHECK("collection: the owner was passed", cb_owner == owner);
    CHECK("collection: the owner's count is back", pm_gc_refcount(owner) == 1);
    pm_gc_weakref_free(w);
    pm_gc_decref(owner);

    /* the owner is garbage of the same collection: no callback (CPython:
     * a weak reference that is itself garbage is not called) */
    cb_calls = 0;
    gt_ring(&t_plain, r, 2, 5);
    w = pm_gc_weakref_new_cb(r[0], cb, r[1]);
    gt_drop_all(r, 2);
    CHECK("garbage owner: reclaimed", pm_gc_collect(2) == 2);
    CHECK("garbage owner: no callback", cb_calls == 0);
    CHECK("garbage owner: still cleared", pm_gc_weakref_get(w) == NULL);
    pm_gc_weakref_free(w);

    /* freed before the object goes: never called */
    cb_calls = 0;
    a = gt_new(&t_plain, 7);
    w = pm_gc_weakref_new_cb(a, cb, NULL);
    pm_gc_weakref_free(w);
    pm_gc_decref(a);
    CHECK("freed weak reference: no callback", cb_calls == 0);
}

static void test_freeze_counts(void)
{
    gt_settle();
    pm_gc_set_threshold(1000, 10, 10);
    for (int i = 0; i < 5; i++)
        pm_gc_collect(0);
    pm_gc_collect(1);
    tnode *a = gt_new(&t_plain, 1);
    int c[3];
    pm_gc_get_count(c);
    CHECK("counts before freeze", c[0] == 1 && c[1] == 0 && c[2] == 1);
    pm_gc_collect(0);
    pm_gc_get_count(c);
    CHECK("counts before freeze (2)", c[1] == 1 && c[2] == 1);
    pm_gc_freeze();
    pm_gc_get_count(c);
    CHECK("freeze zeroes all three counts", c[0] == 0 && c[1] == 0 && c[2] == 0);
    CHECK("frozen", pm_gc_freeze_count() == 1);
    pm_gc_unfreeze();
    pm_gc_decref(a);
}

static void test_set_threshold(void)
{
    int t[3];
    pm_gc_set_threshold(700, 10, 10);
    pm_gc_set_threshold(500);
    pm_gc_get_threshold(t);
    CHECK("set_threshold(t0)", t[0] == 500 && t[1] == 10 && t[2] == 10);
    pm_gc_set_threshold(400, 20);
    pm_gc_get_threshold(t);
    CHECK("set_threshold(t0, t1)", t[0] == 400 && t[1] == 20 && t[2] == 10);
    pm_gc_set_threshold(300, 30, 40);
    pm_gc_get_threshold(t);
    CHECK("set_threshold(t0, t1, t2)", t[0] == 300 && t[1] == 30 && t[2] == 40);
    pm_gc_set_threshold(PM_GC_KEEP, -5, PM_GC_KEEP);
    pm_gc_get_threshold(t);
    CHECK("PM_GC_KEEP, negative is 0", t[0] == 300 && t[1] == 0 && t[2] == 40);
    pm_gc_set_threshold(700, 10, 10);
}

/* a variable-size object: a count and trailing references */
typedef struct tuple {
    size_t n;
    tnode *items[];
} tuple;
static void tuple_traverse(void *obj, pm_gc_visit_fn visit, void *arg)
{
    tuple *t = obj;
    for (size_t i = 0; i < t->n; i++)
        if (t->items[i])
            visit(t->items[i], arg);
}
static const pm_gc_type t_tuple = {"tuple", tuple_traverse, NULL, NULL};

static void test_resize(void)
{
    gt_settle();
    gt_reset_fin();
    tuple *t = pm_gc_new(&t_tuple, sizeof(tuple));
    pm_gc_track(t);
    for (size_t n = 1; n <= 200; n++) {
        tuple *g = pm_gc_resize(t, sizeof(tuple) + n * sizeof(tnode *));
        CHECK("resize grows", g != NULL);
        if (!g)
            exit(2);
        t = g;
        t->items[n - 1] = gt_new(&t_fin, (long)n);
        t->n = n;
        if (n % 50 == 0)
            CHECK("resized object survives collections", pm_gc_collect(2) == 0);
    }
    CHECK("still tracked", pm_gc_is_tracked(t));
    pm_gc_stats s = gt_stats();
    CHECK("counts intact", gt_tracked(&s) == 201);
    /* shrink: release the items past the new end first */
    for (size_t i = 10; i < 200; i++)
        PM_GC_CLEAR(t->items[i]);
    t->n = 10;
    t = pm_gc_resize(t, sizeof(tuple) + 10 * sizeof(tnode *));
    CHECK("shrunk, contents kept", t && t->items[9]->id == 10 && t->items[0]->id == 1);
    /* a cycle through the resized object */
    pm_gc_incref(t);
    t->items[0]->kid[0] = (tnode *)t;
    pm_gc_decref(t);
    CHECK("the resized object's cycle is collected", pm_gc_collect(2) == 11);
    CHECK("every item finalized once", fin_total == 200);
    pm_gc_stats s2 = gt_stats();
    CHECK("nothing left", gt_tracked(&s2) == 0 && s2.untracked == 0);
}

static void test_setref_clear(void)
{
    gt_reset_fin();
    tnode *a = gt_new(&t_plain, 1);
    PM_GC_SETREF(a->kid[0], gt_new(&t_fin, 2));
    CHECK("SETREF into NULL", a->kid[0] && a->kid[0]->id == 2 && fin_total == 0);
    PM_GC_SETREF(a->kid[0], gt_new(&t_fin, 3));
    CHECK("SETREF releases the old value", a->kid[0]->id == 3 && fin_calls[2] == 1);
    PM_GC_CLEAR(a->kid[0]);
    CHECK("CLEAR releases and sets NULL", a->kid[0] == NULL && fin_calls[3] == 1);
    PM_GC_CLEAR(a->kid[0]);     /* NULL: nothing */
    pm_gc_decref(a);
}

int main(void)
{
    pm_test_require_poolmalloc();
    pm_gc_disable();
    gt_settle();
    test_tracking();
    test_is_finalized();
    test_introspection();
    test_saveall();
    test_debug_output();
    test_weakref_callbacks();
    test_freeze_counts();
    test_set_threshold();
    test_resize();
    test_setref_clear();
    gt_settle();
    pm_gc_stats s = gt_stats();
    CHECK("nothing left", gt_tracked(&s) == 0 && s.untracked == 0);
    return pm_test_finish();
}
