/* stats_cancel.c -- malloc_stats() in a thread with a pending cancel.
 *
 * glibc's malloc_stats disables cancellation while it writes; write(2) is a
 * cancellation point, so without that a deferred cancel that is already
 * pending ends the thread at the report's first write and the report is lost
 * (all of it, or all but its first buffer).  Here a thread waits (without a
 * cancellation point) until the main thread has cancelled it, calls
 * malloc_stats() with stderr on a temporary file, and then
 * pthread_testcancel().  The report must be complete (its first line and its
 * closing totals line), malloc_stats must have returned, and the cancel must
 * still be pending afterwards (the thread ends at pthread_testcancel, so
 * cancellation was enabled again). */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pm_test.h"

static atomic_int go;
static atomic_int stats_returned;
static atomic_int survived_testcancel;

static void *reporter(void *arg)
{
    (void)arg;
    free(malloc(100));   /* something to count */
    while (!atomic_load(&go))
        sched_yield();   /* not a cancellation point */
    malloc_stats();
    atomic_store(&stats_returned, 1);
    pthread_testcancel();
    atomic_store(&survived_testcancel, 1);
    return NULL;
}

int main(void)
{
    pm_test_require_poolmalloc();
    char path[] = "/tmp/pm_stats_cancel.XXXXXX";
    int fd = mkstemp(path);
    CHECK("mkstemp", fd >= 0);
    if (fd < 0)
        return pm_test_finish();
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);

    pthread_t t;
    void *ret = NULL;
    int created = pthread_create(&t, NULL, reporter, NULL) == 0;
    if (created) {
        pthread_cancel(t);
        atomic_store(&go, 1);
        pthread_join(t, &ret);
    }
    dup2(saved, 2);
    close(saved);
    CHECK("pthread_create", created);

    static char report[1 << 16];
    ssize_t n = pread(fd, report, sizeof report - 1, 0);
    close(fd);
    report[n > 0 ? n : 0] = 0;

    CHECK("malloc_stats returned", atomic_load(&stats_returned));
    CHECK("the cancel was acted on afterwards", ret == PTHREAD_CANCELED);
    CHECK("and not before pthread_testcancel", !atomic_load(&survived_testcancel));
    CHECK("report's first line", strstr(report, "poolmalloc: statistics") == report);
    const char *totals = strstr(report, "\npoolmalloc: totals:");
    CHECK("report's totals line", totals != NULL);
    CHECK("totals line complete",
          totals && strstr(totals, " medium-frees=") && report[strlen(report) - 1] == '\n');
    if (pm_test_failed)
        fprintf(stderr, "report (%zd bytes):\n%s", n, report);
    return pm_test_finish();
}
