/* lifecycle.c -- process and thread lifecycle (shim): first use, thread
 * exit, fork, exit.
 *
 * poolmalloc initialises itself on first use, whenever that is: the dynamic
 * loader and glibc call malloc before any constructor runs.  Process
 * initialisation (_pm_process_init) only reads the environment and never
 * allocates.  The thread-exit key and the fork handlers are registered
 * afterwards (_pm_thread_init_late), by the first thread that has a heap,
 * because registering them can itself call malloc.
 */
#include "include/internal/internal.h"

#include <errno.h>
#include <sched.h>

_Atomic int _pm_initialized;
uintptr_t _pm_secret;   /* safe linking (types.h); fixed before the first block exists */
static _Atomic int late_claimed;
static _Atomic int key_ready;
static pthread_key_t heap_key;
static int stats_fd = -1;   /* stderr as it was at start-up, for the report at exit */

void _pm_process_init(void)
{
    if (pm_likely(atomic_load_explicit(&_pm_initialized, memory_order_acquire)))
        return;
    int saved = errno;
    /* Once, even if two threads get here first at the same time: blocks
     * freed under one secret must be read back under the same one. */
    uintptr_t none = 0, secret = (uintptr_t)_pm_os_random() | 1;
    __atomic_compare_exchange_n(&_pm_secret, &none, secret, false, __ATOMIC_RELAXED,
                                __ATOMIC_RELAXED);
    _pm_options_init();
    _pm_vg_init();
    if (PM_STRICT)
        _pm_slow |= PM_SLOW_STRICT;   /* every block through the hooks, for ever */
    if (_pm_slow & PM_SLOW_STATS)
        stats_fd = _pm_os_dup_stderr();
    _pm_heap_backup();
    atomic_store_explicit(&_pm_initialized, 1, memory_order_release);
    errno = saved;
}

/* Runs at thread exit (glibc calls key destructors with the value). */
static void thread_exit(void *value)
{
    pm_heap_t *heap = value;
    if ((uintptr_t)heap > (uintptr_t)PM_HEAP_DEAD && heap == _pm_tls_heap) {
        _pm_tls_heap = PM_HEAP_DEAD;
        _pm_heap_route();
        _pm_heap_abandon(heap);
    }
}

static void fork_prepare(void)
{
    _pm_heaps_fork_prepare();
    _pm_arena_fork_prepare();
    _pm_large_fork_prepare();
    _pm_meta_fork_prepare();   /* a leaf: taken last */
}

static void fork_parent(void)
{
    _pm_meta_fork_parent();
    _pm_large_fork_parent();
    _pm_arena_fork_parent();
    _pm_heaps_fork_parent();
}

static void fork_child(void)
{
    _pm_meta_fork_child();
    _pm_large_fork_child();
    _pm_arena_fork_child();
    _pm_heaps_fork_child();
}

void _pm_thread_init_late(void)
{
    int saved = errno;
    if (!atomic_load_explicit(&late_claimed, memory_order_acquire) &&
        !atomic_exchange_explicit(&late_claimed, 1, memory_order_acq_rel)) {
        if (pthread_key_create(&heap_key, thread_exit) == 0)
            atomic_store_explicit(&key_ready, 1, memory_order_release);
        pthread_atfork(fork_prepare, fork_parent, fork_child);
    }
    /* Another thread may be creating the key right now (it does not
     * allocate, so this wait is short); without it this thread's heap would
     * never be handed over. */
    for (int spins = 0; !atomic_load_explicit(&key_ready, memory_order_acquire) && spins < 100000;
         spins++)
        sched_yield();
    if (atomic_load_explicit(&key_ready, memory_order_acquire)) {
        pm_heap_t *heap = _pm_tls_heap;
        if ((uintptr_t)heap > (uintptr_t)PM_HEAP_DEAD)
            pthread_setspecific(heap_key, heap);
    }
    errno = saved;
}

__attribute__((constructor)) static void pm_constructor(void)
{
    _pm_process_init();
}

__attribute__((destructor)) static void pm_destructor(void)
{
    if (_pm_slow & PM_SLOW_STATS)
        _pm_stats_report_exit(stats_fd >= 0 ? stats_fd : 2);   /* stats.c: file, JSON */
}
