/* span.c -- medium blocks: 513..16384 bytes in multi-page spans (floor 2).
 *
 * A request just over 512 bytes would waste most of a page on the large
 * path, and cost a system call per new mapping.  Medium requests are instead
 * served like small ones, from spans: runs of 1..16 pages of an arena, each
 * holding blocks of one of 40 classes (eight per doubling, at most 12.5%
 * slack).  A span's descriptor lives in the arena's descriptor slots
 * (arenas/arenas.h, pools.h), so blocks are packed from the span's first
 * byte: a 4096-byte class has no header in its way.  A block's live bit is
 * in the slot of the page it starts in, as a pool's is (pools.h, "live
 * words"), so the fast paths find it from the address alone; the exact
 * checks of the slow paths find a block's index as its offset times a
 * reciprocal (exact for offsets below 64 KiB and sizes below 64 KiB), so
 * no division.
 *
 * Ownership, remote frees, hand-over and states follow the pools exactly
 * (pool.c, heap.c): owner-only lists, the heap's xthread_free stack for
 * other threads, empty spans kept as spares (span_emptied).
 */
#include "pools/pools.h"

#include <errno.h>
#include <string.h>

pm_span_t _pm_empty_span;   /* free == NULL and nothing to carve: empty lists point here */

/* The thread-cache classes of requests of 1..16384 bytes by table
 * (pools.h, pm_tc_class): entry i is the class of the requests of i * 8 +
 * 1 .. i * 8 + 8 bytes: below 64 a small class, the one that serves class
 * i (pm_class_serving: i itself up to 64 bytes, else at first the host of
 * its range, then its host once _pm_class_split has split the range, then
 * i itself once it has split that host's group); else 64 plus the medium
 * class that serves (pm_medium_serving: at first the host of its range,
 * then itself) the medium class (pm_medium_class_of) of the largest
 * request of the 64-byte group that holds them (every medium boundary is
 * a multiple of 64).  With POOLMALLOC_MIN_ALIGN=16 every small entry is
 * or-ed with 1, the next class with 16-aligned blocks
 * (_pm_tc_classes_align). */
#define MC_T(n) ((n) - 1 >= 8192 ? 13 : (n) - 1 >= 4096 ? 12 : (n) - 1 >= 2048 ? 11 : (n) - 1 >= 1024 ? 10 : 9)
#define MC_EIGHTHS(n) ((MC_T(n) - 9) * 8 + (((n) - 1) >> (MC_T(n) - 3)) - 8)
#define MC_OF(n) (MC_EIGHTHS(n) + (MC_T(n) - 9) - (MC_T(n) >= 10 && (n) <= (1 << MC_T(n)) + 64))
/* (each arm in range for every i, as clang's warning wants: where they
 * are taken, i & 63 is i and the group's + 8 * (i < 64) adds nothing) */
#define TC_GROUP(i) (((i) >> 3) + 8 * ((i) < PM_CLASS_COUNT))
#define TC_RANGE(k) ((k) < 8 ? (k) : (k) < 16 ? 15 : (k) < 32 ? 31 : 63)   /* pm_class_range */
#define MC_RANGE(m) ((m) < 8 ? 7 : (m) < 17 ? 16 : (m) < 26 ? 25 : (m) < 35 ? 34 : 43)   /* pm_medium_range */
#define TC1(i) ((i) < PM_CLASS_COUNT ? TC_RANGE((i) & 63) : PM_CLASS_COUNT + MC_RANGE(MC_OF((TC_GROUP(i) + 1) * 64))),
#define TC4(i) TC1(i) TC1((i) + 1) TC1((i) + 2) TC1((i) + 3)
#define TC16(i) TC4(i) TC4((i) + 4) TC4((i) + 8) TC4((i) + 12)
#define TC64(i) TC16(i) TC16((i) + 16) TC16((i) + 32) TC16((i) + 48)
#define TC256(i) TC64(i) TC64((i) + 64) TC64((i) + 128) TC64((i) + 192)
#define TC1024(i) TC256(i) TC256((i) + 256) TC256((i) + 512) TC256((i) + 768)
_Atomic uint8_t _pm_tc_classes[PM_MEDIUM_MAX / 8] = {TC1024(0) TC1024(1024)};
_Static_assert(PM_MEDIUM_MAX / 8 == 2048, "the table has 2048 entries");

/* Each medium class's block size (pm_medium_size, pools.h): classes 0..7
 * are 576..1024 by 64; from class 8 on, groups of nine, 2^t + 64 and then
 * (9..16) << (t - 3), t = 10..13. */
