/* Size-class mapping: 64 classes, 8 bytes apart, served through their
 * ranges' and hosts' classes until split (pools.h, pm_class_range), and what blocks of each
 * class look like from outside. */
#include "pm_test.h"
#include "pools/pools.h"

#include <pthread.h>

/* A medium range is split once a heap holds more than
 * PM_MEDIUM_SPLIT_SPANS spans of its host (pools.h, pm_medium_range):
 * 513..1024-byte requests get 1024-byte blocks (class 64 + 7) until then,
 * their own classes after.  Run first; it then splits every medium range,
 * so that the checks below see each medium class serve its own requests. */
static void medium_range_split(void)
{
    enum { MANY = 200 };
    static void *blk[MANY];
    CHECK("513..1024 is one range", pm_medium_range(0) == 7 && pm_medium_range(7) == 7 &&
                                        pm_medium_range(8) == 16 && pm_medium_range(43) == 43);
    CHECK("600 bytes: the range's host before its split", pm_size_class(600) == PM_CLASS_COUNT + 7);
    void *p = pm_malloc(600);
    CHECK("600 bytes: a 1024-byte block before the split", pm_malloc_usable_size(p) == 1024);
    pm_free(p);
    CHECK("another range's host", pm_size_class(3000) == PM_CLASS_COUNT + 25);
    size_t hosts = 0;
    for (size_t i = 0; i < MANY; i++) {
        blk[i] = pm_malloc(600);
        CHECK("allocated", blk[i] != NULL);
        hosts += pm_malloc_usable_size(blk[i]) == 1024;
    }
    /* spans of 2, 4, 8 and 9 pages: 92 blocks, then the fifth span splits */
    CHECK("the host's spans served the first blocks", hosts >= 92 && hosts < MANY);
    CHECK("600 bytes: class 64 + 1 after the split", pm_size_class(600) == PM_CLASS_COUNT + 1);
    p = pm_malloc(600);
    CHECK("600 bytes: a 640-byte block after the split", pm_malloc_usable_size(p) == 640);
    pm_free(p);
    CHECK("another range is not split", pm_size_class(3000) == PM_CLASS_COUNT + 25);
    for (size_t i = 0; i < MANY; i++)
        pm_free(blk[i]);
    pm_malloc_trim(0);
    for (unsigned m = 0; m < PM_MEDIUM_COUNT; m++)
        if (pm_medium_range(m) == m)
            _pm_medium_split(m);
    CHECK("every medium range split", pm_size_class(3000) == PM_CLASS_COUNT + 21);
}

/* A class's spans double, from its small first span to the largest (span.c):
 * 576-byte blocks get spans of 2, 4, 8 and then 9 pages (14, 28, 56 and 64
 * blocks).  The heap has no span of that class yet (nothing above allocated
 * one). */
static void span_growth(void)
{
    static void *blk[14 + 28 + 56 + 64 + 1];
    pm_stats_t s0, s;
    pm_stats_get(&s0);
    size_t n = 0;
    const unsigned want_pages[] = {2, 6, 14, 23, 32};   /* after 1, 15, 43, 99, 163 blocks */
    const size_t at[] = {1, 15, 43, 99, 163};
    for (unsigned step = 0; step < 5; step++) {
        while (n < at[step])
            blk[n++] = pm_malloc(576);
        pm_stats_get(&s);
        CHECK("a class's spans double up to 64 blocks",
              s.span_pages_live - s0.span_pages_live == want_pages[step]);
    }
    for (size_t i = 0; i < n; i++)
        pm_free(blk[i]);
}

/* Emptied spans wait as spares (span.c, span_emptied), at most
 * PM_SPARE_SPAN_PAGES pages of them, so that a batch of medium blocks taken
 * and freed again and again finds its spans again; and malloc_trim gives
 * them back.  Before the spares, only the list head (16 pages) was kept. */
