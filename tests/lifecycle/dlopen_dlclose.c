/* dlopen_dlclose -- loads and unloads pm_plugin.so (argv[1]) 200 times.
 * The plugin allocates in its constructor and frees in its destructor, and
 * its global-dynamic __thread variables make glibc malloc per-thread TLS
 * blocks and DTV arrays (and free them at thread exit or on the next TLS
 * access after an unload).  Its functions run in the main thread, in a
 * thread that lives across all the loads, and in short-lived threads.
 * Failing dlopen/dlsym calls and dlerror(), which allocates its message,
 * are exercised on every round. */
#define _GNU_SOURCE
#include "plugin.h"
#include "pm_test.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ROUNDS 200
#define SHORT_THREADS 2

struct api {
    void *h;
    plugin_int_fn ctor_runs, check_globals, tls_errors;
    plugin_work_fn work;
    plugin_void_fn release;
};

static int fails;
#define EXPECT(cond, ...)                                                   \
    do {                                                                    \
        if (!(cond)) {                                                      \
            if (__atomic_fetch_add(&fails, 1, __ATOMIC_RELAXED) < 20) {         \
                fprintf(stderr, "FAIL line %d: %s: ", __LINE__, #cond);     \
                fprintf(stderr, __VA_ARGS__);                               \
                fputc('\n', stderr);                                        \
            }                                                               \
        }                                                                   \
    } while (0)

static int load(const char *path, int flags, struct api *a)
{
    memset(a, 0, sizeof *a);
    a->h = dlopen(path, flags);
    if (!a->h) {
        EXPECT(0, "dlopen(%s): %s", path, dlerror());
        return 0;
    }
    *(void **)&a->ctor_runs = dlsym(a->h, "plugin_ctor_runs");
    *(void **)&a->check_globals = dlsym(a->h, "plugin_check_globals");
    *(void **)&a->tls_errors = dlsym(a->h, "plugin_tls_errors");
    *(void **)&a->work = dlsym(a->h, "plugin_tls_work");
    *(void **)&a->release = dlsym(a->h, "plugin_tls_release");
    if (!a->ctor_runs || !a->check_globals || !a->tls_errors || !a->work || !a->release) {
        EXPECT(0, "dlsym failed: %s", dlerror());
        return 0;
    }
    return 1;
}

/* Calls work() n times with seeds seed, seed+1, ... and checks each result. */
static int run_work(const struct api *a, int seed, int n)
{
    int bad = 0;
    for (int i = 0; i < n; i++) {
        long got = a->work(seed + i), want = plugin_expected(seed + i, i);
        if (got != want) {
            bad++;
            EXPECT(got == want, "plugin_tls_work(%d) call %d = %ld, want %ld", seed + i, i, got, want);
        }
    }
    a->release();
    int e = a->tls_errors();
    EXPECT(e == 0, "%d TLS errors (seed %d)", e, seed);
    return bad + e;
}

/* ---- the thread that lives through every load/unload ---- */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static const struct api *job_api;
static int job_seed, job_state; /* 0 idle, 1 pending, 2 done, 3 quit */
static int job_bad;

static void *long_worker(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        while (job_state != 1 && job_state != 3) pthread_cond_wait(&cv, &mu);
        if (job_state == 3) break;
        const struct api *a = job_api;
        int seed = job_seed;
        pthread_mutex_unlock(&mu);
        int bad = run_work(a, seed, 3);
        /* Plain allocations in this thread's heap, freed by main later. */
        pthread_mutex_lock(&mu);
        job_bad += bad;
        job_state = 2;
        pthread_cond_broadcast(&cv);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void run_on_long_worker(const struct api *a, int seed)
{
    pthread_mutex_lock(&mu);
    job_api = a;
    job_seed = seed;
    job_state = 1;
    pthread_cond_broadcast(&cv);
    while (job_state != 2) pthread_cond_wait(&cv, &mu);
    job_state = 0;
    pthread_mutex_unlock(&mu);
}

/* ---- short-lived threads ---- */
struct short_arg { const struct api *a; int seed; int bad; };

static void *short_worker(void *p)
{
    struct short_arg *s = p;
    s->bad = run_work(s->a, s->seed, 2);
    return NULL;
}

static void check_dlerror_paths(const struct api *a, int round)
{
    char missing[64];
    snprintf(missing, sizeof missing, "/nonexistent/pm-no-such-plugin-%d.so", round);
    void *h = dlopen(missing, RTLD_NOW);
    EXPECT(h == NULL, "dlopen of a missing file succeeded");
    const char *e = dlerror();
    EXPECT(e && strstr(e, "pm-no-such-plugin"), "dlerror after failed dlopen: %s", e ? e : "(null)");
    EXPECT(dlerror() == NULL, "second dlerror() not NULL");

    char sym[64];
    snprintf(sym, sizeof sym, "plugin_no_such_symbol_%d", round);
    void *s = dlsym(a->h, sym);
    EXPECT(s == NULL, "dlsym(%s) found something", sym);
    e = dlerror();
    EXPECT(e && strstr(e, sym), "dlerror after failed dlsym: %s", e ? e : "(null)");
    s = dlsym(RTLD_DEFAULT, sym);
    EXPECT(s == NULL, "dlsym(RTLD_DEFAULT, %s) found something", sym);
    e = dlerror();
    EXPECT(e != NULL, "no dlerror after failed dlsym(RTLD_DEFAULT)");
    EXPECT(dlerror() == NULL, "dlerror() not cleared");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s /path/to/pm_plugin.so\n", argv[0]);
        return 2;
    }
    const char *path = argv[1];
    pm_test_require_poolmalloc();

    pthread_t lw;
    CHECK("long-lived worker started", pthread_create(&lw, NULL, long_worker, NULL) == 0);

    int rounds_ok = 0;
    for (int round = 0; round < ROUNDS; round++) {
        int before = __atomic_load_n(&fails, __ATOMIC_RELAXED);
        int flags = (round % 2 ? RTLD_LAZY : RTLD_NOW) | (round % 3 ? RTLD_LOCAL : RTLD_GLOBAL);
        struct api a;
        if (!load(path, flags, &a)) break;
        EXPECT(a.ctor_runs() == 1, "round %d: constructor ran %d times: the previous load was not unloaded",
               round, a.ctor_runs());
        EXPECT(a.check_globals(), "round %d: constructor blocks damaged", round);

        /* The main thread, the long-lived thread and short-lived threads all
         * touch the plugin's TLS. */
        run_work(&a, round * 7, 2);
        run_on_long_worker(&a, round * 7 + 1000);
        pthread_t t[SHORT_THREADS];
        struct short_arg sa[SHORT_THREADS];
        int started[SHORT_THREADS];
        for (int i = 0; i < SHORT_THREADS; i++) {
            sa[i] = (struct short_arg){&a, round * 7 + 2000 + i * 500, 0};
            started[i] = pthread_create(&t[i], NULL, short_worker, &sa[i]) == 0;
            EXPECT(started[i], "round %d: pthread_create", round);
        }
        for (int i = 0; i < SHORT_THREADS; i++)
            if (started[i]) pthread_join(t[i], NULL);

        check_dlerror_paths(&a, round);

        if (round % 10 == 0) {
            /* A second reference: the constructor must not run again and
             * the first dlclose must not unload. */
            void *h2 = dlopen(path, RTLD_NOW);
            EXPECT(h2 == a.h, "round %d: second dlopen gave another handle", round);
            EXPECT(a.ctor_runs() == 1, "round %d: constructor ran again", round);
            if (h2) EXPECT(dlclose(h2) == 0, "dlclose: %s", dlerror());
            void *h3 = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
            EXPECT(h3 != NULL, "round %d: plugin unloaded while still referenced", round);
            if (h3) dlclose(h3);
            EXPECT(a.check_globals(), "round %d: blocks damaged", round);
        }

        EXPECT(a.check_globals(), "round %d: constructor blocks damaged after the threads ran", round);
        EXPECT(dlclose(a.h) == 0, "round %d: dlclose: %s", round, dlerror());
        void *gone = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
        EXPECT(gone == NULL, "round %d: plugin still loaded after dlclose", round);
        if (gone) dlclose(gone);
        if (__atomic_load_n(&fails, __ATOMIC_RELAXED) == before) rounds_ok++;
    }

    pthread_mutex_lock(&mu);
    job_state = 3;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(lw, NULL);

    printf("%d of %d load/unload rounds clean\n", rounds_ok, ROUNDS);
    CHECK("every round clean", rounds_ok == ROUNDS && fails == 0);
    CHECK("long-lived worker clean", job_bad == 0);
    return pm_test_finish();
}
