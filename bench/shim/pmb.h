/* pmb.h -- the C side of the benchmark shim (bench/shim/shim.cpp).
 *
 * Workloads are written in C against this interface; shim.cpp registers them
 * with google benchmark and implements the functions below on top of
 * benchmark::State.  A workload runs its operations in batches:
 *
 *     while (pmb_keep_running_batch(st, 256))
 *         for (int i = 0; i < 256; i++) { ...one operation... }
 *
 * Each batch counts as `n` iterations, so google benchmark reports time per
 * operation and items_per_second = operations per second (the shim sets the
 * items processed to the iterations unless the workload calls pmb_set_items).
 * In a multi-threaded case every thread runs the function with its own
 * state; all threads enter the loop together and leave it together (google
 * benchmark's start/stop barrier), so thread 0 may set up shared data before
 * its loop and tear it down after.
 */
#ifndef PMB_H
#define PMB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pmb_state pmb_state;   /* opaque: a benchmark::State */

/* Start or continue timing; 1 while another batch of n operations should
 * run, 0 when the measurement is complete.  (State::KeepRunningBatch) */
int pmb_keep_running_batch(pmb_state *st, int64_t n);

int64_t pmb_arg(pmb_state *st, int i);     /* the case's i-th argument (State::range) */
int pmb_thread_index(pmb_state *st);       /* 0 .. pmb_threads()-1 */
int pmb_threads(pmb_state *st);            /* threads running this case */

/* Override the operation count this thread reports (default: iterations). */
void pmb_set_items(pmb_state *st, int64_t items);

/* Stop and start the clock around untimed work inside the loop (costly: a
 * pair of clock reads each, so only around large chunks of work). */
void pmb_pause_timing(pmb_state *st);
void pmb_resume_timing(pmb_state *st);

/* Report a failure (the case is marked as errored); the loop then ends. */
void pmb_fail(pmb_state *st, const char *message);

/* benchmark::DoNotOptimize: the compiler must assume `p` and the memory it
 * points to are read and written here, so it can neither elide the
 * allocation that produced p nor the stores into it. */
static inline void pmb_do_not_optimize(const void *p)
{
    __asm__ volatile("" : : "r,m"(p) : "memory");
}

/* benchmark::ClobberMemory: every pending store to memory must be done. */
static inline void pmb_clobber_memory(void)
{
    __asm__ volatile("" : : : "memory");
}

#ifdef __cplusplus
}
#endif
#endif /* PMB_H */
