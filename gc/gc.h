/* gc.h -- internals of the refcount-and-cycle layer (layer 3, above the
 * pools): the object header, the generation lists and the collector state.
 *
 * Every tagged object is one poolmalloc block: a header, then the payload the
 * user sees.  Objects whose type has a traverse function carry two more words
 * in front, the links of the list of their generation once they are tracked
 * (pm_gc_track), and of the release stack once their count reached 0:
 *
 *     with links:    [ next | prev ][ refcnt | bits | type ][ payload ... ]
 *     without:                     [ refcnt | bits | type ][ payload ... ]
 *                     pm_gc_link     pm_gc_head               ^ obj
 *
 * The links come first so that the head is at the same place (obj - 16) for
 * both kinds; the block's first word is the pool's free-list link once the
 * block is freed, which for an object with links overwrites `next` only.
 */
#ifndef PM_GC_INTERNAL_H
#define PM_GC_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "poolmalloc.h"
#include "poolmalloc_gc.h"
#include "pools/gc_seam.h"      /* all the layer needs from the pools */

#define PM_GC_HIDDEN __attribute__((visibility("hidden")))
#define gc_likely(x) __builtin_expect(!!(x), 1)
#define gc_unlikely(x) __builtin_expect(!!(x), 0)
/* The smallest page size: an address at least this far from the start of
 * its page shares a page with the bytes this far before it. */
#define PM_GC_MIN_PAGE 4096u

/* A doubly linked list element, and also the list head (a sentinel).
 * Invariant outside a collection: prev is the address of the previous element.
 * During a collection the candidates' prev holds their "external" count
 * instead (gc_refs in CPython): their count minus the references from the
 * other candidates.  The scan restores the pointers. */
typedef struct pm_gc_link {
    struct pm_gc_link *next;
    uintptr_t prev;
} pm_gc_link;

typedef struct pm_gc_head {
    uint32_t refcnt;   /* 0 only while being freed (or after: misuse check) */
    uint32_t bits;     /* PM_GC_* below; the magic and thread tag in the top 16 bits */
    const pm_gc_type *type;
} pm_gc_head;

#define PM_GC_HEAD_SIZE sizeof(pm_gc_head)                       /* 16 */
#define PM_GC_TRACKED_SIZE (sizeof(pm_gc_link) + sizeof(pm_gc_head)) /* 32 */

/* bits.  The generation is one-hot so that "is a candidate of this
 * collection" is one AND with a mask.  The old generation has two encodings,
 * swapped by every full collection: its survivors get the other one, so a
 * survivor already scanned no longer matches the candidate mask.
 *
 * The top 16 bits are PM_GC_MAGIC_BYTE, then the tag (1..255) of the thread
 * whose collector owns the object.  Every call compares them with the
 * calling thread's (pm_gc_state.magic): an object of another thread, a freed
 * one (bits zeroed) and a foreign pointer abort. */
enum {
    PM_GC_GEN0 = 1u << 0,
    PM_GC_GEN1 = 1u << 1,
    PM_GC_GEN2A = 1u << 2,
    PM_GC_GEN2B = 1u << 3,
    PM_GC_PERM = 1u << 4,       /* frozen: never a candidate */
    PM_GC_GENMASK = 0x1fu,
    PM_GC_HASLINKS = 1u << 5,   /* has links (type->traverse != NULL) */
    PM_GC_REACHABLE = 1u << 6,  /* collection: reached, not yet scanned */
    PM_GC_TENTATIVE = 1u << 7,  /* collection: in the unreachable list */
    PM_GC_UNREACH = 1u << 8,    /* collection: candidate of the recheck after finalizers */
    PM_GC_FINALIZED = 1u << 9,  /* the finalizer ran (or is running) */
    PM_GC_WEAKREFS = 1u << 10,  /* weak references point here (see weakref.c) */
    PM_GC_RETRACK = 1u << 11,   /* count reached 0 while tracked: resurrection retracks it */
    PM_GC_PENDING = 1u << 12,   /* count reached 0: off every list, on a release stack */
    PM_GC_DYING = 1u << 13,     /* count reached 0, its finalizer is running (count held at 1) */
    PM_GC_LISTED = 1u << 14,    /* tracked: on a generation list or a collection's list */
    PM_GC_FLAGMASK = 0xffffu,
};
#define PM_GC_MAGIC_BYTE 0x9c000000u
#define PM_GC_MAGIC_BYTE_MASK 0xff000000u

