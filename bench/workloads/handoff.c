/* handoff.c -- servers whose blocks are freed by other threads than the
 * ones that allocated them (the shapes of mimalloc-bench's larsonN,
 * xmalloc-testN and rptestN; the code is this project's own).
 *
 * larson_server: one thread per core, each owning one of T sets of 1024
 *   blocks (8..1000 bytes).  A generation: every thread starts a short-lived
 *   worker thread that takes over a set the previous generation's worker of
 *   the neighbouring thread used, replaces 2048 random blocks of it (free the
 *   old, malloc a new one), and exits.  So most frees are of blocks a thread
 *   that has exited allocated, as in Larson and Krishnan's server where each
 *   thread hands its objects to its successor.  One operation: one
 *   replacement (malloc + free).
 * xmalloc_batches: one thread per core, each both producing and consuming:
 *   it allocates a batch of 64 blocks (16..256 bytes), mails it to the next
 *   thread, and frees whatever batches it has been mailed.  Every block is
 *   freed by another thread than its allocator.  One operation: one block
 *   passed (a malloc and a remote free).
 * rptest_mix: one thread per core, each with a working set of 256 blocks of
 *   log-uniform sizes 16..16383 bytes (most small, a long tail of medium
 *   ones).  Of every 256 operations, 224 replace a random block locally and
 *   32 replace one whose old block is mailed, 16 to a batch, to the next
 *   thread, which frees it.  One operation: one malloc and the free of the
 *   block it replaces.
 *
 * many_producers: one consumer (the benchmark's thread) and four producer
 *   threads of its own.  A round: each producer makes a quarter of 16384
 *   blocks (16..256 bytes), every fourth slot of one array, so the array
 *   holds the producers' blocks in turn; then the consumer frees them all,
 *   in slot order.  A logger or a writer thread freeing every worker's
 *   messages, the last stage of a pipeline fed by several threads: each
 *   free is of a block of another heap than the one before.  One
 *   operation: one block (a producer's malloc and the consumer's free);
 *   wall time, the producers sharing the cores.
 *
 * The work is fixed per operation and drawn from PRNGs seeded per thread
 * and generation.  Blocks carry tags (sync.h) checked before every free.
 * The mailing workloads bound their memory: a thread may be at most
 * MAIL_LAG batches ahead of the thread it mails to, and waits (freeing its
 * own mail meanwhile) otherwise.  The wait cannot deadlock: a waiting thread
 * is strictly ahead of the next one, and the threads form a ring, so some
 * thread in it is not waiting.
 */
#include "sync.h"

static int handoff_threads(pmb_state *st)
{
    int n = pmb_threads(st);
    if (n > PMB_MAX_THREADS) {
        fprintf(stderr, "pm_bench: at most %d threads\n", PMB_MAX_THREADS);
        abort();
    }
    return n;
}

/* ---- larson_server ------------------------------------------------------ */

#define LS_SLOTS 1024           /* power of two */
#define LS_REPLACE 2048         /* replacements per worker */
#define LS_MIN 8
#define LS_MAX 1000

typedef struct ls_set_s {
    char *slots[LS_SLOTS];      /* the set's live blocks, each tagged */
    uint64_t rng;               /* the set's PRNG: its sizes and slots */
} ls_set_t;

static ls_set_t *ls_sets[PMB_MAX_THREADS];
static pmb_barrier_t ls_barrier;

static char *ls_block(uint64_t *rng)
{
    uint32_t size = LS_MIN + (uint32_t)(pmb_rand(rng) % (LS_MAX - LS_MIN + 1));
    char *p = pmb_check(malloc(size), size);
    pmb_tag(p, size);
    return p;
}

static void *ls_worker(void *arg)
{
    ls_set_t *set = arg;
    for (int i = 0; i < LS_REPLACE; i++) {
        uint32_t slot = (uint32_t)(pmb_rand(&set->rng) >> 40) & (LS_SLOTS - 1);
        pmb_tag_check(set->slots[slot], "larson_server");
        free(set->slots[slot]);
        set->slots[slot] = ls_block(&set->rng);
    }
    return NULL;
}

