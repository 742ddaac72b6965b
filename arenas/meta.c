/* meta.c -- the allocator's own records (floor 1).
 *
 * Records the allocator keeps about memory it hands out (today the large
 * path's pm_large_t, and the thread heaps) come from here, never from the
 * program's size classes: a program block is never carved from these
 * pages, so an overflow out of a block or a write through a dangling
 * pointer cannot reach a record, and a record's list links cannot be
 * turned into writes of the program's choosing.
 *
 * Each kind of record (pm_meta_kind_t, arenas.h) has a fixed size, a
 * power of two.  Its records are carved from 64 KiB chunks mapped for
 * metadata only, bump first (the chunk's first slot is its header: the list
 * of every chunk, for _pm_meta_owns), and a freed record goes on the kind's free list, whose links are
 * mangled like the pools' (pools/pools.h, pm_block_s) and checked when taken:
 * the next record must be aligned to the kind's size, as every record is
 * (chunks are page-aligned, sizes are powers of two).  Chunks are never
 * unmapped: metadata is a small, bounded fraction of what it describes
 * (one 64-byte record per large mapping of at least 16 KiB).
 *
 * Lock: one mutex for all kinds, a leaf (held only around list and bump
 * updates; the chunk's mmap is made with it held, rarely: once per 64 KiB).
 */
#include "arenas/arenas.h"

#include <string.h>

#define META_CHUNK ((size_t)64 << 10)

static pthread_mutex_t meta_lock = PTHREAD_MUTEX_INITIALIZER;

/* The first slot of every chunk. */
typedef struct meta_chunk_s {
    struct meta_chunk_s *next;   /* every chunk ever mapped, newest first */
} meta_chunk_t;
static meta_chunk_t *meta_chunks;

/* A free record: its first word links the kind's free list, mangled. */
typedef struct meta_free_s {
    uintptr_t link;
} meta_free_t;

static inline uintptr_t meta_link(const void *rec, const void *next)
{
    return (uintptr_t)next ^ (uintptr_t)rec ^ _pm_secret;
}

/* Caller holds meta_lock. */
static void *meta_take_locked(pm_meta_kind_t *kind)
{
    meta_free_t *rec = kind->free;
    if (rec) {
        uintptr_t next = rec->link ^ (uintptr_t)rec ^ _pm_secret;
        if (pm_unlikely(next & (kind->size - 1)))
            _pm_fatal("corrupted list of allocator records (a wild write into metadata)");
        kind->free = (meta_free_t *)next;
        return rec;
    }
    if (kind->left < kind->size) {
        char *chunk = _pm_os_map(META_CHUNK, PM_OS_PAGE);
        if (!chunk)
            return NULL;
        atomic_fetch_add_explicit(&_pm_counters.meta_bytes, META_CHUNK, memory_order_relaxed);
        ((meta_chunk_t *)chunk)->next = meta_chunks;
        meta_chunks = (meta_chunk_t *)chunk;
        size_t header = kind->size > sizeof(meta_chunk_t) ? kind->size : sizeof(meta_chunk_t);
        kind->bump = chunk + header;
        kind->left = META_CHUNK - header;
    }
    void *r = kind->bump;
    kind->bump += kind->size;
    kind->left -= kind->size;
    return r;
}

void *_pm_meta_alloc(pm_meta_kind_t *kind)
{
    pm_assert(kind->size >= sizeof(meta_free_t) && !(kind->size & (kind->size - 1)) &&
              kind->size <= PM_OS_PAGE);
    pm_mutex_lock(&meta_lock);
    void *r = meta_take_locked(kind);
    pm_mutex_unlock(&meta_lock);
    if (r)
        memset(r, 0, kind->size);
    return r;
}

void *_pm_meta_alloc_own_chunk(size_t size)
{
    pm_assert(size <= META_CHUNK - 64);
    (void)size;
    char *chunk = _pm_os_map(META_CHUNK, PM_OS_PAGE);   /* zeroed; the pages untouched
                                                            past the record stay unbacked */
    if (!chunk)
        return NULL;
    atomic_fetch_add_explicit(&_pm_counters.meta_bytes, META_CHUNK, memory_order_relaxed);
    pm_mutex_lock(&meta_lock);
    ((meta_chunk_t *)chunk)->next = meta_chunks;
    meta_chunks = (meta_chunk_t *)chunk;
    pm_mutex_unlock(&meta_lock);
    return chunk + 64;   /* the chunk's link first, on a line of its own */
}

void _pm_meta_free(pm_meta_kind_t *kind, void *rec)
{
    meta_free_t *b = rec;
    pm_mutex_lock(&meta_lock);
    b->link = meta_link(b, kind->free);
    kind->free = b;
    pm_mutex_unlock(&meta_lock);
}

bool _pm_meta_owns(const void *addr)
{
    bool found = false;
    pm_mutex_lock(&meta_lock);
    for (meta_chunk_t *c = meta_chunks; c && !found; c = c->next)
        found = (uintptr_t)addr - (uintptr_t)c < META_CHUNK;
    pm_mutex_unlock(&meta_lock);
    return found;
}

void _pm_meta_fork_prepare(void) { pm_mutex_lock(&meta_lock); }
void _pm_meta_fork_parent(void) { pm_mutex_unlock(&meta_lock); }
void _pm_meta_fork_child(void) { pthread_mutex_init(&meta_lock, NULL); }
