/* sharing.c -- false sharing between threads (the shapes of mimalloc-bench's
 * cache-thrash and cache-scratch; the code is this project's own).
 *
 * One thread per core.  Each operation mallocs a small object (8 bytes),
 * writes into it FS_WRITES times, checks what it wrote and frees it.  If the
 * allocator places objects of different threads in one cache line, the
 * writes bounce that line between cores and each operation costs
 * microseconds instead of a few hundred nanoseconds.
 * false_sharing_active: threads allocate on their own from the start
 *   (cache-thrash: does the allocator itself mix threads' objects in a line).
 * false_sharing_passive: before the loop, thread 0 allocates one object per
 *   thread, side by side, and hands object t to thread t, which frees it
 *   before its first operation (cache-scratch: does a freed object return to
 *   the heap of the thread that freed it, so that each thread then reuses a
 *   slot in a line shared with the others).
 * One operation: malloc + FS_WRITES writes + free.
 */
#include "sync.h"

#define FS_SIZE 8
#define FS_WRITES 256
#define FS_BATCH 64

static char *fs_handed[PMB_MAX_THREADS];

static void false_sharing(pmb_state *st, int passive)
{
    int t = pmb_thread_index(st), n = pmb_threads(st);
    if (n > PMB_MAX_THREADS) {
        fprintf(stderr, "pm_bench: at most %d threads\n", PMB_MAX_THREADS);
        abort();
    }
    if (passive && t == 0) {
        for (int i = 0; i < n; i++)
            fs_handed[i] = pmb_check(malloc(FS_SIZE), FS_SIZE);
    }
    int first = 1;
    unsigned long sum = 0;
    while (pmb_keep_running_batch(st, FS_BATCH)) {
        if (passive && first) {
            /* The start barrier has published thread 0's objects. */
            free(fs_handed[t]);
            first = 0;
        }
        for (int i = 0; i < FS_BATCH; i++) {
            volatile char *p = pmb_check(malloc(FS_SIZE), FS_SIZE);
            for (int j = 0; j < FS_SIZE; j++)
                p[j] = (char)j;
            for (int w = 0; w < FS_WRITES; w++)
                p[w & (FS_SIZE - 1)] += 1;
            for (int j = 0; j < FS_SIZE; j++) {
                if (p[j] != (char)(j + FS_WRITES / FS_SIZE)) {
                    fprintf(stderr, "pm_bench: false_sharing: object %p was written by "
                                    "someone else\n", (void *)p);
                    abort();
                }
            }
            sum += (unsigned char)p[0];
            free((void *)p);
        }
    }
    pmb_do_not_optimize(&sum);
}

void pmb_false_sharing_active(pmb_state *st)
{
    false_sharing(st, 0);
}

void pmb_false_sharing_passive(pmb_state *st)
{
    false_sharing(st, 1);
}
