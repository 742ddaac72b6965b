/* fork_mt.c -- fork() in a multi-threaded process while the other threads
 * are allocating and freeing.
 *
 * The parent first allocates a set of "stable" blocks, some in the main
 * thread and some in each of WORKERS worker threads (which keep running
 * afterwards, allocating, reallocating and freeing in a loop).  It then forks
 * FORKS times while the workers run.  Each child
 *   - verifies and frees the stable blocks (including the blocks of worker
 *     threads that do not exist in the child),
 *   - mallocs/frees/reallocs a few thousand blocks of mixed sizes, checking
 *     their contents,
 *   - every fourth child does part of this in threads it creates itself,
 * and _exit(0)s, or _exit(1) on any error.  A child arms alarm(30) first, so
 * a deadlock inside the allocator (a lock held by a thread that does not
 * exist in the child) kills it with SIGALRM instead of hanging; the parent
 * waits at most 40 s for each child and arms alarm(100) for itself.
 *
 * usage: fork_mt [FORKS=20] [WORKERS=4] */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pm_test.h"

#define MAX_WORKERS 16
#define MAIN_STABLE 1000
#define WORKER_STABLE 250
#define CHILD_OPS 3000
#define CHILD_THREADS 3

typedef struct {
    unsigned char *p;
    size_t size;
    uint64_t key;
} blk_t;

static blk_t main_stable[MAIN_STABLE];
static blk_t worker_stable[MAX_WORKERS][WORKER_STABLE];
static int nworkers = 4;
static atomic_int stop_workers;
static atomic_int workers_ready;
static atomic_long worker_errors;
static atomic_long worker_ops;

/* Byte i of a block = low byte of (key + i * 0x9d) ^ (i >> 8). Cheap, and
 * any shifted or partial copy is caught. */
static inline unsigned char pat(uint64_t key, size_t i)
{
    return (unsigned char)((key + i * 0x9dULL) ^ (i >> 8));
}

static void fill(unsigned char *p, size_t n, uint64_t key)
{
    for (size_t i = 0; i < n; i++)
        p[i] = pat(key, i);
}

static int check(const unsigned char *p, size_t n, uint64_t key)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != pat(key, i))
            return 0;
    return 1;
}

static size_t pick_size(unsigned long long *rng)
{
    unsigned long long r = pm_test_rand(rng);
    unsigned pick = (unsigned)(r % 100);
    r >>= 8;
    if (pick < 85)
        return 1 + r % 512;
    if (pick < 98)
        return 513 + r % 16000;
    return 16384 + r % 300000;
}

static int alloc_blk(blk_t *b, unsigned long long *rng)
{
    b->size = pick_size(rng);
    b->p = malloc(b->size);
    if (!b->p)
        return 0;
    b->key = pm_test_rand(rng);
    fill(b->p, b->size, b->key);
    return 1;
}

/* Verifies and frees; returns 0 on corruption. */
static int release(blk_t *b)
{
    int ok = 1;
    if (b->p) {
        ok = check(b->p, b->size, b->key);
        free(b->p);
        b->p = NULL;
    }
    return ok;
}

/* ---- parent's worker threads ------------------------------------------- */
static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    unsigned long long rng = 0xabc000ULL + (unsigned long long)id;
    for (int i = 0; i < WORKER_STABLE; i++)
        if (!alloc_blk(&worker_stable[id][i], &rng))
            atomic_fetch_add(&worker_errors, 1);
    atomic_fetch_add(&workers_ready, 1);

    enum { LIVE = 128 };
    blk_t live[LIVE];
    memset(live, 0, sizeof live);
    long ops = 0;
    while (!atomic_load_explicit(&stop_workers, memory_order_relaxed)) {
        blk_t *b = &live[pm_test_rand(&rng) % LIVE];
        if (b->p && pm_test_rand(&rng) % 8 == 0) {
            size_t ns = pick_size(&rng);
            unsigned char *q = realloc(b->p, ns);
            if (!q) {
                atomic_fetch_add(&worker_errors, 1);
                continue;
            }
            if (!check(q, ns < b->size ? ns : b->size, b->key))
                atomic_fetch_add(&worker_errors, 1);
            b->p = q;
            b->size = ns;
            fill(q, ns, b->key);
        } else {
            if (!release(b))
                atomic_fetch_add(&worker_errors, 1);
            if (!alloc_blk(b, &rng))
                atomic_fetch_add(&worker_errors, 1);
        }
        ops++;
    }
    for (int i = 0; i < LIVE; i++)
        if (!release(&live[i]))
            atomic_fetch_add(&worker_errors, 1);
    atomic_fetch_add(&worker_ops, ops);
    return NULL;
}

