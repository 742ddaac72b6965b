/* os_linux.c -- the OS layer for Linux (floor 0): mmap, munmap, mremap,
 * madvise, the environment, stderr, time and randomness.  See os.h.
 *
 * Built with -DPM_FAULT_INJECTION (test builds only: the object library
 * poolmalloc-core-fault), it also carries the fault-injection hook declared
 * at the end of os.h: every mmap and mremap goes through os_fault_hit(),
 * which can make it fail as if memory were exhausted, and every mapping the
 * allocator holds is recorded, so that a test can list what is still mapped.
 * Release builds contain none of it (the hooks below compile to nothing). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "base/os.h"

#include <pthread.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#ifdef PM_FAULT_INJECTION
static bool os_fault_hit(void);
static bool os_unmap_fault_hit(void);
static void os_track_add(void *addr, size_t size);
static void os_track_remove(void *addr, size_t size);
#else
#define os_fault_hit() false
#define os_unmap_fault_hit() false
#define os_track_add(addr, size) ((void)0)
#define os_track_remove(addr, size) ((void)0)
#endif

/* Fresh anonymous memory: every mapping poolmalloc makes starts here.
 * `hint` (or NULL) is only a wish: the kernel maps there if the range is
 * free, elsewhere if not. */
static void *os_mmap_at(void *hint, size_t size)
{
    if (os_fault_hit())
        return MAP_FAILED;
    return mmap(hint, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static void *os_mmap(size_t size) { return os_mmap_at(NULL, size); }

/* Where the next aligned mapping is asked for: just below the last one.
 * The kernel places a mapping without a hint right below the lowest one
 * of the area, so an arena (256 KiB, 256 KiB-aligned) would be aligned by
 * chance only, 1 time in 64, and otherwise cost four system calls: the
 * munmap of the first try, an oversized mmap and two trimming munmaps,
 * each munmap flushing the TLB of every CPU that runs a thread of the
 * process.  With the hint it is one mmap. */
static _Atomic uintptr_t map_hint;

void _pm_os_shared_words(void **addr, size_t *size)
{
    *addr = (void *)&map_hint;
    *size = sizeof map_hint;
}

static void map_hint_after(void *p, size_t size, size_t align)
{
    size_t span = (size + align - 1) & ~(align - 1);
    if ((uintptr_t)p > span)
        atomic_store_explicit(&map_hint, (uintptr_t)p - span, memory_order_relaxed);
}

void *_pm_os_map(size_t size, size_t align)
{
    int saved = errno;
    uintptr_t hint = align > PM_OS_PAGE ? atomic_load_explicit(&map_hint, memory_order_relaxed) : 0;
    void *p = os_mmap_at(hint & (align - 1) ? NULL : (void *)hint, size);
    if (p == MAP_FAILED) {
        errno = saved;
        return NULL;
    }
    if (align <= PM_OS_PAGE || ((uintptr_t)p & (align - 1)) == 0) {
        if (align > PM_OS_PAGE)
            map_hint_after(p, size, align);
        os_track_add(p, size);
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
    char *raw = os_mmap(over);
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
    map_hint_after(aligned, size, align);
    os_track_add(aligned, size);
    errno = saved;
    return aligned;
}

void *_pm_os_map_sparse(size_t size)
{
    if (os_fault_hit())
        return NULL;
    int saved = errno;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        errno = saved;
        return NULL;
    }
    /* Under THP "always" each written 4 KiB would otherwise cost 2 MiB. */
    madvise(p, size, MADV_NOHUGEPAGE);
    os_track_add(p, size);
    errno = saved;
    return p;
}

/* Set once, at start-up, before any thread but the first runs (os.h). */
static bool keep_released;

void _pm_os_reserve_released(void) { keep_released = true; }

/* A reservation of [addr, addr + size): no access, no pages.  `fixed`:
 * MAP_FIXED over a range of ours, or MAP_FIXED_NOREPLACE over one the
 * kernel has just freed (false if something took it meanwhile). */
static bool os_reserve(void *addr, size_t size, int fixed)
{
    void *r = mmap(addr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | fixed, -1, 0);
    if (r == MAP_FAILED)
        return false;
    if (r != addr) {
        munmap(r, size);   /* a kernel before 4.17 took NOREPLACE for a hint */
        return false;
    }
    return true;
}

/* [addr, addr + size), ours, goes back to the OS: unmapped, or with
 * keep_released replaced by a reservation (its pages go back all the
 * same), which only an munmap could free again. */
static bool os_release(void *addr, size_t size)
{
    if (keep_released && os_reserve(addr, size, MAP_FIXED))
        return true;
    return !os_unmap_fault_hit() && munmap(addr, size) == 0;
}

/* munmap fails (ENOMEM) when unmapping [addr, addr + size) would split an
 * area of the process while it has vm.max_map_count of them: the pages at
 * least go back, the range stays mapped (os.h). */
static bool os_release_or_decommit(void *addr, size_t size)
{
    if (os_release(addr, size)) {
        os_track_remove(addr, size);
        return true;
    }
    madvise(addr, size, MADV_DONTNEED);
    return false;
}

bool _pm_os_unmap(void *addr, size_t size)
{
    int saved = errno;
    bool done = os_release_or_decommit(addr, size);
    errno = saved;
    return done;
}

size_t _pm_os_unmap_sized(void **addrs, size_t *sizes, size_t n)
{
    int saved = errno;
    for (size_t i = 1; i < n; i++) {     /* insertion sort: n is small (a batch) */
        void *a = addrs[i];
        size_t s = sizes[i], j = i;
        for (; j > 0 && (uintptr_t)addrs[j - 1] > (uintptr_t)a; j--) {
            addrs[j] = addrs[j - 1];
            sizes[j] = sizes[j - 1];
        }
        addrs[j] = a;
        sizes[j] = s;
    }
    size_t failed = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1, len = sizes[i];
        while (j < n && (char *)addrs[j] == (char *)addrs[j - 1] + sizes[j - 1])
            len += sizes[j++];
        if (os_release(addrs[i], len)) {
            for (size_t k = i; k < j; k++)
                os_track_remove(addrs[k], sizes[k]);
        } else {
            /* one at a time then; what still fails goes to the front */
            for (size_t k = i; k < j; k++)
                if (!os_release_or_decommit(addrs[k], sizes[k])) {
                    addrs[failed] = addrs[k];
                    sizes[failed++] = sizes[k];
                }
        }
        i = j;
    }
    errno = saved;
    return failed;
}

void *_pm_os_remap(void *addr, size_t old_size, size_t new_size, void *dest)
{
    int saved = errno;
    void *p = MAP_FAILED;
    if (!os_fault_hit()) {
        if (dest)
            p = mremap(addr, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, dest);
        else
            p = mremap(addr, old_size, new_size, 0);
    }
    if (p != MAP_FAILED) {
        os_track_remove(addr, old_size);
        if (dest)
            os_track_remove(dest, new_size);
        os_track_add(p, new_size);
        /* The old place (moved), or the tail given up (shrunk in place),
         * is free now: kept reserved (os.h) unless another thread has
         * mapped something there meanwhile. */
        if (keep_released && dest)
            os_reserve(addr, old_size, MAP_FIXED_NOREPLACE);
        else if (keep_released && new_size < old_size)
            os_reserve((char *)addr + new_size, old_size - new_size, MAP_FIXED_NOREPLACE);
    }
    errno = saved;
    return p == MAP_FAILED ? NULL : p;
}

void _pm_os_decommit(void *addr, size_t size)
{
    int saved = errno;
    madvise(addr, size, MADV_DONTNEED);
    errno = saved;
}

size_t _pm_os_resident(const void *addr, size_t size)
{
    enum { CHUNK = 4096 };   /* pages a call: 16 MiB of 4 KiB pages */
    unsigned char vec[CHUNK];
    int saved = errno;
    size_t resident = 0;
    for (size_t off = 0; off < size; off += (size_t)CHUNK * PM_OS_PAGE) {
        size_t len = size - off < (size_t)CHUNK * PM_OS_PAGE ? size - off : (size_t)CHUNK * PM_OS_PAGE;
        if (mincore((char *)addr + off, len, vec) != 0) {
            resident = size;
            break;
        }
        for (size_t i = 0; i < (len + PM_OS_PAGE - 1) / PM_OS_PAGE; i++)
            resident += (size_t)(vec[i] & 1) * PM_OS_PAGE;
    }
    errno = saved;
    return resident;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23   /* Linux 5.14 */
#endif
static _Atomic int populate_broken;   /* the kernel refused it once: EINVAL */

void _pm_os_populate(void *addr, size_t size)
{
    if (atomic_load_explicit(&populate_broken, memory_order_relaxed))
        return;
    int saved = errno;
    if (madvise(addr, size, MADV_POPULATE_WRITE) != 0 && errno == EINVAL)
        atomic_store_explicit(&populate_broken, 1, memory_order_relaxed);
    errno = saved;
}

void _pm_os_hugepages(void *addr, size_t size)
{
    int saved = errno;
    madvise(addr, size, MADV_HUGEPAGE);   /* EINVAL without THP: nothing to do */
    errno = saved;
}

int _pm_os_guard(void *addr, size_t size)
{
    int saved = errno;
    int rc = mprotect(addr, size, PROT_NONE) == 0 ? 0 : errno;
    errno = saved;
    return rc;
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

void _pm_os_abort(void) { abort(); }

static pthread_key_t thread_exit_key;

int _pm_os_thread_exit_key(void (*destructor)(void *))
{
    return pthread_key_create(&thread_exit_key, destructor);
}

void _pm_os_thread_exit_set(void *value) { pthread_setspecific(thread_exit_key, value); }

int _pm_os_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
    return pthread_atfork(prepare, parent, child);
}

/* glibc's, weak: the library still links and runs without them. */
extern void _IO_list_lock(void) __attribute__((weak));
extern void _IO_list_unlock(void) __attribute__((weak));
extern void _IO_list_resetlock(void) __attribute__((weak));
extern char __libc_single_threaded __attribute__((weak));

bool _pm_os_single_threaded(void)
{
    return &__libc_single_threaded != NULL && __libc_single_threaded;
}

bool _pm_os_stdio_lock(void)
{
    if (!_IO_list_lock || !_IO_list_unlock || !_IO_list_resetlock)
        return false;
    _IO_list_lock();
    return true;
}

void _pm_os_stdio_unlock(void) { _IO_list_unlock(); }

void _pm_os_stdio_reset(void) { _IO_list_resetlock(); }

#ifdef PM_FAULT_INJECTION
/* ---- fault injection and the mapping record (test builds only) ----------
 * Calls are numbered from 1 after each _pm_os_fault_set (which a test makes
 * while no other thread allocates); call fault_nth fails, and so do all
 * later ones when fault_sticky.  The record is a fixed table guarded by a
 * spinlock: the OS layer must not allocate, and the lock is held for a few
 * instructions only. */
#define TRACK_MAX 16384

static _Atomic uint64_t fault_calls;    /* calls since _pm_os_fault_set */
static _Atomic uint64_t fault_failed;   /* calls made to fail since then */
static _Atomic uint64_t fault_nth;      /* 0: off */
static _Atomic bool fault_sticky;

static atomic_flag track_lock = ATOMIC_FLAG_INIT;
static struct { void *addr; size_t size; } track[TRACK_MAX];
static size_t track_count;
static _Atomic uint64_t track_errors;   /* unmaps of ranges never mapped, table full */

void _pm_os_fault_set(uint64_t nth, bool sticky)
{
    atomic_store(&fault_nth, 0);
    atomic_store(&fault_calls, 0);
    atomic_store(&fault_failed, 0);
    atomic_store(&fault_sticky, sticky);
    atomic_store(&fault_nth, nth);
}

uint64_t _pm_os_fault_calls(void) { return atomic_load(&fault_calls); }
uint64_t _pm_os_fault_failed(void) { return atomic_load(&fault_failed); }

static _Atomic uint64_t unmap_fail_left;   /* munmaps still to fail */

void _pm_os_fault_unmap(uint64_t n) { atomic_store(&unmap_fail_left, n); }

static bool os_unmap_fault_hit(void)
{
    uint64_t left = atomic_load(&unmap_fail_left);
    while (left && !atomic_compare_exchange_weak(&unmap_fail_left, &left, left - 1))
        ;
    if (left)
        errno = ENOMEM;
    return left != 0;
}

static bool os_fault_hit(void)
{
    uint64_t call = atomic_fetch_add(&fault_calls, 1) + 1;
    uint64_t nth = atomic_load(&fault_nth);
    if (nth == 0 || call < nth || (call > nth && !atomic_load(&fault_sticky)))
        return false;
    atomic_fetch_add(&fault_failed, 1);
    return true;
}

static void track_acquire(void)
{
    while (atomic_flag_test_and_set_explicit(&track_lock, memory_order_acquire))
        ;
}

static void track_release(void) { atomic_flag_clear_explicit(&track_lock, memory_order_release); }

static void os_track_add(void *addr, size_t size)
{
    track_acquire();
    if (track_count < TRACK_MAX) {
        track[track_count].addr = addr;
        track[track_count].size = size;
        track_count++;
    } else {
        atomic_fetch_add(&track_errors, 1);
    }
    track_release();
}

/* Removes [addr, addr + size) from the record: a whole mapping, or a part
 * of one (the arenas of a huge-page chunk, arenas/arena.c, go back one by
 * one); a range not inside one recorded mapping is an error. */
static void os_track_remove(void *addr, size_t size)
{
    char *lo = addr, *hi = lo + size;
    track_acquire();
    size_t i = 0;
    while (i < track_count && !((char *)track[i].addr <= lo &&
                                hi <= (char *)track[i].addr + track[i].size))
        i++;
    if (i == track_count) {
        atomic_fetch_add(&track_errors, 1);
    } else {
        char *end = (char *)track[i].addr + track[i].size;
        if ((char *)track[i].addr < lo) {   /* a part before stays */
            track[i].size = (size_t)(lo - (char *)track[i].addr);
            if (hi < end) {                 /* and one after */
                if (track_count < TRACK_MAX) {
                    track[track_count].addr = hi;
                    track[track_count].size = (size_t)(end - hi);
                    track_count++;
                } else {
                    atomic_fetch_add(&track_errors, 1);
                }
            }
        } else if (hi < end) {              /* only a part after stays */
            track[i].addr = hi;
            track[i].size = (size_t)(end - hi);
        } else {
            track[i] = track[--track_count];
        }
    }
    track_release();
}

size_t _pm_os_mappings(void (*fn)(void *addr, size_t size, void *arg), void *arg)
{
    /* Copied out first: fn may call back into the allocator. */
    static struct { void *addr; size_t size; } copy[TRACK_MAX];
    track_acquire();
    size_t n = track_count;
    memcpy(copy, track, n * sizeof copy[0]);
    track_release();
    for (size_t i = 0; fn && i < n; i++)
        fn(copy[i].addr, copy[i].size, arg);
    return n;
}

uint64_t _pm_os_mapping_errors(void) { return atomic_load(&track_errors); }
#endif
