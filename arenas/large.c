/* large.c -- the large path: one mapping per block (floor 1).
 *
 * Each large allocation is its own page-aligned mapping of whole pages; its
 * record (pm_large_t, arenas.h) is allocator metadata (meta.c), out of the
 * program's reach, and the page map entry
 * of the allocation's first page points to it, so free() and realloc()
 * validate a pointer without touching the mapping (mallocng's one-slot
 * group, told apart by the page map instead of an in-band header).
 *
 * Freed mappings go to a cache instead of munmap, most recent first.  A
 * request takes the smallest cached mapping that fits with at most 25%
 * slack, so a steady malloc(N)/free loop makes no system call.  The cache is
 * bounded by bytes (option LARGE_CACHE) and entries (CACHE_MAX_ENTRIES);
 * mappings unused for LARGE_DECAY_MS are unmapped at the next large call, and
 * malloc_trim() unmaps them all.  A cached mapping keeps its record and page
 * map entry, marked PM_LARGE_CACHED, so a second free of it is caught.
 * realloc grows a mapping with mremap, in place or onto a new mapping made
 * and indexed first (base/os.h, _pm_os_remap): the pages move, nothing is copied.
 *
 * Lock order: the cache lock is a leaf.  Records are allocated before and
 * freed after it is held, and system calls are made outside it.
 */
#include "arenas/arenas.h"

#include <errno.h>
#include <string.h>

#define CACHE_MAX_ENTRIES 128

/* A record keeps its pointers into the mapping mangled with the secret of
 * safe linking (pools/pools.h, pm_block_s).  Memcheck's leak check scans
 * records, which are defined allocator memory, and would count a plain
 * pointer there as a reference to the block, hiding its leak; and a record
 * that a wild write
 * ever reached (records are out of the program's reach, meta.c) still
 * could not be aimed at memory of the writer's choosing. */
static inline char *rec_user(const pm_large_t *r) { return (char *)(r->user_x ^ _pm_secret); }
static inline char *rec_base(const pm_large_t *r) { return (char *)(r->base_x ^ _pm_secret); }
static inline void rec_set(pm_large_t *r, char *user, char *base)
{
    r->user_x = (uintptr_t)user ^ _pm_secret;
    r->base_x = (uintptr_t)base ^ _pm_secret;
}

static pm_meta_kind_t large_records = PM_META_KIND(sizeof(pm_large_t));

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static pm_large_t *cache_head;   /* most recently freed */
static pm_large_t *cache_tail;   /* least recently freed */
static size_t cache_bytes, cache_count;
static uint64_t cache_last_decay_ms;

static void cache_unlink_locked(pm_large_t *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        cache_head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        cache_tail = r->prev;
    r->next = r->prev = NULL;
    cache_bytes -= r->map_size;
    cache_count--;
    atomic_store_explicit(&_pm_counters.large_cached_bytes, cache_bytes, memory_order_relaxed);
    atomic_store_explicit(&_pm_counters.large_cached_count, cache_count, memory_order_relaxed);
}

/* Takes r out of the cache and the page map; the caller unmaps it after
 * unlocking (it is put on *out, linked by next). */
static void cache_evict_locked(pm_large_t *r, pm_large_t **out)
{
    cache_unlink_locked(r);
    _pm_pagemap_set(rec_user(r), 1, 0);
    r->magic = 0;
    r->next = *out;
    *out = r;
}

/* Evicts what is over the bounds or older than the decay time. */
static void cache_shrink_locked(pm_large_t **out, uint64_t now)
{
    size_t limit = (size_t)_pm_option_values[PM_OPTION_LARGE_CACHE];
    uint64_t decay = (uint64_t)_pm_option_values[PM_OPTION_LARGE_DECAY_MS];
    while (cache_tail && (cache_bytes > limit || cache_count > CACHE_MAX_ENTRIES ||
                          now - cache_tail->freed_ms >= decay))
        cache_evict_locked(cache_tail, out);
    cache_last_decay_ms = now;
}

static void unmap_list(pm_large_t *list)
{
    while (list) {
        pm_large_t *next = list->next;
        _pm_os_unmap(rec_base(list), list->map_size);
        atomic_fetch_add_explicit(&_pm_counters.large_released, 1, memory_order_relaxed);
        _pm_meta_free(&large_records, list);
        list = next;
    }
}

static inline size_t round_pages(size_t n, bool *overflow)
{
    size_t r = (n + PM_PAGE_SIZE - 1) & ~(PM_PAGE_SIZE - 1);
    *overflow = r < n || r > (size_t)PTRDIFF_MAX;
    return r;
}