#define MS_Q(m) (((m) - 8) / 9)
#define MS_R(m) (((m) - 8) % 9)
#define MS_OF(m) ((m) < 8 ? (9 + (m)) << 6 : MS_R(m) == 0 ? (1 << (10 + MS_Q(m))) + 64 : (8 + MS_R(m)) << (7 + MS_Q(m)))
#define MS4(m) MS_OF(m), MS_OF((m) + 1), MS_OF((m) + 2), MS_OF((m) + 3),
const uint16_t _pm_medium_sizes[PM_MEDIUM_COUNT] = {
    MS4(0) MS4(4) MS4(8) MS4(12) MS4(16) MS4(20) MS4(24) MS4(28) MS4(32) MS4(36) MS4(40)};
_Static_assert(PM_MEDIUM_COUNT == 44 && MS_OF(PM_MEDIUM_COUNT - 1) == PM_MEDIUM_MAX,
               "the table has 44 entries, the last PM_MEDIUM_MAX");

_Atomic uint64_t _pm_classes_split;
_Atomic uint64_t _pm_ranges_split;
_Atomic uint64_t _pm_medium_ranges_split;

void _pm_class_split(unsigned c)
{
    bool range = pm_class_range(c) == c && !pm_range_split_done(c);
    _Atomic uint64_t *split = range ? &_pm_ranges_split : &_pm_classes_split;
    uint64_t bit = (uint64_t)1 << c;
    if (atomic_load_explicit(split, memory_order_relaxed) & bit)
        return;
    atomic_fetch_or_explicit(split, bit, memory_order_relaxed);
    _pm_tc_classes_align();
}

void _pm_medium_split(unsigned range)
{
    uint64_t bit = (uint64_t)1 << range;
    if (atomic_load_explicit(&_pm_medium_ranges_split, memory_order_relaxed) & bit)
        return;
    atomic_fetch_or_explicit(&_pm_medium_ranges_split, bit, memory_order_relaxed);
    _pm_tc_classes_align();
}

/* The split bits so far, all three words: bits are only ever set, so a
 * split made meanwhile changes one of them.  (Compared as words: a
 * popcount here called libgcc's __popcountdi2, which lies outside the hot
 * text's window, preload/hot.ld, and mapped a third one in most programs.) */
typedef struct { uint64_t classes, ranges, medium; } splits_t;
static splits_t splits_now(void)
{
    return (splits_t){atomic_load_explicit(&_pm_classes_split, memory_order_relaxed),
                      atomic_load_explicit(&_pm_ranges_split, memory_order_relaxed),
                      atomic_load_explicit(&_pm_medium_ranges_split, memory_order_relaxed)};
}
static bool splits_same(splits_t a, splits_t b)
{
    return a.classes == b.classes && a.ranges == b.ranges && a.medium == b.medium;
}

/* Byte stores: a malloc that reads an entry meanwhile gets the old class or
 * the new one, and either serves the request.  The pass repeats until no
 * split came in during it: a thread that splits meanwhile and rewrites the
 * table first would otherwise have its entries written back by this older
 * pass, and nothing would write them again.  (Medium entries need no
 * alignment's or: every medium size is a multiple of 64.) */
void _pm_tc_classes_align(void)
{
    splits_t seen;
    do {
        seen = splits_now();
        for (unsigned k = 0; k < PM_CLASS_COUNT; k++)
            atomic_store_explicit(&_pm_tc_classes[k], (uint8_t)(pm_class_serving(k) | (_pm_align_or >> 3)),
                                  memory_order_relaxed);
        for (unsigned k = PM_CLASS_COUNT; k < PM_MEDIUM_MAX / 8; k++)
            atomic_store_explicit(
                &_pm_tc_classes[k],
                (uint8_t)(PM_CLASS_COUNT + pm_medium_serving(pm_medium_class_of((k + 1) * 8))),
                memory_order_relaxed);
    } while (!splits_same(splits_now(), seen));
}

/* Pages per span for each class.  A heap's first span of a class is small
 * (span_pages_first: at least 8 blocks up to 2 KiB and 4 above, at most
 * 12.5% left over), so a thread that uses a class a little keeps little.
 * Each further span doubles (by the class's spans in use) up to as large
 * as the live word allows (span_pages: 64 blocks, up to 16 pages, no
 * waste): spans of 8..12 blocks filled up after a few mallocs, so a program
 * that uses a class a lot and frees at random (larson) freed nearly always
 * into a FULL span and allocated from a head with one block, the slow path
 * on most calls; and jumping to the largest at the second span cost a
 * program with a few dozen blocks in each of many classes (rptest's sizes,
 * spread evenly over 40 classes) a mostly empty large span per class. */
static const uint8_t span_pages_first[PM_MEDIUM_COUNT] = {
    2, 2, 2, 2, 2, 2, 2, 2,               /* 576 .. 1024 */
    3, 3, 3, 3, 3, 4, 4, 4, 4,            /* 1088, 1152 .. 2048 */
    4, 3, 4, 3, 3, 5, 4, 4, 4,            /* 2112, 2304 .. 4096 */
    8, 5, 5, 6, 6, 7, 7, 8, 8,            /* 4160, 4608 .. 8192 */
    9, 9, 10, 11, 12, 13, 14, 15, 16};    /* 8256, 9216 .. 16384 */
