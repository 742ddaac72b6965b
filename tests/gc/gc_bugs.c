/* gc_bugs.c -- regression tests of issue 12's bugs, one case per process
 * (argv[1]), each written as a C programmer naturally would:
 *
 *   release_stack      (bug 1) a chain of objects whose finalizers each make
 *                      a small cycle, released by one decref on a 256 KiB
 *                      stack with threshold 10: the collections the
 *                      finalizers trigger must not make the release recurse
 *   weakref_teardown   (bug 2) an untracked object, held by a garbage cycle,
 *                      whose finalizer keeps a borrowed pointer to its
 *                      owner and asks for a weak reference to it while the
 *                      collection tears the owner down: it gets none, or one
 *                      that reads NULL once the collection is over
 *   dealloc            (bug 4) a container owning a malloc'd items array
 *                      frees it in its type's dealloc, after its children
 *                      were released, on the refcount path and the
 *                      collector's
 *   visit_untracked    (bug 5) a parent's traverse visits its untracked
 *                      child, then reads it: the release of the parent must
 *                      not free the child in the middle of that traverse
 *   construct          (bug 6) a constructor that allocates children (and
 *                      triggers collections) while its object is half
 *                      built: the object is tracked only when complete
 *
 * Bug 3 (the README's example) is checked by doc_examples.sh, which
 * compiles and runs every example of README.md and docs/GC.md. */
#include "gc_test.h"

#include <pthread.h>

/* ---- bug 1 ---- */

typedef struct link {
    struct link *next;
    long val;
} link_t;

static void link_traverse(void *obj, pm_gc_visit_fn visit, void *arg)
{
    link_t *l = obj;
    if (l->next)
        visit(l->next, arg);
}

static const pm_gc_type t_link = {"link", link_traverse, NULL, NULL};

static unsigned long cycle_fins;
static void link_make_cycle(void *obj)
{
    (void)obj;
    /* a small cycle, left for the collector: the allocations trigger
     * automatic collections in the middle of the release */
    link_t *a = pm_gc_new(&t_link, sizeof(link_t));
    link_t *b = pm_gc_new(&t_link, sizeof(link_t));
    if (!a || !b)
        exit(2);
    pm_gc_track(a);
    pm_gc_track(b);
    a->next = b;    /* b's reference moves into a */
    b->next = a;    /* a's into b: the pair is garbage */
    cycle_fins++;
}

static const pm_gc_type t_link_cycle = {"link_cycle", link_traverse, link_make_cycle, NULL};

static void *release(void *head)
{
    pm_gc_decref(head);
    return NULL;
}

static void on_small_stack(void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    if (pthread_create(&t, &attr, fn, arg) != 0) {
        fprintf(stderr, "FATAL: pthread_create\n");
        exit(2);
    }
    pthread_join(t, NULL);
    pthread_attr_destroy(&attr);
}

static link_t *chain_made;
static long chain_len;
static void *make_and_release_chain(void *arg)
{
    (void)arg;
    /* Built and released on the same thread: objects belong to the thread
     * that made them. */
    link_t *head = pm_gc_new(&t_link_cycle, sizeof(link_t)), *p = head;
    pm_gc_track(head);
    for (long i = 1; i < chain_len; i++) {
        link_t *l = pm_gc_new(&t_link_cycle, sizeof(link_t));
        l->val = i;
        pm_gc_track(l);
        p->next = l;
        p = l;
    }
    chain_made = head;
    pm_gc_set_threshold(10, 10, 10);
    pm_gc_enable();
    release(head);
    pm_gc_disable();
    pm_gc_collect(2);
    return NULL;
}

static void case_release_stack(void)
{
    chain_len = 300000;
    on_small_stack(make_and_release_chain, NULL);
    CHECK("every finalizer ran", cycle_fins == (unsigned long)chain_len);
}

/* ---- bug 2 ---- */

typedef struct backptr {
    void *owner;            /* borrowed: the owner holds this object */
} backptr;

static pm_gc_weakref *late_weak;
static int late_errno;
static void backptr_finalize(void *obj)
{
    backptr *b = obj;
    errno = 0;
    late_weak = pm_gc_weakref_new(b->owner);
    late_errno = errno;
}

static const pm_gc_type t_backptr = {"backptr", NULL, backptr_finalize, NULL};

