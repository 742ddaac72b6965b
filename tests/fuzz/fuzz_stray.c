/* fuzz_stray.c -- the fuzzing mode for stray writes (hardening).
 *
 * Each case, in a child process of its own, runs a pseudo-random sequence
 * of malloc, calloc, realloc and free over 256 slots (sizes 1..1024 mostly,
 * some medium and large), and at a random step makes ONE stray write, of 1,
 * 8 or 64 bytes of random value:
 *   after free:  at a random offset of a block just freed (use after free);
 *   before free: just past the end of a live block's usable size (overflow).
 * The sequence then goes on, and every block handed out is checked against
 * all live ones: the allocator must never hand out a block that overlaps a
 * live one (or is misaligned), and must never crash inside itself.  What
 * may end a case: nothing at all, poolmalloc's one-line report (SIGABRT),
 * or a fault at the stray write itself (past a large block's end).
 *
 * usage: fuzz_stray [-n CASES=300] [-seed S=1] [-v]
 * Run with the allocator preloaded; prints a line per ending and exits 1 if
 * any case ended in an overlap or a crash (the first such seed is printed,
 * rerun it with -n 1 -seed SEED -v).
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SLOTS 256
#define STEPS 3000

static uint64_t rng;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static struct {
    char *p;
    size_t n;   /* usable size */
} slot[SLOTS];

static volatile int in_stray;
static int verbose;

static void on_fault(int sig)
{
    if (in_stray)
        _exit(22);   /* a clean fault at the program's own stray write */
    signal(sig, SIG_DFL);
    raise(sig);
}

static size_t random_size(void)
{
    unsigned k = (unsigned)(rnd() % 100);
    if (k < 80)
        return 1 + rnd() % 512;
    if (k < 95)
        return 513 + rnd() % 16000;
    return ((size_t)64 << 10) + rnd() % ((size_t)2 << 20);
}

/* A block just handed out: 8-aligned, overlapping no live block. */
static void check_new(int s, char *p, size_t n)
{
    if ((uintptr_t)p % 8) {
        printf("misaligned block %p\n", (void *)p);
        _exit(20);
    }
    for (int i = 0; i < SLOTS; i++)
        if (i != s && slot[i].p && p < slot[i].p + slot[i].n && p + n > slot[i].p) {
            printf("overlap: %p+%zu with slot %d %p+%zu\n", (void *)p, n, i, (void *)slot[i].p,
                   slot[i].n);
            _exit(20);
        }
}

static void stray(char *at, size_t len)
{
    in_stray = 1;
    for (size_t i = 0; i < len; i++)
        ((volatile char *)at)[i] = (char)rnd();
    in_stray = 0;
}

static int one_case(uint64_t seed)
{
    rng = seed * 0x9e3779b97f4a7c15ull + 0x1234567;
    int when = (int)(rnd() % STEPS);
    unsigned kind = (unsigned)(rnd() % 6);   /* {1, 8, 64} x {after, before free} */
    size_t len = kind % 3 == 0 ? 1 : kind % 3 == 1 ? 8 : 64;
    int after_free = kind >= 3;
    if (verbose)
        printf("seed %llu: stray write of %zu bytes %s free at step %d\n",
               (unsigned long long)seed, len, after_free ? "after" : "before", when);
    for (int step = 0; step < STEPS; step++) {
        int s = (int)(rnd() % SLOTS);
        int stray_now = step == when;
        if (slot[s].p && (stray_now || rnd() % 2)) {
            char *p = slot[s].p;
            size_t n = slot[s].n;
            if (stray_now && !after_free)
                stray(p + n, len);             /* overflow off the end */
            free(p);
            slot[s].p = NULL;
            if (stray_now && after_free)
                stray(p + rnd() % (n > len ? n - len + 1 : 1), len);
            continue;
        }
        if (stray_now) {   /* nothing to free there: overflow off any live block */
            for (int i = 0; i < SLOTS; i++)
                if (slot[i].p) {
                    stray(slot[i].p + slot[i].n, len);
                    break;
                }
        }
        size_t n = random_size();
        char *p;
        unsigned op = (unsigned)(rnd() % 8);
        if (op == 0 && slot[s].p == NULL) {
            p = calloc(1, n);
        } else if (op == 1 && slot[s].p) {
            p = realloc(slot[s].p, n);
            if (!p)
                continue;
            slot[s].p = NULL;
        } else {
            if (slot[s].p) {
                free(slot[s].p);
                slot[s].p = NULL;
            }
            p = malloc(n);
        }
        if (!p)
            continue;
        n = malloc_usable_size(p);
        check_new(s, p, n);
        memset(p, (int)(s & 0xff), n < 256 ? n : 256);
        slot[s].p = p;
        slot[s].n = n;
    }
    for (int i = 0; i < SLOTS; i++)
        free(slot[i].p);
    return 0;
}

int main(int argc, char **argv)
{
    long cases = 300;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc)
            cases = atol(argv[++i]);
        else if (!strcmp(argv[i], "-seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "-v"))
            verbose = 1;
        else {
            fprintf(stderr, "usage: fuzz_stray [-n CASES] [-seed S] [-v]\n");
            return 2;
        }
    }
    long quiet = 0, report = 0, clean = 0, overlap = 0, crash = 0;
    uint64_t first_bad = 0;
    for (long c = 0; c < cases; c++) {
        uint64_t s = seed + (uint64_t)c;
        fflush(stdout);
        int pfd[2];
        if (pipe(pfd) != 0) {
            perror("pipe");
            return 2;
        }
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        if (pid == 0) {
            signal(SIGSEGV, on_fault);
            signal(SIGBUS, on_fault);
            close(pfd[0]);
            if (!verbose)   /* the one-line reports: checked, not shown */
                dup2(pfd[1], 2);
            _exit(one_case(s));
        }
        close(pfd[1]);
        char err[600];
        size_t got = 0;
        ssize_t r;
        while (got < sizeof err - 1 && (r = read(pfd[0], err + got, sizeof err - 1 - got)) > 0)
            got += (size_t)r;
        err[got] = 0;
        close(pfd[0]);
        int st;
        waitpid(pid, &st, 0);
        /* poolmalloc's report: one line; any other abort is a crash */
        int one_line = !strncmp(err, "poolmalloc: ", 12) && strchr(err, '\n') == err + got - 1;
        int bad = 0;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            quiet++;
        else if (WIFEXITED(st) && WEXITSTATUS(st) == 22)
            clean++;
        else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && (one_line || verbose))
            report++;
        else if (WIFEXITED(st) && WEXITSTATUS(st) == 20)
            overlap++, bad = 1;
        else
            crash++, bad = 1;
        if (bad && !first_bad)
            first_bad = s;
    }
    printf("fuzz_stray: %ld cases from seed %llu: %ld quiet, %ld reported, %ld clean faults, "
           "%ld overlaps, %ld crashes\n",
           cases, (unsigned long long)seed, quiet, report, clean, overlap, crash);
    if (first_bad) {
        printf("first bad case: -n 1 -seed %llu -v\n", (unsigned long long)first_bad);
        return 1;
    }
    return 0;
}
