/* weakref.c -- weak references to tagged objects (layer 3).
 *
 * Objects carry no weak-reference field: the few that have weak references
 * are found in a side table (open addressing, linear probing, keyed by the
 * object's address) that maps each to the list of its weak references.  The
 * object's PM_GC_WEAKREFS bit says whether to look, so objects without weak
 * references never touch the table.
 */
#include <errno.h>

#include "gc/gc.h"

struct pm_gc_weakref {
    void *obj;                   /* NULL once the object is reclaimed */
    pm_gc_weakref *next, *prev;  /* the object's other weak references */
};

typedef struct wr_slot {
    void *obj;                   /* NULL: empty */
    pm_gc_weakref *first;
} wr_slot;

/* Invariant: every object with PM_GC_WEAKREFS has exactly one slot, whose
 * list is not empty; used <= cap / 2 (cap a power of two, or 0). */
static wr_slot *table;
static size_t table_cap, table_used;

static size_t wr_hash(const void *obj, size_t cap)
{
    return (size_t)(((uintptr_t)obj >> 4) * 0x9e3779b97f4a7c15ull >> 17) & (cap - 1);
}

static wr_slot *wr_find(const void *obj)
{
    if (table_cap == 0)
        return NULL;
    for (size_t i = wr_hash(obj, table_cap);; i = (i + 1) & (table_cap - 1)) {
        if (table[i].obj == obj)
            return &table[i];
        if (table[i].obj == NULL)
            return NULL;
    }
}

static wr_slot *wr_insert_slot(wr_slot *t, size_t cap, void *obj)
{
    size_t i = wr_hash(obj, cap);
    while (t[i].obj != NULL)
        i = (i + 1) & (cap - 1);
    t[i].obj = obj;
    return &t[i];
}

static int wr_grow(void)
{
    size_t cap = table_cap ? 2 * table_cap : 64;
    wr_slot *t = pm_malloc_inline(cap * sizeof *t);
    if (t == NULL)
        return ENOMEM;
    for (size_t i = 0; i < cap; i++)
        t[i] = (wr_slot){NULL, NULL};
    for (size_t i = 0; i < table_cap; i++)
        if (table[i].obj)
            wr_insert_slot(t, cap, table[i].obj)->first = table[i].first;
    if (table)
        pm_free_inline(table);
    table = t;
    table_cap = cap;
    return 0;
}

/* Removes slot s, shifting back the entries of its probe run. */
static void wr_remove(wr_slot *s)
{
    size_t i = (size_t)(s - table), mask = table_cap - 1;
    for (size_t j = (i + 1) & mask; table[j].obj != NULL; j = (j + 1) & mask) {
        size_t home = wr_hash(table[j].obj, table_cap);
        /* entry j may move to i if its home is not in (i, j] (cyclically) */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            table[i] = table[j];
            i = j;
        }
    }
    table[i] = (wr_slot){NULL, NULL};
    table_used--;
}

pm_gc_weakref *pm_gc_weakref_new(void *obj)
{
    if (obj == NULL) {
        errno = EINVAL;
        return NULL;
    }
    PM_GC_ENTER("pm_gc_weakref_new");
    pm_gc_head *h = _pm_gc_check(obj, "pm_gc_weakref_new");
    pm_gc_weakref *w = NULL;
    if (h->refcnt == 0) {
        errno = EINVAL;     /* being freed: nothing to refer to */
        goto out;
    }
    wr_slot *s = (h->bits & PM_GC_WEAKREFS) ? wr_find(obj) : NULL;
    if (s == NULL && 2 * (table_used + 1) > table_cap && wr_grow() != 0) {
        errno = ENOMEM;
        goto out;
    }
    w = pm_malloc_inline(sizeof *w);
    if (w == NULL) {
        errno = ENOMEM;
        goto out;
    }
    if (s == NULL) {
        s = wr_insert_slot(table, table_cap, obj);
        s->first = NULL;
        table_used++;
        h->bits |= PM_GC_WEAKREFS;
        _pm_gc.weakref_objects++;
    }
    w->obj = obj;
    w->prev = NULL;
    w->next = s->first;
    if (s->first)
        s->first->prev = w;
    s->first = w;
out:
    PM_GC_LEAVE();
    return w;
}

void *pm_gc_weakref_get(pm_gc_weakref *w)
{
    if (w == NULL || w->obj == NULL)
        return NULL;
    pm_gc_head *h = pm_gc_head_of(w->obj);
    if (h->refcnt == 0)     /* its count reached 0: it is being freed */
        return NULL;
    h->refcnt++;
    return w->obj;
}

void pm_gc_weakref_free(pm_gc_weakref *w)
{
    if (w == NULL)
        return;
    PM_GC_ENTER("pm_gc_weakref_free");
    if (w->obj) {
        wr_slot *s = wr_find(w->obj);
        if (pm_unlikely(s == NULL))
            _pm_gc_fatal("pm_gc_weakref_free", "invalid weak reference", w);
        if (w->prev)
            w->prev->next = w->next;
        else
            s->first = w->next;
        if (w->next)
            w->next->prev = w->prev;
        if (s->first == NULL) {
            pm_gc_head_of(w->obj)->bits &= ~PM_GC_WEAKREFS;
            _pm_gc.weakref_objects--;
            wr_remove(s);
        }
    }
    w->obj = NULL;
    pm_free_inline(w);
    PM_GC_LEAVE();
}

void _pm_gc_weakrefs_clear(void *obj)
{
    wr_slot *s = wr_find(obj);
    if (s != NULL) {
        for (pm_gc_weakref *w = s->first, *next; w; w = next) {
            next = w->next;
            w->obj = NULL;
            w->next = w->prev = NULL;
        }
        wr_remove(s);
    }
    pm_gc_head_of(obj)->bits &= ~PM_GC_WEAKREFS;
    _pm_gc.weakref_objects--;
}
