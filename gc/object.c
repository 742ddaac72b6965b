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
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "gc/gc.h"

/* ---- the per-thread collectors ---- */

__thread pm_gc_state *_pm_gc_cur __attribute__((tls_model("initial-exec")));
/* its magic, or 0 (no collector: every object check fails), kept apart so
 * that checking an object costs one thread-local load */
static __thread uint32_t gc_cur_magic __attribute__((tls_model("initial-exec")));
static _Atomic(unsigned) gc_next_tag;
static pthread_key_t gc_key;
static pthread_once_t gc_key_once = PTHREAD_ONCE_INIT;

/* Thread exit: a collector that holds nothing any more is freed; one with
 * live objects stays (they are never collected). */
static void gc_ctx_exit(void *arg)
{
    pm_gc_state *s = arg;
    _pm_gc_cur = NULL;
    gc_cur_magic = 0;
    for (int i = 0; i < 4; i++)
        if (s->gens[i].size)
            return;
    if (s->stats.untracked || s->weakref_objects || s->garbage_len || s->wr_used)
        return;
    if (s->untracked_stack)
        pm_free(s->untracked_stack);
    if (s->mark_stack)
        pm_free(s->mark_stack);
    if (s->callbacks)
        pm_free(s->callbacks);
    if (s->garbage)
        pm_free(s->garbage);
    if (s->wr_table)
        pm_free(s->wr_table);
    pm_free(s);
}

static void gc_key_make(void)
{
    if (pthread_key_create(&gc_key, gc_ctx_exit) != 0)
        gc_key = (pthread_key_t)-1;
}

pm_gc_state *_pm_gc_ctx_new(void)
{
    pm_gc_state *s = pm_malloc(sizeof *s);
    if (s == NULL)
        _pm_gc_fatal("pm_gc", "out of memory for this thread's collector", NULL);
    memset(s, 0, sizeof *s);
    for (int i = 0; i < 4; i++)
        pm_gc_list_init(&s->gens[i].list);
    s->gens[0].threshold = 700;
    s->gens[1].threshold = 10;
    s->gens[2].threshold = 10;
    s->gen2_bit = PM_GC_GEN2A;
    s->enabled = 1;
    unsigned tag = atomic_fetch_add(&gc_next_tag, 1) % 255 + 1;  /* 1..255, reused */
    s->magic = PM_GC_MAGIC_BYTE | tag << 16;
    _pm_gc_cur = s;
    gc_cur_magic = s->magic;
    pthread_once(&gc_key_once, gc_key_make);
    if (gc_key != (pthread_key_t)-1)
        pthread_setspecific(gc_key, s);
    return s;
}

/* ---- misuse ---- */

void _pm_gc_fatal(const char *call, const char *what, const void *obj)
{
    _pm_gc_seam_fatal(call, what, obj);
}

void _pm_gc_fatal_obj(const char *call, const char *what, const void *obj)
{
    char buf[256];
    size_t n = 0;
    const char *name = obj ? pm_gc_head_of(obj)->type->name : NULL;
    for (const char *p = what; *p && n < 160; p++)
        buf[n++] = *p;
    if (name) {
        const char *mid = " (type ";
        for (const char *p = mid; *p; p++)
            buf[n++] = *p;
        for (const char *p = name; *p && n < sizeof buf - 3; p++)
            buf[n++] = (*p >= ' ' && *p < 127) ? *p : '?';
        buf[n++] = ')';
    }
    buf[n] = 0;
    _pm_gc_seam_fatal(call, buf, obj);
}

__attribute__((noreturn, cold, noinline)) static void gc_check_failed(const void *obj,
                                                                     const char *call)
{
    pm_gc_head *h = pm_gc_head_of(obj);
    if (!((uintptr_t)obj & 7) &&
        !(((uintptr_t)obj & (PM_GC_MIN_PAGE - 1)) < PM_GC_HEAD_SIZE && !_pm_gc_seam_is_ours(h)) &&
        (h->bits & PM_GC_MAGIC_BYTE_MASK) == PM_GC_MAGIC_BYTE && h->refcnt != 0 &&
        _pm_gc_seam_is_live_block((const char *)obj - ((h->bits & PM_GC_HASLINKS)
                                                            ? PM_GC_TRACKED_SIZE
                                                            : PM_GC_HEAD_SIZE)))
        _pm_gc_fatal(call, "object of another thread (an object stays in the thread that "
                           "made it; see poolmalloc_gc.h)", obj);
    _pm_gc_fatal(call, "not a live tagged object (freed, or not from pm_gc_new)", obj);
}

