/* api_misuse.c -- one misuse of the allocator per process, chosen by argv[1].
 *
 * The program prints the offending pointer ("%p") on stdout, flushes, then
 * commits the misuse.  poolmalloc must abort (SIGABRT) with one line on
 * stderr naming the call and that pointer, e.g.
 *     poolmalloc: free(): double free 0x7f...
 * expect_abort.sh checks all of that.  If the misuse goes unnoticed the
 * program reaches the end and exits 3, which the driver reports as failure.
 *
 * Cases: double_free_small double_free_large interior_small interior_large
 *        double_free_large_slot double_free_large_behind_slot realloc_large_slot
 *        free_stack free_static realloc_stack realloc_freed (and realloc_freed_in_place,
 *        realloc_freed_medium_in_place, realloc_interior_medium for realloc's
 *        in-place path) (and "valid", which must exit 0),
 *        more below; the remote_* cases free from a second thread (the
 *        *_batched, *_one_batch and *_cached ones from a thread that
 *        batches its remote frees), the uaf_write_* and overflow_* cases
 *        clobber the free-list link of a freed block (safe linking must
 *        catch it when the link is next followed);
 *        the write_after_free_* cases write elsewhere in a freed block, which
 *        only the strict library (libpoolmalloc-strict.so) detects. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "pm_test.h"

/* The compiler must not see through these: GCC would otherwise warn about
 * (or even fold) frees of non-heap objects. */
static void *volatile laundered;
static void *launder_ptr(void *p)
{
    laundered = p;
    return laundered;
}

static void (*volatile free_fn)(void *) = free;
static void *(*volatile realloc_fn)(void *, size_t) = realloc;

static char static_array[256];

static void announce(void *p)
{
    printf("%p\n", p);
    fflush(stdout);
}

__attribute__((noinline)) static void free_stack(void)
{
    char buf[128];
    memset(buf, 1, sizeof buf);
    void *p = launder_ptr(buf + 16);
    announce(p);
    free_fn(p);
    __asm__ volatile("" : : "r"(buf) : "memory"); /* keep buf alive until here */
}

__attribute__((noinline)) static void realloc_stack(void)
{
    char buf[128];
    memset(buf, 1, sizeof buf);
    void *p = launder_ptr(buf + 32);
    announce(p);
    void *q = realloc_fn(p, 256);
    laundered = q;
    __asm__ volatile("" : : "r"(buf) : "memory");
}

/* What a stale pointer or an overflow writes into a freed block. */
static void clobber_word(void *p)
{
    volatile uint64_t *w = launder_ptr(p);
    *w = 0x4141414141414141ULL;
}

/* Frees `arg` from a thread that does not own it, `free_twice` times. */
static int free_twice;
static void *remote_free_thread(void *arg)
{
    for (int i = 0; i < free_twice; i++)
        free_fn(arg);
    return NULL;
}

static void free_in_thread(void *p, int times)
{
    pthread_t t;
    free_twice = times;
    if (pthread_create(&t, NULL, remote_free_thread, p) != 0 || pthread_join(t, NULL) != 0) {
        fprintf(stderr, "pthread failed\n");
        exit(2);
    }
}

/* A thread with a heap of its own frees `good` (which starts its batch of
 * remote frees for the owner) and then `bad`, which must not join that
 * batch unnoticed: caught at that free, or when the owner takes the batch
 * back. */
static void *good_block, *bad_block;
static void *batched_free_thread(void *arg)
{
    (void)arg;
    laundered = malloc(24);   /* a heap of its own: it batches remote frees */
    free_fn(good_block);
    free_fn(bad_block);
    free(laundered);
    return NULL;
}

/* A thread with a heap of its own frees more of the main thread's 64-byte
 * blocks than its thread cache holds, so that the rest go to its batch for
 * the owner unread, bad_block twice among them, in one record: caught when
 * the owner takes the batch back. */
#define ONE_BATCH_BLOCKS 300
static void *one_batch[ONE_BATCH_BLOCKS];
static void free_one_batch_bad_twice(void)
{
    for (int i = 0; i < ONE_BATCH_BLOCKS; i++) {
        free_fn(one_batch[i]);
        if (i == ONE_BATCH_BLOCKS / 2) {
            free_fn(bad_block);
            free_fn(bad_block);
        }
    }
}
static void *one_batch_free_thread(void *arg)
{
    (void)arg;
    laundered = malloc(24);
    free_one_batch_bad_twice();
    free(laundered);
    return NULL;
}

