/* override_cxx.c -- the C++ allocation functions (floor 3).
 *
 * libstdc++'s operator new calls malloc: two calls per object, and the
 * alignment it returns is malloc's.  Compilers assume more of new than of
 * malloc: a new'd object of 16 bytes or more is taken to be 16-aligned
 * (__STDCPP_DEFAULT_NEW_ALIGNMENT__; clang merges a constructor's stores
 * into movaps right after the call).  So poolmalloc exports the whole
 * family itself, as jemalloc, tcmalloc and mimalloc do, with new's own
 * class rule (pm_new_class: every request of more than 8 bytes gets a
 * 16-aligned block).  The symbols are the Itanium C++ ABI names, defined
 * here in C so that they reach the inline fast paths; deletes of every form
 * are free (a sized delete's size is not trusted: free checks the pointer
 * as always).  The failure path -- the new_handler loop, std::bad_alloc --
 * is C++ (new_failed.cpp).
 *
 * This file is built with -fexceptions: std::bad_alloc and a handler's own
 * exception propagate through these frames.
 */
#include "pools/pools.h"

#define PM_EXPORT __attribute__((visibility("default")))

/* new_failed.cpp: calls the installed std::new_handler until an allocation
 * succeeds; without a handler throws std::bad_alloc, or returns NULL when
 * `nothrow`.  align is 0 for the forms without std::align_val_t. */
PM_INTERNAL PM_NOINLINE void *_pm_new_failed(size_t size, size_t align, bool nothrow);

/* One more try for _pm_new_failed, after a handler ran. */
PM_INTERNAL void *_pm_new_retry(size_t size, size_t align)
{
    if (align <= PM_CLASS_SPACING)
        return pm_new_inline(size);
    return _pm_alloc_aligned(align, size ? size : 1);
}

/* new's misses, out of line, so that the fast path below needs no stack
 * frame to keep size for _pm_new_failed: a jump reaches them. */
static PM_NOINLINE void *new_miss(pm_heap_t *heap, size_t c, size_t size, bool nothrow)
{
    void *p = c < PM_CLASS_COUNT ? _pm_small_alloc_miss(heap, c, size) : _pm_medium_alloc(size);
    if (pm_likely(p != NULL))
        return p;
    return _pm_new_failed(size, 0, nothrow);
}

/* a large request, or 0 bytes */
static PM_NOINLINE void *new_large(size_t size, bool nothrow)
{
    void *p = pm_malloc_large(size);
    if (pm_likely(p != NULL))
        return p;
    return _pm_new_failed(size, 0, nothrow);
}

/* pm_new_inline, with new's failure path */
static inline void *new_plain(size_t size, bool nothrow)
{
    size_t m = size - 1;
    if (pm_likely(m < PM_MEDIUM_MAX)) {
        pm_heap_t *heap = _pm_tls_fast;
        size_t c = pm_new_class(m);
        void *p = pm_tc_pop(heap, c);
        if (pm_likely(p != NULL))
            return p;
        p = c < PM_CLASS_COUNT ? pm_small_pop(heap, c) : pm_medium_pop(heap, c - PM_CLASS_COUNT);
        if (pm_likely(p != NULL))
            return p;
        return new_miss(heap, c, size, nothrow);
    }
    return new_large(size, nothrow);
}

/* align is a power of two (the program's contract for std::align_val_t);
 * one of 16 still needs more than new's rule for sizes up to 8. */
static inline void *new_aligned(size_t size, size_t align, bool nothrow)
{
    void *p = align <= PM_CLASS_SPACING ? pm_new_inline(size)
                                        : _pm_alloc_aligned(align, size ? size : 1);
    if (pm_likely(p != NULL))
        return p;
    return _pm_new_failed(size, align, nothrow);
}

/* operator new / new[] (size_t).  The array forms are aliases of the
 * object forms (one body each: less text to map and to cache). */
PM_EXPORT void *_Znwm(size_t size) { return new_plain(size, false); }
PM_EXPORT void *_Znam(size_t size) __attribute__((alias("_Znwm")));
/* (size_t, const std::nothrow_t &) */
PM_EXPORT void *_ZnwmRKSt9nothrow_t(size_t size, const void *nt)
{
    (void)nt;
    return new_plain(size, true);
}
PM_EXPORT void *_ZnamRKSt9nothrow_t(size_t size, const void *nt)
    __attribute__((alias("_ZnwmRKSt9nothrow_t")));
/* (size_t, std::align_val_t) */
PM_EXPORT void *_ZnwmSt11align_val_t(size_t size, size_t align)
{
    return new_aligned(size, align, false);
}
PM_EXPORT void *_ZnamSt11align_val_t(size_t size, size_t align)
    __attribute__((alias("_ZnwmSt11align_val_t")));
/* (size_t, std::align_val_t, const std::nothrow_t &) */
PM_EXPORT void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *nt)
{
    (void)nt;
    return new_aligned(size, align, true);
}
PM_EXPORT void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *nt)
    __attribute__((alias("_ZnwmSt11align_val_tRKSt9nothrow_t")));

/* operator delete / delete[]: plain, sized, aligned, sized + aligned, and
 * the nothrow forms (called when a placement-new constructor throws).
 * Every form is free: a sized delete's size is not trusted (free checks
 * the pointer as always), and an alignment or a nothrow tag changes
 * nothing.  So all fourteen are one body, _ZdlPv (on a cache line, as
 * free is: override.c); the others are declared here with its type, the
 * arguments after the pointer being ones it never reads (the x86-64 and
 * AArch64 calling conventions pass them in registers, where a callee that
 * ignores them leaves them). */
PM_EXPORT __attribute__((aligned(64))) void _ZdlPv(void *p) { pm_free_inline(p); }
#define PM_DELETE_ALIAS(name) PM_EXPORT void name(void *p) __attribute__((alias("_ZdlPv")))
PM_DELETE_ALIAS(_ZdaPv);
PM_DELETE_ALIAS(_ZdlPvm);                           /* (void *, size_t) */
PM_DELETE_ALIAS(_ZdaPvm);
PM_DELETE_ALIAS(_ZdlPvSt11align_val_t);             /* (void *, std::align_val_t) */
PM_DELETE_ALIAS(_ZdaPvSt11align_val_t);
PM_DELETE_ALIAS(_ZdlPvmSt11align_val_t);            /* (void *, size_t, std::align_val_t) */
PM_DELETE_ALIAS(_ZdaPvmSt11align_val_t);
PM_DELETE_ALIAS(_ZdlPvRKSt9nothrow_t);              /* (void *, const std::nothrow_t &) */
PM_DELETE_ALIAS(_ZdaPvRKSt9nothrow_t);
PM_DELETE_ALIAS(_ZdlPvSt11align_val_tRKSt9nothrow_t); /* (void *, align_val_t, nothrow) */
PM_DELETE_ALIAS(_ZdaPvSt11align_val_tRKSt9nothrow_t);
