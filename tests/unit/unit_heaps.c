/* Thread heaps: a thread's heap is handed over at exit and adopted by the
 * next thread, so sequential threads reuse one heap; blocks freed after
 * their thread exited are reused. */
#include "pm_test.h"
#include "pools/pools.h"
#include <pthread.h>

static pm_stats_t snap(void)
{
    pm_stats_t s;
    pm_stats_get(&s);
    return s;
}

static void *keep[1000];

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        pm_free(keep[i]);             /* blocks of an exited thread */
        keep[i] = pm_malloc(48);
        memset(keep[i], i & 0xff, 48);
    }
    void *tmp[100];
    for (int i = 0; i < 100; i++)
        tmp[i] = pm_malloc((size_t)i * 5);
    for (int i = 0; i < 100; i++)
        pm_free(tmp[i]);
    return NULL;
}

static void *remote_free(void *arg)
{
    void **v = arg;
    for (int i = 0; i < 1000; i++)
        pm_free(v[i]);
    return NULL;
}

int main(void)
{
    pm_free(pm_malloc(1));
    pm_stats_t s0 = snap();
    for (int round = 0; round < 500; round++) {
        pthread_t t;
        pthread_create(&t, NULL, worker, NULL);
        pthread_join(t, NULL);
        pm_stats_t s = snap();
        if (s.heaps_live + s.heaps_abandoned > s0.heaps_live + s0.heaps_abandoned + 1) {
            CHECK("sequential threads share one heap", 0);
            break;
        }
    }
    pm_stats_t s1 = snap();
    CHECK("the exited thread's heap waits for adoption", s1.heaps_abandoned >= 1);
    CHECK("bounded pools after 500 threads", s1.pools_live <= s0.pools_live + 40);
    for (int i = 0; i < 1000; i++)
        pm_free(keep[i]);       /* main frees blocks of an abandoned heap */

    /* Cross-thread frees come back to the owner. */
    static void *v[1000];
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 1000; i++)
            v[i] = pm_malloc(64);
        pthread_t t;
        pthread_create(&t, NULL, remote_free, v);
        pthread_join(t, NULL);
    }
    pm_stats_t s2 = snap();
    CHECK("remote frees reused, no growth", s2.pools_live <= s1.pools_live + 40);
    return pm_test_finish();
}
