/* os_linux.c -- the OS layer for Linux (layer 0): mmap, munmap, mremap,
 * madvise, the environment, stderr, time and randomness.  See os.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "arenas/os.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

void *_pm_os_map(size_t size, size_t align)
{
    int saved = errno;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        errno = saved;
        return NULL;
    }
    if (align <= PM_OS_PAGE || ((uintptr_t)p & (align - 1)) == 0) {
        errno = saved;
        return p;
    }
    /* Not aligned: map an oversized range and trim both ends. */
    munmap(p, size);
    size_t over = size + align - PM_OS_PAGE;
    if (over < size) {
        errno = saved;
        return NULL;
    }
    char *raw = mmap(NULL, over, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
        errno = saved;
        return NULL;
    }
    char *aligned = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
    size_t head = (size_t)(aligned - raw);
    size_t tail = over - head - size;
    if (head)
        munmap(raw, head);
    if (tail)
        munmap(aligned + size, tail);
    errno = saved;
    return aligned;
}

void _pm_os_unmap(void *addr, size_t size)
{
    int saved = errno;
    munmap(addr, size);
    errno = saved;
}

void *_pm_os_remap(void *addr, size_t old_size, size_t new_size)
{
    int saved = errno;
    void *p = mremap(addr, old_size, new_size, MREMAP_MAYMOVE);
    errno = saved;
    return p == MAP_FAILED ? NULL : p;
}

void _pm_os_decommit(void *addr, size_t size)
{
    int saved = errno;
    madvise(addr, size, MADV_DONTNEED);
    errno = saved;
}

const char *_pm_os_getenv(const char *name)
{
    char **env = environ;
    if (!env)
        return NULL;
    size_t n = strlen(name);
    for (; *env; env++) {
        if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
            return *env + n + 1;
    }
    return NULL;
}

void _pm_os_write(int fd, const char *buf, size_t len)
{
    int saved = errno;
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        buf += w;
        len -= (size_t)w;
    }
    errno = saved;
}

int _pm_os_dup_stderr(void)
{
    int saved = errno;
    int fd = fcntl(2, F_DUPFD_CLOEXEC, 64);
    errno = saved;
    return fd;
}

uint64_t _pm_os_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t _pm_os_random(void)
{
    int saved = errno;
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        /* AT_RANDOM: 16 bytes, also the source of glibc's stack canary and
         * pointer guard, so only a hash of them is used. */
        const unsigned char *at = (const unsigned char *)getauxval(AT_RANDOM);
        uint64_t lo = 0, hi = 0;
        if (at) {
            memcpy(&lo, at, 8);
            memcpy(&hi, at + 8, 8);
        }
        r = lo * 0x9e3779b97f4a7c15ULL ^ hi ^ (uint64_t)(uintptr_t)&r ^ _pm_os_now_ms();
        r ^= r >> 31;
        r *= 0xbf58476d1ce4e5b9ULL;
        r ^= r >> 29;
    }
    errno = saved;
    return r;
}

void _pm_os_fatal(const char *msg)
{
    char buf[256];
    size_t n = 0;
    const char *pre = "poolmalloc: ";
    while (*pre && n < sizeof buf - 2)
        buf[n++] = *pre++;
    while (*msg && n < sizeof buf - 2)
        buf[n++] = *msg++;
    buf[n++] = '\n';
    _pm_os_write(2, buf, n);
    abort();
}