static const uint8_t span_pages[PM_MEDIUM_COUNT] = {
    9, 10, 11, 12, 13, 14, 15, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 15, 16, 16, 14, 16, 16, 16,
    16, 16, 15, 14, 15, 13, 16, 15, 16,
    15, 16, 15, 14, 15, 13, 14, 15, 16};

static inline char *span_base(const pm_span_t *s) { return pm_span_base(s); }

/* Offset of the end of the span's last block. */
static inline uint32_t span_limit(const pm_span_t *s)
{
    return (uint32_t)s->capacity * s->block_size;
}

/* Index of block p in span s; *exact is false when p is not a block start. */
static inline unsigned span_index(const pm_span_t *s, const void *p, bool *exact)
{
    uint64_t off = (uint64_t)((const char *)p - span_base(s));
    unsigned idx = (unsigned)((off * s->recip) >> 32);
    *exact = (uint64_t)idx * s->block_size == off && idx < s->capacity;
    return idx;
}

/* The slot of page pg of the span whose first byte is base: its live words
 * and owner (pools.h, "live words"; page 0's is the descriptor). */
static inline pm_pool_t *span_page_slot(char *base, unsigned pg)
{
    return pm_arena_slot(base + (size_t)pg * PM_PAGE_SIZE);
}

/* The slots of the k pages from base: taken by heap (owner set, live words
 * zero: nothing out, and words 1-7 stay so), or given back (heap NULL). */
static void span_slots_set(char *base, unsigned k, pm_heap_t *heap)
{
    for (unsigned pg = 0; pg < k; pg++) {
        pm_pool_t *slot = span_page_slot(base, pg);
        if (heap) {
            memset((void *)slot->live, 0, sizeof slot->live);
            if (pm_vg_any())   /* read by freeing threads */
                PM_VG_ATOMIC_WORDS(slot->live, sizeof slot->live);
        } else if (pm_vg_any()) {   /* the page may hold anything next */
            PM_VG_ATOMIC_WORDS_END(slot->live, sizeof slot->live);
        }
        slot->heap = heap;   /* pm_entry_heap (page 0: the descriptor's own) */
    }
}

/* The span invariant, walked in full: PM_DEBUG >= 2 only. */
__attribute__((unused)) static bool span_is_valid(const pm_span_t *s)
{
    size_t nfree = 0;
    for (const pm_block_t *b = s->free; b; b = pm_link_decode(b, false))
        if (++nfree > s->capacity)
            return false;
    size_t uncarved = (size_t)(span_limit(s) - s->bump) / s->block_size;
    size_t live = 0;
    for (unsigned pg = 0; pg < s->pages; pg++) {
        pm_pool_t *slot = span_page_slot(span_base(s), pg);
        for (unsigned w = 0; w < PM_POOL_GRANULES / 64; w++)
            live += (size_t)pm_popcount64(
                atomic_load_explicit(&slot->live[w], memory_order_relaxed));
    }
    size_t out = (size_t)(s->used + s->bias);
    return out + nfree + uncarved == s->capacity && live == out;
}
#define span_check(s) pm_assert(PM_DEBUG < 2 || pm_vg_on() || span_is_valid(s))

/* ---- lists ---- */
/* The pools' encoding (pm_span_s): the head of a class list holds a pin
 * (bias -1), so that a malloc/free loop that empties it never takes the
 * slow path; span_out() is the number of blocks out. */
static inline unsigned span_out(const pm_span_t *s)
{
    return (unsigned)(s->used + s->bias);
}

static inline void span_set_bias(pm_span_t *s, int32_t bias)
{
    s->used += s->bias - bias;
    s->bias = bias;
}

static void span_release(pm_heap_t *heap, pm_span_t *s);
static void span_emptied(pm_heap_t *heap, pm_span_t *s);

/* The bias of a FULL span: it rejoins its list when `rejoin` blocks (1/8 of
 * it, at least one) have come back, as a pool does (pool.c, pool_full_bias). */
static inline int32_t span_full_bias(const pm_span_t *s)
{
    int32_t rejoin = s->capacity / 8 ? (int32_t)s->capacity / 8 : 1;
    return (int32_t)s->capacity - rejoin;
}

static void span_link_front(pm_heap_t *heap, pm_span_t *s)
{
    pm_span_t *head = heap->spans[s->medium_class];
    s->prev = NULL;
    s->next = head == &_pm_empty_span ? NULL : head;
    if (s->next)
        s->next->prev = s;
    heap->spans[s->medium_class] = s;
    s->listed = 1;
    span_set_bias(s, -1);             /* the pin moves to s */
    if (head != &_pm_empty_span) {
        span_set_bias(head, 0);
        if (span_out(head) == 0)
            span_emptied(heap, head);
    }
}

