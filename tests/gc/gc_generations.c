/* gc_generations.c -- generations, counts, thresholds, automatic
 * collection, and the permanent generation (freeze).
 *
 * Survivors move one generation up; collect(g) touches generations 0..g
 * only.  Counts: generation 0's is tracked objects created minus reclaimed
 * (never below zero), generation 1's and 2's count collections of the
 * younger generation; a collection of g zeroes 0..g and adds one to g+1.
 * Automatic collection runs inside pm_gc_new, before the new object exists,
 * when generation 0's count passes its threshold, and picks the oldest
 * generation whose count passes its threshold; a full one only once the
 * objects promoted into generation 2 since the last full collection reach a
 * quarter of those that survived it (CPython's collect_generations).  The
 * expected sequence of automatic collections is computed by a model of
 * those rules and compared with what the callbacks saw, one by one. */
#include "gc_test.h"

static int count_is(int a, int b, int c)
{
    int got[3];
    pm_gc_get_count(got);
    if (got[0] == a && got[1] == b && got[2] == c)
        return 1;
    fprintf(stderr, "  count is {%d, %d, %d}, expected {%d, %d, %d}\n", got[0], got[1], got[2],
            a, b, c);
    return 0;
}

static int tracked_is(uint64_t g0, uint64_t g1, uint64_t g2)
{
    pm_gc_stats s = gt_stats();
    if (s.tracked[0] == g0 && s.tracked[1] == g1 && s.tracked[2] == g2)
        return 1;
    fprintf(stderr, "  tracked is {%llu, %llu, %llu}, expected {%llu, %llu, %llu}\n",
            (unsigned long long)s.tracked[0], (unsigned long long)s.tracked[1],
            (unsigned long long)s.tracked[2], (unsigned long long)g0,
            (unsigned long long)g1, (unsigned long long)g2);
    return 0;
}

static void test_promotion_and_counts(void)
{
    gt_settle();
    CHECK("settled: counts 0", count_is(0, 0, 0));
    tnode *a = gt_new(&t_plain, 1);
    tnode *b = gt_new(&t_plain, 2);
    CHECK("two new objects: count {2,0,0}", count_is(2, 0, 0));
    CHECK("two new objects: in generation 0", tracked_is(2, 0, 0));
    pm_gc_collect(0);
    CHECK("collect(0): count {0,1,0}", count_is(0, 1, 0));
    CHECK("collect(0): survivors in generation 1", tracked_is(0, 2, 0));
    tnode *c = gt_new(&t_plain, 3);
    pm_gc_collect(0);
    CHECK("collect(0) again: count {0,2,0}", count_is(0, 2, 0));
    CHECK("collect(0) leaves generation 1 alone", tracked_is(0, 3, 0));
    tnode *d = gt_new(&t_plain, 4);
    pm_gc_collect(1);
    CHECK("collect(1): count {0,0,1}", count_is(0, 0, 1));
    CHECK("collect(1): generations 0 and 1 move to 2", tracked_is(0, 0, 4));
    tnode *e = gt_new(&t_plain, 5);
    pm_gc_collect(0);
    CHECK("collect(0) after: count {0,1,1}", count_is(0, 1, 1));
    CHECK("generation 2 stays", tracked_is(0, 1, 4));
    pm_gc_collect(2);
    CHECK("collect(2): count {0,0,0}", count_is(0, 0, 0));
    CHECK("collect(2): everything in generation 2", tracked_is(0, 0, 5));

    /* Releases by count take one off generation 0's count while it is
     * above zero, whatever generation the object is in. */
    tnode *f = gt_new(&t_plain, 6);
    tnode *g = gt_new(&t_plain, 7);
    CHECK("count {2,0,0}", count_is(2, 0, 0));
    pm_gc_decref(a); /* in generation 2 */
    CHECK("release of an old object: count {1,0,0}", count_is(1, 0, 0));
    pm_gc_decref(f);
    CHECK("release of a young object: count {0,0,0}", count_is(0, 0, 0));
    pm_gc_decref(b);
    CHECK("release at count 0: stays 0", count_is(0, 0, 0));
    CHECK("generations after releases", tracked_is(1, 0, 3));

    /* A ring promoted while held, then dropped: garbage in generation 1,
     * then in generation 2, it waits for a collection that reaches it. */
    tnode *r[3];
    gt_ring(&t_plain, r, 3, 10);
    pm_gc_decref(r[1]);
    pm_gc_decref(r[2]); /* the program holds r[0] */
    CHECK("count {3,0,0}", count_is(3, 0, 0)); /* the ring */
    CHECK("held ring: kept by collect(0)", pm_gc_collect(0) == 0 && tracked_is(0, 4, 3));
    pm_gc_decref(r[0]);
    CHECK("garbage in gen 1: collect(0) does not reach it",
          pm_gc_collect(0) == 0 && tracked_is(0, 4, 3));
    CHECK("collect(1) reclaims it", pm_gc_collect(1) == 3 && tracked_is(0, 0, 4));
    gt_ring(&t_plain, r, 3, 20);
    pm_gc_collect(1); /* held: to generation 2 */
    gt_drop_all(r, 3);
    CHECK("garbage in gen 2: collect(1) does not reach it",
          pm_gc_collect(1) == 0 && tracked_is(0, 0, 7));
    CHECK("collect(2) reclaims it", pm_gc_collect(2) == 3 && tracked_is(0, 0, 4));
    pm_gc_decref(c);
    pm_gc_decref(d);
    pm_gc_decref(e);
    pm_gc_decref(g);
    CHECK("all gone", tracked_is(0, 0, 0));
}

