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
    _pm_pagemap_init();   /* before anything is mapped */
    if (_pm_align_or)
        _pm_tc_classes_align();   /* POOLMALLOC_MIN_ALIGN=16 */
    if (pm_vg_race_on()) {
        _pm_pagemap_vg_init();
        _pm_large_vg_init();
        /* written when a range or a host's group splits (pools.h, pm_class_range) */
        PM_VG_ATOMIC_WORDS((void *)_pm_tc_classes, sizeof _pm_tc_classes);
    }
    if (_pm_slow & PM_SLOW_STATS)
        stats_fd = _pm_os_dup_stderr();
    /* The backup heap is set up when first needed (heap.c, _pm_heap_backup):
     * its fields' 6 KiB of .bss would otherwise be written in every
     * process, a page of them that nothing else there touches. */
    atomic_store_explicit(&_pm_initialized, 1, memory_order_release);
    errno = saved;
}

void _pm_process_exit(void)
{
    if (PM_STRICT)   /* a write after free into a block still waiting is reported too */
        _pm_strict_quarantine_check();
    if (_pm_slow & PM_SLOW_STATS)
        _pm_stats_report_exit(stats_fd >= 0 ? stats_fd : 2);   /* stats.c: file, JSON */
}

/* Runs at thread exit (glibc calls key destructors with the value). */
static void thread_exit(void *value)
{
    pm_heap_t *heap = value;
    if ((uintptr_t)heap > (uintptr_t)PM_HEAP_DEAD && heap == _pm_tls_heap) {
        _pm_tc_flush(heap);             /* its cached blocks go home (into our batch too) */
        _pm_tls_heap = PM_HEAP_DEAD;    /* from here on no large free uses the slot */
        _pm_large_slot_flush();
        _pm_heap_batch_release(heap);   /* our batch of other heaps' blocks goes home */
        _pm_heap_route();
        _pm_heap_abandon(heap);
    }
}

/* ---- fork ----
 *
 * The prepare handler takes every lock of the floors below and of the heaps,
 * in one order (heaps, arenas, large cache, records: each later one is a leaf
 * of the earlier ones), so that the child inherits consistent structures;
 * the parent handler releases them in reverse, the child handler
 * re-initialises them.  Three things make that safe against the rest of the
 * process:
 *
 * - stdio (glibc bug 19431, tst-malloc-fork-deadlock).  glibc's fork runs the
 *   prepare handlers, then takes its stdio list lock (_IO_list_lock), then its
 *   own malloc locks.  fflush(NULL) holds the list lock while it waits for
 *   each FILE's lock, and getline holds a FILE's lock while it reallocs.  So a
 *   handler that took our locks first and then waited in fork for the list
 *   lock could close a cycle (forker -> fflush -> getline -> forker).  We take
 *   the list lock first, as glibc's own malloc effectively does.  It is a
 *   recursive lock: fork takes it again after the handlers and releases that
 *   before the parent handlers; the parent handler releases ours.  In the
 *   child glibc resets it before the child handlers run (when it saw several
 *   threads; we reset it too, which is idempotent, in case it did not), so the
 *   child handler must not unlock it.  The three functions are glibc's
 *   exported GLIBC_2.2.5 symbols, declared weak: elsewhere they are absent and
 *   only the allocator locks are taken.
 * - a single-threaded process (tst-mallocfork2).  As glibc does for its own
 *   malloc, nothing is locked: no other thread can hold a lock, and a signal
 *   handler that forks may interrupt this very thread inside malloc, holding
 *   one.  The child of such a fork may only call async-signal-safe functions.
 * - re-entry.  A signal handler may fork while its thread is inside fork (in
 *   a handler, or between them).  A nested prepare, parent or child on the
 *   same thread does nothing: the outer fork owns whatever is held.  (With
 *   glibc 2.36 this matters little: a single-threaded process locks nothing,
 *   and in a multi-threaded one glibc's own atfork lock already forbids a
 *   nested fork; it keeps the handlers safe where that is not so.)
 *
 * Whether the process is single-threaded (base/os.h) is read once, in prepare; the parent
 * and child handlers undo exactly what prepare did (fork_held). */

enum { FORK_LOCKS = 1, FORK_STDIO = 2 };
static __thread unsigned fork_depth __attribute__((tls_model("initial-exec")));
static __thread unsigned fork_held __attribute__((tls_model("initial-exec")));

static void fork_prepare(void)
{
    if (fork_depth++ > 0)
        return;   /* a signal handler forking inside this thread's fork */
    unsigned held = 0;
    if (!_pm_os_single_threaded()) {
        if (_pm_os_stdio_lock())
            held |= FORK_STDIO;
        if (PM_STRICT)
            _pm_strict_fork_prepare();
        _pm_heaps_fork_prepare();
        _pm_arena_fork_prepare();
        _pm_large_fork_prepare();
        _pm_meta_fork_prepare();
        held |= FORK_LOCKS;
    }
    fork_held = held;
}

static void fork_parent(void)
{
    if (fork_depth > 1) {
        fork_depth--;
        return;
    }
    unsigned held = fork_held;
    if (held & FORK_LOCKS) {
        _pm_meta_fork_parent();
        _pm_large_fork_parent();
        _pm_arena_fork_parent();
        _pm_heaps_fork_parent();
        if (PM_STRICT)
            _pm_strict_fork_parent();
    }
    if (held & FORK_STDIO)
        _pm_os_stdio_unlock();
    fork_held = 0;
    fork_depth = 0;
}

static void fork_child(void)
{
    if (fork_depth > 1) {
        fork_depth--;
        return;
    }
    unsigned held = fork_held;
    if (held & FORK_LOCKS) {
        _pm_meta_fork_child();
        _pm_large_fork_child();
        _pm_arena_fork_child();
        _pm_heaps_fork_child();
        if (PM_STRICT)
            _pm_strict_fork_child();
    }
    if (held & FORK_STDIO)
        _pm_os_stdio_reset();
    fork_held = 0;
    fork_depth = 0;
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
    if (err == 0 && option == PM_OPTION_MIN_ALIGN)
        _pm_tc_classes_align();
    return err;
}
