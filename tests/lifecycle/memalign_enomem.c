/* memalign_enomem.c -- a failing posix_memalign returns ENOMEM and leaves
 * errno = ENOMEM, as glibc's does (its tst-malloc-thread-fail relies on
 * that), and leaves *out alone.
 *
 * Three ways to fail: an impossible size (SIZE_MAX), a size the address
 * space cannot hold, and running out under RLIMIT_AS (the address space
 * limited to what is mapped now plus 64 MiB), where 1 MiB blocks (large
 * path) and then 200-byte blocks (small path) are allocated until one
 * fails.  errno is set to 0 before each failing call.  Every block is freed
 * and the limit lifted before the end; a last call then succeeds without
 * touching errno. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "pm_test.h"

/* Keeps the compiler from folding the impossible sizes. */
static size_t launder(size_t v)
{
    __asm__ volatile("" : "+r"(v));
    return v;
}

static void *const SENTINEL = (void *)0x5a5a;

/* posix_memalign(align, size) must fail with ENOMEM in both places. */
static void check_fails(const char *what, size_t align, size_t size)
{
    void *p = SENTINEL;
    errno = 0;
    int r = posix_memalign(&p, launder(align), launder(size));
    int e = errno;
    if (r != ENOMEM || e != ENOMEM)
        fprintf(stderr, "  %s: posix_memalign(%zu, %zu) returned %d, errno %d\n", what, align,
                size, r, e);
    CHECK(what, r == ENOMEM);
    CHECK("errno is ENOMEM", e == ENOMEM);
    CHECK("*out left alone", p == SENTINEL);
    if (r == 0)
        free(p);
}

/* Allocates blocks of SIZE aligned to ALIGN, chained through their first
 * word, until posix_memalign fails (at most LIMIT blocks); checks how it
 * failed; frees them all. */
static void exhaust(const char *what, size_t align, size_t size, long limit)
{
    void *chain = NULL;
    long n = 0;
    int r = 0, e = 0;
    for (; n < limit; n++) {
        void *p = SENTINEL;
        errno = 0;
        r = posix_memalign(&p, align, size);
        e = errno;
        if (r != 0) {
            CHECK("*out left alone when out of memory", p == SENTINEL);
            break;
        }
        *(void **)p = chain;
        chain = p;
    }
    if (r != ENOMEM || e != ENOMEM)
        fprintf(stderr, "  %s: after %ld blocks of %zu: returned %d, errno %d\n", what, n, size,
                r, e);
    CHECK(what, r == ENOMEM);
    CHECK("errno is ENOMEM when out of memory", e == ENOMEM);
    while (chain) {
        void *next = *(void **)chain;
        free(chain);
        chain = next;
    }
}

static long vm_size_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = -1;
    if (f) {
        if (fscanf(f, "%ld", &pages) != 1)
            pages = -1;
        fclose(f);
    }
    return pages < 0 ? -1 : pages * sysconf(_SC_PAGESIZE);
}

int main(void)
{
    pm_test_require_poolmalloc();

    check_fails("SIZE_MAX fails", 64, SIZE_MAX);
    check_fails("SIZE_MAX - 4096, page-aligned, fails", 4096, SIZE_MAX - 4096);
    check_fails("2^62 bytes fail", 16, (size_t)1 << 62);
    check_fails("2^62 bytes 1 MiB-aligned fail", (size_t)1 << 20, (size_t)1 << 62);

    struct rlimit old;
    CHECK("getrlimit", getrlimit(RLIMIT_AS, &old) == 0);
    long vm = vm_size_bytes();
    CHECK("VmSize", vm > 0);
    struct rlimit lim = old;
    lim.rlim_cur = (rlim_t)vm + ((rlim_t)64 << 20);
    if (old.rlim_cur != RLIM_INFINITY && old.rlim_cur < lim.rlim_cur)
        lim.rlim_cur = old.rlim_cur;
    CHECK("setrlimit", setrlimit(RLIMIT_AS, &lim) == 0);

    check_fails("256 MiB over RLIMIT_AS fails", 4096, (size_t)256 << 20);
    exhaust("1 MiB blocks until RLIMIT_AS", 64, (size_t)1 << 20, 1000);
    exhaust("200-byte 32-aligned blocks until RLIMIT_AS", 32, 200, 2000000);

    CHECK("lift the limit", setrlimit(RLIMIT_AS, &old) == 0);
    void *p = NULL;
    errno = 1234;
    int r = posix_memalign(&p, 64, (size_t)1 << 20);
    CHECK("succeeds again", r == 0 && p != NULL);
    CHECK("success leaves errno alone", errno == 1234);
    free(p);
    return pm_test_finish();
}
