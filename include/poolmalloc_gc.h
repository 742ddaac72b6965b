/* poolmalloc_gc.h -- tagged allocations with reference counts and a
 * generational cycle collector (CPython's design), served from poolmalloc's
 * own pools.  Exported by libpoolmalloc.so and libpoolmalloc.a.
 *
 * An object is created by pm_gc_new with a type descriptor and starts with a
 * reference count of 1, untracked.  Once its fields are valid (what its
 * traverse reads), pm_gc_track hands it to the cycle collector (CPython's
 * PyObject_GC_New / PyObject_GC_Track split: a collection triggered while a
 * constructor allocates never sees a half-built object).  pm_gc_decref frees
 * it the moment its count reaches zero: the type's finalizer runs (at most
 * once in the object's life), weak references to it are cleared (and their
 * callbacks run), every object it holds (as reported by the type's traverse)
 * loses one reference, the type's dealloc runs, and the memory goes back to
 * the pool.  The collector finds groups of tracked objects that only
 * reference each other (reference cycles no count can free) and reclaims
 * them the same way.
 *
 * THREAD CONTRACT: one collector per thread.  Every thread that calls the
 * layer gets its own collector (generations, thresholds, counts, statistics,
 * callbacks, weak reference table, debug flags), and every pm_gc_* call acts
 * on the calling thread's.  An object belongs to the thread that created it:
 * only that thread may pass it to a pm_gc_* call, and a tracked object may
 * only hold references to objects of its own thread.  So a collection only
 * ever traverses objects their own thread is not writing at that moment (it
 * runs inside that thread's pm_gc_new or pm_gc_collect), and the layer needs
 * no lock.  Every call checks the object's owner (a tag in its header) and
 * aborts on another thread's object, in every build.  Pass data between
 * threads as plain malloc'd memory (malloc/free stay thread-safe anywhere).
 * A thread that exits with live objects leaves them (and its collector) to
 * the process: they are never collected.  Calls made from a finalizer, a
 * weak reference callback or a collection callback are fine.
 *
 * MISUSE.  A count going below zero, a pointer that is not a live tagged
 * object of the calling thread (freed while its memory was not reused,
 * foreign, interior, another thread's), tracking an object twice or one
 * whose type has no traverse, a strong reference taken to an object while
 * a collection tears it down, or a collection finding an object referenced
 * by more tracked objects than its count says, aborts with a one-line
 * message naming the call, the object's type (when it has one) and the
 * pointer.  NULL is accepted (and ignored) by pm_gc_incref and
 * pm_gc_decref, like Py_XINCREF/Py_XDECREF.
 *
 * TRAVERSE must only call visit() on the objects the object holds a strong
 * reference to (each reference once per holding field, NULL is skipped), and
 * must not allocate, free, or change any count.  It is called by collections
 * (tracked objects only), when the object is released, and by
 * pm_gc_get_referents/pm_gc_get_referrers.  An object visited while its
 * holder is released stays valid until that traverse returns.
 */
#ifndef POOLMALLOC_GC_H
#define POOLMALLOC_GC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define PM_GC_API __attribute__((visibility("default")))
#else
#define PM_GC_API
#endif

typedef void (*pm_gc_visit_fn)(void *child, void *arg);

typedef struct pm_gc_type {
    const char *name;       /* named by misuse messages */
    /* Reports every tagged object this one holds a reference to; NULL for
     * objects that hold none (such objects cannot be tracked, and cost 16
     * bytes of header instead of 32). */
    void (*traverse)(void *obj, pm_gc_visit_fn visit, void *arg);
    /* Optional: runs at most once per object, before it is reclaimed, with
     * the object and everything it holds intact; may resurrect it (by
     * storing a new reference to it somewhere). */
    void (*finalize)(void *obj);
    /* Optional: runs once, when the object is freed, after the references
     * it held were released (and the objects they held may be gone): frees
     * what the object owns outside the layer (a malloc'd items array...).
     * It may read the object's own fields but not the objects they point
     * to, and must not call pm_gc_* functions.  (CPython's tp_dealloc after
     * tp_clear; zend_gc's free_obj.) */
    void (*dealloc)(void *obj);
} pm_gc_type;

