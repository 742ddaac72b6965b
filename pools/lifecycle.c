/* lifecycle.c -- the process and its threads, as the pools see them
 * (floor 2): first use, thread exit, fork, exit; and the public options.
 *
 * poolmalloc initialises itself on first use, whenever that is: the dynamic
 * loader and glibc call malloc before any constructor runs.  Process
 * initialisation (_pm_process_init) only reads the environment and never
 * allocates.  The thread-exit key and the fork handlers are registered
 * afterwards (_pm_thread_init_late), by the first thread that has a heap,
 * because registering them can itself call malloc.  preload/ only calls
 * down: its constructor runs _pm_process_init, its destructor
 * _pm_process_exit.
 */
#include "pools/pools.h"

#include <errno.h>
#include <sched.h>

_Atomic int _pm_initialized;
static _Atomic int late_claimed;
static _Atomic int key_ready;
static int stats_fd = -1;   /* stderr as it was at start-up, for the report at exit */

void _pm_process_init(void)
{
    if (pm_likely(atomic_load_explicit(&_pm_initialized, memory_order_acquire)))
        return;
    int saved = errno;
    _pm_base_init();
    if (pm_vg_race_on())
        _pm_pagemap_vg_init();
    if (_pm_slow & PM_SLOW_STATS)
        stats_fd = _pm_os_dup_stderr();
    _pm_heap_backup();
    atomic_store_explicit(&_pm_initialized, 1, memory_order_release);
    errno = saved;
}

void _pm_process_exit(void)
{
    if (_pm_slow & PM_SLOW_STATS)
        _pm_stats_report_exit(stats_fd >= 0 ? stats_fd : 2);   /* stats.c: file, JSON */
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

/* fork: every lock of the floors below and of the heaps, in one order
 * (heaps, arenas, large cache, records: each later one is a leaf of the
 * earlier ones), released in reverse. */
static void fork_prepare(void)
{
    _pm_heaps_fork_prepare();
    _pm_arena_fork_prepare();
    _pm_large_fork_prepare();
    _pm_meta_fork_prepare();
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
        if (_pm_os_thread_exit_key(thread_exit) == 0)
            atomic_store_explicit(&key_ready, 1, memory_order_release);
        _pm_os_atfork(fork_prepare, fork_parent, fork_child);
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
            _pm_os_thread_exit_set(heap);
    }
    errno = saved;
}

/* ---- options (the table is base/options.c) ---- */

long pm_option_get(pm_option_t option)
{
    if ((unsigned)option >= PM_OPTION_COUNT)
        return -1;
    return _pm_option_values[option];
}

int pm_option_set(pm_option_t option, long value)
{
    _pm_process_init();   /* so that the environment does not override it later */
    int err = _pm_option_store((int)option, value);
    if (err == 0 && option == PM_OPTION_STATS)
        _pm_heap_route();   /* other threads follow at their next slow path (heap.c) */
    return err;
}