static void test_threshold_api(void)
{
    int t[3];
    pm_gc_get_threshold(t);
    CHECK("default thresholds 700, 10, 10", t[0] == 700 && t[1] == 10 && t[2] == 10);
    pm_gc_set_threshold(5, 6, 7);
    pm_gc_get_threshold(t);
    CHECK("set_threshold(5, 6, 7)", t[0] == 5 && t[1] == 6 && t[2] == 7);
    pm_gc_set_threshold(-1, -20, -300);
    pm_gc_get_threshold(t);
    CHECK("negative thresholds read as 0", t[0] == 0 && t[1] == 0 && t[2] == 0);
    pm_gc_set_threshold(700, 10, 10);
    CHECK("enabled by default", pm_gc_is_enabled() == 1);
    pm_gc_disable();
    CHECK("disable", pm_gc_is_enabled() == 0);
    pm_gc_disable();
    CHECK("disable twice", pm_gc_is_enabled() == 0);
    pm_gc_enable();
    CHECK("enable", pm_gc_is_enabled() == 1);
}

/* ---- automatic collections, observed by a callback ---------------------- */

#define MAXLOG 4096
static struct autolog {
    int gen;              /* generation collected */
    long created;         /* pm_gc_new calls completed before this collection */
    uint64_t tracked;     /* objects tracked at its start */
    uint64_t pending;     /* tracked[2] at its start minus long_lived_total */
    uint64_t total;       /* long_lived_total at its start */
    size_t collected;     /* reported at STOP */
} logv[MAXLOG];
static int nlog, in_collection, nested;
static long created;      /* pm_gc_new calls completed (the test's counter) */
static uint64_t long_lived_total; /* generation 2 after the last full collection */

static void auto_cb(int phase, const pm_gc_callback_info *info, void *arg)
{
    (void)arg;
    pm_gc_stats s = gt_stats();
    if (phase == PM_GC_PHASE_START) {
        nested += in_collection;
        in_collection = 1;
        if (nlog < MAXLOG) {
            logv[nlog].gen = info->generation;
            logv[nlog].created = created;
            logv[nlog].tracked = gt_tracked(&s);
            logv[nlog].pending = s.tracked[2] - long_lived_total;
            logv[nlog].total = long_lived_total;
        }
    } else {
        in_collection = 0;
        if (nlog < MAXLOG)
            logv[nlog].collected = info->collected;
        nlog++;
        if (info->generation == 2)
            long_lived_total = s.tracked[2];
    }
}

