/* pool.c -- pools of equal blocks, the slow paths of small malloc and free
 * (layer 1).
 *
 * A pool is one 4 KiB page serving one size class.  Its 128-byte header (the
 * fields, then a bitmap with one bit per 8-byte granule) is followed by
 * `capacity` blocks; the blocks of classes that are multiples of 16 bytes
 * are 16-aligned because the header is.  Like obmalloc, a pool hands out
 * blocks from two places: `free`, the list of blocks given back, and the
 * never-used tail [bump, limit), carved one block at a time only when the
 * list is empty, so a pool's memory is touched only as far as it is used.
 *
 * Pool states and transitions (see types.h for the invariant):
 *
 *        take from arena         last free block
 *   EMPTY ---------------> USED ----------------> FULL
 *     ^                    |  ^                    |
 *     |   last block back  |  |  a block comes back|
 *     +--------------------+  +--------------------+
 *
 * A USED pool is on its class list in its heap; the head of that list is
 * where the fast path allocates.  An EMPTY pool goes back to its arena at
 * once (CPython does the same), except the only pool of a class, which is
 * kept so that a loop of malloc/free of one size does not take and return a
 * page every time.  Such kept pools are released at thread exit and by
 * malloc_trim.
 */
#include "include/internal/internal.h"

#include <errno.h>
#include <string.h>

pm_pool_t _pm_empty_pool;   /* free == NULL forever: every empty class list points here */

/* The pool invariant (types.h), walked in full: PM_DEBUG >= 2 only. */
__attribute__((unused)) static bool pool_is_valid(const pm_pool_t *pool)
{
    size_t nfree = 0;
    for (const pm_block_t *b = pool->free; pm_pool_is_block(b); b = pm_link_decode(b, false))
        if (++nfree > pool->capacity || ((uintptr_t)b & ~(PM_POOL_SIZE - 1)) != (uintptr_t)pool)
            return false;
    size_t uncarved = (size_t)(pool->limit - pool->bump) / pool->block_size;
    size_t live = 0;
    for (size_t i = 0; i < PM_POOL_GRANULES / 64; i++)
        live += (size_t)__builtin_popcountll(atomic_load_explicit(&pool->live[i],
                                                                  memory_order_relaxed));
    return pool->used + nfree + uncarved == pool->capacity && live == pool->used;
}
#define pool_check(pool) pm_assert(PM_DEBUG < 2 || pm_vg_on() || pool_is_valid(pool))

/* ---- class lists ---- */
static void pool_link_front(pm_heap_t *heap, pm_pool_t *pool)
{
    pm_pool_t *head = heap->pools[pool->size_class];
    pool->prev = NULL;
    pool->next = head == &_pm_empty_pool ? NULL : head;
    if (pool->next)
        pool->next->prev = pool;
    heap->pools[pool->size_class] = pool;
    pool->listed = 1;
}

static void pool_unlink(pm_heap_t *heap, pm_pool_t *pool)
{
    if (pool->prev)
        pool->prev->next = pool->next;
    else
        heap->pools[pool->size_class] = pool->next ? pool->next : &_pm_empty_pool;
    if (pool->next)
        pool->next->prev = pool->prev;
    pool->next = pool->prev = NULL;
    pool->listed = 0;
}

/* A page fresh from the arena becomes an empty pool of class c. */
static int pool_init(pm_heap_t *heap, pm_pool_t *pool, unsigned c)
{
    if (pm_vg_any()) {
        /* The page may have been part of a span, its bytes no-access to
         * memcheck since a block there was freed: the header is ours again,
         * every block no-access until it is handed out.  The live bitmap is
         * read by freeing threads with atomics alone. */
        PM_VG_UNDEFINED(pool, PM_POOL_HEADER);
        PM_VG_NOACCESS((char *)pool + PM_POOL_HEADER, PM_POOL_SIZE - PM_POOL_HEADER);
        PM_VG_ATOMIC_WORDS(pool->live, sizeof pool->live);
    }
    size_t size = pm_class_size(c);
    pool->free = (pm_block_t *)pool;     /* empty list: it ends at once */
    pool->used = 0;
    pool->size_class = (uint16_t)c;
    pool->block_size = (uint16_t)size;
    pool->capacity = (uint32_t)((PM_POOL_SIZE - PM_POOL_HEADER) / size);
    pool->bump = PM_POOL_HEADER;
    pool->limit = PM_POOL_HEADER + pool->capacity * (uint32_t)size;
    pool->reserved = 0;
    pool->heap = heap;
    pool->next = pool->prev = NULL;
    pool->listed = 0;
    memset((void *)pool->live, 0, sizeof pool->live);
    if (PM_STRICT)   /* every block, carved or not, is always filled while free */
        _pm_strict_fill((char *)pool + PM_POOL_HEADER, PM_POOL_SIZE - PM_POOL_HEADER);
    /* Published last: from here on free() recognises the page as ours. */
    return _pm_pagemap_set(pool, 1, (uintptr_t)pool | PM_PAGE_POOL);
}