/* Creates an untracked object with a zeroed payload of size bytes and a
 * count of 1.  The payload is 8-byte aligned (16-byte aligned when size is
 * a multiple of 16).  May run an automatic collection first (the new object
 * is not part of it).  NULL with errno ENOMEM when out of memory, EINVAL
 * when type is NULL. */
PM_GC_API void *pm_gc_new(const pm_gc_type *type, size_t size);

/* Hands obj to the cycle collector: from now on collections traverse it, so
 * every field its traverse reads must be valid.  Aborts if obj is already
 * tracked or its type has no traverse (CPython's PyObject_GC_Track). */
PM_GC_API void pm_gc_track(void *obj);
/* Takes obj back from the collector (no effect if it is not tracked; for
 * an object in the garbage of the collection now running, from one of its
 * finalizers, no effect either: the collection decides its fate). */
PM_GC_API void pm_gc_untrack(void *obj);
PM_GC_API int pm_gc_is_tracked(const void *obj);    /* 0 for NULL */
/* 1 once the object's finalizer has run (gc.is_finalized); 0 for NULL and
 * for types without a finalizer. */
PM_GC_API int pm_gc_is_finalized(const void *obj);

PM_GC_API void pm_gc_incref(void *obj);
/* At zero: finalize once, clear weak references, release children, dealloc,
 * free.  Releasing a chain of any length uses constant stack. */
PM_GC_API void pm_gc_decref(void *obj);
PM_GC_API size_t pm_gc_refcount(const void *obj);          /* 0 for NULL */
PM_GC_API const pm_gc_type *pm_gc_type_of(const void *obj); /* NULL for NULL */

/* Resizes obj's payload to size bytes (trailing storage of a variable-size
 * object, as CPython's _PyObject_GC_Resize) and returns its new address;
 * the bytes past the old size are not initialized (as realloc's: set them
 * before the traverse reads them).  A tracked object stays tracked, in its
 * generation.  obj's count must be 1 (the caller's reference is the only
 * one: no field anywhere points to the old address), it must have no weak
 * reference, and no collection may be running; otherwise it aborts.  NULL
 * with errno ENOMEM when out of memory (obj is unchanged). */
PM_GC_API void *pm_gc_resize(void *obj, size_t size);

/* Ownership helpers (CPython's Py_SETREF / Py_CLEAR).  PM_GC_SETREF stores
 * value (a reference the caller owns, moved into the field) and then
 * releases the field's old value; PM_GC_CLEAR sets the field to NULL and
 * then releases its old value.  Storing before releasing means code that
 * the release runs (finalizers) never sees the field pointing to a freed
 * object. */
#define PM_GC_SETREF(field, value)                                              \
    do {                                                                        \
        void *pm_gc_old_ = (void *)(field);                                     \
        (field) = (value);                                                      \
        pm_gc_decref(pm_gc_old_);                                               \
    } while (0)
#define PM_GC_CLEAR(field)                                                      \
    do {                                                                        \
        void *pm_gc_old_ = (void *)(field);                                     \
        if (pm_gc_old_ != NULL) {                                               \
            (field) = NULL;                                                     \
            pm_gc_decref(pm_gc_old_);                                           \
        }                                                                       \
    } while (0)

/* Collects generations 0..generation (0, 1 or 2) and returns the number of
 * unreachable objects reclaimed.  Returns 0 without collecting when called
 * during a collection (from a finalizer or callback); 0 with errno EINVAL
 * for a generation outside 0..2.  Runs even while automatic collection is
 * disabled. */
PM_GC_API size_t pm_gc_collect(int generation);

