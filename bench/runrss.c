/* runrss.c -- pm_runrss: run a program, report its wall time and peak RSS.
 *
 *   pm_runrss OUTFILE PROGRAM [ARGS...]
 *
 * Forks, execs PROGRAM (searched on PATH, environment inherited), waits for
 * it with wait4 and writes one line to OUTFILE:
 *   wall_s=1.234567 maxrss_kib=45678 user_s=1.1 sys_s=0.1 status=0
 * status is the exit status, or 128+signal.  pm_runrss exits with the same
 * status, and forwards SIGINT, SIGTERM and SIGHUP to the child.
 *
 * Why a launcher: ru_maxrss of a child includes the peak RSS of the process
 * it was forked from (the kernel carries the old image's high-water mark
 * across exec), so a child of the python driver would never report less
 * than the driver's own size.  This program is linked statically where
 * possible, so that its own footprint -- the floor of every figure -- is
 * small and the LD_PRELOAD meant for the child does not load into it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile pid_t child = -1;

static void forward(int sig)
{
    if (child > 0)
        kill(child, sig);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: pm_runrss OUTFILE PROGRAM [ARGS...]\n");
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("pm_runrss: fork");
        return 127;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        fprintf(stderr, "pm_runrss: cannot run %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    child = pid;
    int status = 0;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("pm_runrss: wait4");
            return 127;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    FILE *out = fopen(argv[1], "w");
    if (out == NULL) {
        perror("pm_runrss: output file");
        return 127;
    }
    fprintf(out, "wall_s=%.6f maxrss_kib=%ld user_s=%.6f sys_s=%.6f status=%d\n", wall,
            ru.ru_maxrss, (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
            (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6, code);
    fclose(out);
    return code;
}