/* Takes s off its list; `bias` is its new one (span_full_bias when FULL, 0
 * when it is being released). */
static void span_unlink(pm_heap_t *heap, pm_span_t *s, int32_t bias)
{
    PM_UNLINK_CHECK(s, heap->spans[s->medium_class], "span list");
    if (s->prev) {
        s->prev->next = s->next;
    } else {                          /* the head: the pin moves on */
        heap->spans[s->medium_class] = s->next ? s->next : &_pm_empty_span;
        if (s->next)
            span_set_bias(s->next, -1);
    }
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
    s->listed = 0;
    span_set_bias(s, bias);
}

/* Pages faulted in at once.  A program that writes its medium blocks
 * whole (sqlite's page cache: 4104-byte pages copied in) faults in every
 * page of a new span one at a time, and a fault costs twice what a page of
 * one madvise(MADV_POPULATE_WRITE) over the span costs (10-13 us against
 * 5.5 on the 2-core VM of the figures: arenas/arena.c).  But a program
 * that writes only the start of its blocks (a buffer's capacity) would be
 * given pages it never touches: with every new span faulted in, espresso's
 * peak RSS went 3.5 -> 4.0 MB and glibc-thread's 2.4 -> 3.0.  So each heap
 * learns it per class: a span made on clean pages and left to fault is
 * read (mincore) when it first goes FULL, every block handed out once; if
 * the program wrote all the pages its blocks cover but for an eighth (at
 * least one: the last block may not be written yet), the class's next
 * spans on clean pages are faulted in when made, and every eighth such
 * span of the heap is left to fault and read again, so that a class whose
 * use changes is seen to.  Spans on reused pages are neither read (their
 * pages may be resident from before) nor faulted in (they are). */
#define SPAN_PROBE_EVERY 8
#define SPAN_DENSE_LIVE 4

static void span_fresh(pm_heap_t *heap, pm_span_t *s, unsigned m, char *base, unsigned k)
{
    if (!_pm_option_values[PM_OPTION_ARENA_POPULATE])
        return;   /* nothing faulted in ahead: the option's 0 (README) */
    if (((heap->spans_dense >> m) & 1) && heap->span_live[m] >= SPAN_DENSE_LIVE &&
        heap->spans_fresh++ % SPAN_PROBE_EVERY != 0)
        _pm_os_populate(base, (size_t)k * PM_PAGE_SIZE);
    else
        s->probe = 1;
}

static PM_NOINLINE void span_probe(pm_heap_t *heap, pm_span_t *s)
{
    s->probe = 0;
    size_t covered = ((size_t)s->capacity * s->block_size + PM_PAGE_SIZE - 1) & ~(PM_PAGE_SIZE - 1);
    size_t resident = _pm_os_resident(span_base(s), covered);
    size_t allowed = covered / 8 > PM_PAGE_SIZE ? covered / 8 : PM_PAGE_SIZE;
    uint64_t bit = (uint64_t)1 << s->medium_class;
    if (resident + allowed >= covered)
        heap->spans_dense |= bit;
    else
        heap->spans_dense &= ~bit;
}

/* The header of an empty span of k pages for class m, its free list and
 * lists empty; its slots (owner, live words) and page-map entries are the
 * caller's. */
static void span_init(pm_span_t *s, unsigned m, unsigned k)
{
    size_t size = pm_medium_size(m);
    s->free = NULL;
    s->bump = 0;
    s->next = s->prev = NULL;
    s->used = 0;
    s->bias = 0;
    s->probe = 0;
    s->capacity = (uint8_t)(k * PM_PAGE_SIZE / size);
    s->medium_class = (uint8_t)m;
    s->listed = 0;
    s->pages = (uint8_t)k;
    s->granules = (uint32_t)(k * PM_PAGE_SIZE / 8);
    s->block_size = (uint32_t)size;
    s->recip = (uint32_t)((((uint64_t)1 << 32) + size - 1) / size);
}

/* The page-map entries of span s of class m, from its first page's. */
static int span_map(pm_span_t *s, unsigned m)
{
    return pm_pagemap_set_run(span_base(s), s->pages,
                              (uintptr_t)s | PM_PAGE_SPAN | pm_entry_info(PM_CLASS_COUNT + m),
                              PM_ARENA_SLOT + ((uintptr_t)1 << PM_SPAN_PAGE_SHIFT));
}

static pm_span_t *span_spare_recycle(pm_heap_t *heap, unsigned m, unsigned k);