/* Automatic collection: generation 0 is collected when its count (objects
 * with a traverse created minus reclaimed) exceeds t0; generation 1 when its count
 * (generation-0 collections since the last one) exceeds t1; generation 2
 * likewise with t2, and only once the objects promoted into it since the
 * last full collection exceed 25% of those that survived it.  t0 = 0
 * disables automatic collection.  Negative values are taken as 0. */
PM_GC_API void pm_gc_set_threshold(int t0, int t1, int t2); /* default 700, 10, 10 */
/* CPython's set_threshold(t0[, t1[, t2]]): pm_gc_set_threshold(t0) and
 * pm_gc_set_threshold(t0, t1) leave the thresholds not given unchanged
 * (PM_GC_KEEP may also be passed explicitly). */
#define PM_GC_KEEP (-2147483647 - 1)
#define PM_GC_SET_THRESHOLD_(a, b, c, ...) pm_gc_set_threshold(a, b, c)
#define pm_gc_set_threshold(...) PM_GC_SET_THRESHOLD_(__VA_ARGS__, PM_GC_KEEP, PM_GC_KEEP, 0)
PM_GC_API void pm_gc_get_threshold(int out[3]);
PM_GC_API void pm_gc_get_count(int out[3]);
PM_GC_API void pm_gc_enable(void);
PM_GC_API void pm_gc_disable(void);
PM_GC_API int pm_gc_is_enabled(void);

/* Moves every tracked object into a permanent generation that collections
 * never scan (for example before fork, so children do not touch their pages)
 * and sets the three counts to 0; unfreeze moves them back into the oldest
 * generation. */
PM_GC_API void pm_gc_freeze(void);
PM_GC_API void pm_gc_unfreeze(void);
PM_GC_API size_t pm_gc_freeze_count(void);

/* ---- introspection (CPython's gc.get_objects, get_referents,
 * get_referrers).  Each writes at most cap borrowed pointers to out and
 * returns how many there are in all (call again with a larger array if
 * that is more than cap); a borrowed pointer stays valid until the next
 * call that may free objects.  generation: 0, 1, 2, or -1 for all three
 * (frozen objects are never listed); another value gives 0 with errno
 * EINVAL. */
PM_GC_API size_t pm_gc_get_objects(int generation, void **out, size_t cap);
/* The objects obj's traverse reports (obj must have a traverse; 0 if not). */
PM_GC_API size_t pm_gc_get_referents(const void *obj, void **out, size_t cap);
/* The tracked objects of generations 0..2 whose traverse reports obj. */
PM_GC_API size_t pm_gc_get_referrers(const void *obj, void **out, size_t cap);

/* ---- leak inspection (CPython's DEBUG_SAVEALL and gc.garbage) ---- */
/* CPython's flags and values.  STATS: one line on stderr at the start and
 * the end of each collection; COLLECTABLE: one line per unreachable object
 * found ("gc: collectable <type 0x...>"); UNCOLLECTABLE: accepted, prints
 * nothing (every cycle is collectable here); LEAK: COLLECTABLE |
 * UNCOLLECTABLE | SAVEALL. */
enum {
    PM_GC_DEBUG_STATS = 1,
    PM_GC_DEBUG_COLLECTABLE = 2,
    PM_GC_DEBUG_UNCOLLECTABLE = 4,
    PM_GC_DEBUG_SAVEALL = 32,
    PM_GC_DEBUG_LEAK = 2 | 4 | 32,
};
/* With PM_GC_DEBUG_SAVEALL set, collections free nothing: what they find
 * unreachable (after running its finalizers, as always) is kept, each object
 * held by one strong reference in the garbage list, and tracked in the
 * oldest generation.  They still count it as collected. */
PM_GC_API void pm_gc_set_debug(unsigned flags);
PM_GC_API unsigned pm_gc_get_debug(void);
/* The garbage list: at most cap borrowed pointers to out, and how many in
 * all. */