static void span_spares(void)
{
    enum { BATCH = 64, BIG = 200 };
    static void *blk[BIG];
    pm_malloc_trim(0);
    pm_stats_t s0, s, after_first = {0};
    pm_stats_get(&s0);
    int no_new_span = 1;
    for (unsigned round = 0; round < 4; round++) {
        for (size_t i = 0; i < BATCH; i++)
            blk[i] = pm_malloc(4096);
        pm_stats_get(&s);
        if (round == 0)
            after_first = s;
        else
            no_new_span &= s.span_pages_live == after_first.span_pages_live;
        for (size_t i = 0; i < BATCH; i++)
            pm_free(blk[i]);
        pm_stats_get(&s);
        /* 76 pages in 6 spans (4 + 8 + 16 * 4): all are kept but, at
         * most, one alone in its arena (span_emptied) */
        CHECK("the batch's emptied spans are kept",
              s.span_pages_live + 16 >= after_first.span_pages_live);
    }
    CHECK("a batch of medium blocks taken again takes the same pages", no_new_span);
    /* 200 blocks of 8 KiB in spans of 16 pages: 13 spans; the head and at
     * most PM_SPARE_SPAN_PAGES pages of spares are kept. */
    for (size_t i = 0; i < BIG; i++)
        blk[i] = pm_malloc(8192);
    for (size_t i = 0; i < BIG; i++)
        pm_free(blk[i]);
    pm_stats_get(&s);
    CHECK("spares are bounded",
          s.span_pages_live - after_first.span_pages_live <= 16 + PM_SPARE_SPAN_PAGES);
    pm_malloc_trim(0);
    pm_stats_get(&s);
    CHECK("malloc_trim gives the spares back", s.spans_live == s0.spans_live &&
                                                  s.span_pages_live == s0.span_pages_live);
}

/* A class that comes back in batches bigger than an arena: 64 blocks of
 * 16 KiB are 16 spans of 16 pages in five arenas, every span of which
 * empties at the end of a batch.  Once the class has taken a spare back,
 * its spares stay although they are all their arenas have in use (span.c,
 * span_emptied), so later batches set up no span again; and the heap gives
 * them back before it takes a new arena, so that other classes' pools take
 * their pages. */
static void span_spares_batches(void)
{
    enum { BATCH = 64, ROUNDS = 5, SMALL = 4096 };
    static void *blk[BATCH], *small[SMALL];
    pm_malloc_trim(0);
    pm_stats_t s0, made[ROUNDS], freed[ROUNDS];
    pm_stats_get(&s0);
    for (unsigned round = 0; round < ROUNDS; round++) {
        for (size_t i = 0; i < BATCH; i++)
            blk[i] = pm_malloc(16384);
        pm_stats_get(&made[round]);
        for (size_t i = 0; i < BATCH; i++)
            pm_free(blk[i]);
        pm_stats_get(&freed[round]);
    }
    int kept = 1;
    for (unsigned round = 2; round < ROUNDS; round++)
        kept &= freed[round].spans_live == made[round].spans_live &&
                made[round].spans_live == made[2].spans_live &&
                made[round].arenas_mapped == made[2].arenas_mapped;
    if (!kept)
        fprintf(stderr, "  spans: made %llu, freed %llu (round 2), made %llu, freed %llu (last)\n",
                (unsigned long long)made[2].spans_live, (unsigned long long)freed[2].spans_live,
                (unsigned long long)made[ROUNDS - 1].spans_live,
                (unsigned long long)freed[ROUNDS - 1].spans_live);
    CHECK("a class that comes back in batches keeps its spans", kept);
    CHECK("its spares are bounded",
          freed[ROUNDS - 1].span_pages_live - s0.span_pages_live <= 16 + PM_SPARE_SPAN_PAGES);
    /* 1 MiB of 256-byte blocks: 256 pools, in the spares' arenas. */
    uint64_t in_use = freed[ROUNDS - 1].arenas_live - freed[ROUNDS - 1].arenas_reserved;
    for (size_t i = 0; i < SMALL; i++)
        small[i] = pm_malloc(256);
    pm_stats_t s;
    pm_stats_get(&s);
    CHECK("the spares give way to pools before a new arena",
          s.arenas_live - s.arenas_reserved <= in_use + 1);
    /* but for the spans still on the class's list (its head, at most two) */
    CHECK("the spares went back", s.span_pages_live <= s0.span_pages_live + 32);
    for (size_t i = 0; i < SMALL; i++)
        pm_free(small[i]);
    pm_malloc_trim(0);
}