pm_gc_head *_pm_gc_check(const void *obj, const char *call)
{
    pm_gc_head *h = pm_gc_head_of(obj);
    /* The head is read only where it can be: in obj's page (which the
     * caller's pointer is in) or in a page of ours before it. */
    if (gc_unlikely(((uintptr_t)obj & 7) ||
                    (((uintptr_t)obj & (PM_GC_MIN_PAGE - 1)) < PM_GC_HEAD_SIZE &&
                     !_pm_gc_seam_is_ours(h)) ||
                    (h->bits & ~PM_GC_FLAGMASK) != gc_cur_magic))
        gc_check_failed(obj, call);
#if defined(PM_DEBUG) && PM_DEBUG > 0
    /* debug builds: the block must also be allocated now (the magic of a
     * freed object whose memory was reused by plain malloc can survive) */
    if (gc_unlikely(!_pm_gc_seam_is_live_block((const char *)obj -
                                                ((h->bits & PM_GC_HASLINKS) ? PM_GC_TRACKED_SIZE
                                                                            : PM_GC_HEAD_SIZE))))
        _pm_gc_fatal(call, "not a live tagged object (its block is free)", obj);
#endif
    return h;
}

int _pm_gc_array_grow(void **items, size_t *cap, size_t used, size_t size, size_t first)
{
    size_t n = *cap ? 2 * *cap : first;
    char *grown = pm_malloc(n * size);
    if (grown == NULL)
        return ENOMEM;
    if (used)
        memcpy(grown, *items, used * size);
    if (*items)
        pm_free(*items);
    *items = grown;
    *cap = n;
    return 0;
}

/* ---- creation and tracking ---- */

void *pm_gc_new(const pm_gc_type *type, size_t size)
{
    if (gc_unlikely(type == NULL)) {
        errno = EINVAL;
        return NULL;
    }
    int links = type->traverse != NULL;
    size_t head = links ? PM_GC_TRACKED_SIZE : PM_GC_HEAD_SIZE;
    if (gc_unlikely(size > PTRDIFF_MAX - head)) {
        errno = ENOMEM;
        return NULL;
    }
    pm_gc_state *s = pm_gc_ctx();
    if (links) {
        /* CPython's rule: count the object, maybe collect (the new object does
         * not exist yet, so the collection cannot see it). */
        s->gens[0].count++;
        if (s->gens[0].count > s->gens[0].threshold)
            _pm_gc_maybe_collect();
    }
    char *block = pm_malloc(head + size);
    if (gc_unlikely(block == NULL)) {
        if (links && s->gens[0].count > 0)
            s->gens[0].count--;
        errno = ENOMEM;
        return NULL;
    }
    pm_gc_head *h = (pm_gc_head *)(block + head - PM_GC_HEAD_SIZE);
    h->refcnt = 1;
    h->bits = s->magic | (links ? PM_GC_HASLINKS : 0);
    h->type = type;
    memset(h + 1, 0, size);
    if (type->finalize)
        s->pending_finalizers++;
    s->stats.untracked++;
    return h + 1;
}

void pm_gc_track(void *obj)
{
    pm_gc_head *h = _pm_gc_check(obj, "pm_gc_track");
    if (gc_unlikely(!(h->bits & PM_GC_HASLINKS)))
        _pm_gc_fatal_obj("pm_gc_track", "its type has no traverse: it cannot be tracked", obj);
    if (gc_unlikely((h->bits & (PM_GC_LISTED | PM_GC_PENDING)) || h->refcnt == 0))
        _pm_gc_fatal_obj("pm_gc_track", (h->bits & PM_GC_LISTED) ? "object already tracked"
                                                                 : "object is being freed", obj);
    pm_gc_track_young(h);
    _pm_gc.stats.untracked--;
}

void pm_gc_untrack(void *obj)
{
    pm_gc_head *h = _pm_gc_check(obj, "pm_gc_untrack");
    if (!(h->bits & PM_GC_LISTED) || (h->bits & (PM_GC_TENTATIVE | PM_GC_UNREACH)))
        return;
    if (gc_unlikely(_pm_gc.collecting && (h->bits & PM_GC_REACHABLE)))
        return;     /* being scanned by the collection now running */
    pm_gc_unlist(h);
    _pm_gc.stats.untracked++;
}