static void case_weakref_teardown(void)
{
    tnode *r[2];
    gt_ring(&t_plain, r, 2, 1);
    backptr *b = pm_gc_new(&t_backptr, sizeof *b);
    b->owner = r[0];
    r[0]->kid[1] = (tnode *)b;     /* r[0] owns b (t_plain's traverse visits kid[1]) */
    gt_drop_all(r, 2);
    size_t got = pm_gc_collect(2);
    CHECK("the ring is reclaimed", got == 2);
    /* reuse the blocks: a weak reference left pointing at the freed owner
     * would now lead to one of these */
    tnode *fresh[64];
    for (int i = 0; i < 64; i++)
        fresh[i] = gt_new(&t_plain, 100 + i);
    CHECK("no weak reference to an object being torn down, or a cleared one",
          late_weak == NULL ? late_errno == EINVAL : pm_gc_weakref_get(late_weak) == NULL);
    pm_gc_weakref_free(late_weak);
    gt_drop_all(fresh, 64);
}

/* ---- bug 5 ---- */

/* An untracked "vector" of plain numbers, and a parent whose traverse
 * reads the vector after visiting it (say, to know how many children it
 * holds). */
typedef struct vec {
    long n;
    long magic;
} vec;

static void vec_finalize(void *obj)
{
    vec *v = obj;
    v->magic = 0;   /* what freeing would do to the payload, made visible */
    v->n = -1;
}
static const pm_gc_type t_vec = {"vec", NULL, vec_finalize, NULL};

typedef struct parent {
    vec *v;
    tnode *kids[4];
} parent;

static int traverse_read_bad;
static void parent_traverse(void *obj, pm_gc_visit_fn visit, void *arg)
{
    parent *p = obj;
    if (!p->v)
        return;
    visit(p->v, arg);
    if (p->v->magic != GT_MAGIC || p->v->n < 0 || p->v->n > 4) {
        traverse_read_bad++;
        return;
    }
    for (long i = 0; i < p->v->n; i++)
        visit(p->kids[i], arg);
}
static const pm_gc_type t_parent = {"parent", parent_traverse, NULL, NULL};

static void case_visit_untracked(void)
{
    parent *p = pm_gc_new(&t_parent, sizeof *p);
    p->v = pm_gc_new(&t_vec, sizeof(vec));
    p->v->magic = GT_MAGIC;
    for (int i = 0; i < 3; i++)
        p->kids[i] = gt_new(&t_fin, 10 + i);
    p->v->n = 3;
    pm_gc_track(p);
    pm_gc_decref(p);
    CHECK("the traverse never saw its child freed", traverse_read_bad == 0);
    CHECK("the children were released", fin_calls[10] == 1 && fin_calls[11] == 1 &&
                                            fin_calls[12] == 1);
    /* the collector's path: the parent in a cycle */
    traverse_read_bad = 0;
    p = pm_gc_new(&t_parent, sizeof *p);
    p->v = pm_gc_new(&t_vec, sizeof(vec));
    p->v->magic = GT_MAGIC;
    p->kids[0] = gt_new(&t_fin, 20);
    p->v->n = 1;
    pm_gc_track(p);
    pm_gc_incref(p);
    p->kids[0]->kid[0] = (tnode *)p;   /* p <-> kids[0] */
    pm_gc_decref(p);
    CHECK("the cycle is reclaimed", pm_gc_collect(2) == 2);
    CHECK("the traverse never saw its child freed (collector)", traverse_read_bad == 0);
    pm_gc_stats s = gt_stats();
    CHECK("nothing left", gt_tracked(&s) == 0 && s.untracked == 0);
}

/* ---- bug 4 ---- */

/* A container that owns a malloc'd array of strong references. */
typedef struct box {
    size_t n;
    tnode **items;
} box;

static unsigned long box_traversals, box_deallocs, box_dealloc_early, arrays_live;
static void box_traverse(void *obj, pm_gc_visit_fn visit, void *arg)
{
    box *b = obj;
    box_traversals++;
    for (size_t i = 0; i < b->n; i++)
        visit(b->items[i], arg);
}
static unsigned long traversals_at_dealloc;
static void box_dealloc(void *obj)
{
    box *b = obj;
    box_deallocs++;
    if (box_traversals == traversals_at_dealloc)
        box_dealloc_early++;    /* the release traverse has not run yet */
    free(b->items);
    b->items = NULL;
    b->n = 0;
    arrays_live--;
}
static const pm_gc_type t_box = {"box", box_traverse, NULL, box_dealloc};