void pmb_larson_server(pmb_state *st)
{
    int t = pmb_thread_index(st), n = handoff_threads(st);
    if (t == 0) {
        /* The start barrier (the first pmb_keep_running_batch) publishes the
         * sets to the other threads. */
        for (int s = 0; s < n; s++) {
            ls_sets[s] = pmb_check(malloc(sizeof *ls_sets[s]), sizeof *ls_sets[s]);
            ls_sets[s]->rng = 0x9B05688C2B3E6C1FULL * (uint64_t)(s + 1);
            for (int i = 0; i < LS_SLOTS; i++)
                ls_sets[s]->slots[i] = ls_block(&ls_sets[s]->rng);
        }
    }
    unsigned gen = 0;
    while (pmb_keep_running_batch(st, LS_REPLACE)) {
        pthread_t worker;
        ls_set_t *set = ls_sets[((unsigned)t + gen) % (unsigned)n];
        if (pthread_create(&worker, NULL, ls_worker, set) != 0 || pthread_join(worker, NULL) != 0) {
            fprintf(stderr, "pm_bench: larson_server: cannot run a worker thread\n");
            abort();
        }
        gen++;
        /* No set is taken by the next generation before this one is done. */
        pmb_barrier_wait(&ls_barrier, (unsigned)n);
    }
    /* Every thread has passed the stop barrier: nobody uses the sets. */
    if (t == 0) {
        for (int s = 0; s < n; s++) {
            for (int i = 0; i < LS_SLOTS; i++) {
                pmb_tag_check(ls_sets[s]->slots[i], "larson_server");
                free(ls_sets[s]->slots[i]);
            }
            free(ls_sets[s]);
            ls_sets[s] = NULL;
        }
    }
}

/* ---- mail between neighbours -------------------------------------------- */

#define MAIL_LAG 16             /* batches a thread may be ahead of the next */

static pmb_mailbox_t mailboxes[PMB_MAX_THREADS];
static _Atomic int64_t mail_sent[PMB_MAX_THREADS];     /* batches each thread has sent */
static pthread_once_t mail_once = PTHREAD_ONCE_INIT;

static void mail_init(void)
{
    for (int i = 0; i < PMB_MAX_THREADS; i++)
        pthread_mutex_init(&mailboxes[i].lock, NULL);
}

/* Before the loop, on thread 0: empty counters (the start barrier
 * publishes them). */
static void mail_reset(int n)
{
    pthread_once(&mail_once, mail_init);
    for (int i = 0; i < n; i++)
        atomic_store_explicit(&mail_sent[i], 0, memory_order_relaxed);
}

/* Free the mail of thread t; the number of blocks freed. */
static int64_t mail_free(int t, const char *where)
{
    return pmb_batches_free(pmb_mailbox_take_all(&mailboxes[t]), where);
}

/* Send batch b from thread t to thread t+1, first waiting while t is more
 * than MAIL_LAG batches ahead of it. */
static void mail_send(int t, int n, pmb_batch_t *b, const char *where)
{
    int next = (t + 1) % n;
    int64_t mine = atomic_load_explicit(&mail_sent[t], memory_order_relaxed);
    unsigned spins = 0;
    while (mine - atomic_load_explicit(&mail_sent[next], memory_order_acquire) > MAIL_LAG) {
        mail_free(t, where);
        pmb_spin(&spins);
    }
    b->from = (uint32_t)t;
    pmb_mailbox_put(&mailboxes[next], b);
    atomic_store_explicit(&mail_sent[t], mine + 1, memory_order_release);
}

static pmb_batch_t *batch_new(uint32_t n)
{
    size_t bytes = sizeof(pmb_batch_t) + n * sizeof(char *);
    pmb_batch_t *b = pmb_check(malloc(bytes), bytes);
    b->n = n;
    return b;
}

/* ---- xmalloc_batches ---------------------------------------------------- */

#define XM_BATCH 64
#define XM_SIZES 4096           /* power of two */

void pmb_xmalloc_batches(pmb_state *st)
{
    int t = pmb_thread_index(st), n = handoff_threads(st);
    if (t == 0)
        mail_reset(n);
    uint32_t *sizes = pmb_check(malloc(XM_SIZES * sizeof *sizes), XM_SIZES * sizeof *sizes);
    pmb_uniform_sizes(sizes, XM_SIZES, 16, 256, 0x510E527FADE682D1ULL + (uint64_t)t);
    uint32_t k = 0;
    while (pmb_keep_running_batch(st, XM_BATCH)) {
        pmb_batch_t *b = batch_new(XM_BATCH);
        for (int i = 0; i < XM_BATCH; i++) {
            uint32_t size = sizes[k++ & (XM_SIZES - 1)];
            b->blocks[i] = pmb_check(malloc(size), size);
            pmb_tag(b->blocks[i], size);
        }
        mail_send(t, n, b, "xmalloc_batches");
        mail_free(t, "xmalloc_batches");
    }
    /* Past the stop barrier nobody sends any more: free the rest. */
    mail_free(t, "xmalloc_batches");
    free(sizes);
}

/* ---- rptest_mix --------------------------------------------------------- */

#define RP_SLOTS 256            /* power of two */
#define RP_OPS 256              /* operations per round */
#define RP_MAILED 32            /* of which replace a block that is mailed */
#define RP_BATCH 16

