/* fork_stdio.c -- fork against stdio's locks (glibc bug 19431; the shape of
 * glibc's tst-malloc-fork-deadlock).
 *
 * One thread forks FORKS times (each child _exits at once), one calls
 * fflush(NULL) in a loop, READERS threads call getline on a file holding one
 * line of 50000 bytes.  getline holds its FILE's lock while realloc grows the
 * line buffer through the large path; fflush(NULL) holds glibc's stdio list
 * lock (_IO_list_lock) while it waits for each FILE's lock; fork takes that
 * list lock after the atfork prepare handlers have run.  An allocator whose
 * prepare handler takes its locks and then waits in fork for the list lock
 * closes the cycle: forker -> fflush thread -> getline thread -> forker.
 *
 * The work is a fixed number of forks (no clock); a hang is caught by
 * alarm(TIMEOUT): the handler says so and _exits 1, so ctest sees a failure
 * and not a timeout.  Each child allocates, frees and flushes (the locks of
 * the allocator and of stdio must be usable there), then _exits 17, which
 * the forker checks.
 *
 * usage: fork_stdio [FORKS=200] [READERS=2] [TIMEOUT=60] */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pm_test.h"

#define LINE_BYTES 50000
#define MAX_READERS 16

static atomic_int stop;
static atomic_long lines_read;
static atomic_long flushes;
static atomic_long forks_done;
static char file_name[] = "/tmp/pm_fork_stdio.XXXXXX";

static void say(const char *s) { (void)!write(2, s, strlen(s)); }

/* Async-signal-safe decimal output for the alarm handler. */
static void say_num(long v)
{
    char buf[24];
    int n = sizeof buf;
    do {
        buf[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v && n);
    (void)!write(2, buf + n, sizeof buf - (size_t)n);
}

static void on_alarm(int sig)
{
    (void)sig;
    say("FAIL: hang (fork against stdio): forks done ");
    say_num(atomic_load(&forks_done));
    say(", lines read ");
    say_num(atomic_load(&lines_read));
    say(", fflush(NULL) calls ");
    say_num(atomic_load(&flushes));
    say("\n");
    unlink(file_name);
    _exit(1);
}

static void *reader(void *arg)
{
    (void)arg;
    FILE *f = fopen(file_name, "r");
    if (!f) {
        say("FAIL: fopen\n");
        _exit(1);
    }
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        rewind(f);
        char *line = NULL;
        size_t cap = 0;
        ssize_t n = getline(&line, &cap, f);
        if (n != LINE_BYTES + 1) {
            say("FAIL: getline returned a wrong length\n");
            _exit(1);
        }
        free(line);
        atomic_fetch_add_explicit(&lines_read, 1, memory_order_relaxed);
    }
    fclose(f);
    return NULL;
}

static void *flusher(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        if (fflush(NULL) != 0) {
            say("FAIL: fflush(NULL)\n");
            _exit(1);
        }
        atomic_fetch_add_explicit(&flushes, 1, memory_order_relaxed);
        sched_yield();   /* let the forker have the list lock now and then */
    }
    return NULL;
}

static void *forker(void *arg)
{
    long forks = *(long *)arg;
    for (long i = 0; i < forks; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            say("FAIL: fork\n");
            _exit(1);
        }
        if (pid == 0) {
            /* The child may use malloc and stdio: their locks were reset. */
            char *big = malloc(LINE_BYTES * 2);
            if (!big)
                _exit(1);
            memset(big, 'y', LINE_BYTES * 2);
            free(big);
            _exit(fflush(NULL) == 0 ? 17 : 1);
        }
        int status;
        pid_t w;
        while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
            ;
        if (w != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 17) {
            say("FAIL: a child failed (it did not _exit(17))\n");
            _exit(1);
        }
        atomic_fetch_add_explicit(&forks_done, 1, memory_order_relaxed);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    long forks = argc > 1 ? atol(argv[1]) : 200;
    int readers = argc > 2 ? atoi(argv[2]) : 2;
    unsigned timeout = argc > 3 ? (unsigned)atoi(argv[3]) : 60;
    if (readers < 1 || readers > MAX_READERS || forks < 1 || timeout < 1) {
        fprintf(stderr, "usage: fork_stdio [FORKS] [READERS 1..%d] [TIMEOUT]\n", MAX_READERS);
        return 2;
    }
    pm_test_require_poolmalloc();

    int fd = mkstemp(file_name);
    CHECK("mkstemp", fd >= 0);
    if (fd < 0)
        return pm_test_finish();
    FILE *w = fdopen(fd, "w");
    for (int i = 0; i < LINE_BYTES; i++)
        fputc('x', w);
    fputc('\n', w);
    CHECK("write the long line", fclose(w) == 0);

    fflush(stdout);   /* nothing buffered for the children to flush again */
    signal(SIGALRM, on_alarm);
    alarm(timeout);

    pthread_t rt[MAX_READERS], ft, kt;
    for (int i = 0; i < readers; i++)
        CHECK("create reader", pthread_create(&rt[i], NULL, reader, NULL) == 0);
    CHECK("create flusher", pthread_create(&ft, NULL, flusher, NULL) == 0);
    CHECK("create forker", pthread_create(&kt, NULL, forker, &forks) == 0);

    pthread_join(kt, NULL);
    atomic_store(&stop, 1);
    pthread_join(ft, NULL);
    for (int i = 0; i < readers; i++)
        pthread_join(rt[i], NULL);
    alarm(0);
    unlink(file_name);

    CHECK("all forks done", atomic_load(&forks_done) == forks);
    printf("fork_stdio: %ld forks, %ld lines read, %ld fflush(NULL)\n",
           (long)atomic_load(&forks_done), (long)atomic_load(&lines_read),
           (long)atomic_load(&flushes));
    return pm_test_finish();
}