static pm_span_t *span_new(pm_heap_t *heap, unsigned m)
{
    unsigned live = heap->span_live[m];
    unsigned k = (unsigned)span_pages_first[m] << (live < 4 ? live : 4);   /* doubling */
    if (k > span_pages[m])
        k = span_pages[m];
    /* A shorter run of the heap's arenas before a new arena: at least half
     * of k and at least the class's first span.  Without it a class whose
     * spans are 16 pages long left 14 of each arena's 62 free pages to
     * pools and shorter spans, and a program that wants few of those
     * (sqlite: its 4 KiB page buffers) mapped an arena for every 48 pages
     * it used: a fifth of its arenas never written, address space only
     * while they are 4 KiB pages, but resident once they come as huge
     * pages (arenas/arena.c, arena_map_thp). */
    unsigned least = (k + 1) / 2 > span_pages_first[m] ? (k + 1) / 2 : span_pages_first[m];
    if (least > k)
        least = k;
    bool clean = false;
    /* Spares (span_emptied) may hold the pages: the heap's arenas first,
     * then a spare of another class that fits, then, before a new arena,
     * again once the spares went back. */
    bool spares = heap->spare_span_pages != 0;
    char *base = _pm_arena_pages_take(&heap->arenas, k, spares ? k : least, &k, &clean, spares);
    if (!base && spares) {
        pm_span_t *s = span_spare_recycle(heap, m, k);
        if (s)
            return s;
        _pm_span_release_spares(heap);
        base = _pm_arena_pages_take(&heap->arenas, k, least, &k, &clean, false);
    }
    if (!base)
        return NULL;
    pm_span_t *s = pm_arena_slot(base);
    span_init(s, m, k);
    span_slots_set(base, k, heap);   /* s->heap among them */
    if (pm_vg_any())
        PM_VG_NOACCESS(base, (size_t)k * PM_PAGE_SIZE);   /* every block, until handed out */
    if (PM_STRICT)
        _pm_strict_fill(base, (size_t)k * PM_PAGE_SIZE);
    if (span_map(s, m) != 0) {
        pm_pagemap_set_run(base, k, 0, 0);
        span_slots_set(base, k, NULL);
        _pm_arena_pages_return(&heap->arenas, base, k);
        return NULL;
    }
    if (clean && !pm_vg_any() && !PM_STRICT)
        span_fresh(heap, s, m, base, k);
    heap->span_live[m]++;
    pm_heap_count(&heap->spans_live, 1);
    pm_heap_count(&heap->span_pages_live, k);
    if (heap->span_live[m] > PM_MEDIUM_SPLIT_SPANS && pm_medium_range(m) == m)
        _pm_medium_split(m);   /* sizes the program uses much (pools.h, pm_medium_range) */
    return s;
}

/* A span that is not its list's head has no block out any more.  It waits
 * off the list as a spare of its class, its free list intact, if the
 * heap's spares then hold at most PM_SPARE_SPAN_PAGES pages, so that a
 * program that takes a batch of medium blocks and frees it again and again
 * does not give its spans back to their arena and take them back (and
 * carve them again) every time (64 mallocs of 4 KiB, then their frees: 5
 * spans per round).  Otherwise, as an abandoned heap's, it goes back to
 * its arena.  Spares are released by malloc_trim and at thread exit
 * (_pm_span_release_empty), all of them before the heap takes a new arena
 * for a pool or span (span_new, pool.c's pool_new: their pages serve
 * first), and, when they are all their arena has in use, those of the
 * classes that have not yet taken a spare back (pm_heap_release_idle,
 * _pm_span_release_spares_in): so that the spares of a class that comes
 * and goes in batches bigger than an arena (64 blocks of 16 KiB: 16 spans
 * of 16 pages, five arenas whose spans all empty at the end of each batch)
 * are not given back and set up again at every batch (64 x 16 KiB: 542 ->
 * 246 instructions a malloc and free; medium_batches 23.9 -> 12.2 ns),
 * while a class used once keeps nothing in an arena otherwise empty.  What
 * a heap that stops allocating keeps is bounded by PM_SPARE_SPAN_PAGES. */
static void span_release_raw(pm_heap_t *heap, pm_span_t *s);

static void span_emptied(pm_heap_t *heap, pm_span_t *s)
{
    if (heap->spare_span_pages + s->pages <= PM_SPARE_SPAN_PAGES &&
        atomic_load_explicit(&heap->state, memory_order_relaxed) == PM_HEAP_LIVE) {
        if (s->listed)
            span_unlink(heap, s, 0);
        s->next = heap->spare_spans[s->medium_class];
        heap->spare_spans[s->medium_class] = s;
        heap->spare_span_classes |= (uint64_t)1 << s->medium_class;
        heap->spare_span_pages += s->pages;
        _pm_arena_kept(span_base(s), s->pages);
        pm_heap_release_idle(heap, span_base(s), 0);
        return;
    }
    span_release(heap, s);
}

