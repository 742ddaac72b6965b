/* churn.c -- many short-lived threads that each allocate and exit (the
 * shapes of mimalloc-bench's glibc-thread, alloc-testN and threadtest; the
 * code is this project's own).
 *
 * thread_churn/N: one driving thread per core; each batch of N operations
 *   is one short-lived thread that the driver starts and joins.  That thread
 *   fills a working set of 64 blocks, replaces random ones until it has made
 *   N mallocs in all, frees the rest and exits.  Sizes: 7 in 8 drawn from
 *   16..512 bytes, 1 in 8 from 513..4096.  What it measures besides malloc
 *   and free: setting up a heap for a new thread and giving back, or handing
 *   on, the memory of one that has exited.  N = 200: a thread per small
 *   request, start-up and exit dominate; N = 10000: a longer task.
 * One operation: one malloc and its free.  Each thread's PRNG is seeded by
 * its driver and generation; blocks carry tags checked before free.
 */
#include "sync.h"

#define TC_LIVE 64

typedef struct tc_job_s {
    int64_t ops;                /* mallocs to make, >= TC_LIVE */
    uint64_t seed;
} tc_job_t;

static char *tc_block(uint64_t *rng)
{
    uint64_t r = pmb_rand(rng);
    uint32_t size = (r & 7) != 0 ? 16 + (uint32_t)((r >> 8) % 497) : 513 + (uint32_t)((r >> 8) % 3584);
    char *p = pmb_check(malloc(size), size);
    pmb_tag(p, size);
    return p;
}

static void *tc_thread(void *arg)
{
    const tc_job_t *job = arg;
    uint64_t rng = job->seed;
    char *live[TC_LIVE];
    for (int i = 0; i < TC_LIVE; i++)
        live[i] = tc_block(&rng);
    for (int64_t i = TC_LIVE; i < job->ops; i++) {
        uint32_t slot = (uint32_t)(pmb_rand(&rng) >> 40) & (TC_LIVE - 1);
        pmb_tag_check(live[slot], "thread_churn");
        free(live[slot]);
        live[slot] = tc_block(&rng);
    }
    for (int i = 0; i < TC_LIVE; i++) {
        pmb_tag_check(live[i], "thread_churn");
        free(live[i]);
    }
    return NULL;
}

void pmb_thread_churn(pmb_state *st)
{
    int t = pmb_thread_index(st);
    tc_job_t job = {pmb_arg(st, 0), 0};
    if (job.ops < TC_LIVE) {
        pmb_fail(st, "thread_churn wants at least 64 operations per thread");
        return;
    }
    uint64_t gen = 0;
    while (pmb_keep_running_batch(st, job.ops)) {
        pthread_t th;
        job.seed = ((0xCBBB9D5DC1059ED8ULL * (uint64_t)(t + 1)) ^ (++gen * 0x9E3779B97F4A7C15ULL)) | 1;
        if (pthread_create(&th, NULL, tc_thread, &job) != 0 || pthread_join(th, NULL) != 0) {
            fprintf(stderr, "pm_bench: thread_churn: cannot run a thread\n");
            abort();
        }
    }
}
