/* object.c -- tagged objects: creation, reference counts, and freeing at
 * zero without recursion (layer 3).
 *
 * Freeing one object can drop the last reference to its children, and theirs
 * in turn.  Those are never freed by a nested call: a tracked object whose
 * count reaches 0 is taken off its generation list and pushed on the release
 * stack (linked through its own `next` word), and the outermost release pops
 * until the stack is empty.  A chain of any length therefore takes constant C
 * stack.  Untracked objects hold no references, so freeing them releases
 * nothing and they are freed on the spot.
 */
#include <errno.h>
#include <string.h>

#include "gc/gc.h"

pm_gc_state _pm_gc = {
    .gens = {
        {.list = {&_pm_gc.gens[0].list, (uintptr_t)&_pm_gc.gens[0].list}, .threshold = 700},
        {.list = {&_pm_gc.gens[1].list, (uintptr_t)&_pm_gc.gens[1].list}, .threshold = 10},
        {.list = {&_pm_gc.gens[2].list, (uintptr_t)&_pm_gc.gens[2].list}, .threshold = 10},
        {.list = {&_pm_gc.gens[3].list, (uintptr_t)&_pm_gc.gens[3].list}},
    },
    .gen2_bit = PM_GC_GEN2A,
    .enabled = 1,
};

/* ---- misuse ---- */

void _pm_gc_fatal(const char *call, const char *what, const void *obj)
{
    _pm_fatal_ptr(call, what, obj);
}

pm_gc_head *_pm_gc_check(const void *obj, const char *call)
{
    pm_gc_head *h = pm_gc_head_of(obj);
    if (pm_unlikely(((uintptr_t)obj & 7) || (h->bits & ~PM_GC_FLAGMASK) != PM_GC_MAGIC))
        _pm_gc_fatal(call, "not a live tagged object (freed, or not from pm_gc_new)", obj);
    return h;
}

#if PM_DEBUG > 0
/* Thread contract check: the owner is the thread inside the layer; nested
 * calls from finalizers and callbacks are the same thread. */
static _Atomic(uintptr_t) gc_owner;
static unsigned gc_depth;
static __thread char gc_thread_tag;

void _pm_gc_enter(const char *call)
{
    uintptr_t me = (uintptr_t)&gc_thread_tag, expected = 0;
    if (!atomic_compare_exchange_strong(&gc_owner, &expected, me) && expected != me)
        _pm_gc_fatal(call, "called by two threads at once (the layer is not locked; see "
                           "poolmalloc_gc.h) on", (void *)me);
    gc_depth++;
}

void _pm_gc_leave(void)
{
    if (--gc_depth == 0)
        atomic_store(&gc_owner, 0);
}
#endif

/* ---- creation ---- */

void *pm_gc_new(const pm_gc_type *type, size_t size)
{
    if (pm_unlikely(type == NULL)) {
        errno = EINVAL;
        return NULL;
    }
    int tracked = type->traverse != NULL;
    size_t head = tracked ? PM_GC_TRACKED_SIZE : PM_GC_HEAD_SIZE;
    if (pm_unlikely(size > PTRDIFF_MAX - head)) {
        errno = ENOMEM;
        return NULL;
    }
    PM_GC_ENTER("pm_gc_new");
    char *block = pm_malloc_inline(head + size);
    if (pm_unlikely(block == NULL)) {
        errno = ENOMEM;
        PM_GC_LEAVE();
        return NULL;
    }
    if (tracked) {
        /* CPython's rule: count the object, maybe collect (the new object is
         * not on any list yet, so the collection cannot see it), then track. */
        _pm_gc.gens[0].count++;
        if (_pm_gc.gens[0].count > _pm_gc.gens[0].threshold)
            _pm_gc_maybe_collect();
    }
    pm_gc_head *h = (pm_gc_head *)(block + head - PM_GC_HEAD_SIZE);
    h->refcnt = 1;
    h->bits = PM_GC_MAGIC;
    h->type = type;
    memset(h + 1, 0, size);
    if (type->finalize)
        _pm_gc.pending_finalizers++;
    if (tracked) {
        h->bits |= PM_GC_TRACKED;
        pm_gc_track_young(h);
    } else {
        _pm_gc.stats.untracked++;
    }
    PM_GC_LEAVE();
    return h + 1;
}

/* ---- counts ---- */

