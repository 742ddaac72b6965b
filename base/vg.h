/* vg.h -- valgrind client requests for poolmalloc's blocks and lock-free
 * hand-offs, behind macros that compile to nothing without the valgrind
 * headers (CMake option POOLMALLOC_VALGRIND, on when valgrind/memcheck.h
 * exists).
 *
 * By default memcheck replaces malloc everywhere, ours included; poolmalloc
 * itself serves malloc under memcheck only with
 * --soname-synonyms=somalloc=nouserintercepts (docs/VALGRIND.md).  Memcheck
 * then knows poolmalloc's blocks only from these requests.  Start-up
 * (base/process.c) asks once whether the tool is memcheck;
 * if it is, _pm_slow gets PM_SLOW_VALGRIND (base.h): the inline fast paths
 * never run and every request below is issued from an out-of-line path.
 * Outside valgrind none is ever reached, and each site costs one test of a
 * flag on a path that is already slow.
 *
 * What memcheck is told, and where:
 *   a block handed to the program   MALLOCLIKE with the size asked for, the
 *                                   rest of the block no-access (slow.c)
 *   a block the program frees       FREELIKE: no-access from then on (slow.c);
 *                                   a bad pointer is FREELIKE'd too, so that
 *                                   memcheck describes it before we abort
 *   realloc in place                RESIZEINPLACE (slow.c, _pm_slow_resize)
 *   malloc_usable_size              the size asked for, found by probing
 *                                   addressability (slow.c, vg_requested);
 *                                   realloc copies that much, and a large
 *                                   block moves by copy, not mremap (pools/alloc.c)
 *   a free-list link                made addressable just around each read or
 *                                   write by poolmalloc, then no-access again
 *                                   (pool.c, span.c, heap.c)
 *   never-used and free blocks,     no-access (pool_init, span_new)
 *   the slack at a pool's end
 *   allocator records (large        mmap'd metadata chunks: defined, no heap
 *   records, heaps)                 block (arenas/meta.c)
 *   pool headers, span descriptors, ordinary memory: only poolmalloc touches
 *   arena headers, the page map     it; none of it holds a plain pointer to a
 *                                   block handed out (bump and limit are
 *                                   offsets, large records mangle theirs),
 *                                   so a lost block is "definitely lost"
 * helgrind and drd (_pm_vg_race_tool, found at start-up): happens-before
 * marks around the remote-free stacks, the one hand-off of memory between
 * threads that takes no lock (heap.c); the words other threads read with
 * atomics and no lock (live bitmaps, heap states and remote-free heads,
 * the page map's root) are left untracked (PM_VG_ATOMIC_WORDS).
 */
#ifndef PM_VG_H
#define PM_VG_H

#include "base/base.h"

#if defined(PM_VALGRIND) && PM_VALGRIND
#include <valgrind/drd.h>
#include <valgrind/helgrind.h>
#include <valgrind/memcheck.h>

PM_INTERNAL extern int _pm_vg_race_tool; /* running under helgrind or drd (start-up) */

#define pm_vg_on() pm_unlikely(_pm_slow & PM_SLOW_VALGRIND)   /* memcheck */
#define pm_vg_race_on() pm_unlikely(_pm_vg_race_tool)         /* helgrind, drd */
#define pm_vg_any() pm_unlikely((_pm_slow & PM_SLOW_VALGRIND) | (unsigned)_pm_vg_race_tool)

/* The requests themselves, for paths that tested pm_vg_on() once already
 * (the free-list links, inside loops). */
#define PM_VG_REQ_NOACCESS(p, n) ((void)VALGRIND_MAKE_MEM_NOACCESS((p), (n)))
#define PM_VG_REQ_UNDEFINED(p, n) ((void)VALGRIND_MAKE_MEM_UNDEFINED((p), (n)))
#define PM_VG_REQ_DEFINED(p, n) ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))

/* Tested forms, for everything else. */
#define PM_VG_IF(request)                                                                   \
    do {                                                                                    \
        if (pm_vg_on())                                                                     \
            request;                                                                        \
    } while (0)
#define PM_VG_NOACCESS(p, n) PM_VG_IF(PM_VG_REQ_NOACCESS(p, n))
#define PM_VG_UNDEFINED(p, n) PM_VG_IF(PM_VG_REQ_UNDEFINED(p, n))
#define PM_VG_DEFINED(p, n) PM_VG_IF(PM_VG_REQ_DEFINED(p, n))
#define PM_VG_MALLOCLIKE(p, n, zeroed) PM_VG_IF(VALGRIND_MALLOCLIKE_BLOCK((p), (n), 0, (zeroed)))
#define PM_VG_FREELIKE(p) PM_VG_IF(VALGRIND_FREELIKE_BLOCK((p), 0))