/* The cases' threads take turns by steps: step_to(s) announces step s,
 * step_wait(s) waits until it is reached. */
static pthread_mutex_t step_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t step_cond = PTHREAD_COND_INITIALIZER;
static int step;
static void step_to(int s)
{
    pthread_mutex_lock(&step_lock);
    step = s;
    pthread_cond_broadcast(&step_cond);
    pthread_mutex_unlock(&step_lock);
}
static void step_wait(int s)
{
    pthread_mutex_lock(&step_lock);
    while (step < s)
        pthread_cond_wait(&step_cond, &step_lock);
    pthread_mutex_unlock(&step_lock);
}

/* remote_interior_abandoned: an owner thread allocates a batch's worth of
 * 64-byte blocks (one_batch) and a block whose interior is bad_block; a
 * freeing thread (a heap of its own) frees them all, more than its thread
 * cache holds, so that the rest go to a batch for the owner; the owner
 * exits, then the freeing thread, whose exit hands the batch to the
 * abandoned heap.  bad_block must be caught before anything is written at
 * it: at its free (the freeing thread checks each block before it joins a
 * batch), or, were it let into the batch, when the batch is freed into the
 * abandoned heap. */
static void *abandoning_owner_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < ONE_BATCH_BLOCKS; i++)
        one_batch[i] = malloc(64);
    char *q = malloc(64);
    bad_block = launder_ptr(q + 8);
    step_to(1);
    step_wait(2);   /* all freed: the owner exits, its heap abandoned */
    return NULL;
}
static void *abandoned_batch_thread(void *arg)
{
    (void)arg;
    laundered = malloc(24);   /* a heap of its own: it batches remote frees */
    for (int i = 0; i < ONE_BATCH_BLOCKS; i++)
        free_fn(one_batch[i]);
    free_fn(bad_block);
    step_to(2);
    step_wait(3);   /* the owner is gone: this exit hands the batch back */
    free(laundered);
    return NULL;
}

/* abandoned_double_free_batched: as remote_interior_abandoned, but the
 * owner is gone before the freeing thread starts freeing, and bad_block,
 * a block of the abandoned heap, is freed twice among the others: with the
 * blocks of an abandoned heap batched (a lock per batch instead of one per
 * block), both frees may join a batch, and the second must be caught when
 * the batch is freed into the heap, at the latest at this thread's exit. */
static void *abandoned_twice_thread(void *arg)
{
    (void)arg;
    laundered = malloc(24);   /* a heap of its own, made before the owner exits */
    step_to(2);
    step_wait(3);             /* the owner is gone */
    free_one_batch_bad_twice();
    free(laundered);
    return NULL;
}

/* remote_double_free_cached: bad_block waits in the cache of a thread that
 * freed it (cached_thread), and a second thread frees it again among every
 * other block of its pool, after enough blocks of the class to fill its
 * own cache, so that they reach the owner in a batch that brings the whole
 * pool back.  Caught when the owner takes it back (free: double free) or,
 * its mark overwritten there, when the first thread's malloc takes it off
 * its cache (corrupted thread cache).  A drain that took such a pool back
 * whole without writing its blocks (tried in the sixteenth session) would
 * leave the mark intact: the block handed out twice. */
#define CACHED_POOL 51                 /* 80-byte blocks in a pool (80: a host class, pools.h) */
static void *cached_others[CACHED_POOL * 5], *cached_pool[CACHED_POOL];
static size_t cached_others_n;
static void *cached_thread(void *arg)
{
    (void)arg;
    laundered = malloc(24);
    free_fn(bad_block);               /* onto this thread's cache */
    step_to(1);
    step_wait(2);                     /* the owner has taken the batch back */
    laundered = malloc(80);           /* off this thread's cache */
    return NULL;
}
static void *cached_refree_thread(void *arg)
{
    (void)arg;
    laundered = malloc(24);
    for (size_t i = 0; i < cached_others_n; i++)
        free_fn(cached_others[i]);    /* its cache fills, the rest go to its batch */
    for (size_t i = 0; i < CACHED_POOL; i++)
        free_fn(cached_pool[i]);      /* bad_block among them: freed twice */
    return NULL;
}