void pm_gc_incref(void *obj)
{
    if (obj == NULL)
        return;
    pm_gc_head *h = _pm_gc_check(obj, "pm_gc_incref");
    if (pm_unlikely(h->refcnt == 0))
        _pm_gc_fatal("pm_gc_incref", "object is being freed", obj);
    if (pm_unlikely(++h->refcnt == 0))
        _pm_gc_fatal("pm_gc_incref", "reference count overflow", obj);
}

void pm_gc_decref(void *obj)
{
    if (obj == NULL)
        return;
    PM_GC_ENTER("pm_gc_decref");
    pm_gc_head *h = _pm_gc_check(obj, "pm_gc_decref");
    if (pm_unlikely(h->refcnt == 0))
        _pm_gc_fatal("pm_gc_decref", "reference count below zero", obj);
    if (--h->refcnt == 0)
        _pm_gc_release_zero(h);
    PM_GC_LEAVE();
}

size_t pm_gc_refcount(const void *obj)
{
    return obj ? _pm_gc_check(obj, "pm_gc_refcount")->refcnt : 0;
}

const pm_gc_type *pm_gc_type_of(const void *obj)
{
    return obj ? _pm_gc_check(obj, "pm_gc_type_of")->type : NULL;
}

/* ---- freeing ---- */

/* The count of h is 0 and h is off every list (or untracked).  Runs the
 * finalizer if it has not run, then clears weak references, releases the
 * children and frees the block. */
static void gc_dealloc(pm_gc_head *h)
{
    void *obj = pm_gc_obj_of(h);
    const pm_gc_type *type = h->type;
    if (type->finalize && !(h->bits & PM_GC_FINALIZED)) {
        h->bits |= PM_GC_FINALIZED;
        _pm_gc.pending_finalizers--;
        _pm_gc.stats.finalized++;
        h->refcnt = 1;              /* alive while its finalizer runs */
        type->finalize(obj);
        if (--h->refcnt != 0) {     /* resurrected */
            _pm_gc.stats.resurrected++;
            if (h->bits & PM_GC_TRACKED)
                pm_gc_track_young(h);
            return;
        }
    }
    if (h->bits & PM_GC_WEAKREFS)
        _pm_gc_weakrefs_clear(obj);
    size_t head;
    if (h->bits & PM_GC_TRACKED) {
        if (!(h->bits & PM_GC_CLEARED))
            type->traverse(obj, _pm_gc_visit_release, NULL);
        if (_pm_gc.gens[0].count > 0)
            _pm_gc.gens[0].count--;
        head = PM_GC_TRACKED_SIZE;
    } else {
        _pm_gc.stats.untracked--;
        head = PM_GC_HEAD_SIZE;
    }
    _pm_gc.stats.freed_by_refcount++;
    h->bits = 0;                    /* a later decref of obj aborts */
    pm_free_inline((char *)h + PM_GC_HEAD_SIZE - head);
}

void _pm_gc_drain(void)
{
    int outer = !_pm_gc.draining;
    _pm_gc.draining = 1;
    pm_gc_link *l;
    while ((l = _pm_gc.release_top) != NULL) {
        _pm_gc.release_top = l->next;
        gc_dealloc(pm_gc_head_of_link(l));
    }
    if (outer)
        _pm_gc.draining = 0;
}

void _pm_gc_release_zero(pm_gc_head *h)
{
    if (h->bits & PM_GC_TRACKED) {
        pm_gc_untrack(h);
        h->bits = (h->bits & ~(PM_GC_TENTATIVE | PM_GC_UNREACH)) | PM_GC_PENDING;
        pm_gc_link *l = pm_gc_link_of(h);
        l->next = _pm_gc.release_top;
        _pm_gc.release_top = l;
        if (!_pm_gc.draining)
            _pm_gc_drain();
        return;
    }
    if (_pm_gc.draining) {
        gc_dealloc(h);
        return;
    }
    _pm_gc.draining = 1;
    gc_dealloc(h);
    _pm_gc_drain();
    _pm_gc.draining = 0;
}

void _pm_gc_visit_release(void *child, void *arg)
{
    (void)arg;
    if (child == NULL)
        return;
    pm_gc_head *h = _pm_gc_check(child, "pm_gc_decref");
    if (pm_unlikely(h->refcnt == 0))
        _pm_gc_fatal("pm_gc_decref", "reference count below zero (released twice by its "
                                     "holder's traverse?)", child);
    if (--h->refcnt == 0)
        _pm_gc_release_zero(h);
}