/* Log-uniform 16..16383: a power of two 2^4..2^13, then uniform within it. */
static uint32_t rp_size(uint64_t *rng)
{
    uint64_t r = pmb_rand(rng);
    uint32_t e = 4 + (uint32_t)(r % 10);
    return ((uint32_t)1 << e) + (uint32_t)((r >> 16) & (((uint32_t)1 << e) - 1));
}

static char *rp_block(uint64_t *rng)
{
    uint32_t size = rp_size(rng);
    char *p = pmb_check(malloc(size), size);
    pmb_tag(p, size);
    return p;
}

void pmb_rptest_mix(pmb_state *st)
{
    int t = pmb_thread_index(st), n = handoff_threads(st);
    if (t == 0)
        mail_reset(n);
    uint64_t rng = 0x1F83D9ABFB41BD6BULL * (uint64_t)(t + 1);
    char **slots = pmb_check(malloc(RP_SLOTS * sizeof *slots), RP_SLOTS * sizeof *slots);
    for (int i = 0; i < RP_SLOTS; i++)
        slots[i] = rp_block(&rng);
    while (pmb_keep_running_batch(st, RP_OPS)) {
        for (int i = 0; i < RP_OPS - RP_MAILED; i++) {
            uint32_t slot = (uint32_t)(pmb_rand(&rng) >> 40) & (RP_SLOTS - 1);
            pmb_tag_check(slots[slot], "rptest_mix");
            free(slots[slot]);
            slots[slot] = rp_block(&rng);
        }
        for (int j = 0; j < RP_MAILED / RP_BATCH; j++) {
            pmb_batch_t *b = batch_new(RP_BATCH);
            for (int i = 0; i < RP_BATCH; i++) {
                uint32_t slot = (uint32_t)(pmb_rand(&rng) >> 40) & (RP_SLOTS - 1);
                b->blocks[i] = slots[slot];
                slots[slot] = rp_block(&rng);
            }
            mail_send(t, n, b, "rptest_mix");
        }
        mail_free(t, "rptest_mix");
    }
    mail_free(t, "rptest_mix");
    for (int i = 0; i < RP_SLOTS; i++) {
        pmb_tag_check(slots[i], "rptest_mix");
        free(slots[i]);
    }
    free(slots);
}

/* ---- many_producers ----------------------------------------------------- */

#define MP_PRODUCERS 4
#define MP_BLOCKS 16384         /* a multiple of MP_PRODUCERS */

static char *mp_slots[MP_BLOCKS];
static pthread_barrier_t mp_start, mp_done;
static _Atomic int mp_stop;

static void *mp_producer(void *arg)
{
    unsigned k = (unsigned)(uintptr_t)arg;
    uint64_t rng = 0x3C6EF372FE94F82BULL * (k + 1);
    for (;;) {
        pthread_barrier_wait(&mp_start);
        if (atomic_load_explicit(&mp_stop, memory_order_relaxed))
            return NULL;
        for (unsigned i = k; i < MP_BLOCKS; i += MP_PRODUCERS) {
            uint32_t size = 16 + (uint32_t)(pmb_rand(&rng) % 241);
            mp_slots[i] = pmb_check(malloc(size), size);
            pmb_tag(mp_slots[i], size);
        }
        pthread_barrier_wait(&mp_done);
    }
}

void pmb_many_producers(pmb_state *st)
{
    pthread_t producers[MP_PRODUCERS];
    atomic_store_explicit(&mp_stop, 0, memory_order_relaxed);
    if (pthread_barrier_init(&mp_start, NULL, MP_PRODUCERS + 1) != 0 ||
        pthread_barrier_init(&mp_done, NULL, MP_PRODUCERS + 1) != 0) {
        fprintf(stderr, "pm_bench: many_producers: no barrier\n");
        abort();
    }
    for (unsigned k = 0; k < MP_PRODUCERS; k++)
        if (pthread_create(&producers[k], NULL, mp_producer, (void *)(uintptr_t)k) != 0) {
            fprintf(stderr, "pm_bench: many_producers: cannot start a producer\n");
            abort();
        }
    while (pmb_keep_running_batch(st, MP_BLOCKS)) {
        pthread_barrier_wait(&mp_start);
        pthread_barrier_wait(&mp_done);
        for (unsigned i = 0; i < MP_BLOCKS; i++) {
            pmb_tag_check(mp_slots[i], "many_producers");
            free(mp_slots[i]);
        }
    }
    atomic_store_explicit(&mp_stop, 1, memory_order_relaxed);
    pthread_barrier_wait(&mp_start);
    for (unsigned k = 0; k < MP_PRODUCERS; k++)
        pthread_join(producers[k], NULL);
    pthread_barrier_destroy(&mp_start);
    pthread_barrier_destroy(&mp_done);
}