static inline pm_gc_head *pm_gc_head_of(const void *obj)
{
    return (pm_gc_head *)((char *)obj - PM_GC_HEAD_SIZE);
}
static inline void *pm_gc_obj_of(pm_gc_head *h) { return (char *)h + PM_GC_HEAD_SIZE; }
static inline pm_gc_link *pm_gc_link_of(pm_gc_head *h) { return (pm_gc_link *)h - 1; }
static inline pm_gc_head *pm_gc_head_of_link(pm_gc_link *l) { return (pm_gc_head *)(l + 1); }
static inline void *pm_gc_obj_of_link(pm_gc_link *l) { return (char *)(l + 1) + PM_GC_HEAD_SIZE; }
static inline pm_gc_link *pm_gc_prev(const pm_gc_link *l) { return (pm_gc_link *)l->prev; }

/* ---- lists ---- */
static inline void pm_gc_list_init(pm_gc_link *list)
{
    list->next = list;
    list->prev = (uintptr_t)list;
}
static inline int pm_gc_list_empty(const pm_gc_link *list) { return list->next == list; }
static inline void pm_gc_list_append(pm_gc_link *list, pm_gc_link *l)
{
    pm_gc_link *tail = pm_gc_prev(list);
    tail->next = l;
    l->prev = (uintptr_t)tail;
    l->next = list;
    list->prev = (uintptr_t)l;
}
static inline void pm_gc_list_unlink(pm_gc_link *l)
{
    pm_gc_link *prev = pm_gc_prev(l), *next = l->next;
    prev->next = next;
    next->prev = (uintptr_t)prev;
}
/* Moves all of from to the end of to; from becomes empty. */
static inline void pm_gc_list_splice(pm_gc_link *to, pm_gc_link *from)
{
    if (pm_gc_list_empty(from))
        return;
    pm_gc_link *tail = pm_gc_prev(to), *first = from->next, *last = pm_gc_prev(from);
    tail->next = first;
    first->prev = (uintptr_t)tail;
    last->next = to;
    to->prev = (uintptr_t)last;
    pm_gc_list_init(from);
}

/* ---- the collector's state: one per thread (the thread contract in
 * poolmalloc_gc.h) ---- */
#define PM_GC_GENS 3
typedef struct pm_gc_generation {
    pm_gc_link list;   /* its tracked objects, oldest first */
    size_t size;       /* objects on list */
    int threshold;
    int count;         /* gen 0: created - reclaimed; others: younger collections */
} pm_gc_generation;

typedef struct pm_gc_callback_rec {
    pm_gc_callback_fn fn;
    void *arg;
} pm_gc_callback_rec;

typedef struct pm_gc_wr_slot pm_gc_wr_slot;

typedef struct pm_gc_state {
    pm_gc_generation gens[PM_GC_GENS + 1]; /* [3] is the permanent (frozen) one */
    uint32_t magic;             /* PM_GC_MAGIC_BYTE | tag << 16: its objects' bits, top half */
    uint32_t gen2_bit;          /* PM_GC_GEN2A or PM_GC_GEN2B: the current encoding */
    size_t long_lived_total;    /* survivors of the last full collection */
    size_t long_lived_pending;  /* promoted into gen 2 since */
    int enabled;
    int collecting;             /* a collection runs (no other may start) */
    int tearing_down;           /* delete_garbage releases what the garbage holds */
    int draining;               /* the release stacks are being emptied */
    unsigned debug;             /* PM_GC_DEBUG_* */
    pm_gc_link *release_top;    /* objects with links whose count reached 0, linked by next */
    pm_gc_head **untracked_stack; /* objects without links whose count reached 0 */
    size_t untracked_len, untracked_cap;
    size_t pending_finalizers;  /* live objects with a finalizer that has not run */
    size_t weakref_objects;     /* live objects with PM_GC_WEAKREFS */
    pm_gc_head **mark_stack;    /* collect.c: objects reached late, to traverse */
    size_t mark_cap;
    pm_gc_callback_rec *callbacks;
    size_t callbacks_len, callbacks_cap;
    void **garbage;             /* DEBUG_SAVEALL: what collections found (strong refs) */
    size_t garbage_len, garbage_cap;
    pm_gc_wr_slot *wr_table;    /* weakref.c: object -> its weak references */
    size_t wr_cap, wr_used;
    struct pm_gc_weakref *wr_due; /* weakref.c: cleared ones whose callback is due */
    pm_gc_stats stats;
} pm_gc_state;