void *_pm_large_alloc(size_t size, size_t align, bool *fresh)
{
    bool overflow;
    size_t need = round_pages(size ? size : 1, &overflow);
    if (align < PM_PAGE_SIZE)
        align = PM_PAGE_SIZE;
    if (overflow || align > ((size_t)1 << 40)) {
        errno = ENOMEM;
        return NULL;
    }

    /* 1. a cached mapping that fits */
    pm_large_t *rec = NULL, *evicted = NULL;
    uint64_t now = _pm_os_now_ms();
    pthread_mutex_lock(&cache_lock);
    for (pm_large_t *r = cache_head; r; r = r->next) {
        if (r->map_size >= need && r->map_size - need <= need / 4 &&
            ((uintptr_t)rec_user(r) & (align - 1)) == 0 &&
            (!rec || r->map_size < rec->map_size)) {
            rec = r;
            if (r->map_size == need)
                break;
        }
    }
    if (rec) {
        cache_unlink_locked(rec);
        rec->magic = PM_LARGE_LIVE;
    }
    if (now - cache_last_decay_ms >= 100)
        cache_shrink_locked(&evicted, now);
    pthread_mutex_unlock(&cache_lock);
    unmap_list(evicted);

    if (rec) {
        rec->size = size;
        atomic_fetch_add_explicit(&_pm_counters.large_hits, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&_pm_counters.large_allocs, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&_pm_counters.large_live_bytes, rec->map_size,
                                  memory_order_relaxed);
        *fresh = false;
        return rec_user(rec);
    }

    /* 2. a new mapping (zeroed by the kernel) */
    rec = _pm_meta_alloc(&large_records);
    if (!rec) {
        errno = ENOMEM;
        return NULL;
    }
    char *base = _pm_os_map(need, align);
    if (!base) {
        _pm_meta_free(&large_records, rec);
        errno = ENOMEM;
        return NULL;
    }
    rec->magic = PM_LARGE_LIVE;
    rec_set(rec, base, base);
    rec->map_size = need;
    rec->size = size;
    rec->next = rec->prev = NULL;
    rec->freed_ms = 0;
    if (_pm_pagemap_set(base, 1, (uintptr_t)rec | PM_PAGE_LARGE) != 0) {
        _pm_os_unmap(base, need);
        _pm_meta_free(&large_records, rec);
        errno = ENOMEM;
        return NULL;
    }
    atomic_fetch_add_explicit(&_pm_counters.large_misses, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&_pm_counters.large_allocs, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&_pm_counters.large_live_bytes, need, memory_order_relaxed);
    *fresh = true;
    return base;
}

pm_large_t *_pm_large_check(uintptr_t entry, void *ptr, const char *call)
{
    pm_large_t *rec = (pm_large_t *)(entry & ~PM_PAGE_TAGS);
    if (rec_user(rec) != (char *)ptr)
        _pm_fatal_ptr(call, "invalid pointer", ptr);
    if (rec->magic != PM_LARGE_LIVE)
        _pm_fatal_ptr(call, rec->magic == PM_LARGE_CACHED ? _pm_freed_word(call) : "invalid pointer",
                      ptr);
    return rec;
}

bool _pm_large_is_plain(const pm_large_t *rec) { return rec_user(rec) == rec_base(rec); }

size_t _pm_large_requested(const pm_large_t *rec) { return rec->size; }

size_t _pm_large_usable(const pm_large_t *rec)
{
    return rec->map_size - (size_t)(rec_user(rec) - rec_base(rec));
}

void _pm_large_free(pm_large_t *rec)
{
    size_t limit = (size_t)_pm_option_values[PM_OPTION_LARGE_CACHE];
    atomic_fetch_add_explicit(&_pm_counters.large_frees, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&_pm_counters.large_live_bytes, rec->map_size,
                              memory_order_relaxed);
    if (rec->map_size > limit / 4 || PM_STRICT) {   /* too big to keep (or strict mode):
                                                        straight back to the OS */
        rec->magic = 0;
        _pm_pagemap_set(rec_user(rec), 1, 0);
        rec->next = NULL;
        unmap_list(rec);
        return;
    }
    pm_large_t *evicted = NULL;
    uint64_t now = _pm_os_now_ms();
    pthread_mutex_lock(&cache_lock);
    rec->magic = PM_LARGE_CACHED;
    rec->freed_ms = now;
    rec->prev = NULL;
    rec->next = cache_head;
    if (cache_head)
        cache_head->prev = rec;
    else
        cache_tail = rec;
    cache_head = rec;
    cache_bytes += rec->map_size;
    cache_count++;
    atomic_store_explicit(&_pm_counters.large_cached_bytes, cache_bytes, memory_order_relaxed);
    atomic_store_explicit(&_pm_counters.large_cached_count, cache_count, memory_order_relaxed);
    cache_shrink_locked(&evicted, now);
    pthread_mutex_unlock(&cache_lock);
    unmap_list(evicted);
}