/* The rules of the header (and of CPython 3.11's gc.c), for a program that
 * creates only objects that stay alive: which generation each automatic
 * collection collects, and after how many pm_gc_new calls it runs.
 * quarter_rule: 0 = skip a full collection while pending < total / 4
 * (CPython), 1 = skip it unless pending * 4 > total ("exceed 25%"). The
 * test's parameters are chosen so that the two readings agree. */
typedef struct model {
    int t[3], c[3];
    long g[3];             /* objects per generation */
    long pending, total;
    int quarter_rule;
} model;

static int model_new(model *m)
{
    int collected = -1;
    m->c[0]++;
    if (m->t[0] && m->c[0] > m->t[0]) {
        for (int i = 2; i >= 0; i--) {
            if (m->c[i] <= m->t[i])
                continue;
            if (i == 2) {
                int skip = m->quarter_rule ? !(m->pending * 4 > m->total)
                                           : m->pending < m->total / 4;
                if (skip)
                    continue;
            }
            /* Collect generations 0..i; everything survives into i+1 (2
             * stays in 2). */
            long young = 0;
            for (int k = 0; k <= i; k++) {
                young += m->g[k];
                m->g[k] = 0;
            }
            int to = i < 2 ? i + 1 : 2;
            m->g[to] += young;
            if (i == 1)
                m->pending += young;
            if (i == 2) {
                m->pending = 0;
                m->total = m->g[2];
            }
            if (i + 1 < 3)
                m->c[i + 1]++;
            for (int k = 0; k <= i; k++)
                m->c[k] = 0;
            collected = i;
            break;
        }
    }
    m->g[0]++; /* the new object, created after the collection */
    return collected;
}

static tnode *live[20000];

/* Creates n live objects one at a time under thresholds t, starting from
 * `base` live objects all in generation 2 after a full collection, and
 * compares the automatic collections with the model. */
static void run_auto(const char *what, int t0, int t1, int t2, int base, int n)
{
    pm_gc_disable();
    gt_settle();
    for (int i = 0; i < base; i++)
        live[i] = gt_new(&t_plain, -1);
    pm_gc_collect(2);
    pm_gc_stats s = gt_stats();
    long_lived_total = s.tracked[2];
    CHECK("auto: base in generation 2", s.tracked[2] == (uint64_t)base && count_is(0, 0, 0));

    model m[2];
    for (int q = 0; q < 2; q++) {
        memset(&m[q], 0, sizeof m[q]);
        m[q].t[0] = t0, m[q].t[1] = t1, m[q].t[2] = t2;
        m[q].g[2] = m[q].total = base;
        m[q].quarter_rule = q;
    }
    static int expect_gen[20000];
    int disagree = 0;
    for (int i = 0; i < n; i++) {
        expect_gen[i] = model_new(&m[0]);
        disagree |= model_new(&m[1]) != expect_gen[i];
    }
    if (disagree)
        fprintf(stderr, "test design: the two readings of the 25%% rule differ for %s\n", what);

    nlog = nested = in_collection = 0;
    created = 0;
    pm_gc_set_threshold(t0, t1, t2);
    pm_gc_enable();
    CHECK("auto: callback added", pm_gc_callback_add(auto_cb, NULL) == 0);
    int mismatch = 0, seen = 0, new_not_in_collection = 1;
    for (int i = 0; i < n; i++) {
        int before = nlog;
        live[base + i] = gt_new(&t_plain, -1);
        created++;
        int got = nlog > before ? logv[before].gen : -1;
        if (nlog - before > 1 || got != expect_gen[i]) {
            if (mismatch++ < 5)
                fprintf(stderr, "  %s: pm_gc_new #%d: expected %s%d, got %d collection(s)%s%d\n",
                        what, i + 1, expect_gen[i] < 0 ? "no collection " : "gen ",
                        expect_gen[i], nlog - before, got < 0 ? "" : ", gen ", got);
        }
        if (nlog > before) {
            seen++;
            /* The collection ran before the new object existed. */
            new_not_in_collection &= logv[before].created == i &&
                                     logv[before].tracked == (uint64_t)(base + i);
        }
    }
    CHECK(what, mismatch == 0 && !disagree);
    CHECK("auto: collections ran inside pm_gc_new, before the new object", new_not_in_collection);
    CHECK("auto: no nested collection", nested == 0);
    CHECK("auto: callback removed", pm_gc_callback_remove(auto_cb, NULL) == 0);
    pm_gc_disable();
    CHECK("auto: live objects not reclaimed", pm_gc_collect(2) == 0);
    for (int i = 0; i < base + n; i++)
        pm_gc_decref(live[i]);
    pm_gc_set_threshold(700, 10, 10);
    (void)seen;
}