/* Takes the spare *at (a link of a spare list) off its list. */
static pm_span_t *span_spare_unlink(pm_heap_t *heap, pm_span_t **at)
{
    pm_span_t *s = *at;
    *at = s->next;
    s->next = NULL;
    if (!heap->spare_spans[s->medium_class])
        heap->spare_span_classes &= ~((uint64_t)1 << s->medium_class);
    heap->spare_span_pages -= s->pages;
    _pm_arena_kept(span_base(s), -(int)s->pages);
    return s;
}

/* The class's most recent spare, off the spare list (NULL if none); a
 * class that takes one back is marked as reusing its spares (spans_reused). */
static pm_span_t *span_spare_take(pm_heap_t *heap, unsigned m)
{
    if (!heap->spare_spans[m])
        return NULL;
    heap->spans_reused |= (uint64_t)1 << m;
    return span_spare_unlink(heap, &heap->spare_spans[m]);
}

/* When the heap's arenas have no run of k free pages for a new span of
 * class m but spares of other classes are kept: the smallest spare of k
 * pages or more, made an empty span of class m in place (its pages
 * stay the heap's, its live words are all zero, nothing of it is out), so
 * that a program whose batches of medium blocks shift from class to class
 * does not give every spare back and take and set up new spans, one batch
 * after the other (medium_batches: 64 blocks of 8..16 KiB, each batch's
 * classes at random).  A larger spare gives the pages past k back.  NULL
 * if none has k pages, or under memcheck or strict mode
 * (the pages' states there are set up by span_new only). */
static pm_span_t *span_spare_recycle(pm_heap_t *heap, unsigned m, unsigned k)
{
    if (pm_vg_any() || PM_STRICT)
        return NULL;
    pm_span_t **best = NULL;
    for (uint64_t left = heap->spare_span_classes; left; left &= left - 1)
        for (pm_span_t **at = &heap->spare_spans[__builtin_ctzll(left)]; *at; at = &(*at)->next) {
            unsigned pages = (*at)->pages;
            if (pages >= k && (!best || pages < (*best)->pages))
                best = at;
        }
    if (!best)
        return NULL;
    pm_span_t *s = span_spare_unlink(heap, best);
    heap->span_live[s->medium_class]--;
    if (s->pages > k) {   /* the pages past k go back to the arena */
        char *tail = span_base(s) + (size_t)k * PM_PAGE_SIZE;
        unsigned rest = s->pages - k;
        pm_pagemap_set_run(tail, rest, 0, 0);
        span_slots_set(tail, rest, NULL);
        pm_heap_count(&heap->span_pages_live, -(int64_t)rest);
        _pm_arena_pages_return(&heap->arenas, tail, rest);
    }
    span_init(s, m, k);
    if (span_map(s, m) != 0) {   /* its entries exist: not expected */
        heap->span_live[m]++;
        span_release_raw(heap, s);
        return NULL;
    }
    heap->span_live[m]++;
    return s;
}

size_t _pm_span_release_spares(pm_heap_t *heap)
{
    size_t n = 0;
    for (uint64_t left = heap->spare_span_classes; left; left &= left - 1)
        for (unsigned m = (unsigned)__builtin_ctzll(left); heap->spare_spans[m]; n++)
            span_release_raw(heap, span_spare_unlink(heap, &heap->spare_spans[m]));
    heap->spans_reused = 0;   /* none left to keep */
    return n;
}

void _pm_span_release_spares_in(pm_heap_t *heap, const void *page)
{
    uintptr_t arena = (uintptr_t)page & ~(uintptr_t)(PM_ARENA_SIZE - 1);
    /* a class that comes back in batches keeps them (span_emptied) */
    for (uint64_t left = heap->spare_span_classes & ~heap->spans_reused; left; left &= left - 1) {
        for (pm_span_t **at = &heap->spare_spans[__builtin_ctzll(left)]; *at;) {
            if (((uintptr_t)*at & ~(uintptr_t)(PM_ARENA_SIZE - 1)) == arena)
                span_release_raw(heap, span_spare_unlink(heap, at));
            else
                at = &(*at)->next;
        }
    }
}

/* ... and the same when the arena would then hold spares only. */
static void span_release(pm_heap_t *heap, pm_span_t *s)
{
    pm_heap_release_idle(heap, span_base(s), s->pages);
    span_release_raw(heap, s);
}

/* Gives s's pages back to their arena (it is no spare). */
static void span_release_raw(pm_heap_t *heap, pm_span_t *s)
{
    if (s->listed)
        span_unlink(heap, s, 0);
    char *base = span_base(s);
    pm_pagemap_set_run(base, s->pages, 0, 0);
    span_slots_set(base, s->pages, NULL);   /* s->heap among them */
    heap->span_live[s->medium_class]--;
    pm_heap_count(&heap->spans_live, -1);
    pm_heap_count(&heap->span_pages_live, -(int64_t)s->pages);
    _pm_arena_pages_return(&heap->arenas, base, s->pages);
}

/* Takes free block b, the head of s's list, off the list.  The decoded link
 * (safe linking, pools.h) must be NULL or a block start of s that is not
 * out; span_index checks both range and alignment exactly. */