void *_pm_large_realloc(pm_large_t *rec, void *ptr, size_t size)
{
    bool overflow;
    size_t need = round_pages(size, &overflow);
    if (overflow) {
        errno = ENOMEM;
        return NULL;
    }
    size_t usable = _pm_large_usable(rec);
    if (need <= usable) {
        if (size < rec->size && need < usable / 2 && rec_user(rec) == rec_base(rec)) {
            /* Shrinking a lot: give the tail back (mremap never moves here).
             * Not when growing into the room a move left (below). */
            void *same = _pm_os_remap(rec_base(rec), rec->map_size, need, NULL);
            if (same == rec_base(rec)) {
                atomic_fetch_sub_explicit(&_pm_counters.large_live_bytes,
                                          rec->map_size - need, memory_order_relaxed);
                rec->map_size = need;
            }
        }
        rec->size = size;
        return ptr;
    }
    pm_assert(_pm_large_is_plain(rec));   /* over-aligned ones move by copy (pools/alloc.c) */
    /* Growing: in place if the pages after the mapping are free.  Otherwise
     * onto a new mapping that is indexed in the page map before anything
     * moves, so that every failure (no address space, no page-map leaf for
     * the new place, mremap refused) leaves the block where it was.  A move
     * leaves room to grow (twice the size, up to 64 MiB more): a buffer that
     * keeps growing, as arrays that double do, then grows in place for a
     * while.  The room is address space only until it is written. */
    size_t room = need <= ((size_t)64 << 20) ? need : ((size_t)64 << 20);
    if (need > (size_t)PTRDIFF_MAX - room)
        room = 0;
    char *moved = _pm_os_remap(rec_base(rec), rec->map_size, need, NULL);
    if (!moved) {
        size_t grown = need;
        if (room && (moved = _pm_os_map(need + room, PM_OS_PAGE)) != NULL)
            grown = need + room;
        else
            moved = _pm_os_map(need, PM_OS_PAGE);
        need = grown;
        if (!moved) {
            errno = ENOMEM;
            return NULL;
        }
        if (_pm_pagemap_set(moved, 1, (uintptr_t)rec | PM_PAGE_LARGE) != 0) {
            _pm_os_unmap(moved, need);
            errno = ENOMEM;
            return NULL;
        }
        /* The old place leaves the page map before mremap unmaps it: from
         * then on another thread may be given those pages and index them,
         * and clearing the entry afterwards would erase theirs. */
        _pm_pagemap_set(rec_base(rec), 1, 0);
        if (!_pm_os_remap(rec_base(rec), rec->map_size, need, moved)) {
            _pm_pagemap_set(rec_base(rec), 1, (uintptr_t)rec | PM_PAGE_LARGE); /* leaf exists */
            _pm_pagemap_set(moved, 1, 0);
            _pm_os_unmap(moved, need);
            errno = ENOMEM;
            return NULL;
        }
    }
    atomic_fetch_add_explicit(&_pm_counters.large_live_bytes, need - rec->map_size,
                              memory_order_relaxed);
    rec_set(rec, moved, moved);
    rec->map_size = need;
    rec->size = size;
    return moved;
}

int _pm_large_trim(bool all)
{
    pm_large_t *evicted = NULL;
    pthread_mutex_lock(&cache_lock);
    if (all) {
        while (cache_tail)
            cache_evict_locked(cache_tail, &evicted);
    } else {
        cache_shrink_locked(&evicted, _pm_os_now_ms());
    }
    pthread_mutex_unlock(&cache_lock);
    int released = evicted != NULL;
    unmap_list(evicted);
    return released;
}

void _pm_large_fork_prepare(void) { pthread_mutex_lock(&cache_lock); }
void _pm_large_fork_parent(void) { pthread_mutex_unlock(&cache_lock); }
void _pm_large_fork_child(void) { pthread_mutex_init(&cache_lock, NULL); }