PM_GC_API size_t pm_gc_garbage(void **out, size_t cap);
/* Drops the list's references (what only the list held is freed, or left
 * to the next collection if it is a cycle); returns how many it held. */
PM_GC_API size_t pm_gc_garbage_clear(void);

/* Weak references: do not keep their object alive.  pm_gc_weakref_new
 * returns NULL with errno EINVAL for NULL or for an object being reclaimed
 * (count at 0, or torn down by the collection now running), ENOMEM when out
 * of memory.  A weak reference belongs to its object's thread. */
typedef struct pm_gc_weakref pm_gc_weakref;
PM_GC_API pm_gc_weakref *pm_gc_weakref_new(void *obj);
/* With a callback (CPython's weakref.ref(obj, callback)): cb(w, owner) runs
 * once, after the object's weak references have been cleared (w reads NULL
 * by then), when the object is reclaimed, by its count or by a collection.
 * owner is the tagged object that holds w (NULL: none, the callback always
 * runs); it is passed to cb, held by a strong reference meanwhile, and the
 * callback is skipped when the owner is itself being reclaimed (garbage of
 * the same collection, or its count at 0): CPython's rule that only weak
 * references which are not garbage themselves get their callback.  The
 * weak reference is not freed: the callback or the owner frees it (an
 * owner frees it at the latest in its type's dealloc: a weak reference must
 * not outlive its owner). */
typedef void (*pm_gc_weakref_cb)(pm_gc_weakref *w, void *owner);
PM_GC_API pm_gc_weakref *pm_gc_weakref_new_cb(void *obj, pm_gc_weakref_cb cb, void *owner);
/* A new strong reference (release it with pm_gc_decref), or NULL once the
 * object has been reclaimed or is being reclaimed. */
PM_GC_API void *pm_gc_weakref_get(pm_gc_weakref *w);
PM_GC_API void pm_gc_weakref_free(pm_gc_weakref *w);  /* NULL is ignored */

/* ---- statistics ---------------------------------------------------------- */
typedef struct pm_gc_gen_stats {
    uint64_t collections;    /* collections of this generation (and younger) */
    uint64_t collected;      /* unreachable objects reclaimed by them */
    uint64_t uncollectable;  /* always 0: every cycle can be reclaimed */
    uint64_t time_ns;        /* wall time spent in them, callbacks excluded */
} pm_gc_gen_stats;

typedef struct pm_gc_stats {
    pm_gc_gen_stats gen[3];
    uint64_t tracked[4];     /* objects now in generations 0, 1, 2 and frozen */
    uint64_t untracked;      /* live objects not tracked (types without traverse,
                                not yet tracked, untracked) */
    uint64_t freed_by_refcount; /* objects freed when their count reached 0 */
    uint64_t finalized;      /* finalizer calls */
    uint64_t resurrected;    /* objects a finalizer kept alive */
} pm_gc_stats;

PM_GC_API void pm_gc_get_stats(pm_gc_stats *out);

/* ---- collection callbacks (CPython's gc.callbacks) ----------------------- */
enum { PM_GC_PHASE_START = 0, PM_GC_PHASE_STOP = 1 };

typedef struct pm_gc_callback_info {
    int generation;          /* the oldest generation collected */
    size_t collected;        /* at STOP: objects reclaimed; 0 at START */
    size_t uncollectable;    /* always 0 */
} pm_gc_callback_info;

typedef void (*pm_gc_callback_fn)(int phase, const pm_gc_callback_info *info, void *arg);

/* Registers fn(arg) to run at the start and end of every collection, in
 * registration order.  0, or -1 with errno ENOMEM (or EINVAL for NULL fn).
 * A callback may not register or remove callbacks. */
PM_GC_API int pm_gc_callback_add(pm_gc_callback_fn fn, void *arg);
/* Removes the first registration of (fn, arg): 0, or -1 with errno ENOENT. */
PM_GC_API int pm_gc_callback_remove(pm_gc_callback_fn fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif
