/* weakref.c -- weak references to tagged objects, and their callbacks
 * (layer 3).
 *
 * Objects carry no weak-reference field: the few that have weak references
 * are found in a side table of their thread's collector (open addressing,
 * linear probing, keyed by the object's address) that maps each to the list
 * of its weak references.  The object's PM_GC_WEAKREFS bit says whether to
 * look, so objects without weak references never touch the table.
 *
 * Callbacks (CPython's rules): clearing an object's weak references queues
 * those with a callback whose owner is not itself being reclaimed, holding
 * the owner meanwhile; the queue runs once every weak reference concerned is
 * clear (a collection clears all of its garbage's first).
 */
#include <errno.h>

#include "gc/gc.h"

struct pm_gc_weakref {
    void *obj;                   /* NULL once the object is reclaimed */
    pm_gc_weakref *next, *prev;  /* the object's other weak references */
    pm_gc_weakref_cb cb;         /* NULL: none */
    void *owner;                 /* passed to cb; NULL: none */
    pm_gc_weakref *due_next;     /* on the state's wr_due queue */
    pm_gc_state *state;          /* the collector (thread) it belongs to */
    int due;                     /* on that queue */
};

struct pm_gc_wr_slot {
    void *obj;                   /* NULL: empty */
    pm_gc_weakref *first;
};
typedef pm_gc_wr_slot wr_slot;

/* Invariant: every object with PM_GC_WEAKREFS has exactly one slot, whose
 * list is not empty; wr_used <= wr_cap / 2 (wr_cap a power of two, or 0). */

static size_t wr_hash(const void *obj, size_t cap)
{
    return (size_t)(((uintptr_t)obj >> 4) * 0x9e3779b97f4a7c15ull >> 17) & (cap - 1);
}

