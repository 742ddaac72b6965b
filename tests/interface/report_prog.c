/* report_prog -- the statistics interfaces seen by a program running with
 * libpoolmalloc preloaded (built against the system malloc API; the pm_*
 * functions are found with dlsym).  One mode per run, driven by report.sh:
 *
 *   mallinfo  uordblks counts small, medium and large blocks: 1.1 MiB of
 *             medium blocks, 64 KiB of small ones and one 1 MiB block live
 *             must all be in it (with or without POOLMALLOC_STATS), and it
 *             falls again when they are freed.  And neither makes a system
 *             call (a child runs them under a seccomp filter that kills it
 *             at getrusage or open: the resident figures, which they do not
 *             report, took 7.7 us a call to read; glibc's takes 0.13).
 *   twice     malloc_stats() twice, then pm_stats_print_json(1) twice: the
 *             driver checks that the reports agree (formatting a report
 *             allocates nothing, or the second would count more).
 *   info      malloc_info(0, stdout): XML for the driver to parse;
 *             malloc_info(1, ...) fails with EINVAL.
 *   json      pm_stats_print_json(1) with blocks live.
 *   version   allocates and frees, prints pm_version() and the process id.
 *   exit_     allocates, then leaves by _exit(0): no report.
 *   closed    closes stdout and stderr, then returns: the report at exit
 *             still reaches the stderr open at start-up.
 */
#define _GNU_SOURCE
#include "pm_test.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define MEDIUM_N 280      /* x 4096 bytes: 1.1 MiB of medium blocks */
#define SMALL_N 2048      /* x 32 bytes: 64 KiB */
#define LARGE_SIZE (1u << 20)

static void *sym(const char *name)
{
    void *f = dlsym(RTLD_DEFAULT, name);
    if (!f) {
        fprintf(stderr, "FAIL: %s not found\n", name);
        exit(2);
    }
    return f;
}

static void *medium[MEDIUM_N], *small[SMALL_N], *large;

static void fill(void)
{
    for (int i = 0; i < MEDIUM_N; i++) {
        medium[i] = malloc(4096);
        memset(medium[i], 1, 4096);
    }
    for (int i = 0; i < SMALL_N; i++) {
        small[i] = malloc(32);
        memset(small[i], 2, 32);
    }
    large = malloc(LARGE_SIZE);
    memset(large, 3, LARGE_SIZE);
}

static void release(void)
{
    for (int i = 0; i < MEDIUM_N; i++)
        free(medium[i]);
    for (int i = 0; i < SMALL_N; i++)
        free(small[i]);
    free(large);
}

/* In a child that is killed at getrusage, open or openat (a seccomp
 * filter), mallinfo2() and mallinfo(): true if it got through them.  -1
 * where the filter cannot be installed (the test then says so and goes on). */
static int mallinfo_without_syscalls(void)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        struct sock_filter code[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getrusage, 3, 0),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 2, 0),
#ifdef SYS_open
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_open, 1, 0),
#else
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 1, 0),
#endif
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        };
        struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
            syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
            _exit(3);
        struct mallinfo2 m2 = mallinfo2();
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        struct mallinfo m = mallinfo();
#pragma GCC diagnostic pop
        _exit(m2.arena > 0 && m.arena > 0 ? 0 : 4);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
        return -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        printf("mallinfo child: %s %d\n", WIFSIGNALED(status) ? "killed by signal" : "exit",
               WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(int argc, char **argv)
{
    pm_test_require_poolmalloc();
    const char *mode = argc > 1 ? argv[1] : "";
    void (*print_json)(int) = (void (*)(int))sym("pm_stats_print_json");

    if (strcmp(mode, "mallinfo") == 0) {
        struct mallinfo2 before = mallinfo2();
        fill();
        struct mallinfo2 mid = mallinfo2();
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        struct mallinfo old = mallinfo();
#pragma GCC diagnostic pop
        size_t live = (size_t)MEDIUM_N * 4096 + (size_t)SMALL_N * 32 + LARGE_SIZE;
        printf("uordblks before=%zu live=%zu after fill=%zu hblkhd=%zu arena=%zu\n",
               before.uordblks, live, mid.uordblks, mid.hblkhd, mid.arena);
        CHECK("uordblks counts medium, small and large", mid.uordblks >= before.uordblks + live);
        CHECK("uordblks within the mapped bytes", mid.uordblks <= mid.arena + mid.hblkhd);
        CHECK("hblkhd has the large block", mid.hblkhd >= LARGE_SIZE);
        CHECK("hblks counts it", mid.hblks >= 1);
        CHECK("mallinfo agrees", (size_t)old.uordblks == mid.uordblks);
        release();
        struct mallinfo2 after = mallinfo2();
        printf("uordblks after free=%zu\n", after.uordblks);
        CHECK("uordblks falls when they are freed", after.uordblks + live / 2 <= mid.uordblks);
        fill();
        int quiet = mallinfo_without_syscalls();
        release();
        if (quiet < 0)
            printf("mallinfo without system calls: not checked (no seccomp here)\n");
        else
            CHECK("mallinfo2 and mallinfo make no system call", quiet == 1);
        return pm_test_finish();
    }
    if (strcmp(mode, "twice") == 0) {
        fill();
        malloc_stats();
        malloc_stats();
        print_json(1);
        print_json(1);
        release();
        return 0;
    }
    if (strcmp(mode, "info") == 0) {
        fill();
        CHECK("malloc_info(0) succeeds", malloc_info(0, stdout) == 0);
        errno = 0;
        CHECK("malloc_info(1) fails", malloc_info(1, stdout) == -1 && errno == EINVAL);
        fflush(stdout);
        release();
        if (pm_test_failed) {
            fprintf(stderr, "%d failed\n", pm_test_failed);
            return 1;
        }
        return 0;
    }
    if (strcmp(mode, "json") == 0) {
        fill();
        fflush(stdout);
        print_json(1);
        release();
        return 0;
    }
    if (strcmp(mode, "version") == 0) {
        const char *(*version)(void) = (const char *(*)(void))sym("pm_version");
        fill();
        release();
        printf("version %s pid %ld\n", version(), (long)getpid());
        return 0;
    }
    if (strcmp(mode, "exit_") == 0) {
        fill();
        release();
        fflush(stdout);
        _exit(0);
    }
    if (strcmp(mode, "closed") == 0) {
        fill();
        release();
        fflush(stdout);
        close(1);
        close(2);
        return 0;
    }
    fprintf(stderr, "usage: report_prog mallinfo|twice|info|json|version|exit_|closed\n");
    return 2;
}
