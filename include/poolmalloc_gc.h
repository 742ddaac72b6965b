/* poolmalloc_gc.h -- tagged allocations with reference counts and a
 * generational cycle collector (CPython's design), served from poolmalloc's
 * own pools.  Exported by libpoolmalloc.so and libpoolmalloc.a.
 *
 * An object is created by pm_gc_new with a type descriptor and starts with a
 * reference count of 1.  pm_gc_decref frees it the moment its count reaches
 * zero: the type's finalizer runs (at most once in the object's life), weak
 * references to it are cleared, every object it holds (as reported by the
 * type's traverse function) loses one reference, and the memory goes back to
 * the pool.  Objects whose type has a traverse function are "tracked": the
 * cycle collector finds groups of them that only reference each other
 * (reference cycles no count can free) and reclaims them.
 *
 * THREAD CONTRACT.  The layer takes no lock.  Every call on tagged objects,
 * and every pm_gc_* call, must be serialized by the program (one thread at a
 * time, or a program-wide lock, like CPython's GIL).  Calls made from a
 * finalizer or a collection callback are fine.  Builds configured with
 * POOLMALLOC_DEBUG detect two threads inside the layer at once and abort.
 * Plain malloc/free keep their own thread safety and may be called from any
 * thread at any time.
 *
 * MISUSE.  A count going below zero, a decref of an object that was already
 * freed (while its memory has not been reused), a pointer that is not a
 * tagged object's payload, or a collection finding an object referenced by
 * more tracked objects than its count says, aborts with a one-line message
 * naming the call and the pointer.  NULL is accepted (and ignored) by
 * pm_gc_incref and pm_gc_decref, like Py_XINCREF/Py_XDECREF.
 *
 * TRAVERSE must only call visit() on the objects the object holds a strong
 * reference to (each reference once per holding field, NULL is skipped), and
 * must not allocate, free, or change any count.  It may be called at any
 * pm_gc_new (automatic collections) and in pm_gc_collect.
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
    const char *name;
    /* Reports every tagged object this one holds a reference to; NULL for
     * objects that hold none (such objects are never tracked by the
     * collector). */
    void (*traverse)(void *obj, pm_gc_visit_fn visit, void *arg);
    /* Optional: runs at most once per object, before it is reclaimed; may
     * resurrect it (by storing a new reference to it somewhere). */
    void (*finalize)(void *obj);
} pm_gc_type;

/* Creates an object with a zeroed payload of size bytes and a count of 1.
 * The payload is 8-byte aligned (16-byte aligned when size is a multiple of
 * 16).  May run an automatic collection first.  NULL with errno ENOMEM when
 * out of memory, EINVAL when type is NULL. */
PM_GC_API void *pm_gc_new(const pm_gc_type *type, size_t size);

PM_GC_API void pm_gc_incref(void *obj);
/* At zero: finalize once, clear weak references, release children, free.
 * Releasing a chain of any length uses constant stack. */
PM_GC_API void pm_gc_decref(void *obj);
PM_GC_API size_t pm_gc_refcount(const void *obj);          /* 0 for NULL */
PM_GC_API const pm_gc_type *pm_gc_type_of(const void *obj); /* NULL for NULL */

/* Collects generations 0..generation (0, 1 or 2) and returns the number of
 * unreachable objects reclaimed.  Returns 0 without collecting when called
 * during a collection (from a finalizer or callback); 0 with errno EINVAL
 * for a generation outside 0..2.  Runs even while automatic collection is
 * disabled. */
PM_GC_API size_t pm_gc_collect(int generation);

/* Automatic collection: generation 0 is collected when its count (tracked
 * objects created minus reclaimed) exceeds t0; generation 1 when its count
 * (generation-0 collections since the last one) exceeds t1; generation 2
 * likewise with t2, and only once the objects promoted into it since the
 * last full collection exceed 25% of those that survived it.  t0 = 0
 * disables automatic collection.  Negative values are taken as 0. */
PM_GC_API void pm_gc_set_threshold(int t0, int t1, int t2); /* default 700, 10, 10 */
PM_GC_API void pm_gc_get_threshold(int out[3]);
PM_GC_API void pm_gc_get_count(int out[3]);
PM_GC_API void pm_gc_enable(void);
PM_GC_API void pm_gc_disable(void);
PM_GC_API int pm_gc_is_enabled(void);

/* Moves every tracked object into a permanent generation that collections
 * never scan (for example before fork, so children do not touch their pages);
 * unfreeze moves them back into the oldest generation. */
PM_GC_API void pm_gc_freeze(void);
PM_GC_API void pm_gc_unfreeze(void);
PM_GC_API size_t pm_gc_freeze_count(void);

/* Weak references: do not keep their object alive.  pm_gc_weakref_new
 * returns NULL with errno EINVAL for NULL, ENOMEM when out of memory. */
typedef struct pm_gc_weakref pm_gc_weakref;
PM_GC_API pm_gc_weakref *pm_gc_weakref_new(void *obj);
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
    uint64_t untracked;      /* live objects whose type has no traverse */
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
