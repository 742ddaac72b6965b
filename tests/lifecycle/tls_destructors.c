/* tls_destructors -- 200 threads (pthread and C11 thrd, joinable and
 * detached) exercise what runs at thread exit: C++ thread_local
 * destructors that allocate (tls_helper.cpp), pthread key destructors that
 * malloc, free, re-arm themselves (a second destructor round) and free
 * blocks the thread allocated earlier or received from main, C11 tss
 * destructors, and blocks a thread leaves behind when it exits, which main
 * checks, reallocs and frees afterwards. */
#define _GNU_SOURCE
#include "pm_test.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

int tls_helper_touch(int id);
int tls_helper_dtor_count(void);
int tls_helper_errors(void);

#define NTHREADS 200
#define BATCH 25
#define HANDOFF 20
#define OWN 30

static pthread_key_t key_own, key_rearm;
static tss_t tss_key;

static int n_own_dtor, n_rearm_dtor, n_tss_dtor, n_thread_done, n_errors, n_helper_ok;

#define BUMP(v) __atomic_fetch_add(&(v), 1, __ATOMIC_RELAXED)
#define LOAD(v) __atomic_load_n(&(v), __ATOMIC_ACQUIRE)

static void report(const char *what, int id)
{
    if (BUMP(n_errors) < 20) fprintf(stderr, "FAIL thread %d: %s\n", id, what);
}

static size_t handoff_len(int id, int k) { return k == 0 ? 70000 + (size_t)id : (size_t)(id * 13 + k * 29) % 900 + 1; }
static size_t own_len(int id, int k) { return k % 10 == 0 ? 40000 + (size_t)k : (size_t)(id * 5 + k * 17) % 500 + 8; }
static unsigned char fill(int id, int k) { return (unsigned char)(id * 3 + k + 1); }

static int check_fill(const unsigned char *p, size_t n, unsigned char v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v) return 0;
    return 1;
}

/* Blocks each thread leaves behind for main. */
static unsigned char *handoff[NTHREADS][HANDOFF];
/* Blocks main gives to each thread, freed by the thread's key destructor. */
static char *gift[NTHREADS];

struct own {
    uint64_t magic;
    int id;
    unsigned char *blocks[OWN];
    char *gift;
};

static _Thread_local struct own *my_own;  /* cross-checked in the destructor */
static _Thread_local int my_id = -1;

static void own_dtor(void *v)
{
    struct own *o = v;
    if (o->magic != 0x6f776e6f776e6f77ULL) { report("key value damaged", -1); return; }
    if (my_own != o) report("_Thread_local pointer disagrees with the key value", o->id);
    char *tmp = malloc(300);   /* allocate inside the destructor */
    if (!tmp) report("malloc in key destructor", o->id);
    else snprintf(tmp, 300, "own destructor of thread %d", o->id);
    for (int k = 0; k < OWN; k++) {
        if (!o->blocks[k]) continue;
        if (!check_fill(o->blocks[k], own_len(o->id, k), fill(o->id, k)))
            report("thread's own block damaged before exit", o->id);
        free(o->blocks[k]);
    }
    char want[64];
    snprintf(want, sizeof want, "gift for thread %d", o->id);
    if (!o->gift || strcmp(o->gift, want) != 0) report("gift from main damaged", o->id);
    free(o->gift);
    if (tmp && strncmp(tmp, "own destructor of thread ", 25) != 0) report("tmp damaged", o->id);
    free(tmp);
    o->magic = 0;
    free(o);
    BUMP(n_own_dtor);
}

struct rearm { int id; int round; char *payload; };

static void rearm_dtor(void *v)
{
    struct rearm *r = v;
    BUMP(n_rearm_dtor);
    if (!r->payload || r->payload[0] != (char)('A' + r->round)) report("rearm payload damaged", r->id);
    free(r->payload);
    if (r->round == 0) {
        /* Set a new value from inside the destructor: glibc runs another
         * round of destructors for it. */
        struct rearm *n = malloc(sizeof *n);
        if (!n) { report("malloc in rearm destructor", r->id); free(r); return; }
        n->id = r->id;
        n->round = 1;
        n->payload = malloc(2000);
        if (n->payload) memset(n->payload, 'A' + 1, 2000);
        if (pthread_setspecific(key_rearm, n) != 0) report("pthread_setspecific in destructor", r->id);
    }
    free(r);
}