static inline void span_pop(pm_span_t *s, pm_block_t *b, bool vg)
{
    pm_block_t *next = pm_link_decode(b, vg);
    if (next) {
        bool exact;
        span_index(s, next, &exact);
        if (pm_unlikely(!exact || pm_block_out(next)))
            _pm_fatal_link("corrupted free list in span", span_base(s), b);
    }
    s->free = next;
    if (!vg)
        b->link = 0;                      /* no link left for the program to read */
}

/* ---- allocation (owner, or holder of an abandoned heap's lock) ---- */

/* Links the never-used blocks that start in the page of the next one into
 * s's free list, which is empty, as pool_carve does for a whole pool: the
 * fast path then pops them (classes of up to 2 KiB: larger blocks are
 * carved one at a time, one per page anyway).  Carved one per call, a
 * class of 1 KiB took the slow path on every malloc until its span was
 * used up, and again after each span that a batch emptied went back to its
 * arena (64 mallocs of 1 KiB, then their frees: 184 instructions per
 * pair).  No page beyond the one the first block starts in is touched: a
 * span's pages stay untouched until a block there is handed out.
 * The links' lines are asked for (prefetch for write) before any is
 * written: 2 to 7 lines 576 to 2048 bytes apart, too few and too far
 * apart for the hardware's prefetchers, and each store's miss otherwise
 * waited for the one before.  A program that makes and frees 100 MB of
 * 513..1024-byte blocks round after round (their spans emptied and carved
 * again) took 105 ns a malloc+free instead of 110 (medians of 12
 * interleaved runs; 90 against 96 in a quieter hour), pm_bench's
 * object_rounds 74.6 instead of 78.7 (5 runs). */
static void span_carve_page(pm_span_t *s)
{
    char *base = span_base(s);
    uint32_t size = s->block_size, off = s->bump, limit = span_limit(s);
    uint32_t end = (off | (uint32_t)(PM_PAGE_SIZE - 1)) + 1;   /* the end of off's page */
    if (end > limit)
        end = limit;
    for (uint32_t o = off + size; o < end; o += size)
        __builtin_prefetch(base + o, 1);
    pm_block_t *first = (pm_block_t *)(base + off), *b = first;
    for (off += size; off < end; off += size) {
        pm_block_t *next = (pm_block_t *)(base + off);
        b->link = pm_link_encode(b, next);
        b = next;
    }
    b->link = pm_link_encode(b, NULL);
    s->free = first;
    s->bump = off;
}
static PM_NOINLINE void *span_alloc_slow(pm_heap_t *heap, unsigned m);

/* Block b of span s goes out: counted, and its live bit set. */
static inline void span_mark_out(pm_span_t *s, const pm_block_t *b)
{
    s->used++;
    pm_live_word_set(pm_page_live_word(b), b);
}

/* The common miss, as pool.c's pool_switch: the head span has no free block
 * and nothing left to carve, the span after it has a free block.  The head
 * goes FULL, the next span becomes the head and serves the block, without
 * the slow path's call and stack frame. */
static inline void *span_switch(pm_heap_t *heap, pm_span_t *head, pm_span_t *next)
{
    if (pm_unlikely(next->prev != head))
        _pm_fatal_ptr("malloc", "corrupted span list at", head);
    heap->spans[head->medium_class] = next;     /* span_unlink, for the head */
    next->prev = NULL;
    span_set_bias(next, -1);                    /* the pin moves on */
    head->next = NULL;
    head->listed = 0;
    span_set_bias(head, span_full_bias(head));  /* USED -> FULL */
    if (pm_unlikely(head->probe))
        span_probe(heap, head);
    pm_block_t *b = next->free;
    span_pop(next, b, false);
    span_mark_out(next, b);
    span_check(head);
    span_check(next);
    return b;
}

void *_pm_span_alloc(pm_heap_t *heap, unsigned m)
{
    pm_span_t *head = heap->spans[m], *next = head->next;   /* the sentinel's next is NULL */
    if (pm_likely(!PM_STRICT && next != NULL && head->free == NULL &&
                  head->bump >= span_limit(head) && next->free != NULL &&
                  pm_heap_chores_none(heap)))
        return span_switch(heap, head, next);
    return span_alloc_slow(heap, m);
}