/* A class whose batch comes after another's takes the other class's spare
 * spans in place when its heap's arenas have no run of pages left for a new
 * span (span.c, span_spare_recycle).  In a thread of its own (a heap and
 * arenas of its own): 15 spans of 16 KiB blocks (16 pages each, 3 to an
 * arena of 62 usable pages, 14 pages left over in each), kept as spares
 * from batch to batch; then blocks of 9216 bytes, whose first span (9
 * pages) fits in what is left over and whose second (16 pages) does not.
 * Before, all the spares went back to their arenas and the span was made
 * from their pages. */
static void *span_recycle_thread(void *arg)
{
    (void)arg;
    enum { BATCH = 60, ROUNDS = 3, OTHER = 9216, FIRST = 4 };
    static void *blk[BATCH], *other[FIRST + 1];
    for (unsigned round = 0; round < ROUNDS; round++) {
        for (size_t i = 0; i < BATCH; i++)
            blk[i] = pm_malloc(16384);
        for (size_t i = 0; i < BATCH; i++)
            pm_free(blk[i]);
    }
    pm_heap_t *heap = _pm_tls_fast;
    const unsigned m16 = PM_MEDIUM_COUNT - 1;
    CHECK("the batch's spans wait as spares", heap->spare_spans[m16] != NULL);
    /* the first span of the other class, from pages left over */
    for (size_t i = 0; i < FIRST; i++)
        other[i] = pm_malloc(OTHER);
    uint32_t spare_pages = heap->spare_span_pages;
    char *spare[BATCH];
    size_t spares = 0;
    for (pm_span_t *s = heap->spare_spans[m16]; s && spares < BATCH; s = s->next)
        spare[spares++] = pm_span_base(s);
    other[FIRST] = pm_malloc(OTHER);   /* its second span: 16 pages */
    bool in_spare = false;
    for (size_t i = 0; i < spares; i++)
        in_spare |= (char *)other[FIRST] >= spare[i] &&
                    (char *)other[FIRST] < spare[i] + 16 * PM_PAGE_SIZE;
    if (heap->spare_span_pages + 16 != spare_pages || !in_spare)
        fprintf(stderr, "  spare pages %u before, %u after; block %p in a spare: %d\n",
                spare_pages, heap->spare_span_pages, other[FIRST], in_spare);
    CHECK("the new span is a spare of the other class, taken in place", in_spare);
    CHECK("the other spares stay", heap->spare_span_pages + 16 == spare_pages);
    CHECK("its block is of its class", pm_malloc_usable_size(other[FIRST]) == OTHER);
    for (size_t i = 0; i <= FIRST; i++)
        pm_free(other[i]);
    for (size_t i = 0; i < BATCH; i++)   /* and the first class again */
        blk[i] = pm_malloc(16384);
    for (size_t i = 0; i < BATCH; i++)
        pm_free(blk[i]);
    return NULL;
}

static void span_spares_recycled(void)
{
    pthread_t t;
    CHECK("thread", pthread_create(&t, NULL, span_recycle_thread, NULL) == 0);
    pthread_join(t, NULL);
}

/* The same for pools (pool.c, pool_emptied): a batch of 64 blocks of 512
 * bytes (8 pools) taken and freed again and again keeps its pools, up to
 * PM_SPARE_POOLS of them.  Before, a class kept its list head and one spare. */
static void pool_spares(void)
{
    enum { BATCH = 64 };
    static void *blk[BATCH];
    pm_malloc_trim(0);
    pm_stats_t s0, s, after_first = {0};
    pm_stats_get(&s0);
    int kept = 1, same = 1;
    for (unsigned round = 0; round < 4; round++) {
        for (size_t i = 0; i < BATCH; i++)
            blk[i] = pm_malloc(512);
        pm_stats_get(&s);
        if (round == 0)
            after_first = s;
        else
            same &= s.pools_live == after_first.pools_live;
        for (size_t i = 0; i < BATCH; i++)
            pm_free(blk[i]);
        pm_stats_get(&s);
        kept &= s.pools_live == after_first.pools_live;
    }
    CHECK("a batch's emptied pools are kept", kept);
    CHECK("a batch of small blocks taken again takes the same pools", same);
    pm_malloc_trim(0);
    pm_stats_get(&s);
    CHECK("malloc_trim gives the spare pools back", s.pools_live == s0.pools_live);
}

