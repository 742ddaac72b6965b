/* gc_test.h -- a small object model shared by the tests of the
 * refcount-and-cycle layer (poolmalloc_gc.h).
 *
 * Every test object is a tnode: up to four strong references to other
 * tnodes plus an id.  The types differ only in what the layer sees:
 *
 *   t_plain   traverse, no finalizer            (tracked)
 *   t_fin     traverse and finalizer            (tracked)
 *   t_leaf    no traverse, finalizer            (never tracked; its kid[]
 *                                                slots stay NULL: an object
 *                                                without traverse holds none)
 *
 * Finalizer calls are counted per id (fin_calls[]) and in total
 * (fin_total); a test can install fin_hook to act inside the finalizer
 * (resurrect, drop references, allocate, collect ...).  A node whose id is
 * below GT_MAXID records its calls; ids at or above it count only in
 * fin_total.
 *
 * Liveness is observed from the outside through weak references (a weak
 * reference never keeps its object alive) or through the finalizer
 * records; never by reading an object that may have been freed. */
#ifndef GC_TEST_H
#define GC_TEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dladdr in pm_test.h */
#endif
#include <errno.h>
#include <stdint.h>

#include "poolmalloc_gc.h"
#include "pm_test.h"

#define GT_MAXID 4096
#define GT_MAGIC 0x6763746e6f6465ULL /* "gctnode" */

typedef struct tnode {
    struct tnode *kid[4];   /* strong references (NULL: empty slot) */
    long id;                /* index into fin_calls[] when below GT_MAXID */
    unsigned long long magic; /* GT_MAGIC while the object is intact */
} tnode;

static unsigned fin_calls[GT_MAXID]; /* finalizer calls per id */
static unsigned long fin_total;      /* finalizer calls in all */
static void (*fin_hook)(tnode *);    /* runs inside every finalizer, if set */

static void gt_traverse(void *obj, pm_gc_visit_fn visit, void *arg)
{
    tnode *n = obj;
    for (int i = 0; i < 4; i++)
        if (n->kid[i])
            visit(n->kid[i], arg);
}

static void gt_finalize(void *obj)
{
    tnode *n = obj;
    if (n->magic != GT_MAGIC) {
        /* A finalizer must see its object intact (PEP 442: all finalizers
         * run before anything is torn down). */
        fprintf(stderr, "FAIL: finalizer saw a damaged object %p\n", obj);
        pm_test_failed++;
    }
    if (n->id >= 0 && n->id < GT_MAXID)
        fin_calls[n->id]++;
    fin_total++;
    if (fin_hook)
        fin_hook(n);
}

static const pm_gc_type t_plain = {"plain", gt_traverse, NULL, NULL};
static const pm_gc_type t_fin = {"fin", gt_traverse, gt_finalize, NULL};
static const pm_gc_type t_leaf = {"leaf", NULL, gt_finalize, NULL};

/* A new object with count 1 (the caller's reference). */
static inline tnode *gt_new(const pm_gc_type *type, long id)
{
    tnode *n = pm_gc_new(type, sizeof(tnode));
    if (!n) {
        fprintf(stderr, "FATAL: pm_gc_new failed (errno %d)\n", errno);
        exit(2);
    }
    n->id = id;
    n->magic = GT_MAGIC;
    if (type->traverse)
        pm_gc_track(n);     /* complete: hand it to the collector */
    return n;
}

/* a->kid[slot] = b, as a new strong reference (the old one is released). */
static inline void gt_set(tnode *a, int slot, tnode *b)
{
    tnode *old = a->kid[slot];
    pm_gc_incref(b);
    a->kid[slot] = b;
    pm_gc_decref(old);
}

/* a->kid[slot] = NULL, releasing the reference it held. */
static inline void gt_clear(tnode *a, int slot)
{
    tnode *old = a->kid[slot];
    a->kid[slot] = NULL;
    pm_gc_decref(old);
}

/* Builds a ring of len nodes n[0] -> n[1] -> ... -> n[len-1] -> n[0] with
 * ids first, first+1, ...; each node keeps the caller's reference too (the
 * caller drops them to make the ring garbage).  len may be 1 (a node that
 * references itself). */
static inline void gt_ring(const pm_gc_type *type, tnode **n, int len, long first)
{
    for (int i = 0; i < len; i++)
        n[i] = gt_new(type, first + i);
    for (int i = 0; i < len; i++)
        gt_set(n[i], 0, n[(i + 1) % len]);
}

static inline void gt_drop_all(tnode **n, int len)
{
    for (int i = 0; i < len; i++)
        pm_gc_decref(n[i]);
}

/* 1 if w's object is still alive (the strong reference taken to find out is
 * given back at once). */
static inline int gt_alive(pm_gc_weakref *w)
{
    void *p = pm_gc_weakref_get(w);
    if (!p)
        return 0;
    pm_gc_decref(p);
    return 1;
}

static inline pm_gc_stats gt_stats(void)
{
    pm_gc_stats s;
    pm_gc_get_stats(&s);
    return s;
}

/* Objects now tracked in generations 0..2 (frozen ones excluded). */
static inline uint64_t gt_tracked(const pm_gc_stats *s)
{
    return s->tracked[0] + s->tracked[1] + s->tracked[2];
}

static inline void gt_reset_fin(void)
{
    memset(fin_calls, 0, sizeof fin_calls);
    fin_total = 0;
    fin_hook = NULL;
}

/* Collects everything until nothing is left to reclaim, so that a test
 * starts from a clean heap.  Returns the total reclaimed. */
static inline size_t gt_settle(void)
{
    size_t total = 0, r;
    while ((r = pm_gc_collect(2)) != 0)
        total += r;
    return total;
}

#endif
