/* unit_gc_debug.c -- the refcount-and-cycle layer's thread-contract check,
 * which builds with POOLMALLOC_DEBUG have: two threads inside the layer at
 * once abort with one line naming the call; one thread after another (the
 * program serializing its calls, as the contract asks) is fine.
 *
 * Linked with a copy of the core compiled with PM_DEBUG=1.
 */
#include "pm_test.h"

#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "poolmalloc_gc.h"

static pm_gc_type plain = {"plain", NULL, NULL};

/* ---- serialized use from two threads: allowed ---- */

static pthread_mutex_t gil = PTHREAD_MUTEX_INITIALIZER;

static void *serialized(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20000; i++) {
        pthread_mutex_lock(&gil);
        void *o = pm_gc_new(&plain, 16);
        pm_gc_decref(o);
        pthread_mutex_unlock(&gil);
    }
    return NULL;
}

/* ---- concurrent use: one thread stays inside a finalizer ---- */

static sem_t inside;

static void finalize_and_wait(void *obj)
{
    (void)obj;
    sem_post(&inside);
    for (;;)
        pause();    /* the other thread's call aborts the process */
}

static pm_gc_type waiting = {"waiting", NULL, finalize_and_wait};

static void *intruder(void *arg)
{
    (void)arg;
    sem_wait(&inside);
    pm_gc_new(&plain, 8);   /* must abort: the main thread is in the layer */
    return NULL;
}

static void racing_child(void)
{
    sem_init(&inside, 0, 0);
    void *o = pm_gc_new(&waiting, 8);
    pthread_t t;
    pthread_create(&t, NULL, intruder, NULL);
    pm_gc_decref(o);        /* runs the finalizer, which never returns */
    _exit(0);
}

int main(void)
{
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, serialized, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK("serialized use from two threads does not abort", 1);

    int errpipe[2];
    CHECK("pipe", pipe(errpipe) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(errpipe[1], 2);
        close(errpipe[0]);
        racing_child();
    }
    close(errpipe[1]);
    char msg[512] = {0};
    size_t got = 0;
    ssize_t r;
    while (got < sizeof msg - 1 && (r = read(errpipe[0], msg + got, sizeof msg - 1 - got)) > 0)
        got += (size_t)r;
    int status = 0;
    waitpid(pid, &status, 0);
    printf("child stderr: %s", msg);
    CHECK("concurrent use aborts", WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    CHECK("the message names the call", strstr(msg, "poolmalloc: pm_gc_new(): called by two threads at once") != NULL);
    CHECK("one line", strchr(msg, '\n') == msg + strlen(msg) - 1);   /* one line */
    return pm_test_finish();
}
