/* fork_signal.c -- fork from a signal handler (the shape of glibc's
 * tst-mallocfork2; POSIX lists fork as async-signal-safe).
 *
 * A subprocess sends SIGUSR1 to this (single-threaded) process as fast as it
 * can; the handler forks a child that _exits at once and waits for it.  The
 * main thread meanwhile frees and allocates blocks of 0..70000 bytes (small,
 * medium and large paths) and forks a child of its own every fourth step, so
 * the handler's fork lands both inside malloc/free and inside the main
 * thread's fork (its atfork handlers included).  An allocator whose fork
 * handlers take its locks unconditionally deadlocks on a lock the interrupted
 * code, or the interrupted prepare handler, already holds.
 *
 * The handler stops the sender (SIGSTOP) and the main loop lets it go on
 * (SIGCONT) once per step, as glibc's test does, so that the main thread
 * makes progress.  The work is SIGNALS handled signals; a hang is caught by
 * alarm(TIMEOUT), whose handler kills the sender, says so and _exits 1.
 *
 * usage: fork_signal [SIGNALS=300] [TIMEOUT=60] */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pm_test.h"

enum { OBJECTS = 1009, MAX_SIZE = 70000 };

static volatile sig_atomic_t sender_pid;
static volatile sig_atomic_t got_signal;      /* reset by the main loop each step */
static volatile sig_atomic_t signals_handled;
static volatile sig_atomic_t signals_in_fork; /* handled while the main thread was in fork */
static volatile sig_atomic_t main_in_fork;
static volatile sig_atomic_t handler_errors;

static void say(const char *s) { (void)!write(2, s, strlen(s)); }

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

static pid_t wait_child(pid_t pid, int *status)
{
    pid_t w;
    while ((w = waitpid(pid, status, 0)) < 0 && errno == EINTR)
        ;
    return w;
}

static void on_usr1(int sig)
{
    (void)sig;
    int saved = errno;
    if (got_signal)
        goto out;   /* one fork per main-loop step */
    if (sender_pid > 0)
        kill(sender_pid, SIGSTOP);
    got_signal = 1;
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    int status = -1;
    if (pid < 0 || wait_child(pid, &status) != pid || status != 0)
        handler_errors++;
    signals_handled++;
    if (main_in_fork)
        signals_in_fork++;
out:
    errno = saved;
}

static void on_alarm(int sig)
{
    (void)sig;
    if (sender_pid > 0)
        kill(sender_pid, SIGKILL);
    say("FAIL: hang (fork from a signal handler): signals handled ");
    say_num(signals_handled);
    say(", of them during the main thread's fork ");
    say_num(signals_in_fork);
    say("\n");
    _exit(1);
}

static void __attribute__((noreturn)) send_forever(pid_t target)
{
    for (;;) {
        if (kill(target, SIGUSR1) != 0)
            _exit(0);   /* the test process is gone */
        sched_yield();
    }
}

int main(int argc, char **argv)
{
    long want = argc > 1 ? atol(argv[1]) : 300;
    unsigned timeout = argc > 2 ? (unsigned)atoi(argv[2]) : 60;
    if (want < 1 || timeout < 1) {
        fprintf(stderr, "usage: fork_signal [SIGNALS] [TIMEOUT]\n");
        return 2;
    }
    pm_test_require_poolmalloc();
    setvbuf(stdout, NULL, _IONBF, 0);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    alarm(timeout);

    static void *objects[OBJECTS];
    unsigned long long rng = 1;
    long steps = 0, main_forks = 0, bad_children = 0;

    pid_t parent = getpid();
    main_in_fork = 1;
    pid_t s = fork();   /* the sender's first signals may come while we are still in fork */
    main_in_fork = 0;
    if (s == 0)
        send_forever(parent);
    CHECK("fork the sender", s > 0);
    if (s < 0)
        return pm_test_finish();
    sender_pid = s;

    while (signals_handled < want) {
        kill(sender_pid, SIGCONT);
        got_signal = 0;
        unsigned long long r = pm_test_rand(&rng);
        size_t slot = (size_t)(r % OBJECTS);
        size_t size = (size_t)((r >> 16) % MAX_SIZE);
        free(objects[slot]);
        objects[slot] = malloc(size);
        if (!objects[slot]) {
            CHECK("malloc", 0);
            break;
        }
        memset(objects[slot], (int)slot, size < 64 ? size : 64);
        if (++steps % 4 == 0) {
            main_in_fork = 1;
            pid_t pid = fork();
            main_in_fork = 0;
            if (pid == 0)
                _exit(0);
            int status = -1;
            if (pid < 0 || wait_child(pid, &status) != pid || status != 0)
                bad_children++;
            main_forks++;
        }
    }

    signal(SIGUSR1, SIG_IGN);
    kill(sender_pid, SIGKILL);
    kill(sender_pid, SIGCONT);
    int status;
    wait_child(sender_pid, &status);
    alarm(0);
    for (size_t i = 0; i < OBJECTS; i++)
        free(objects[i]);

    CHECK("forks in the signal handler all succeeded", handler_errors == 0);
    CHECK("forks in the main thread all succeeded", bad_children == 0);
    printf("fork_signal: %ld signals handled (%ld during the main thread's fork), "
           "%ld steps, %ld forks in the main thread\n",
           (long)signals_handled, (long)signals_in_fork, steps, main_forks);
    return pm_test_finish();
}
