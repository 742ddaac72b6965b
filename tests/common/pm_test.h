/* pm_test.h -- tiny check helpers shared by the test programs.
 *
 * CHECK(name, expr) prints one line per failure and counts it; a test's
 * main() ends with `return pm_test_finish();`, which prints
 * "N passed, N failed" and exits non-zero if anything failed.
 * pm_test_require_poolmalloc() proves that malloc in this process really
 * resolves into libpoolmalloc (the tests run with it preloaded; in programs
 * built onto the prefixed API with pm_prefixed.h there is nothing to prove). */
#ifndef PM_TEST_H
#define PM_TEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int pm_test_passed, pm_test_failed;

#define CHECK(name, expr)                                                        \
    do {                                                                         \
        if (expr) {                                                              \
            pm_test_passed++;                                                    \
        } else {                                                                 \
            pm_test_failed++;                                                    \
            fprintf(stderr, "FAIL %s:%d: %s: %s\n", __FILE__, __LINE__, (name), \
                    #expr);                                                      \
        }                                                                        \
    } while (0)

#ifdef PM_TEST_PREFIXED
/* Built onto the prefixed API (pm_prefixed.h): malloc is pm_malloc. */
static inline void pm_test_require_poolmalloc(void) {}
#else
/* Aborts the test unless malloc and free come from libpoolmalloc. */
static inline void pm_test_require_poolmalloc(void)
{
    const char *names[] = {"malloc", "free", "calloc", "realloc", "posix_memalign",
                           "aligned_alloc", "malloc_usable_size"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *sym = dlsym(RTLD_DEFAULT, names[i]);
        Dl_info info;
        if (!sym || !dladdr(sym, &info) || !info.dli_fname ||
            !strstr(info.dli_fname, "libpoolmalloc")) {
            fprintf(stderr, "FAIL: %s does not come from libpoolmalloc (%s)\n", names[i],
                    sym && dladdr(sym, &info) && info.dli_fname ? info.dli_fname : "?");
            exit(2);
        }
    }
}
#endif

/* The process's resident set (VmRSS) in MiB, from /proc/self/statm; -1 if
 * it cannot be read. */
static inline double pm_test_rss_mib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = -1;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &resident) != 2)
            resident = -1;
        fclose(f);
    }
    return resident < 0 ? -1.0 : (double)resident * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

/* Whether the mapping holding p asks for transparent huge pages (VmFlags
 * "hg" in /proc/self/smaps): 1 or 0; -1 if unknown (no smaps, no VmFlags). */
static inline int pm_test_vma_hugepage(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return -1;
    char line[512];
    int in = 0, found = -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {   /* a mapping's first line */
            in = (unsigned long)p >= lo && (unsigned long)p < hi;
        } else if (in && !strncmp(line, "VmFlags:", 8)) {
            found = strstr(line, " hg") != NULL;
            break;
        }
    }
    fclose(f);
    return found;
}

static inline int pm_test_finish(void)
{
    printf("%d passed, %d failed\n", pm_test_passed, pm_test_failed);
    fflush(stdout);
    return pm_test_failed ? 1 : 0;
}

/* Deterministic PRNG (splitmix64) so every run does the same work. */
static inline unsigned long long pm_test_rand(unsigned long long *state)
{
    unsigned long long z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Helpers for content patterns: a 64-bit mixer (splitmix's finaliser) and
 * unaligned 64-bit stores and loads. */
static inline unsigned long long pm_test_mix64(unsigned long long z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void pm_test_put64(unsigned char *p, unsigned long long v) { memcpy(p, &v, 8); }

static inline unsigned long long pm_test_get64(const unsigned char *p)
{
    unsigned long long v;
    memcpy(&v, p, 8);
    return v;
}

#endif