static void test_auto_generation0(void)
{
    /* Threshold 10: the 11th object's pm_gc_new collects the first 10. */
    run_auto("auto: generation 0 every time its count passes 10", 10, 1000, 1000, 0, 500);

    /* Garbage is reclaimed by an automatic collection: five dropped pairs
     * (ten objects) are collected when the 11th object is created. */
    pm_gc_disable();
    gt_settle();
    pm_gc_set_threshold(10, 1000, 1000);
    nlog = nested = in_collection = 0;
    pm_gc_callback_add(auto_cb, NULL);
    pm_gc_enable();
    for (int i = 0; i < 5; i++) {
        tnode *r[2];
        gt_ring(&t_plain, r, 2, 20 + 2 * i);
        gt_drop_all(r, 2);
    }
    CHECK("ten garbage objects: no collection yet", nlog == 0 && count_is(10, 0, 0));
    tnode *x = gt_new(&t_plain, 30);
    CHECK("11th object: one collection of generation 0", nlog == 1 && logv[0].gen == 0);
    CHECK("11th object: it reclaimed the ten", logv[0].collected == 10);
    CHECK("11th object: it alone in generation 0", tracked_is(1, 0, 0));
    pm_gc_disable();
    pm_gc_callback_remove(auto_cb, NULL);
    pm_gc_decref(x);

    /* Disabled, or threshold 0: no automatic collection. */
    pm_gc_set_threshold(10, 10, 10);
    pm_gc_disable();
    gt_settle();
    nlog = 0;
    pm_gc_callback_add(auto_cb, NULL);
    for (int i = 0; i < 100; i++)
        live[i] = gt_new(&t_plain, -1);
    CHECK("disabled: no collection", nlog == 0 && count_is(100, 0, 0));
    pm_gc_set_threshold(0, 10, 10);
    pm_gc_enable();
    for (int i = 100; i < 200; i++)
        live[i] = gt_new(&t_plain, -1);
    CHECK("threshold 0: no collection", nlog == 0 && count_is(200, 0, 0));
    pm_gc_set_threshold(10, 10, 10);
    live[200] = gt_new(&t_plain, -1);
    CHECK("enabled again: the next new collects", nlog == 1 && logv[0].gen == 0);
    CHECK("enabled again: the 200 moved to generation 1", tracked_is(1, 200, 0));
    pm_gc_disable();
    pm_gc_callback_remove(auto_cb, NULL);
    for (int i = 0; i <= 200; i++)
        pm_gc_decref(live[i]);
    pm_gc_set_threshold(700, 10, 10);
}

static void test_auto_older(void)
{
    /* Generation 1 every third young collection. Generation 2's threshold
     * is never passed. */
    run_auto("auto: generation 1 when its count passes 2", 10, 2, 1000, 0, 1000);
    /* Thresholds 10, 1, 1 over a base of 1000 objects: generation 2's count
     * passes 1 early, but full collections wait until 250 objects have been
     * promoted since the last one. */
    run_auto("auto: full collections wait for 25% pending (base 1000)", 10, 1, 1, 1000, 3000);
    run_auto("auto: full collections wait for 25% pending (base 2999)", 7, 1, 0, 2999, 6000);

    /* The 25% rule read directly off the last run's log: generation 2's
     * threshold 0 is passed after every generation-1 collection, yet every
     * full collection started only with at least a quarter of the previous
     * total pending, and most opportunities were skipped. */
    int fulls = 0, young1 = 0, early = 0;
    for (int i = 0; i < nlog && i < MAXLOG; i++) {
        if (logv[i].gen == 2) {
            fulls++;
            early += logv[i].pending * 4 < logv[i].total;
        }
        young1 += logv[i].gen == 1;
    }
    CHECK("auto: full collections happened", fulls >= 2);
    CHECK("auto: most full collections were skipped", young1 > 10 * fulls);
    CHECK("auto: no full collection below 25% pending", early == 0);
}