/* Happens-before for helgrind (its "user SO") and drd, on the address of
 * obj: what a thread did before _BEFORE(obj) happens before what another
 * does after a later _AFTER(obj). */
#define PM_VG_RACE_IF(hg_request, drd_request, a, b)                                        \
    do {                                                                                    \
        if (pm_vg_race_on()) {                                                              \
            VALGRIND_DO_CLIENT_REQUEST_STMT(hg_request, (a), (b), 0, 0, 0);                 \
            VALGRIND_DO_CLIENT_REQUEST_STMT(drd_request, (a), (b), 0, 0, 0);                \
        }                                                                                   \
    } while (0)
#define PM_VG_HAPPENS_BEFORE(obj)                                                           \
    PM_VG_RACE_IF(_VG_USERREQ__HG_USERSO_SEND_PRE, VG_USERREQ__DRD_ANNOTATE_HAPPENS_BEFORE, obj, 0)
#define PM_VG_HAPPENS_AFTER(obj)                                                            \
    PM_VG_RACE_IF(_VG_USERREQ__HG_USERSO_RECV_POST, VG_USERREQ__DRD_ANNOTATE_HAPPENS_AFTER, obj, 0)
/* [p, p + n) holds words that threads share through C11 atomics alone
 * (relaxed or acquire/release, no lock): helgrind and drd do not model
 * atomics and would report every such access as a race, so they are told
 * not to track the range; _END when the memory may become a program's
 * block again. */
#define PM_VG_ATOMIC_WORDS(p, n)                                                            \
    PM_VG_RACE_IF(_VG_USERREQ__HG_ARANGE_MAKE_UNTRACKED, VG_USERREQ__DRD_START_SUPPRESSION, p, n)
#define PM_VG_ATOMIC_WORDS_END(p, n)                                                        \
    PM_VG_RACE_IF(_VG_USERREQ__HG_ARANGE_MAKE_TRACKED, VG_USERREQ__DRD_FINISH_SUPPRESSION, p, n)

#else /* no valgrind support compiled in */

#define pm_vg_on() 0
#define pm_vg_race_on() 0
#define pm_vg_any() 0
#define PM_VG_REQ_NOACCESS(p, n) ((void)0)
#define PM_VG_REQ_UNDEFINED(p, n) ((void)0)
#define PM_VG_REQ_DEFINED(p, n) ((void)0)
#define PM_VG_NOACCESS(p, n) ((void)0)
#define PM_VG_UNDEFINED(p, n) ((void)0)
#define PM_VG_DEFINED(p, n) ((void)0)
#define PM_VG_MALLOCLIKE(p, n, zeroed) ((void)0)
#define PM_VG_FREELIKE(p) ((void)0)
#define PM_VG_HAPPENS_BEFORE(obj) ((void)0)
#define PM_VG_HAPPENS_AFTER(obj) ((void)0)
#define PM_VG_ATOMIC_WORDS(p, n) ((void)0)
#define PM_VG_ATOMIC_WORDS_END(p, n) ((void)0)

#endif

/* The allocator's own locks, taken and released through these.  drd
 * ignores a lock or unlock made inside another synchronisation call of the
 * program: inside pthread_cond_signal (glibc's compatibility version
 * callocs the condition variable's state on first use), a thread's first
 * malloc adopts a heap or takes an arena from the reserve under our locks,
 * and drd saw no order between what the previous holder did and what this
 * thread does next (the drd producer/consumer test failed about once in
 * 100 runs on that).  Its happens-before annotations count at any depth,
 * so each lock also carries one: after taking it, after what every
 * earlier holder did before releasing it.  The annotation's object is the
 * mutex's address plus one (drd files objects by exact address, and would
 * take the mutex's own for the wrong type).  Outside helgrind and drd, one
 * test of a flag. */
#define PM_VG_LOCK_ORDER(m) ((char *)(m) + 1)

static inline void pm_mutex_lock(pthread_mutex_t *m)
{
    pthread_mutex_lock(m);
    PM_VG_HAPPENS_AFTER(PM_VG_LOCK_ORDER(m));
}

static inline void pm_mutex_unlock(pthread_mutex_t *m)
{
    PM_VG_HAPPENS_BEFORE(PM_VG_LOCK_ORDER(m));
    pthread_mutex_unlock(m);
}

#endif