/* ---- child -------------------------------------------------------------- */
typedef struct {
    int part, nparts;
    int child;
    long errors;
} child_arg_t;

static void child_report(const char *what, int child, int part)
{
    char buf[160];
    int n = snprintf(buf, sizeof buf, "child %d (part %d): %s\n", child, part, what);
    if (n > 0)
        (void)!write(2, buf, (size_t)n);
}

static void *child_work(void *argp)
{
    child_arg_t *a = argp;
    unsigned long long rng = 0x77770000ULL + (unsigned long long)a->child * 64 + (unsigned)a->part;

    /* Verify and free this part's share of the parent's stable blocks. */
    for (int i = a->part; i < MAIN_STABLE; i += a->nparts)
        if (!release(&main_stable[i])) {
            if (a->errors++ < 3)
                child_report("main-thread block from the parent corrupted", a->child, a->part);
        }
    for (int w = 0; w < nworkers; w++)
        for (int i = a->part; i < WORKER_STABLE; i += a->nparts)
            if (!release(&worker_stable[w][i])) {
                if (a->errors++ < 3)
                    child_report("worker block from the parent corrupted", a->child, a->part);
            }

    /* Own work: malloc / realloc / free, mixed sizes. */
    enum { LIVE = 200 };
    blk_t *live = calloc(LIVE, sizeof *live);
    if (!live) {
        a->errors++;
        child_report("calloc failed", a->child, a->part);
        return NULL;
    }
    int ops = CHILD_OPS / a->nparts + 200;
    for (int i = 0; i < ops; i++) {
        blk_t *b = &live[pm_test_rand(&rng) % LIVE];
        unsigned action = (unsigned)(pm_test_rand(&rng) % 10);
        if (b->p && action < 3) {
            size_t ns = pick_size(&rng);
            unsigned char *q = realloc(b->p, ns);
            if (!q) {
                a->errors++;
                child_report("realloc failed", a->child, a->part);
                continue;
            }
            if (!check(q, ns < b->size ? ns : b->size, b->key)) {
                if (a->errors++ < 3)
                    child_report("realloc lost contents", a->child, a->part);
            }
            b->p = q;
            b->size = ns;
            fill(q, ns, b->key);
        } else {
            if (!release(b)) {
                if (a->errors++ < 3)
                    child_report("own block corrupted", a->child, a->part);
            }
            if (action < 8 && !alloc_blk(b, &rng)) {
                a->errors++;
                child_report("malloc failed", a->child, a->part);
            }
        }
    }
    for (int i = 0; i < LIVE; i++)
        if (!release(&live[i])) {
            if (a->errors++ < 3)
                child_report("own block corrupted at the end", a->child, a->part);
        }
    free(live);
    return NULL;
}

static void run_child(int child)
{
    alarm(30);
    long errors = 0;
    if (child % 4 == 3) {
        /* This child does its work in threads of its own. */
        child_arg_t args[CHILD_THREADS + 1];
        pthread_t tids[CHILD_THREADS];
        int started = 0;
        for (int t = 0; t <= CHILD_THREADS; t++)
            args[t] = (child_arg_t){.part = t, .nparts = CHILD_THREADS + 1, .child = child};
        for (int t = 0; t < CHILD_THREADS; t++) {
            if (pthread_create(&tids[t], NULL, child_work, &args[t + 1]) != 0) {
                child_report("pthread_create failed", child, t + 1);
                errors++;
                break;
            }
            started++;
        }
        child_work(&args[0]);
        for (int t = 0; t < started; t++)
            pthread_join(tids[t], NULL);
        for (int t = 0; t <= CHILD_THREADS; t++)
            errors += args[t].errors;
        if (started < CHILD_THREADS) {
            /* Do the parts of the threads that did not start. */
            for (int t = started + 1; t <= CHILD_THREADS; t++) {
                child_work(&args[t]);
                errors += args[t].errors;
            }
        }
    } else {
        child_arg_t a = {.part = 0, .nparts = 1, .child = child};
        child_work(&a);
        errors += a.errors;
    }
    /* The allocator still works for a fresh large block and calloc. */
    unsigned char *big = calloc(1, 3u << 20);
    if (!big || big[12345] || big[(3u << 20) - 1]) {
        child_report("calloc(3 MiB) failed or not zeroed", child, 0);
        errors++;
    }
    free(big);
    _exit(errors ? 1 : 0);
}