/* The calling thread's collector, made on first use by _pm_gc_ctx_new
 * (which aborts if it cannot: out of memory, or called while this thread
 * is exiting). */
PM_GC_HIDDEN extern __thread pm_gc_state *_pm_gc_cur __attribute__((tls_model("initial-exec")));
PM_GC_HIDDEN pm_gc_state *_pm_gc_ctx_new(void);
static inline pm_gc_state *pm_gc_ctx(void)
{
    pm_gc_state *s = _pm_gc_cur;
    if (gc_unlikely(s == NULL))
        s = _pm_gc_ctx_new();
    return s;
}
/* The code reads the calling thread's state as _pm_gc. */
#define _pm_gc (*pm_gc_ctx())

/* gen index (0, 1, 2, 3 = frozen) of a tracked object on a generation list */
static inline unsigned pm_gc_gen_index(uint32_t bits)
{
    static const unsigned char idx[5] = {0, 1, 2, 2, 3};
    return idx[__builtin_ctz(bits & PM_GC_GENMASK)];
}

/* Takes a tracked object off whatever list it is on, keeping the generation
 * sizes right (objects marked TENTATIVE/UNREACH are on a collection's own
 * list, which nobody counts). */
static inline void pm_gc_unlist(pm_gc_head *h)
{
    pm_gc_list_unlink(pm_gc_link_of(h));
    if (!(h->bits & (PM_GC_TENTATIVE | PM_GC_UNREACH)))
        _pm_gc.gens[pm_gc_gen_index(h->bits)].size--;
    h->bits &= ~(uint32_t)(PM_GC_LISTED | PM_GC_GENMASK | PM_GC_TENTATIVE | PM_GC_UNREACH |
                           PM_GC_REACHABLE);
}

/* Puts an object with links at the end of generation 0. */
static inline void pm_gc_track_young(pm_gc_head *h)
{
    h->bits = (h->bits & ~(uint32_t)(PM_GC_GENMASK | PM_GC_TENTATIVE | PM_GC_UNREACH |
                                     PM_GC_PENDING | PM_GC_REACHABLE | PM_GC_RETRACK)) |
              PM_GC_GEN0 | PM_GC_LISTED;
    pm_gc_list_append(&_pm_gc.gens[0].list, pm_gc_link_of(h));
    _pm_gc.gens[0].size++;
}

/* ---- object.c ---- */
/* Checks that obj is a live tagged object of the calling thread; aborts
 * naming call otherwise. */
PM_GC_HIDDEN pm_gc_head *_pm_gc_check(const void *obj, const char *call);
/* h's count just reached 0: free it (and what that releases) without
 * recursion. */
PM_GC_HIDDEN void _pm_gc_release_zero(pm_gc_head *h);
/* Frees everything on the release stacks (sets draining while it does,
 * then restores it). */
PM_GC_HIDDEN void _pm_gc_drain(void);
PM_GC_HIDDEN int _pm_gc_release_pending(void);
/* visit function that drops one reference from each child */
PM_GC_HIDDEN void _pm_gc_visit_release(void *child, void *arg);
__attribute__((noreturn, cold)) PM_GC_HIDDEN void _pm_gc_fatal(const char *call,
                                                              const char *what,
                                                              const void *obj);
/* The same, naming obj's type (obj must have passed _pm_gc_check). */
__attribute__((noreturn, cold)) PM_GC_HIDDEN void _pm_gc_fatal_obj(const char *call,
                                                                  const char *what,
                                                                  const void *obj);
/* Doubles the array *items of *cap elements of `size` bytes (the first
 * `used` are kept), starting at `first`; 0, or ENOMEM leaving it as it was. */
PM_GC_HIDDEN int _pm_gc_array_grow(void **items, size_t *cap, size_t used, size_t size,
                                  size_t first);

/* ---- collect.c ---- */
PM_GC_HIDDEN void _pm_gc_maybe_collect(void);   /* the automatic trigger */

/* ---- weakref.c ---- */
/* Clears obj's weak references; the callbacks due (weakref.c) are queued
 * for _pm_gc_weakref_callbacks_run. */
PM_GC_HIDDEN void _pm_gc_weakrefs_clear(void *obj);
PM_GC_HIDDEN void _pm_gc_weakref_callbacks_run(void);

#endif
