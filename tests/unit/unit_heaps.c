/* Thread heaps: a thread's heap is handed over at exit and adopted by the
 * next thread, so sequential threads reuse one heap; blocks freed after
 * their thread exited are reused.  Blocks another thread frees come home in
 * batches (heap.c): at that thread's exit, and while it lives, after a
 * bounded number of its allocation slow paths, also when their owner has
 * exited meanwhile. */
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

/* Batches.  main allocates NB blocks of a class nothing else uses (200
 * bytes: 20 per pool, NB / 20 pools); a consumer frees them in an order
 * that visits every pool in turn, so the last blocks it frees (what may
 * still wait in its batch) lie in as many pools as the batch holds. */
#define NB 1000
#define NPOOLS (NB / 20)
static void *mine[NB];
static pthread_mutex_t step_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t step_cond = PTHREAD_COND_INITIALIZER;
static int step;

static void set_step(int s)
{
    pthread_mutex_lock(&step_lock);
    step = s;
    pthread_cond_broadcast(&step_cond);
    pthread_mutex_unlock(&step_lock);
}

static void wait_step(int s)
{
    pthread_mutex_lock(&step_lock);
    while (step != s)
        pthread_cond_wait(&step_cond, &step_lock);
    pthread_mutex_unlock(&step_lock);
}

static void free_across_pools(void)
{
    for (int i = 0; i < NB; i++)
        pm_free(mine[(i % NPOOLS) * 20 + i / NPOOLS]);
}

static void *consumer_exits(void *arg)
{
    (void)arg;
    free_across_pools();          /* never allocated: it gets a heap to batch with */
    return NULL;
}

static void *consumer_lives(void *arg)
{
    (void)arg;
    free_across_pools();
    /* Allocation slow paths of its own (504-byte blocks: 8 per pool), then
     * its blocks back: at most the list head and PM_SPARE_POOLS spares stay. */
    static void *own[800];
    for (int i = 0; i < 800; i++)
        own[i] = pm_malloc(504);
    for (int i = 0; i < 800; i++)
        pm_free(own[i]);
    set_step(1);                  /* alive while main looks */
    wait_step(2);
    return NULL;
}

static void batches(void)
{
    for (int round = 0; round < 2; round++) {
        pm_malloc_trim(0);
        pm_stats_t before = snap();
        for (int i = 0; i < NB; i++)
            mine[i] = pm_malloc(200);
        set_step(0);
        pthread_t t;
        pthread_create(&t, NULL, round == 0 ? consumer_exits : consumer_lives, NULL);
        if (round == 0)
            pthread_join(t, NULL);
        else
            wait_step(1);
        pm_malloc_trim(0);        /* takes back what came home, releases empty pools */
        pm_stats_t after = snap();
        if (round == 0) {
            CHECK("an exiting thread's batch comes home", after.pools_live <= before.pools_live);
        } else {
            /* (plus a pool for each of its two classes: the one block its
             * thread cache keeps once frees have outrun its mallocs) */
            if (after.pools_live > before.pools_live + 1 + PM_SPARE_POOLS + 2)
                printf("pools live: %llu before, %llu after\n",
                       (unsigned long long)before.pools_live, (unsigned long long)after.pools_live);
            CHECK("a living thread's batch comes home after its slow paths",
                  after.pools_live <= before.pools_live + 1 + PM_SPARE_POOLS + 2);
            set_step(2);
            pthread_join(t, NULL);
        }
    }
}

/* The owner exits while a consumer's batch holds its blocks: free's fast
 * remote path adds blocks without reading the owner's state, so the batch
 * reaches an abandoned heap, which takes the blocks under its lock. */
static void *owner_exits(void *arg)
{
    (void)arg;
    for (int i = 0; i < NB; i++)
        mine[i] = pm_malloc(200);
    set_step(1);
    wait_step(2);                 /* the consumer has freed half of them */
    return NULL;
}

static void *consumer_outlives(void *arg)
{
    (void)arg;
    void *own = pm_malloc(24);    /* a heap of its own before it frees */
    wait_step(1);
    for (int i = 0; i < NB / 2; i++)
        pm_free(mine[i]);
    set_step(2);
    wait_step(3);                 /* the owner has exited */
    for (int i = NB / 2; i < NB; i++)
        pm_free(mine[i]);
    pm_free(own);
    return NULL;
}

static void owner_exits_first(void)
{
    pm_malloc_trim(0);
    pm_stats_t before = snap();
    set_step(0);
    pthread_t o, c;
    pthread_create(&c, NULL, consumer_outlives, NULL);
    pthread_create(&o, NULL, owner_exits, NULL);
    pthread_join(o, NULL);
    set_step(3);
    pthread_join(c, NULL);
    pm_malloc_trim(0);
    pm_stats_t after = snap();
    CHECK("blocks batched for an owner that exited come home", after.pools_live <= before.pools_live);
    if (after.pools_live > before.pools_live)
        fprintf(stderr, "pools %llu -> %llu\n", (unsigned long long)before.pools_live,
                (unsigned long long)after.pools_live);
}