/* A range is split once a heap holds PM_CLASS_SPLIT_POOLS pools of its
 * host, and then a host's group once it holds that many of the host's
 * (pools.h, pm_class_range): 65..128-byte requests share class 15 (128)
 * until then, 97..112 share class 13 (112) after; 417..448 share class 55
 * (448) once their range is split, and get their own classes after that
 * group is.  Run last: nothing above uses 65..128 bytes, and it leaves
 * blocks of many pools cached. */
static void class_split(void)
{
    enum { RANGE = 15, PER_RANGE_POOL = 4096 / 128, RANGE_MANY = (PM_CLASS_SPLIT_POOLS + 2) * PER_RANGE_POOL };
    enum { HOST = 55, PER_POOL = 4096 / 448, MANY = (PM_CLASS_SPLIT_POOLS + 2) * PER_POOL };
    enum { WIDE = (PM_CLASS_SPLIT_POOLS + 2) * (4096 / 512) };
    static void *rblk[RANGE_MANY], *wblk[WIDE], *blk[MANY];
    CHECK("65..128 is one range", pm_class_range(8) == RANGE && pm_class_range(12) == RANGE &&
                                      pm_class_range(RANGE) == RANGE && pm_class_range(16) == 31);
    CHECK("100 bytes: the range's host before its split", pm_size_class(100) == RANGE);
    void *p = pm_malloc(100);
    CHECK("100 bytes: a 128-byte block before the split", pm_malloc_usable_size(p) == 128);
    pm_free(p);
    for (size_t i = 0; i < RANGE_MANY; i++) {
        rblk[i] = pm_malloc(100);
        CHECK("allocated", rblk[i] != NULL);
    }
    CHECK("100 bytes: its host, class 13, after the range's split", pm_size_class(100) == 13);
    CHECK("72 bytes: its own host, class 9", pm_size_class(72) == 9);
    p = pm_malloc(100);
    CHECK("100 bytes: a 112-byte block after the range's split", pm_malloc_usable_size(p) == 112);
    pm_free(p);

    /* 257..512: split here if nothing above did (a heap holding 8 pools
     * of 512-byte blocks splits the range, or else class 63's group). */
    for (size_t i = 0; i < WIDE; i++)
        wblk[i] = pm_malloc(500);
    CHECK("417..448 is one group", pm_class_host(51) == 51 && pm_class_host(52) == HOST &&
                                       pm_class_host(54) == HOST && pm_class_host(HOST) == HOST);
    CHECK("420 bytes: the host's class before the group's split", pm_size_class(420) == HOST);
    p = pm_malloc(420);
    CHECK("420 bytes: a 448-byte block before the split", pm_malloc_usable_size(p) == 448);
    pm_free(p);
    for (size_t i = 0; i < MANY; i++) {
        blk[i] = pm_malloc(440);
        CHECK("allocated", blk[i] != NULL);
    }
    CHECK("420 bytes: class 52 after the split", pm_size_class(420) == 52);
    CHECK("448 bytes: still class 55", pm_size_class(448) == HOST);
    CHECK("another group is not split", pm_size_class(300) == 39);
    p = pm_malloc(420);
    CHECK("420 bytes: a 424-byte block after the split", pm_malloc_usable_size(p) == 424);
    pm_free(p);
    for (size_t i = 0; i < MANY; i++)
        pm_free(blk[i]);
    for (size_t i = 0; i < WIDE; i++)
        pm_free(wblk[i]);
    for (size_t i = 0; i < RANGE_MANY; i++)
        pm_free(rblk[i]);
    CHECK("the splits stay", pm_size_class(420) == 52 && pm_size_class(100) == 13);
}