/* realloc (to `to` bytes) of a block of `size` bytes already freed; a
 * neighbour stays allocated so that the block's pool or span stays too. */
static void realloc_freed(size_t size, size_t to)
{
    char *p = malloc(size);
    char *keep = malloc(size);
    free_fn(p);
    announce(p);
    laundered = realloc_fn(p, to);
    free(keep);
}

/* The owner takes back blocks freed by other threads when its fast path
 * runs dry: more allocations of one class than a pool holds get it there. */
static void owner_runs_dry(void)
{
    for (int i = 0; i < 1200; i++)
        laundered = malloc(8);
}

int main(int argc, char **argv)
{
    struct rlimit nocore = {0, 0};
    setrlimit(RLIMIT_CORE, &nocore); /* the expected abort must not dump core */
#ifndef PM_TEST_SYSTEM_MALLOC
    pm_test_require_poolmalloc();
#endif
    if (argc < 2) {
        fprintf(stderr, "usage: %s CASE\n", argv[0]);
        return 2;
    }
    const char *c = argv[1];

    /* Some ordinary traffic first, so that the allocator is in a normal state
     * (pools exist, the large cache has entries). */
    void *warm[64];
    for (int i = 0; i < 64; i++)
        warm[i] = malloc((size_t)(i % 8 == 0 ? 100000 + i * 4096 : 16 + i * 8));
    for (int i = 0; i < 64; i += 2)
        free(warm[i]);

    if (!strcmp(c, "double_free_small")) {
        char *p = malloc(32);
        char *keep = malloc(32); /* a live neighbour in the same pool */
        memset(p, 1, 32);
        announce(p);
        free_fn(p);
        free_fn(p);
        free(keep);
    } else if (!strcmp(c, "double_free_full_cache")) {
        /* The first block freed waits in the thread cache; the cache is
         * full by the time it is freed again (more blocks of its class
         * were freed than it holds), so the second free takes the full
         * stack's way to the pool: it must still be caught. */
        enum { N = 100 };
        char *b[N];
        for (int i = 0; i < N; i++)
            b[i] = malloc(32);
        announce(b[0]);
        for (int i = 0; i < N; i++)
            free_fn(b[i]);
        free_fn(b[0]);
    } else if (!strcmp(c, "double_free_small_stack")) {
        /* Frees far outrun mallocs of a class (the end of a phase): its
         * stack's limit drops to one block, and a free that finds it full
         * compares with that block rather than read the block's mark.  A
         * block freed again after a write over its mark is found there. */
        enum { N = 3000 };
        static char *b[N];
        for (int i = 0; i < N; i++)
            b[i] = malloc(48);
        for (int i = 0; i < N; i++)
            free_fn(b[i]);
        char *p = malloc(48);
        free_fn(p);
        memset(p, 0x11, 8); /* the first word: the mark */
        announce(p);
        free_fn(p);
    } else if (!strcmp(c, "double_free_large")) {
        char *p = malloc(100000);
        memset(p, 1, 100000);
        announce(p);
        free_fn(p); /* may stay mapped in the large cache */
        free_fn(p);
    } else if (!strcmp(c, "double_free_large_slot")) {
        /* A thread with a heap keeps its last freed large block in its
         * slot (arenas/large.c): the second free must still be caught. */
        free(malloc(16));
        char *p = malloc(100000);
        memset(p, 1, 100000);
        announce(p);
        free_fn(p);
        free_fn(p);
    } else if (!strcmp(c, "double_free_large_behind_slot")) {
        /* p leaves the slot for the cache when q takes its place */
        free(malloc(16));
        char *p = malloc(100000), *q = malloc(100000);
        memset(p, 1, 100000);
        announce(p);
        free_fn(p);
        free_fn(q);
        free_fn(p);
    } else if (!strcmp(c, "realloc_large_slot")) {
        free(malloc(16));
        char *p = malloc(200000);
        announce(p);
        free_fn(p);
        p = realloc_fn(p, 300000);
    } else if (!strcmp(c, "double_free_medium")) {
        /* 513..16384 bytes: a medium span.  6000 and not 3000 in every
         * medium case: a process's first 3000-byte blocks are of 4096
         * bytes (pools/pools.h, pm_medium_range), the class of stdio's
         * buffer, which announce()'s printf would take from the thread
         * cache: the block freed would be live again. */
        char *p = malloc(6000);
        char *keep = malloc(6000);
        memset(p, 1, 6000);
        announce(p);
        free_fn(p);
        free_fn(p);
        free(keep);
    } else if (!strcmp(c, "interior_medium")) {
        char *p = malloc(6000);
        memset(p, 1, 6000);
        void *bad = launder_ptr(p + 1024);
        announce(bad);
        free_fn(bad);
    } else if (!strcmp(c, "misaligned_medium")) {
        /* One byte into a block: the same live bit's word and bit as the
         * block start, so the check must also ask for 8-alignment. */
        char *p = malloc(6000);
        memset(p, 1, 6000);
        void *bad = launder_ptr(p + 1);
        announce(bad);
        free_fn(bad);
    } else if (!strcmp(c, "usable_size_freed") || !strcmp(c, "usable_size_freed_medium")) {
        /* A small or medium block in the thread cache still has its live
         * bit; its mark says freed (malloc_usable_size's inline path,
         * pools/alloc.c, asks both). */
        size_t size = !strcmp(c, "usable_size_freed") ? 48 : 6000;
        char *p = malloc(size);
        char *keep = malloc(size);
        free_fn(p);
        announce(p);
        size_t (*volatile usable)(void *) = malloc_usable_size;
        usable(p);
        free(keep);
    } else if (!strcmp(c, "usable_size_interior_small") ||
               !strcmp(c, "usable_size_interior_medium") ||
               !strcmp(c, "usable_size_misaligned_medium")) {
        /* Inside a live block: no live bit there (8 bytes in), or the block
         * start's bit (1 byte in: the word and bit of the start). */
        size_t size = !strcmp(c, "usable_size_interior_small") ? 64 : 6000;
        size_t off = !strcmp(c, "usable_size_misaligned_medium") ? 1 : 8;
        char *p = malloc(size);
        memset(p, 1, size);
        void *bad = launder_ptr(p + off);
        announce(bad);
        size_t (*volatile usable)(void *) = malloc_usable_size;
        usable(bad);
        free(p);
    } else if (!strcmp(c, "interior_small")) {
        char *p = malloc(64);
        memset(p, 1, 64);
        void *bad = launder_ptr(p + 8);
        announce(bad);
        free_fn(bad);
    } else if (!strcmp(c, "interior_large")) {
        char *p = malloc(100000);
        memset(p, 1, 100000);
        void *bad = launder_ptr(p + 64);
        announce(bad);
        free_fn(bad);
    } else if (!strcmp(c, "free_stack")) {
        free_stack();
    } else if (!strcmp(c, "free_static")) {
        void *bad = launder_ptr(static_array + 64);
        announce(bad);
        free_fn(bad);
    } else if (!strcmp(c, "realloc_stack")) {
        realloc_stack();
    } else if (!strcmp(c, "uaf_write_small")) {
        char *p = malloc(40);
        char *keep = malloc(40);
        free_fn(p);
        announce(p);
        clobber_word(p);          /* write after free over the link */
        laundered = malloc(40);   /* pops p: the link must fail its check */
        free(keep);
    } else if (!strcmp(c, "uaf_write_pool")) {
        /* The same, once the block has left the thread cache for its
         * pool's free list (malloc_trim empties the cache). */
        char *p = malloc(40);
        char *keep = malloc(40);
        free_fn(p);
        malloc_trim(0);
        announce(p);
        clobber_word(p);          /* write after free over the pool list's link */
        laundered = malloc(40);   /* pops p off the pool's list */
        free(keep);
    } else if (!strcmp(c, "overflow_small")) {
        /* Two neighbours a, b (b right after a); b is freed, then a write
         * runs 8 bytes past the end of a, over b's link. */
        char *a = malloc(40), *b = malloc(40);
        for (int i = 0; i < 1000 && b != a + 40; i++) {
            a = b;
            b = malloc(40);
        }
        if (b != a + 40) {
            fprintf(stderr, "no adjacent blocks\n");
            return 2;
        }
        free_fn(b);
        announce(b);
        memset(launder_ptr(a), 'x', 48);
        laundered = malloc(40);
    } else if (!strcmp(c, "uaf_write_medium")) {
        char *p = malloc(6000);
        char *keep = malloc(6000);
        free_fn(p);
        announce(p);
        clobber_word(p);
        laundered = malloc(6000);
        free(keep);
    } else if (!strcmp(c, "uaf_write_span")) {
        /* uaf_write_medium once the block has left the thread cache for
         * its span's free list (malloc_trim empties the cache). */
        char *p = malloc(6000);
        char *keep = malloc(6000);
        free_fn(p);
        malloc_trim(0);
        announce(p);
        clobber_word(p);
        laundered = malloc(6000);
        free(keep);
    } else if (!strcmp(c, "uaf_write_remote")) {
        char *p = malloc(40);
        char *keep = malloc(40);
        announce(p);              /* before: printing may allocate, and take p back */
        free_in_thread(p, 1);     /* p waits on this thread's remote-free stack */
        clobber_word(p);
        owner_runs_dry();
        free(keep);
    } else if (!strcmp(c, "remote_double_free_small")) {
        char *p = malloc(40);
        char *keep = malloc(40);
        announce(p);
        free_in_thread(p, 2);     /* caught when this thread takes p back */
        owner_runs_dry();
        free(keep);
    } else if (!strcmp(c, "remote_double_free_medium")) {
        char *p = malloc(6000);
        char *keep = malloc(6000);
        announce(p);
        free_in_thread(p, 2);
        owner_runs_dry();
        laundered = malloc(6000);
        free(keep);
    } else if (!strcmp(c, "remote_interior_batched") || !strcmp(c, "remote_double_free_batched")) {
        /* Caught in the freeing thread, or when this one takes the batch back. */
        int interior = !strcmp(c, "remote_interior_batched");
        char *p = malloc(64), *q = malloc(64);
        good_block = p;
        bad_block = interior ? launder_ptr(q + 8) : q;
        announce(bad_block);
        if (!interior)
            free(q);   /* so the thread's free of q is the second one */
        pthread_t t;
        if (pthread_create(&t, NULL, batched_free_thread, NULL) != 0 || pthread_join(t, NULL) != 0) {
            fprintf(stderr, "pthread failed\n");
            exit(2);
        }
        owner_runs_dry();
    } else if (!strcmp(c, "remote_double_free_one_batch")) {
        for (int i = 0; i < ONE_BATCH_BLOCKS; i++)
            one_batch[i] = malloc(64);
        bad_block = malloc(64);
        announce(bad_block);
        pthread_t t;
        if (pthread_create(&t, NULL, one_batch_free_thread, NULL) != 0 ||
            pthread_join(t, NULL) != 0) {
            fprintf(stderr, "pthread failed\n");
            exit(2);
        }
        owner_runs_dry();
    } else if (!strcmp(c, "remote_double_free_cached")) {
        static char *all[CACHED_POOL * 6];
        size_t n = sizeof all / sizeof all[0];
        for (size_t i = 0; i < n; i++)
            all[i] = malloc(80);
        /* a page that holds CACHED_POOL of them: a whole pool of ours */
        uintptr_t page = 0;
        for (size_t i = 0; i < n && !page; i++) {
            uintptr_t pg = (uintptr_t)all[i] & ~(uintptr_t)4095;
            size_t k = 0;
            for (size_t j = 0; j < n; j++)
                k += ((uintptr_t)all[j] & ~(uintptr_t)4095) == pg;
            if (k == CACHED_POOL)
                page = pg;
        }
        if (!page) {
            fprintf(stderr, "no whole pool\n");
            exit(2);
        }
        size_t np = 0;
        for (size_t i = 0; i < n; i++) {
            if (((uintptr_t)all[i] & ~(uintptr_t)4095) == page)
                cached_pool[np++] = all[i];
            else if (cached_others_n < sizeof cached_others / sizeof cached_others[0])
                cached_others[cached_others_n++] = all[i];
        }
        bad_block = cached_pool[CACHED_POOL / 2];
        announce(bad_block);
        pthread_t t, u;
        if (pthread_create(&t, NULL, cached_thread, NULL) != 0) {
            fprintf(stderr, "pthread failed\n");
            exit(2);
        }
        step_wait(1);
        if (pthread_create(&u, NULL, cached_refree_thread, NULL) != 0 ||
            pthread_join(u, NULL) != 0) {
            fprintf(stderr, "pthread failed\n");
            exit(2);
        }
        owner_runs_dry();
        step_to(2);
        pthread_join(t, NULL);
    } else if (!strcmp(c, "remote_interior_abandoned")) {
        pthread_t o, f;
        if (pthread_create(&o, NULL, abandoning_owner_thread, NULL) != 0) {
            fprintf(stderr, "pthread failed\n");
            exit(2);
        }
        step_wait(1);
        announce(bad_block);
        if (pthread_create(&f, NULL, abandoned_batch_thread, NULL) != 0 ||
            pthread_join(o, NULL) != 0) {
            fprintf(stderr, "pthread failed\n");
            exit(2);
        }
        step_to(3);
        pthread_join(f, NULL);
    } else if (!strcmp(c, "abandoned_double_free_batched")) {
        pthread_t o, f;
        if (pthread_create(&o, NULL, abandoning_owner_thread, NULL) != 0) {
            fprintf(stderr, "pthread failed\n");
            exit(2);
        }
        step_wait(1);
        bad_block = one_batch[ONE_BATCH_BLOCKS - 1];   /* a whole block of the owner's */
        one_batch[ONE_BATCH_BLOCKS - 1] = NULL;
        announce(bad_block);
        if (pthread_create(&f, NULL, abandoned_twice_thread, NULL) != 0) {
            fprintf(stderr, "pthread failed\n");
            exit(2);
        }
        step_wait(2);   /* the freeing thread has its heap: the owner may go */
        if (pthread_join(o, NULL) != 0) {
            fprintf(stderr, "pthread failed\n");
            exit(2);
        }
        step_to(3);
        pthread_join(f, NULL);
    } else if (!strcmp(c, "remote_interior_small")) {
        char *p = malloc(64);
        void *bad = launder_ptr(p + 8);
        announce(bad);
        free_in_thread(bad, 1);
    } else if (!strcmp(c, "interior_large_page")) {
        char *p = malloc(100000);
        void *bad = launder_ptr(p + 8192);   /* not the mapping's first page */
        announce(bad);
        free_fn(bad);
    } else if (!strcmp(c, "double_free_huge")) {
        char *p = malloc((size_t)32 << 20);  /* over a quarter of the large cache: unmapped at free */
        announce(p);
        free_fn(p);
        free_fn(p);
    } else if (!strcmp(c, "realloc_freed")) {
        realloc_freed(40, 100);
    } else if (!strcmp(c, "realloc_freed_in_place")) {
        /* the same class: realloc's in-place path must see the block is free */
        realloc_freed(40, 40);
    } else if (!strcmp(c, "realloc_freed_medium_in_place")) {
        realloc_freed(6000, 5900);
    } else if (!strcmp(c, "realloc_interior_medium")) {
        char *p = malloc(6000);
        announce(p + 8);
        laundered = realloc_fn(launder_ptr(p + 8), 6000);
    } else if (!strcmp(c, "free_mmap")) {
        char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return 2;
        void *bad = launder_ptr(m + 16);
        announce(bad);
        free_fn(bad);
    } else if (!strcmp(c, "write_after_free_small")) {
        char *p = malloc(64);
        char *keep = malloc(64);
        free_fn(p);
        announce(p + 24);
        ((volatile char *)launder_ptr(p))[24] = 'x';
        laundered = malloc(64);   /* hands p out again: its filling is checked */
        free(keep);
    } else if (!strcmp(c, "write_after_free_medium")) {
        char *p = malloc(3000);
        char *keep = malloc(3000);
        free_fn(p);
        announce(p + 2000);
        ((volatile char *)launder_ptr(p))[2000] = 'x';
        laundered = malloc(3000);
        free(keep);
    } else if (!strcmp(c, "write_after_free_remote")) {
        char *p = malloc(64);
        char *keep = malloc(64);
        announce(p + 40);
        free_in_thread(p, 1);     /* filled by the freeing thread */
        ((volatile char *)launder_ptr(p))[40] = 'x';
        owner_runs_dry();         /* p comes home... */
        laundered = malloc(64);   /* ...and is handed out again */
        free(keep);
    } else if (!strcmp(c, "valid")) {
        /* Control case: correct use must not abort. */
        char *p = malloc(32);
        announce(p);
        free_fn(p);
        for (int i = 1; i < 64; i += 2)
            free(warm[i]);
        return 0;
    } else {
        fprintf(stderr, "unknown case %s\n", c);
        return 2;
    }
    printf("misuse was not detected\n");
    fflush(stdout);
    return 3;
}