static void *span_alloc_slow(pm_heap_t *heap, unsigned m)
{
    const bool vg = pm_vg_on();
    pm_span_t *s = heap->spans[m];
    pm_block_t *b = s->free;
    if (pm_likely(b != NULL)) {
        span_pop(s, b, vg);
    } else {
        if (pm_heap_has_remote(heap))
            _pm_heap_collect(heap);
        pm_heap_batch_tick();
        for (;;) {
            s = heap->spans[m];
            if (s == &_pm_empty_span) {
                if (!(s = span_spare_take(heap, m)) && !(s = span_new(heap, m))) {
                    errno = ENOMEM;
                    return NULL;
                }
                span_link_front(heap, s);
            }
            if ((b = s->free) != NULL) {
                span_pop(s, b, vg);
                break;
            }
            if (s->bump < span_limit(s)) {
                if (!vg && !PM_STRICT && s->block_size <= PM_PAGE_SIZE / 2) {
                    span_carve_page(s);   /* then the loop pops its first block */
                    continue;
                }
                /* memcheck and strict mode: one block at a time */
                b = (pm_block_t *)(span_base(s) + s->bump);
                s->bump += s->block_size;
                break;
            }
            span_unlink(heap, s, span_full_bias(s));   /* USED -> FULL */
            if (pm_unlikely(s->probe))
                span_probe(heap, s);
        }
    }
    if (PM_STRICT)
        _pm_strict_taken(b, s->block_size);
    span_mark_out(s, b);
    span_check(s);
    return b;
}

/* ---- free ---- */
__attribute__((noreturn, cold)) static void span_bad_free(pm_span_t *s, void *p, const char *call)
{
    bool exact;
    span_index(s, p, &exact);
    if (exact && (uint64_t)((char *)p - span_base(s)) < s->bump && s->heap)
        _pm_fatal_ptr(call, _pm_freed_word(call), p);
    _pm_fatal_ptr(call, "invalid pointer", p);
}

pm_span_t *_pm_span_check(uintptr_t entry, void *p, const char *call)
{
    pm_span_t *s = pm_entry_span(entry);
    if (!pm_block_out(p))
        span_bad_free(s, p, call);
    return s;
}

void _pm_span_free_local(pm_heap_t *heap, pm_span_t *s, void *p, const char *call)
{
    _Atomic uint64_t *w = pm_page_live_word(p);
    uint64_t live = atomic_load_explicit(w, memory_order_relaxed);
    uint64_t bit = pm_live_bit(p);
    if (((uintptr_t)p & 7) || !(live & bit))
        span_bad_free(s, p, call);
    atomic_store_explicit(w, live & ~bit, memory_order_relaxed);
    pm_block_t *b = p;
    pm_link_store(b, s->free, pm_vg_on());
    s->free = b;
    bool slow = pm_dec_le0(&s->used);   /* emptied, or off its list (pm_span_s) */
    span_check(s);
    pm_assert(s->heap == heap);
    if (slow)
        _pm_span_free_generic(heap, s);
}

/* The slow path of free for span s of heap: it was FULL, or is now EMPTY. */
void _pm_span_free_generic(pm_heap_t *heap, pm_span_t *s)
{
    _pm_tc_pool_event(heap, PM_CLASS_COUNT + s->medium_class);
    if (!s->listed)
        span_link_front(heap, s);     /* FULL -> USED */
    if (span_out(s) == 0 && heap->spans[s->medium_class] != s)
        span_emptied(heap, s);        /* USED -> EMPTY: a spare, or back to its arena */
    else if (span_out(s) == 0 &&
             atomic_load_explicit(&heap->state, memory_order_relaxed) != PM_HEAP_LIVE)
        span_release(heap, s);        /* an abandoned heap's list head: kept by a live
                                         heap only (pinned, for reuse) */
}

/* Frees block b of span s into its heap, which is ABANDONED (the caller
 * holds its lock): nothing is kept for reuse, not even the list head. */
void _pm_span_free_abandoned(pm_heap_t *heap, pm_span_t *s, void *b, const char *call)
{
    bool head = heap->spans[s->medium_class] == s;   /* pinned: the free cannot release it */
    _pm_span_free_local(heap, s, b, call);
    if (head && span_out(s) == 0)
        span_release(heap, s);
}

void _pm_span_bad_free(pm_span_t *s, void *p, const char *call) { span_bad_free(s, p, call); }


void _pm_span_corrupt(pm_span_t *s, const pm_block_t *b)
{
    _pm_fatal_link("corrupted free list in span", span_base(s), b);
}

void _pm_span_free(uintptr_t entry, void *p, const char *call)
{
    pm_span_t *s = pm_entry_span(entry);
    pm_heap_t *heap = _pm_tls_heap;
    if (pm_likely(s->heap == heap)) {
        _pm_span_free_local(heap, s, p, call);
        return;
    }
    _pm_heap_free_remote_span(s, p, call);
}

size_t _pm_span_release_empty(pm_heap_t *heap)
{
    size_t n = _pm_span_release_spares(heap);
    for (unsigned m = 0; m < PM_MEDIUM_COUNT; m++) {
        pm_span_t *s = heap->spans[m];
        while (s && s != &_pm_empty_span) {
            pm_span_t *next = s->next;
            if (span_out(s) == 0) {
                span_release_raw(heap, s);
                n++;
            }
            s = next;
        }
    }
    return n;
}