static void pool_release(pm_heap_t *heap, pm_pool_t *pool)
{
    if (pool->listed)
        pool_unlink(heap, pool);
    PM_VG_ATOMIC_WORDS_END(pool->live, sizeof pool->live);   /* the page may hold blocks next */
    _pm_pagemap_set(pool, 1, 0);
    pool->size_class = UINT16_MAX;
    pool->heap = NULL;
    _pm_arena_pool_return(heap, pool);
}

/* A new pool of class c at the head of heap's list; NULL if out of memory.
 * Out of line: it would weigh on the carving path's prologue. */
static PM_NOINLINE pm_pool_t *pool_new(pm_heap_t *heap, unsigned c)
{
    pm_pool_t *pool = _pm_arena_pool_take(heap);
    if (!pool)
        return NULL;
    if (pool_init(heap, pool, c) != 0) {
        pool->heap = NULL;
        _pm_arena_pool_return(heap, pool);
        return NULL;
    }
    pool_link_front(heap, pool);
    return pool;
}

/* pm_pool_pop under memcheck, out of line: the request's argument block
 * would otherwise cost the carving path below a stack frame. */
static PM_NOINLINE void pool_pop_vg(pm_pool_t *pool, pm_block_t *b)
{
    pm_pool_pop(pool, b, true);
}

/* ---- slow path of malloc ----
 * Also the only way blocks leave a pool in slow mode (and for allocator
 * metadata): everything the inline pop does is repeated here. */
void *_pm_pool_alloc_generic(pm_heap_t *heap, unsigned c)
{
    if (pm_unlikely(_pm_slow))
        _pm_tls_fast = PM_ROUTE_GENERIC;  /* slow mode was switched on by another thread */
    if (atomic_load_explicit(&heap->xthread_free, memory_order_relaxed))
        _pm_heap_collect(heap);       /* blocks freed by other threads come home */
    for (;;) {
        pm_pool_t *pool = heap->pools[c];
        if (pool == &_pm_empty_pool && !(pool = pool_new(heap, c))) {
            errno = ENOMEM;
            return NULL;
        }
        pm_block_t *b = pool->free;
        if (pm_pool_is_block(b)) {
            if (pm_vg_on())
                pool_pop_vg(pool, b);
            else
                pm_pool_pop(pool, b, false);
        } else if (pool->bump < pool->limit) {
            b = (pm_block_t *)((char *)pool + pool->bump);   /* carve a never-used block */
            pool->bump += pool->block_size;
        } else {
            pool_unlink(heap, pool);          /* USED -> FULL */
            continue;
        }
        if (PM_STRICT) {
            _pm_strict_taken(b, pool->block_size);
            uint64_t bit;
            if (*pm_live_word(pool, b, &bit) & bit)   /* a link led to a block that is out */
                _pm_pool_corrupt(pool, b);
        }
        pool->used++;
        pm_live_set(pool, b);
        pool_check(pool);
        return b;
    }
}

/* ---- slow path of free: the pool was FULL, or is now EMPTY ---- */
void _pm_pool_free_generic(pm_heap_t *heap, pm_pool_t *pool)
{
    if (pm_unlikely(_pm_slow))
        _pm_tls_fast = PM_ROUTE_GENERIC;
    pool_check(pool);
    pm_assert(pool->heap == heap);
    if (!pool->listed)
        pool_link_front(heap, pool);          /* FULL -> USED */
    if (pool->used == 0) {
        pm_pool_t *head = heap->pools[pool->size_class];
        if (head == pool && pool->next == NULL)
            return;                           /* keep the class's only pool */
        pool_release(heap, pool);             /* USED -> EMPTY */
    }
}