int pm_gc_is_tracked(const void *obj)
{
    return obj ? (_pm_gc_check(obj, "pm_gc_is_tracked")->bits & PM_GC_LISTED) != 0 : 0;
}

int pm_gc_is_finalized(const void *obj)
{
    return obj ? (_pm_gc_check(obj, "pm_gc_is_finalized")->bits & PM_GC_FINALIZED) != 0 : 0;
}

void *pm_gc_resize(void *obj, size_t size)
{
    pm_gc_head *h = _pm_gc_check(obj, "pm_gc_resize");
    if (gc_unlikely(h->refcnt != 1))
        _pm_gc_fatal_obj("pm_gc_resize", "object has other references than the caller's "
                                         "(count not 1)", obj);
    if (gc_unlikely(h->bits & (PM_GC_WEAKREFS | PM_GC_DYING | PM_GC_PENDING)))
        _pm_gc_fatal_obj("pm_gc_resize", (h->bits & PM_GC_WEAKREFS)
                                             ? "object has weak references"
                                             : "object is being freed", obj);
    int listed = (h->bits & PM_GC_LISTED) != 0;
    if (gc_unlikely(listed && _pm_gc.collecting))
        _pm_gc_fatal_obj("pm_gc_resize", "tracked object resized during a collection", obj);
    size_t head = (h->bits & PM_GC_HASLINKS) ? PM_GC_TRACKED_SIZE : PM_GC_HEAD_SIZE;
    if (gc_unlikely(size > PTRDIFF_MAX - head)) {
        errno = ENOMEM;
        return NULL;
    }
    char *block = (char *)h + PM_GC_HEAD_SIZE - head;
    pm_gc_link saved;
    if (listed)     /* its neighbours will point to its new address */
        saved = *pm_gc_link_of(h);
    char *moved = pm_realloc(block, head + size);
    if (moved == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    pm_gc_head *nh = (pm_gc_head *)(moved + head - PM_GC_HEAD_SIZE);
    if (listed && moved != block) {
        pm_gc_link *l = pm_gc_link_of(nh);
        pm_gc_prev(&saved)->next = l;
        saved.next->prev = (uintptr_t)l;
    }
    return nh + 1;
}

/* ---- counts ---- */

void pm_gc_incref(void *obj)
{
    if (obj == NULL)
        return;
    pm_gc_head *h = _pm_gc_check(obj, "pm_gc_incref");
    if (gc_unlikely(h->refcnt == 0))
        _pm_gc_fatal_obj("pm_gc_incref", "object is being freed", obj);
    if (gc_unlikely((h->bits & PM_GC_TENTATIVE) && _pm_gc_cur->tearing_down))
        _pm_gc_fatal_obj("pm_gc_incref", "object is being torn down by a collection (reached "
                                         "through a borrowed pointer?)", obj);
    if (gc_unlikely(++h->refcnt == 0))
        _pm_gc_fatal_obj("pm_gc_incref", "reference count overflow", obj);
}

void pm_gc_decref(void *obj)
{
    if (obj == NULL)
        return;
    pm_gc_head *h = _pm_gc_check(obj, "pm_gc_decref");
    if (gc_unlikely(h->refcnt == 0))
        _pm_gc_fatal_obj("pm_gc_decref", "reference count below zero", obj);
    if (--h->refcnt == 0)
        _pm_gc_release_zero(h);
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

/* The count of h is 0 and h is off every list.  Runs the finalizer if it has
 * not run, then clears weak references, releases the children (whose own
 * releases are only pushed: the drain frees them after this traverse has
 * returned), runs the type's dealloc and frees the block. */
static void gc_dealloc(pm_gc_head *h)
{
    void *obj = pm_gc_obj_of(h);
    const pm_gc_type *type = h->type;
    if (type->finalize && !(h->bits & PM_GC_FINALIZED)) {
        h->bits |= PM_GC_FINALIZED | PM_GC_DYING;
        _pm_gc.pending_finalizers--;
        _pm_gc.stats.finalized++;
        h->refcnt = 1;              /* alive while its finalizer runs */
        type->finalize(obj);
        h->bits &= ~PM_GC_DYING;
        if (--h->refcnt != 0) {     /* resurrected */
            _pm_gc.stats.resurrected++;
            h->bits &= ~(uint32_t)PM_GC_PENDING;
            if (h->bits & PM_GC_RETRACK) {
                pm_gc_track_young(h);
                _pm_gc.stats.untracked--;
            }
            return;
        }
    }
    if (h->bits & PM_GC_WEAKREFS) {
        _pm_gc_weakrefs_clear(obj);
        _pm_gc_weakref_callbacks_run();
    }
    size_t head;
    if (h->bits & PM_GC_HASLINKS) {
        type->traverse(obj, _pm_gc_visit_release, NULL);
        if (_pm_gc.gens[0].count > 0)
            _pm_gc.gens[0].count--;
        head = PM_GC_TRACKED_SIZE;
    } else {
        head = PM_GC_HEAD_SIZE;
    }
    _pm_gc.stats.untracked--;
    if (type->dealloc)
        type->dealloc(obj);
    _pm_gc.stats.freed_by_refcount++;
    h->bits = 0;                    /* a later decref of obj aborts */
    pm_free((char *)h + PM_GC_HEAD_SIZE - head);
}

/* Objects without links (no traverse) whose count reached 0 wait on an
 * array (the state's untracked_stack): they may not be freed while the
 * traverse that released them runs (it may read them after visiting them). */
static int untracked_push(pm_gc_state *s, pm_gc_head *h)
{
    if (s->untracked_len == s->untracked_cap &&
        _pm_gc_array_grow((void **)&s->untracked_stack, &s->untracked_cap, s->untracked_len,
                          sizeof *s->untracked_stack, 256) != 0)
        return 0;
    s->untracked_stack[s->untracked_len++] = h;
    return 1;
}

int _pm_gc_release_pending(void)
{
    return _pm_gc.release_top != NULL || _pm_gc.untracked_len != 0;
}

/* Frees everything on the release stacks.  Never recursive: a release found
 * while draining is pushed and popped by this loop; draining is restored
 * (not cleared) at the end, so that a drain run by a collection inside
 * another drain (a finalizer allocated) hands back to the outer loop. */
void _pm_gc_drain(void)
{
    pm_gc_state *s = pm_gc_ctx();
    int saved = s->draining;
    s->draining = 1;
    for (;;) {
        pm_gc_link *l = s->release_top;
        if (l != NULL) {
            s->release_top = l->next;
            gc_dealloc(pm_gc_head_of_link(l));
        } else if (s->untracked_len != 0) {
            gc_dealloc(s->untracked_stack[--s->untracked_len]);
        } else {
            break;
        }
    }
    s->draining = saved;
}

void _pm_gc_release_zero(pm_gc_head *h)
{
    pm_gc_state *s = pm_gc_ctx();
    if (gc_unlikely(h->bits & PM_GC_DYING))   /* its own finalizer let go of the hold */
        _pm_gc_fatal_obj("pm_gc_decref", "reference count below zero (in the finalizer of an "
                                         "object whose count reached 0)", pm_gc_obj_of(h));
    if (h->bits & PM_GC_LISTED) {
        pm_gc_unlist(h);
        h->bits |= PM_GC_RETRACK;
        s->stats.untracked++;
    }
    h->bits |= PM_GC_PENDING;
    if (h->bits & PM_GC_HASLINKS) {
        pm_gc_link *l = pm_gc_link_of(h);
        l->next = s->release_top;
        s->release_top = l;
    } else if (!untracked_push(s, h)) {
        /* out of memory for the waiting list: free it now (a traverse that
         * reads its children after visiting them could then see it freed) */
        int saved = s->draining;
        s->draining = 1;
        gc_dealloc(h);
        s->draining = saved;
    }
    if (!s->draining)
        _pm_gc_drain();
}

void _pm_gc_visit_release(void *child, void *arg)
{
    (void)arg;
    if (child == NULL)
        return;
    pm_gc_head *h = _pm_gc_check(child, "pm_gc_decref");
    if (gc_unlikely(h->refcnt == 0))
        _pm_gc_fatal_obj("pm_gc_decref", "reference count below zero (released twice by its "
                                         "holder's traverse?)", child);
    if (--h->refcnt == 0)
        _pm_gc_release_zero(h);
}