/* Waits for pid for at most `seconds`; returns the wait status, or -1 on
 * timeout (the child is then killed and reaped). */
static int wait_with_timeout(pid_t pid, int seconds)
{
    struct timespec step = {0, 5 * 1000 * 1000};
    long max_steps = (long)seconds * 200;
    for (long i = 0; i < max_steps; i++) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0 && errno != EINTR)
            return -2;
        nanosleep(&step, NULL);
    }
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    return -1;
}

int main(int argc, char **argv)
{
#ifndef PM_TEST_SYSTEM_MALLOC
    pm_test_require_poolmalloc();
#endif
    int forks = argc > 1 ? atoi(argv[1]) : 20;
    nworkers = argc > 2 ? atoi(argv[2]) : 4;
    if (forks < 1 || nworkers < 1 || nworkers > MAX_WORKERS) {
        fprintf(stderr, "usage: %s [FORKS] [WORKERS<=16]\n", argv[0]);
        return 2;
    }
    alarm(100);
    fflush(stdout);

    unsigned long long rng = 0x12345ULL;
    int bad = 0;
    for (int i = 0; i < MAIN_STABLE; i++)
        if (!alloc_blk(&main_stable[i], &rng))
            bad++;
    CHECK("parent stable blocks allocated", bad == 0);

    pthread_t tids[MAX_WORKERS];
    int started = 0;
    for (int t = 0; t < nworkers; t++) {
        if (pthread_create(&tids[t], NULL, worker, (void *)(intptr_t)t) != 0)
            break;
        started++;
    }
    CHECK("workers started", started == nworkers);
    nworkers = started;
    while (atomic_load(&workers_ready) < started)
        sched_yield();

    int ok_children = 0, failed = 0;
    for (int c = 0; c < forks; c++) {
        /* Let the workers get into the middle of something. */
        struct timespec pause = {0, (long)(1 + pm_test_rand(&rng) % 4) * 1000 * 1000};
        nanosleep(&pause, NULL);
        /* The main thread allocates too, right before forking. */
        void *tmp = malloc(100 + (size_t)c * 10);
        pid_t pid = fork();
        if (pid == 0)
            run_child(c);
        free(tmp);
        if (pid < 0) {
            fprintf(stderr, "fork %d failed: %s\n", c, strerror(errno));
            failed++;
            continue;
        }
        int st = wait_with_timeout(pid, 40);
        if (st == -1) {
            fprintf(stderr, "child %d did not finish within 40 s (deadlock?), killed\n", c);
            failed++;
        } else if (st < 0) {
            fprintf(stderr, "child %d: waitpid failed\n", c);
            failed++;
        } else if (WIFSIGNALED(st)) {
            fprintf(stderr, "child %d killed by signal %d%s\n", c, WTERMSIG(st),
                    WTERMSIG(st) == SIGALRM ? " (SIGALRM: deadlock in the child)" : "");
            failed++;
        } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "child %d exited with status %d\n", c, WEXITSTATUS(st));
            failed++;
        } else {
            ok_children++;
        }
        if (failed)
            break; /* one failure is enough; do not wait out more deadlocks */
    }
    atomic_store(&stop_workers, 1);
    for (int t = 0; t < started; t++)
        pthread_join(tids[t], NULL);

    /* In the parent the stable blocks are untouched by the children. */
    bad = 0;
    for (int i = 0; i < MAIN_STABLE; i++)
        bad += !release(&main_stable[i]);
    for (int w = 0; w < started; w++)
        for (int i = 0; i < WORKER_STABLE; i++)
            bad += !release(&worker_stable[w][i]);
    printf("%d children ok of %d; workers did %ld operations\n", ok_children, forks,
           (long)atomic_load(&worker_ops));
    CHECK("every child exited 0", failed == 0 && ok_children == forks);
    CHECK("parent's stable blocks intact", bad == 0);
    CHECK("worker threads saw no errors", atomic_load(&worker_errors) == 0);
    return pm_test_finish();
}