static wr_slot *wr_find(pm_gc_state *s, const void *obj)
{
    if (s->wr_cap == 0)
        return NULL;
    for (size_t i = wr_hash(obj, s->wr_cap);; i = (i + 1) & (s->wr_cap - 1)) {
        if (s->wr_table[i].obj == obj)
            return &s->wr_table[i];
        if (s->wr_table[i].obj == NULL)
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

static int wr_grow(pm_gc_state *s)
{
    size_t cap = s->wr_cap ? 2 * s->wr_cap : 64;
    wr_slot *t = pm_malloc(cap * sizeof *t);
    if (t == NULL)
        return ENOMEM;
    for (size_t i = 0; i < cap; i++)
        t[i] = (wr_slot){NULL, NULL};
    for (size_t i = 0; i < s->wr_cap; i++)
        if (s->wr_table[i].obj)
            wr_insert_slot(t, cap, s->wr_table[i].obj)->first = s->wr_table[i].first;
    if (s->wr_table)
        pm_free(s->wr_table);
    s->wr_table = t;
    s->wr_cap = cap;
    return 0;
}

/* Removes slot sl, shifting back the entries of its probe run. */
static void wr_remove(pm_gc_state *s, wr_slot *sl)
{
    wr_slot *table = s->wr_table;
    size_t i = (size_t)(sl - table), mask = s->wr_cap - 1;
    for (size_t j = (i + 1) & mask; table[j].obj != NULL; j = (j + 1) & mask) {
        size_t home = wr_hash(table[j].obj, s->wr_cap);
        /* entry j may move to i if its home is not in (i, j] (cyclically) */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            table[i] = table[j];
            i = j;
        }
    }
    table[i] = (wr_slot){NULL, NULL};
    s->wr_used--;
}

/* An object no new reference may be taken to: its count reached 0, or the
 * collection now running tears it down. */
static int wr_dying(pm_gc_state *s, pm_gc_head *h)
{
    return h->refcnt == 0 || (h->bits & (PM_GC_PENDING | PM_GC_DYING)) ||
           ((h->bits & PM_GC_TENTATIVE) && s->tearing_down);
}

pm_gc_weakref *pm_gc_weakref_new_cb(void *obj, pm_gc_weakref_cb cb, void *owner)
{
    if (obj == NULL) {
        errno = EINVAL;
        return NULL;
    }
    pm_gc_head *h = _pm_gc_check(obj, "pm_gc_weakref_new");
    if (owner)
        _pm_gc_check(owner, "pm_gc_weakref_new");
    pm_gc_state *s = pm_gc_ctx();
    if (wr_dying(s, h) && !(h->bits & PM_GC_DYING)) {
        errno = EINVAL;     /* being freed: nothing to refer to */
        return NULL;
    }
    if (h->bits & PM_GC_DYING) {    /* its own finalizer, at count 0 */
        errno = EINVAL;
        return NULL;
    }
    wr_slot *sl = (h->bits & PM_GC_WEAKREFS) ? wr_find(s, obj) : NULL;
    if (sl == NULL && 2 * (s->wr_used + 1) > s->wr_cap && wr_grow(s) != 0) {
        errno = ENOMEM;
        return NULL;
    }
    pm_gc_weakref *w = pm_malloc(sizeof *w);
    if (w == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    if (sl == NULL) {
        sl = wr_insert_slot(s->wr_table, s->wr_cap, obj);
        sl->first = NULL;
        s->wr_used++;
        h->bits |= PM_GC_WEAKREFS;
        s->weakref_objects++;
    }
    *w = (pm_gc_weakref){obj, sl->first, NULL, cb, owner, NULL, s, 0};
    if (sl->first)
        sl->first->prev = w;
    sl->first = w;
    return w;
}

pm_gc_weakref *pm_gc_weakref_new(void *obj)
{
    return pm_gc_weakref_new_cb(obj, NULL, NULL);
}

static void wr_check(pm_gc_weakref *w, const char *call)
{
    if (gc_unlikely(w->state != _pm_gc_cur))
        _pm_gc_fatal(call, "weak reference of another thread (or not a weak reference)", w);
}

void *pm_gc_weakref_get(pm_gc_weakref *w)
{
    if (w == NULL)
        return NULL;
    wr_check(w, "pm_gc_weakref_get");
    if (w->obj == NULL)
        return NULL;
    pm_gc_head *h = _pm_gc_check(w->obj, "pm_gc_weakref_get");
    if (wr_dying(w->state, h))  /* it is being freed */
        return NULL;
    h->refcnt++;
    return w->obj;
}

void pm_gc_weakref_free(pm_gc_weakref *w)
{
    if (w == NULL)
        return;
    wr_check(w, "pm_gc_weakref_free");
    pm_gc_state *s = w->state;
    if (w->obj) {
        wr_slot *sl = wr_find(s, w->obj);
        if (gc_unlikely(sl == NULL))
            _pm_gc_fatal("pm_gc_weakref_free", "invalid weak reference", w);
        if (w->prev)
            w->prev->next = w->next;
        else
            sl->first = w->next;
        if (w->next)
            w->next->prev = w->prev;
        if (sl->first == NULL) {
            pm_gc_head_of(w->obj)->bits &= ~(uint32_t)PM_GC_WEAKREFS;
            s->weakref_objects--;
            wr_remove(s, sl);
        }
    }
    if (w->due) {       /* freed before its callback ran: off the queue */
        for (pm_gc_weakref **p = &s->wr_due; *p; p = &(*p)->due_next)
            if (*p == w) {
                *p = w->due_next;
                break;
            }
        pm_gc_decref(w->owner);
    }
    w->obj = NULL;
    w->state = NULL;
    pm_free(w);
}

void _pm_gc_weakrefs_clear(void *obj)
{
    pm_gc_state *s = pm_gc_ctx();
    wr_slot *sl = wr_find(s, obj);
    if (sl != NULL) {
        for (pm_gc_weakref *w = sl->first, *next; w; w = next) {
            next = w->next;
            w->obj = NULL;
            w->next = w->prev = NULL;
            if (w->cb && !w->due) {
                /* CPython: only a weak reference that is not garbage itself
                 * gets its callback; here, one whose owner is not being
                 * reclaimed.  The owner is held until the callback ran. */
                if (w->owner) {
                    pm_gc_head *oh = pm_gc_head_of(w->owner);
                    if (wr_dying(s, oh) || (oh->bits & PM_GC_TENTATIVE))
                        continue;
                    oh->refcnt++;
                }
                w->due = 1;
                w->due_next = s->wr_due;
                s->wr_due = w;
            }
        }
        wr_remove(s, sl);
    }
    pm_gc_head_of(obj)->bits &= ~(uint32_t)PM_GC_WEAKREFS;
    s->weakref_objects--;
}

void _pm_gc_weakref_callbacks_run(void)
{
    pm_gc_state *s = pm_gc_ctx();
    pm_gc_weakref *w;
    while ((w = s->wr_due) != NULL) {
        s->wr_due = w->due_next;
        w->due = 0;
        void *owner = w->owner;
        w->cb(w, owner);        /* may free w */
        pm_gc_decref(owner);
    }
}