int main(void)
{
    medium_range_split();
    span_growth();
    span_spares();
    span_spares_batches();
    span_spares_recycled();
    pool_spares();
    CHECK("malloc(0) uses class 0", pm_size_class(0) == 0);
    /* ... off the thread cache, as any small request: it takes back the
     * block that a free of malloc(1)'s just cached (through the generic
     * door it took one off the pool's list, a different block). */
    void *one = pm_malloc(1);
    pm_free(one);
    void *zero = pm_malloc(0);
    CHECK("malloc(0) takes the block the thread cache holds", zero == one);
    pm_free(zero);
    for (size_t n = 1; n <= 512; n++) {
        int c = pm_size_class(n);
        size_t size = pm_class_size((unsigned)c);
        unsigned own = (unsigned)((n - 1) / 8);
        CHECK("class in range", c >= 0 && c < 64);
        CHECK("class size covers the request", size >= n);
        CHECK("slack under the range host's (8 bytes up to 64, then 64, 128 or 256)",
              size - n < (n <= 64 ? 8u : n <= 128 ? 64u : n <= 256 ? 128u : 256u));
        CHECK("slack under the host's step (16 or 32 bytes) unless the range host's",
              size - n < (n <= 64 ? 8u : n <= 256 ? 16u : 32u) || c == (int)pm_class_range(own));
        CHECK("class formula: the request's class, its host or its range's",
              c == (int)own || c == (int)pm_class_host(own) || c == (int)pm_class_range(own));
        CHECK("a host is its own host", pm_class_host((unsigned)c) == (unsigned)c || c == (int)own);
        CHECK("up to 64 bytes every class is its own host", n > 64 || c == (int)own);
    }
    /* Medium classes: 576, 640, 704, ..., 1024, 1088, 1152, ... 16384, eight
     * per doubling and one 64 bytes above each power of two from 1024. */
    CHECK("513 is the first medium class", pm_size_class(513) == 64);
    CHECK("the first medium block is 576 bytes", pm_class_block_size(64) == 576);
    CHECK("1032 bytes (sqlite's 1 KiB and its header) get 1088",
          pm_class_block_size(pm_size_class(1032)) == 1088);
    CHECK("1089 bytes get 1152", pm_class_block_size(pm_size_class(1089)) == 1152);
    CHECK("2049 bytes get 2112", pm_class_block_size(pm_size_class(2049)) == 2112);
    CHECK("4104 bytes (a page and sqlite's header) get 4160",
          pm_class_block_size(pm_size_class(4104)) == 4160);
    CHECK("4161 bytes get 4608", pm_class_block_size(pm_size_class(4161)) == 4608);
    CHECK("8256 bytes get 8256", pm_class_block_size(pm_size_class(8256)) == 8256);
    CHECK("8257 bytes get 9216", pm_class_block_size(pm_size_class(8257)) == 9216);
    CHECK("16384 is the last medium class", pm_size_class(16384) == 64 + PM_MEDIUM_COUNT - 1 &&
                                                pm_size_class(16384) == 107);
    /* Every medium class: a multiple of 64, above the one before, and the
     * class of every request from the one before's size + 1 up to its own. */
    int medium_ok = 1;
    for (unsigned m = 0; m < PM_MEDIUM_COUNT; m++) {
        size_t size = pm_medium_size(m), below = m ? pm_medium_size(m - 1) : PM_SMALL_MAX;
        medium_ok &= size % 64 == 0 && size > below && pm_medium_class_of(below + 1) == m &&
                     pm_medium_class_of(size) == m;
    }
    CHECK("each medium class serves the requests above the one before", medium_ok);
    /* The aligned paths' test of a class's alignment: every class to 64,
     * to a page exactly the classes that are multiples of a page. */
    int aligned_ok = 1;
    for (unsigned m = 0; m < PM_MEDIUM_COUNT; m++)
        aligned_ok &= pm_medium_aligned_to(m, 64) &&
                      pm_medium_aligned_to(m, PM_PAGE_SIZE) == (pm_medium_size(m) % PM_PAGE_SIZE == 0);
    CHECK("medium classes' alignment as the aligned paths read it", aligned_ok);
    /* The fast paths' table agrees with the computed class everywhere. */
    int table_ok = 1;
    for (size_t n = PM_SMALL_MAX + 1; n <= PM_MEDIUM_MAX; n++)
        table_ok &= pm_medium_class_fast(n) == pm_medium_class_of(n) &&
                    _pm_tc_classes[(n - 1) >> 3] == PM_CLASS_COUNT + pm_medium_class_of(n);
    CHECK("the medium class table matches pm_medium_class_of", table_ok);
    for (size_t n = 1; n <= PM_SMALL_MAX; n++)
        table_ok &= pm_tc_class_at((n - 1) >> 3) == (size_t)pm_size_class(n);
    CHECK("the table's small classes are pm_size_class's", table_ok);
    /* new's class: 16-aligned blocks above 8 bytes, the smallest such class. */
    int new_ok = 1;
    for (size_t n = 1; n <= PM_MEDIUM_MAX; n++) {
        unsigned c = (unsigned)pm_new_class(n - 1);
        size_t bs = pm_class_block_size((int)c);
        new_ok &= bs >= n && (n <= 8 || bs % 16 == 0) &&
                  (n <= 8 ? c == 0 : c == (unsigned)pm_size_class(n) || c == (unsigned)pm_size_class(n) + 1);
    }
    CHECK("new's class: big enough, 16-aligned above 8 bytes", new_ok);
    CHECK("16385 gets its own mapping", pm_size_class(16385) == -1);
    for (size_t n = 513; n <= 16384; n++) {
        int c = pm_size_class(n);
        size_t size = pm_class_block_size(c);
        CHECK("medium class covers the request", size >= n);
        CHECK("medium slack at most 12.5%", (size - n) * 8 < n);
        CHECK("previous class too small", pm_class_block_size(c - 1) < n);
    }
    for (size_t n = 513; n <= 16384; n += 37) {
        char *p = pm_malloc(n);
        CHECK("medium usable size is the class size",
              pm_malloc_usable_size(p) == pm_class_block_size(pm_size_class(n)));
        CHECK("medium 16-aligned", ((uintptr_t)p & 15) == 0);
        memset(p, 1, pm_malloc_usable_size(p));
        pm_free(p);
    }
    CHECK("SIZE_MAX is large", pm_size_class((size_t)-1) == -1);

    /* Blocks of each class: usable size, alignment, pool geometry. */
    for (size_t n = 0; n <= 512; n++) {
        char *p = pm_malloc(n);
        size_t size = pm_class_size((unsigned)pm_size_class(n));
        CHECK("allocated", p != NULL);
        CHECK("usable size is the class size", pm_malloc_usable_size(p) == size);
        CHECK("8-aligned", ((uintptr_t)p & 7) == 0);
        if (size % 16 == 0)
            CHECK("16-aligned when the class is a multiple of 16", ((uintptr_t)p & 15) == 0);
        uintptr_t off = (uintptr_t)p & (PM_POOL_SIZE - 1);
        CHECK("block on a block boundary (pool headers are out of band)", off % size == 0);
        CHECK("block inside the pool", off + size <= PM_POOL_SIZE);
        memset(p, 0x5a, size);
        pm_free(p);
    }
    /* Pool capacity per class: 4096 / size blocks share one page (the
     * classes that serve their own size: hosts, and the split groups). */
    for (unsigned c = 0; c < 64; c++) {
        size_t size = pm_class_size(c), cap = PM_POOL_SIZE / size;
        if (pm_size_class(size) != (int)c)
            continue;
        char *blocks[600];
        for (size_t i = 0; i < cap; i++)
            blocks[i] = pm_malloc(size);
        uintptr_t page = (uintptr_t)blocks[0] & ~(uintptr_t)(PM_POOL_SIZE - 1);
        size_t same = 0;
        for (size_t i = 0; i < cap; i++)
            same += ((uintptr_t)blocks[i] & ~(uintptr_t)(PM_POOL_SIZE - 1)) == page;
        CHECK("a fresh pool holds capacity blocks", same == cap);
        for (size_t i = 0; i < cap; i++)
            pm_free(blocks[i]);
    }
    class_split();   /* last: it leaves blocks of many pools cached */
    return pm_test_finish();
}