void _pm_pool_free_local(pm_heap_t *heap, pm_pool_t *pool, pm_block_t *b, const char *call)
{
    pm_small_free_local(heap, pool, b, call, pm_vg_on());
}

size_t _pm_pool_release_empty(pm_heap_t *heap)
{
    size_t n = 0;
    for (unsigned c = 0; c < PM_CLASS_COUNT; c++) {
        pm_pool_t *pool = heap->pools[c];
        while (pool != &_pm_empty_pool && pool) {
            pm_pool_t *next = pool->next;
            if (pool->used == 0) {
                pool_release(heap, pool);
                n++;
            }
            pool = next;
        }
    }
    return n;
}

/* ---- misuse ----
 * Messages are one line, built on the stack (the heap may be corrupt):
 * "<call>(): <what> 0x<pointer>[ (<more>)]". */
typedef struct msg_s {
    char buf[200];
    size_t n;
} msg_t;

static void msg_str(msg_t *m, const char *s)
{
    while (*s && m->n < sizeof m->buf - 20)
        m->buf[m->n++] = *s++;
}

static void msg_ptr(msg_t *m, const void *p)
{
    uintptr_t v = (uintptr_t)p;
    char tmp[16];
    int k = 0;
    do {
        tmp[k++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    m->buf[m->n++] = '0';
    m->buf[m->n++] = 'x';
    while (k)
        m->buf[m->n++] = tmp[--k];
}

static void msg_head(msg_t *m, const char *call, const char *what, const void *p)
{
    m->n = 0;
    msg_str(m, call);
    msg_str(m, "(): ");
    msg_str(m, what);
    msg_str(m, " ");
    msg_ptr(m, p);
}

__attribute__((noreturn)) static void msg_fatal(msg_t *m)
{
    m->buf[m->n] = 0;
    _pm_os_fatal(m->buf);
}

void _pm_fatal_ptr(const char *call, const char *what, const void *p)
{
    /* Under memcheck, a bad pointer given to free or realloc is shown to
     * memcheck as freed first: it reports it with what it knows (the block it
     * is in, where that was allocated and freed) before we abort. */
    if (pm_vg_on() && (call[0] == 'f' || call[0] == 'r'))
        PM_VG_FREELIKE(p);
    msg_t m;
    msg_head(&m, call, what, p);
    msg_fatal(&m);
}

/* "malloc(): <what> 0x<where> (<which> 0x<block>[ <after>])" */
void _pm_fatal_link2(const char *what, const void *where, const char *which, const void *block,
                     const char *after)
{
    msg_t m;
    msg_head(&m, "malloc", what, where);
    msg_str(&m, " (");
    msg_str(&m, which);
    msg_str(&m, " ");
    msg_ptr(&m, block);
    if (after) {
        msg_str(&m, " ");
        msg_str(&m, after);
    }
    msg_str(&m, ")");
    msg_fatal(&m);
}

/* "malloc(): corrupted free list in pool 0x... (link in block 0x...)" */
void _pm_fatal_link(const char *what, const void *where, const void *block)
{
    _pm_fatal_link2(what, where, "link in block", block, NULL);
}

/* The words for a block that was already freed: "double free" when it is
 * freed again, "pointer already freed" for realloc and malloc_usable_size. */
const char *_pm_freed_word(const char *call)
{
    return call[0] == 'f' && call[1] == 'r' ? "double free" : "pointer already freed";
}

/* The link in free block b of pool failed its check on pop (internal.h). */
void _pm_pool_corrupt(pm_pool_t *pool, const pm_block_t *b)
{
    _pm_fatal_link("corrupted free list in pool", pool, b);
}

/* p is in pool's page but its live bit is clear (or p is misaligned):
 * a block start that is not out is a double free, anything else is not a
 * pointer malloc returned. */
void _pm_pool_bad_free(pm_pool_t *pool, void *p, const char *call)
{
    uintptr_t off = (uintptr_t)p - (uintptr_t)pool;
    if (off >= PM_POOL_HEADER && (off - PM_POOL_HEADER) % pool->block_size == 0 &&
        off < pool->bump)
        _pm_fatal_ptr(call, _pm_freed_word(call), p);
    _pm_fatal_ptr(call, "invalid pointer", p);
}