/* ---- freeze -------------------------------------------------------------- */

static void test_freeze(void)
{
    pm_gc_disable();
    gt_settle();
    gt_reset_fin();
    CHECK("freeze_count 0 at start", pm_gc_freeze_count() == 0);
    tnode *a[9];
    for (int i = 0; i < 2; i++)
        a[i] = gt_new(&t_fin, 40 + i);
    pm_gc_collect(1);
    for (int i = 2; i < 5; i++)
        a[i] = gt_new(&t_fin, 40 + i);
    pm_gc_collect(0);
    for (int i = 5; i < 9; i++)
        a[i] = gt_new(&t_fin, 40 + i);
    tnode *r[3];
    gt_ring(&t_fin, r, 3, 50);
    gt_drop_all(r, 3);
    gt_set(a[8], 0, a[0]); /* a frozen object referencing another */
    CHECK("before freeze", tracked_is(7, 3, 2));

    pm_gc_freeze();
    pm_gc_stats s = gt_stats();
    CHECK("freeze: all 12 frozen", pm_gc_freeze_count() == 12 && s.tracked[3] == 12);
    CHECK("freeze: generations empty", tracked_is(0, 0, 0));
    CHECK("freeze: frozen garbage is not collected", pm_gc_collect(2) == 0 && fin_total == 0);

    /* New objects go to generation 0; a frozen object may reference them,
     * and that reference is external to every collection. */
    tnode *y[2];
    gt_ring(&t_fin, y, 2, 60);
    gt_set(a[7], 0, y[0]);
    gt_drop_all(y, 2);
    CHECK("after freeze: new objects in generation 0", tracked_is(2, 0, 0));
    CHECK("ring held by a frozen object survives", pm_gc_collect(2) == 0 && fin_total == 0);
    CHECK("and moves up as usual", tracked_is(0, 0, 2) && pm_gc_freeze_count() == 12);
    gt_clear(a[7], 0);
    CHECK("ring reclaimed once the frozen object lets go", pm_gc_collect(2) == 2);

    /* Frozen objects are still freed by their count. */
    pm_gc_decref(a[5]);
    CHECK("frozen object released by count", fin_calls[45] == 1);
    CHECK("freeze_count 11", pm_gc_freeze_count() == 11);

    /* freeze again adds to the permanent generation. */
    tnode *z = gt_new(&t_fin, 70);
    pm_gc_freeze();
    CHECK("second freeze: 12", pm_gc_freeze_count() == 12 && tracked_is(0, 0, 0));

    pm_gc_unfreeze();
    s = gt_stats();
    CHECK("unfreeze: none frozen", pm_gc_freeze_count() == 0 && s.tracked[3] == 0);
    CHECK("unfreeze: all in the oldest generation", tracked_is(0, 0, 12));
    CHECK("unfreeze: collect(1) does not reach them", pm_gc_collect(1) == 0);
    CHECK("unfreeze: collect(2) reclaims the frozen ring", pm_gc_collect(2) == 3);
    CHECK("ring finalized once", fin_calls[50] == 1 && fin_calls[51] == 1 && fin_calls[52] == 1);
    for (int i = 0; i < 9; i++)
        if (i != 5)
            pm_gc_decref(a[i]);
    pm_gc_decref(z);
    CHECK("everything released", tracked_is(0, 0, 0) && fin_total == 2 + 3 + 9 + 1);
    pm_gc_unfreeze(); /* nothing frozen: no effect */
    CHECK("unfreeze with nothing frozen", pm_gc_freeze_count() == 0);
}

int main(void)
{
    pm_test_require_poolmalloc();
    test_threshold_api();
    pm_gc_disable();
    test_promotion_and_counts();
    test_auto_generation0();
    test_auto_older();
    test_freeze();
    return pm_test_finish();
}
