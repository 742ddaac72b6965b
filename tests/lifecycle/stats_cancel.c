/* stats_cancel.c -- malloc_stats() in a thread with a pending cancel.
 *
 * glibc's malloc_stats disables cancellation while it writes; write(2) is a
 * cancellation point, so without that a deferred cancel that is already
 * pending ends the thread at the report's first write and the report is lost
 * (all of it, or all but its first buffer).  Here a thread waits (without a
 * cancellation point) until the main thread has cancelled it, calls
 * malloc_stats() with stderr on a temporary file, and then
 * pthread_testcancel().  Just before, the main thread wrote a reference
 * report the same way, with nothing pending (after a first cancel of another
 * thread: glibc's first pthread_cancel allocates).  The cancelled report must be
 * complete: its first line is the report's first line, and it has as many
 * lines as the reference, the last one with the same label (the figures may
 * differ: resident bytes, say).  malloc_stats must have returned, and the
 * cancel must still be pending afterwards (the thread ends at
 * pthread_testcancel, so cancellation was enabled again). */
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

static atomic_int ready, go;
static atomic_int stats_returned;
static atomic_int survived_testcancel;

static void *reporter(void *arg)
{
    (void)arg;
    free(malloc(100));   /* this thread has a heap before either report */
    atomic_store(&ready, 1);
    while (!atomic_load(&go))
        sched_yield();   /* not a cancellation point */
    malloc_stats();
    atomic_store(&stats_returned, 1);
    pthread_testcancel();
    atomic_store(&survived_testcancel, 1);
    return NULL;
}

/* Cancelled once first, so that glibc's first pthread_cancel (which loads
 * libgcc_s, allocating) happens before the reference report. */
static void *warm_up(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_testcancel();
        sched_yield();
    }
    return NULL;
}

/* A temporary file, already unlinked. */
static int temp_file(void)
{
    char path[] = "/tmp/pm_stats_cancel.XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0)
        unlink(path);
    return fd;
}

/* Reads fd's whole contents into buf (NUL-terminated); the line count. */
static int read_report(int fd, char *buf, size_t cap)
{
    ssize_t n = pread(fd, buf, cap - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    int lines = 0;
    for (const char *p = buf; *p; p++)
        lines += *p == '\n';
    return lines;
}

/* The label of the report's last line: up to its second ':'. */
static void last_label(const char *buf, char *out, size_t cap)
{
    size_t len = strlen(buf);
    const char *end = len ? buf + len - 1 : buf;   /* the final '\n' */
    const char *start = end;
    while (start > buf && start[-1] != '\n')
        start--;
    size_t k = 0;
    int colons = 0;
    for (const char *p = start; p < end && k + 1 < cap && colons < 2; p++) {
        out[k++] = *p;
        colons += *p == ':';
    }
    out[k] = 0;
}

int main(void)
{
    pm_test_require_poolmalloc();
    int ref_fd = temp_file(), fd = temp_file();
    CHECK("temporary files", ref_fd >= 0 && fd >= 0);
    if (ref_fd < 0 || fd < 0)
        return pm_test_finish();

    pthread_t t;
    void *ret = NULL;
    if (pthread_create(&t, NULL, warm_up, NULL) == 0) {
        pthread_cancel(t);
        pthread_join(t, NULL);
    }
    int created = pthread_create(&t, NULL, reporter, NULL) == 0;
    CHECK("pthread_create", created);
    if (!created)
        return pm_test_finish();
    while (!atomic_load(&ready))
        sched_yield();

    fflush(stderr);
    int saved = dup(2);
    dup2(ref_fd, 2);
    malloc_stats();   /* the reference */
    dup2(fd, 2);
    pthread_cancel(t);
    atomic_store(&go, 1);
    pthread_join(t, &ret);
    dup2(saved, 2);
    close(saved);

    static char ref[1 << 16], report[1 << 16];
    int ref_lines = read_report(ref_fd, ref, sizeof ref);
    int lines = read_report(fd, report, sizeof report);
    close(ref_fd);
    close(fd);
    char ref_last[64], last[64];
    last_label(ref, ref_last, sizeof ref_last);
    last_label(report, last, sizeof last);
    const char *first_end = strchr(ref, ':');

    CHECK("malloc_stats returned", atomic_load(&stats_returned));
    CHECK("the cancel was acted on afterwards", ret == PTHREAD_CANCELED);
    CHECK("and not before pthread_testcancel", !atomic_load(&survived_testcancel));
    CHECK("the reference report", ref_lines >= 3 && first_end != NULL);
    CHECK("report's first line",
          first_end && !strncmp(report, ref, (size_t)(first_end - ref) + 1));
    CHECK("as many lines as the reference", lines == ref_lines);
    CHECK("the same last line", !strcmp(last, ref_last) && report[strlen(report) - 1] == '\n');
    if (pm_test_failed)
        fprintf(stderr, "reference (%d lines):\n%s\nreport (%d lines):\n%s", ref_lines, ref,
                lines, report);
    return pm_test_finish();
}