/* The records of a living consumer's batches come back to it once their
 * owner has freed the blocks (heap.c: batch_keep, one chain per heap), so
 * a producer/consumer pair that runs for ever uses a bounded number of
 * records.  A record that never came back would be replaced by a new one:
 * 40 records (20 KiB) per round here. */
#define NREC (40 * PM_REMOTE_BATCH)
static void *handed[NREC];

static void *consumer_loop(void *arg)
{
    (void)arg;
    pm_free(pm_malloc(96));       /* a heap of its own: its remote frees are batched */
    for (int round = 0;; round++) {
        wait_step(2 * round + 1);
        if (!handed[0])
            return NULL;
        for (int i = 0; i < NREC; i++)
            pm_free(handed[i]);
        set_step(2 * round + 2);
    }
}

static void records_come_back(void)
{
    enum { ROUNDS = 60 };
    set_step(0);
    pthread_t t;
    pthread_create(&t, NULL, consumer_loop, NULL);
    uint64_t meta_after_first = 0;
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < NREC; i++)
            handed[i] = pm_malloc(96);
        set_step(2 * round + 1);
        wait_step(2 * round + 2);
        pm_malloc_trim(0);        /* takes back what came home: the records go back */
        if (round == 1)
            meta_after_first = snap().meta_bytes;
    }
    handed[0] = NULL;
    set_step(2 * ROUNDS + 1);
    pthread_join(t, NULL);
    uint64_t meta = snap().meta_bytes;
    CHECK("a consumer's batch records come back to it", meta <= meta_after_first + 64 * 1024);
    if (meta > meta_after_first + 64 * 1024)
        fprintf(stderr, "records: %llu -> %llu bytes\n", (unsigned long long)meta_after_first,
                (unsigned long long)meta);
}

/* Whole pools freed by another thread come back to the owner, which
 * empties and carves them again; pools of which some blocks stay out keep
 * those.  Rounds free every block (round % 3 == 0), all but every 97th
 * (1), or every block of the odd pools (2), from a thread with a heap of
 * its own (so it batches), which exits or stays alive.  Whatever the mix,
 * no block may be out twice, and the blocks kept keep their bytes. */
#define WP_SIZE 88                    /* a class nothing else here uses: 46 a pool */
#define WP_BLOCKS (46 * 50)
static unsigned char *wp[WP_BLOCKS];
static int wp_round;

static int wp_kept(int round, int i)
{
    return round % 3 == 1 ? i % 97 == 0 : round % 3 == 2 ? (i / 46) % 2 == 0 : 0;
}

static void *wp_consumer(void *arg)
{
    (void)arg;
    void *own = pm_malloc(24);        /* a heap of its own: it batches its remote frees */
    for (int i = 0; i < WP_BLOCKS; i++)
        if (!wp_kept(wp_round, i)) {
            pm_free(wp[i]);
            wp[i] = NULL;
        }
    pm_free(own);
    if (wp_round % 2) {               /* alive: its batch goes home after its slow paths */
        static void *tmp[800];
        for (int i = 0; i < 800; i++)
            tmp[i] = pm_malloc(504);
        for (int i = 0; i < 800; i++)
            pm_free(tmp[i]);
    }
    return NULL;
}

static int ptr_cmp(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

static void whole_pools(void)
{
    int bad_bytes = 0, overlaps = 0;
    for (int round = 0; round < 9; round++) {
        for (int i = 0; i < WP_BLOCKS; i++)
            if (!wp[i]) {
                wp[i] = pm_malloc(WP_SIZE);
                memset(wp[i], (i * 7 + round) & 0xff, WP_SIZE);
            }
        static uintptr_t sorted[WP_BLOCKS];
        for (int i = 0; i < WP_BLOCKS; i++)
            sorted[i] = (uintptr_t)wp[i];
        qsort(sorted, WP_BLOCKS, sizeof sorted[0], ptr_cmp);
        for (int i = 1; i < WP_BLOCKS; i++)
            overlaps += sorted[i] < sorted[i - 1] + WP_SIZE;
        unsigned char *first[WP_BLOCKS];
        memcpy(first, wp, sizeof first);
        wp_round = round;
        pthread_t t;
        pthread_create(&t, NULL, wp_consumer, NULL);
        pthread_join(t, NULL);
        for (int i = 0; i < WP_BLOCKS; i++) {
            if (!wp[i])
                continue;
            /* kept since it was filled, in this round or an earlier one */
            for (size_t k = 0; k < WP_SIZE; k++)
                bad_bytes += first[i][k] != first[i][0];
        }
    }
    CHECK("no block is handed out twice after whole pools come back", overlaps == 0);
    CHECK("the blocks kept keep their bytes", bad_bytes == 0);
    for (int i = 0; i < WP_BLOCKS; i++)
        pm_free(wp[i]);
}

int main(void)
{
    whole_pools();
    batches();
    records_come_back();
    owner_exits_first();
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