static box *box_new(size_t n, long first_id)
{
    box *b = pm_gc_new(&t_box, sizeof *b);
    b->items = calloc(n, sizeof *b->items);
    arrays_live++;
    for (size_t i = 0; i < n; i++)
        b->items[i] = gt_new(&t_fin, first_id + (long)i);
    b->n = n;
    pm_gc_track(b);
    return b;
}

static void case_dealloc(void)
{
    /* by count */
    box *b = box_new(3, 10);
    traversals_at_dealloc = box_traversals;
    pm_gc_decref(b);
    CHECK("count: dealloc ran once", box_deallocs == 1);
    CHECK("count: after the release traverse", box_dealloc_early == 0);
    CHECK("count: the items were released", fin_calls[10] == 1 && fin_calls[11] == 1 &&
                                                 fin_calls[12] == 1);
    CHECK("count: the array was freed", arrays_live == 0);

    /* by the collector: box <-> its first item */
    b = box_new(4, 20);
    pm_gc_incref(b);
    b->items[0]->kid[0] = (tnode *)b;
    pm_gc_decref(b);
    traversals_at_dealloc = box_traversals;
    /* the box, its 4 items (the other 3 are only held by the box) */
    CHECK("collector: box and its items reclaimed", pm_gc_collect(2) == 5);
    CHECK("collector: dealloc ran once more", box_deallocs == 2);
    CHECK("collector: the array was freed", arrays_live == 0);
    CHECK("collector: the other items were released",
          fin_calls[21] == 1 && fin_calls[22] == 1 && fin_calls[23] == 1);

    pm_gc_stats s = gt_stats();
    CHECK("nothing left", gt_tracked(&s) == 0 && s.untracked == 0);
}

/* ---- bug 6 ---- */

static unsigned long collections_seen;
static void count_collections(int phase, const pm_gc_callback_info *info, void *arg)
{
    (void)info, (void)arg;
    collections_seen += phase == PM_GC_PHASE_START;
}

static void case_construct(void)
{
    pm_gc_callback_add(count_collections, NULL);
    pm_gc_set_threshold(1, 1, 1);
    pm_gc_enable();
    /* a constructor as one naturally writes it: the array is not valid
     * until filled, and filling it allocates (and collects) */
    box *b = pm_gc_new(&t_box, sizeof *b);
    CHECK("new: untracked", !pm_gc_is_tracked(b));
    b->n = 64;
    b->items = malloc(64 * sizeof *b->items);
    arrays_live++;
    memset(b->items, 0xab, 64 * sizeof *b->items);  /* what malloc may give */
    for (int i = 0; i < 64; i++)
        b->items[i] = gt_new(&t_plain, 100 + i);
    CHECK("collections ran while it was half built", collections_seen >= 16);
    pm_gc_track(b);
    CHECK("track: tracked", pm_gc_is_tracked(b));
    pm_gc_untrack(b);
    CHECK("untrack: untracked", !pm_gc_is_tracked(b));
    pm_gc_untrack(b);    /* no effect */
    pm_gc_track(b);
    for (int i = 0; i < 64; i++) {     /* garbage that holds b */
        tnode *g = gt_new(&t_plain, -1);
        pm_gc_incref(b);
        g->kid[0] = (tnode *)b;
        gt_set(g, 1, g);
        pm_gc_decref(g);
    }
    pm_gc_collect(2);
    CHECK("kept by its owner's reference", pm_gc_refcount(b) == 1 && pm_gc_is_tracked(b));
    pm_gc_disable();
    pm_gc_decref(b);
    CHECK("released with its array", arrays_live == 0);
    gt_settle();
    pm_gc_stats s = gt_stats();
    CHECK("nothing left", gt_tracked(&s) == 0 && s.untracked == 0);
}

int main(int argc, char **argv)
{
    pm_test_require_poolmalloc();
    pm_gc_disable();
    const char *c = argc > 1 ? argv[1] : "";
    if (!strcmp(c, "release_stack"))
        case_release_stack();
    else if (!strcmp(c, "weakref_teardown"))
        case_weakref_teardown();
    else if (!strcmp(c, "visit_untracked"))
        case_visit_untracked();
    else if (!strcmp(c, "dealloc"))
        case_dealloc();
    else if (!strcmp(c, "construct"))
        case_construct();
    else {
        fprintf(stderr, "usage: %s CASE\n", argv[0]);
        return 2;
    }
    return pm_test_finish();
}