static void tss_dtor(void *v)
{
    char *s = v;
    char want[32];
    snprintf(want, sizeof want, "tss %d", my_id);
    if (strcmp(s, want) != 0) report("tss value damaged", my_id);
    free(s);
    BUMP(n_tss_dtor);
}

static void thread_body(int id)
{
    my_id = id;
    /* Blocks for main. */
    for (int k = 0; k < HANDOFF; k++) {
        size_t n = handoff_len(id, k);
        unsigned char *p = malloc(n);
        if (!p) { report("malloc handoff", id); continue; }
        memset(p, fill(id, k), n);
        handoff[id][k] = p;
    }
    /* Blocks for the key destructor. */
    struct own *o = malloc(sizeof *o);
    if (!o) { report("malloc own", id); return; }
    o->magic = 0x6f776e6f776e6f77ULL;
    o->id = id;
    for (int k = 0; k < OWN; k++) {
        o->blocks[k] = malloc(own_len(id, k));
        if (!o->blocks[k]) { report("malloc own block", id); o->blocks[k] = NULL; continue; }
        memset(o->blocks[k], fill(id, k), own_len(id, k));
    }
    o->gift = gift[id];
    my_own = o;
    if (pthread_setspecific(key_own, o) != 0) report("pthread_setspecific own", id);

    struct rearm *r = malloc(sizeof *r);
    if (r) {
        r->id = id;
        r->round = 0;
        r->payload = malloc(100);
        if (r->payload) memset(r->payload, 'A', 100);
        if (pthread_setspecific(key_rearm, r) != 0) report("pthread_setspecific rearm", id);
    }

    char *t = malloc(32);
    if (t) {
        snprintf(t, 32, "tss %d", id);
        if (tss_set(tss_key, t) != thrd_success) report("tss_set", id);
    }

    if (tls_helper_touch(id)) BUMP(n_helper_ok);
    else report("C++ thread_local objects wrong", id);

    /* Churn that is freed right away. */
    for (int i = 0; i < 200; i++) {
        void *p = malloc((size_t)(i * 7 + id) % 1000 + 1);
        if (!p) report("churn", id);
        free(p);
    }
    BUMP(n_thread_done);
}

static void *pthread_fn(void *arg) { thread_body((int)(intptr_t)arg); return NULL; }
static int thrd_fn(void *arg) { thread_body((int)(intptr_t)arg); return 0; }

enum kind { K_PTHREAD, K_THRD, K_DETACHED };
static enum kind kind_of(int id) { return id % 10 == 9 ? K_DETACHED : id % 4 == 0 ? K_THRD : K_PTHREAD; }

static void wait_for(int *counter, int want, const char *what)
{
    struct timespec ts = {0, 2 * 1000 * 1000};
    for (int i = 0; i < 10000 && LOAD(*counter) < want; i++) nanosleep(&ts, NULL);
    if (LOAD(*counter) < want) fprintf(stderr, "FAIL: timed out waiting for %s (%d of %d)\n", what, LOAD(*counter), want);
}

