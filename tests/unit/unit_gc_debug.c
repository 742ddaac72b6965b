/* unit_gc_debug.c -- the refcount-and-cycle layer's thread model, checked
 * in a POOLMALLOC_DEBUG build (the owner check runs in every build; this
 * test links a copy of the core compiled with PM_DEBUG=1 too):
 *
 *   1. several threads use the layer at once, each with its own collector:
 *      cycles made, collected (automatically and explicitly), weak
 *      references, finalizers; each thread's results are exact;
 *   2. a thread's object passed to another thread's call aborts with one
 *      line naming the call: pm_gc_incref, pm_gc_decref, pm_gc_weakref_get,
 *      pm_gc_track, and a collection finding a tracked object that holds
 *      another thread's object (each in a child process).
 */
#include "pm_test.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "poolmalloc_gc.h"

typedef struct pnode {
    struct pnode *next;
    long id;
} pnode;

static void pnode_traverse(void *obj, pm_gc_visit_fn visit, void *arg)
{
    pnode *n = obj;
    if (n->next)
        visit(n->next, arg);
}
static __thread unsigned long fins;   /* per thread: finalizers run in their own thread */
static void pnode_finalize(void *obj)
{
    (void)obj;
    fins++;
}
static pm_gc_type plain = {"plain", pnode_traverse, NULL, NULL};
static pm_gc_type with_fin = {"with_fin", pnode_traverse, pnode_finalize, NULL};

static pnode *mk(pm_gc_type *t, long id)
{
    pnode *n = pm_gc_new(t, sizeof *n);
    if (!n)
        _exit(2);
    n->id = id;
    pm_gc_track(n);
    return n;
}

/* ---- 1. concurrent use, each thread its own collector ---- */

enum { THREADS = 4, ROUNDS = 20000 };
typedef struct result {
    unsigned long made, collected, fins;
    int weak_ok, counts_ok;
} result;

static void *worker(void *arg)
{
    result *r = arg;
    pm_gc_set_threshold(100, 10, 10);
    pnode *keep = mk(&plain, -1);
    pm_gc_weakref *wk = pm_gc_weakref_new(keep);
    pm_gc_stats s0;
    pm_gc_get_stats(&s0);
    for (int i = 0; i < ROUNDS; i++) {
        pnode *a = mk(&with_fin, i), *b = mk(&plain, i);
        a->next = b;        /* b's reference moves into a */
        pm_gc_incref(a);
        b->next = a;        /* a <-> b */
        pm_gc_decref(a);    /* garbage: the next automatic collections take it */
        r->made += 2;
    }
    r->collected = pm_gc_collect(2);
    pm_gc_stats s1;
    pm_gc_get_stats(&s1);
    unsigned long all = 0;
    for (int g = 0; g < 3; g++)
        all += s1.gen[g].collected - s0.gen[g].collected;
    r->collected = all;
    r->fins = fins;
    void *got = pm_gc_weakref_get(wk);
    r->weak_ok = got == keep;
    pm_gc_decref(got);
    pm_gc_decref(keep);
    r->weak_ok &= pm_gc_weakref_get(wk) == NULL;
    pm_gc_weakref_free(wk);
    pm_gc_get_stats(&s1);
    r->counts_ok = s1.tracked[0] + s1.tracked[1] + s1.tracked[2] == 0 && s1.untracked == 0;
    return NULL;
}

/* ---- 2. another thread's object ---- */

static void *victim;
static pm_gc_weakref *victim_weak;
static const char *misuse;

static void *intruder(void *arg)
{
    (void)arg;
    if (!strcmp(misuse, "incref"))
        pm_gc_incref(victim);
    else if (!strcmp(misuse, "decref"))
        pm_gc_decref(victim);
    else if (!strcmp(misuse, "track"))
        pm_gc_track(victim);
    else if (!strcmp(misuse, "weakref_get"))
        pm_gc_weakref_get(victim_weak);
    else if (!strcmp(misuse, "reference")) {
        /* a tracked object of this thread holding another thread's object:
         * the debug build's collection checks every reference */
        pnode *holder = mk(&plain, 1);
        holder->next = victim;
        pm_gc_collect(2);
    }
    return NULL;
}

static void misuse_child(void)
{
    pnode *n = pm_gc_new(&plain, sizeof(pnode));
    victim = n;
    victim_weak = pm_gc_weakref_new(n);
    if (!strcmp(misuse, "weakref_get"))
        fprintf(stderr, "%p ", (void *)victim_weak);
    else
        fprintf(stderr, "%p ", victim);
    pthread_t t;
    pthread_create(&t, NULL, intruder, NULL);
    pthread_join(t, NULL);
    _exit(0);       /* not detected */
}

static void check_misuse(const char *which, const char *call)
{
    int errpipe[2];
    CHECK("pipe", pipe(errpipe) == 0);
    misuse = which;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(errpipe[1], 2);
        close(errpipe[0]);
        misuse_child();
    }
    close(errpipe[1]);
    char msg[512] = {0};
    size_t got = 0;
    ssize_t r;
    while (got < sizeof msg - 1 && (r = read(errpipe[0], msg + got, sizeof msg - 1 - got)) > 0)
        got += (size_t)r;
    close(errpipe[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    /* msg: "<pointer> poolmalloc: <call>(): ... <pointer>\n" */
    char ptr[64] = {0};
    sscanf(msg, "%63s", ptr);
    const char *line = strchr(msg, ' ') ? strchr(msg, ' ') + 1 : msg;
    printf("%s from another thread: %s", which, line);
    char want[128];
    snprintf(want, sizeof want, "poolmalloc: %s(): ", call);
    CHECK("another thread's object aborts", WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    CHECK("the message names the call", strstr(line, want) == line);
    CHECK("and says why", strstr(line, "another thread") != NULL);
    CHECK("and the pointer", ptr[0] && strstr(line, ptr) != NULL);
    CHECK("one line", strchr(line, '\n') == line + strlen(line) - 1);
}

int main(void)
{
    pthread_t t[THREADS];
    result res[THREADS];
    memset(res, 0, sizeof res);
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, &res[i]);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < THREADS; i++) {
        CHECK("each thread's garbage is all reclaimed, by its own collector",
              res[i].collected == res[i].made);
        CHECK("each finalizer ran once, in its thread", res[i].fins == ROUNDS);
        CHECK("weak references work per thread", res[i].weak_ok);
        CHECK("nothing left in its collector", res[i].counts_ok);
    }
    pm_gc_stats s;
    pm_gc_get_stats(&s);
    CHECK("main's collector saw none of it",
          s.gen[0].collections == 0 && s.tracked[0] == 0 && s.finalized == 0);

    check_misuse("incref", "pm_gc_incref");
    check_misuse("decref", "pm_gc_decref");
    check_misuse("track", "pm_gc_track");
    check_misuse("weakref_get", "pm_gc_weakref_get");
    check_misuse("reference", "pm_gc_collect");
    return pm_test_finish();
}