int main(void)
{
    pm_test_require_poolmalloc();
    CHECK("pthread_key_create own", pthread_key_create(&key_own, own_dtor) == 0);
    CHECK("pthread_key_create rearm", pthread_key_create(&key_rearm, rearm_dtor) == 0);
    CHECK("tss_create", tss_create(&tss_key, tss_dtor) == thrd_success);

    for (int id = 0; id < NTHREADS; id++) {
        gift[id] = malloc(64);
        if (gift[id]) snprintf(gift[id], 64, "gift for thread %d", id);
    }

    int created = 0, joined_checked = 0;
    for (int base = 0; base < NTHREADS; base += BATCH) {
        pthread_t pt[BATCH];
        thrd_t ct[BATCH];
        int ok[BATCH];
        for (int i = 0; i < BATCH; i++) {
            int id = base + i;
            void *arg = (void *)(intptr_t)id;
            switch (kind_of(id)) {
            case K_THRD:
                ok[i] = thrd_create(&ct[i], thrd_fn, arg) == thrd_success;
                break;
            case K_DETACHED: {
                pthread_attr_t attr;
                pthread_attr_init(&attr);
                pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                ok[i] = pthread_create(&pt[i], &attr, pthread_fn, arg) == 0;
                pthread_attr_destroy(&attr);
                break;
            }
            default:
                ok[i] = pthread_create(&pt[i], NULL, pthread_fn, arg) == 0;
            }
            created += ok[i];
        }
        for (int i = 0; i < BATCH; i++) {
            int id = base + i;
            if (!ok[i]) continue;
            if (kind_of(id) == K_THRD) { int res; thrd_join(ct[i], &res); }
            else if (kind_of(id) == K_PTHREAD) pthread_join(pt[i], NULL);
            else continue;
            /* Joined: the thread and all its destructors are finished. */
            for (int k = 0; k < HANDOFF; k++) {
                unsigned char *p = handoff[id][k];
                if (!p || !check_fill(p, handoff_len(id, k), fill(id, k))) { report("handoff block damaged", id); continue; }
                if (k % 3 == 0) {
                    /* realloc a block of an exited thread, both directions. */
                    size_t n = handoff_len(id, k), m = k == 0 ? 100 : n * 4 + 50000;
                    unsigned char *q = realloc(p, m);
                    if (!q) { report("realloc of handoff block", id); continue; }
                    if (!check_fill(q, n < m ? n : m, fill(id, k))) report("realloc lost data", id);
                    p = q;
                }
                free(p);
                handoff[id][k] = NULL;
            }
            joined_checked++;
        }
    }
    CHECK("all threads created", created == NTHREADS);

    /* Detached threads: wait for their destructors, then take their blocks. */
    wait_for(&n_thread_done, NTHREADS, "threads");
    wait_for(&n_own_dtor, NTHREADS, "key destructors");
    wait_for(&n_rearm_dtor, 2 * NTHREADS, "re-armed key destructors");
    wait_for(&n_tss_dtor, NTHREADS, "tss destructors");
    for (int id = 0; id < NTHREADS; id++) {
        if (kind_of(id) != K_DETACHED) continue;
        for (int k = 0; k < HANDOFF; k++) {
            unsigned char *p = handoff[id][k];
            if (!p || !check_fill(p, handoff_len(id, k), fill(id, k))) report("detached handoff block damaged", id);
            free(p);
        }
    }
    /* Wait for the C++ destructors of detached threads too. */
    wait_for(&n_helper_ok, NTHREADS, "helper");
    struct timespec ts = {0, 2 * 1000 * 1000};
    for (int i = 0; i < 10000 && tls_helper_dtor_count() < NTHREADS; i++) nanosleep(&ts, NULL);

    CHECK("joinable threads checked", joined_checked == NTHREADS - NTHREADS / 10);
    CHECK("thread bodies finished", LOAD(n_thread_done) == NTHREADS);
    CHECK("one own-key destructor per thread", LOAD(n_own_dtor) == NTHREADS);
    CHECK("two re-armed key destructor rounds per thread", LOAD(n_rearm_dtor) == 2 * NTHREADS);
    CHECK("one tss destructor per thread", LOAD(n_tss_dtor) == NTHREADS);
    CHECK("C++ thread_local objects right in every thread", LOAD(n_helper_ok) == NTHREADS);
    CHECK("one C++ thread_local destructor per thread", tls_helper_dtor_count() == NTHREADS);
    CHECK("C++ thread_local destructors saw intact data", tls_helper_errors() == 0);
    CHECK("no errors reported by threads or destructors", LOAD(n_errors) == 0);

    /* The main thread's own thread_local objects are destroyed in exit(). */
    CHECK("main thread C++ thread_local", tls_helper_touch(NTHREADS) == 1);
    pthread_key_delete(key_own);
    pthread_key_delete(key_rearm);
    tss_delete(tss_key);
    return pm_test_finish();
}
