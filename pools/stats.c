/* stats.c -- counters and the statistics reports (floor 2).
 *
 * Per-class counters cost nothing unless POOLMALLOC_STATS=1, which puts the
 * process in slow mode (base/base.h): the hooks of slow.c count each block.  When
 * on, they are process-wide atomics, so current and peak bytes are exact for
 * the whole process (at the price of an atomic add per call: statistics mode
 * is for diagnosis, not for timing).  Arena, span, large-path and heap
 * counters are kept always; they change on slow paths only, so the bytes
 * mapped, cached and held in pages are known without counting.
 *
 * Three forms of one snapshot (pm_stats_get): the text report that
 * malloc_stats() and the exit report print, JSON (pm_stats_print_json,
 * POOLMALLOC_STATS_JSON=1) and glibc's malloc_info XML.  All are built
 * with base/msg.c's pm_msg_t on the stack and handed to write(2) or to a
 * sink: no stdio, no allocation, safe inside the allocator and at exit with
 * stdout closed.
 * Reports are not cancellation points: the thread's cancel state is off
 * while one is written.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "pools/pools.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

pm_class_counters_t _pm_class_counters[PM_CLASS_COUNT + PM_MEDIUM_COUNT];
_Static_assert(PM_SMALL_CLASSES == PM_CLASS_COUNT && PM_MEDIUM_CLASSES == PM_MEDIUM_COUNT,
               "pm_stats_t has a row for every class");

/* While counting: bytes in small and medium blocks handed out (the sum of
 * the classes' current), and the highest value of that plus the live large
 * bytes seen at an allocation. */
static _Atomic uint64_t bytes_current, bytes_peak;

/* Bytes of live large blocks: _pm_counters' share and the large cache's
 * (arenas/large.c, _pm_large_cache_counts). */
static uint64_t large_live_bytes(void)
{
    uint64_t hits, frees, live;
    _pm_large_cache_counts(&hits, &frees, &live);
    return atomic_load_explicit(&_pm_counters.large_live_bytes, memory_order_relaxed) + live;
}

static void peak_note(uint64_t cur)
{
    uint64_t peak = atomic_load_explicit(&bytes_peak, memory_order_relaxed);
    while (cur > peak && !atomic_compare_exchange_weak_explicit(&bytes_peak, &peak, cur,
                                                                 memory_order_relaxed,
                                                                 memory_order_relaxed))
        ;
}

void _pm_stats_count_alloc(unsigned c)
{
    pm_class_counters_t *k = &_pm_class_counters[c];
    atomic_fetch_add_explicit(&k->allocs, 1, memory_order_relaxed);
    uint64_t size = pm_class_block_size((int)c);
    uint64_t cur = atomic_fetch_add_explicit(&k->current, size, memory_order_relaxed) + size;
    uint64_t peak = atomic_load_explicit(&k->peak, memory_order_relaxed);
    while (cur > peak && !atomic_compare_exchange_weak_explicit(&k->peak, &peak, cur,
                                                                 memory_order_relaxed,
                                                                 memory_order_relaxed))
        ;
    uint64_t all = atomic_fetch_add_explicit(&bytes_current, size, memory_order_relaxed) + size;
    peak_note(all + large_live_bytes());
}

void _pm_stats_count_free(unsigned c)
{
    pm_class_counters_t *k = &_pm_class_counters[c];
    uint64_t size = pm_class_block_size((int)c);
    atomic_fetch_add_explicit(&k->frees, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&k->current, size, memory_order_relaxed);
    atomic_fetch_sub_explicit(&bytes_current, size, memory_order_relaxed);
}

void _pm_stats_count_large(void)
{
    peak_note(atomic_load_explicit(&bytes_current, memory_order_relaxed) + large_live_bytes());
}

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

/* A counter that went below zero (counting switched on at run time, then a
 * block from before was freed) reads as 0. */
static uint64_t unwrap(uint64_t v) { return v > (UINT64_MAX >> 1) ? 0 : v; }

/* The process's resident set now and at its peak, in bytes.  Raw system
 * calls: no stdio, and not cancellation points. */
static void resident_get(uint64_t *now, uint64_t *peak)
{
    *now = 0;
    *peak = 0;
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        *peak = (uint64_t)ru.ru_maxrss * 1024;
    long fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[128];
    long n = syscall(SYS_read, (int)fd, buf, sizeof buf - 1);
    syscall(SYS_close, (int)fd);
    if (n <= 0)
        return;
    buf[n] = 0;
    const char *p = buf;
    while (*p && *p != ' ')   /* size */
        p++;
    uint64_t pages = 0;
    for (p++; *p >= '0' && *p <= '9'; p++)   /* resident */
        pages = pages * 10 + (uint64_t)(*p - '0');
    *now = pages * (uint64_t)sysconf(_SC_PAGESIZE);
    if (*peak < *now)   /* the kernel updates its high-water mark lazily */
        *peak = *now;
}

/* The snapshot; with the resident figures (four system calls: getrusage and
 * /proc/self/statm) only if asked. */
static void stats_collect(pm_stats_t *out, bool resident)
{
    int saved = errno;
    pm_stats_t s;
    memset(&s, 0, sizeof s);
    s.size = sizeof s;
    s.version = PM_STATS_VERSION;
    _pm_large_counts_flush();   /* the calling thread's large slot traffic (arenas/large.c) */
    uint64_t in_blocks = 0;
    for (unsigned c = 0; c < PM_CLASS_COUNT + PM_MEDIUM_COUNT; c++) {
        s.classes[c].allocs = LOAD(_pm_class_counters[c].allocs);
        s.classes[c].frees = LOAD(_pm_class_counters[c].frees);
        s.classes[c].current_bytes = unwrap(LOAD(_pm_class_counters[c].current));
        s.classes[c].peak_bytes = LOAD(_pm_class_counters[c].peak);
        in_blocks += s.classes[c].current_bytes;
    }
    /* Every process-wide counter has the public field of its name
     * (base/base.h, PM_GLOBAL_COUNTERS: the one list). */
#define PM_COUNTER_COPY(name, group, key, what) s.name = LOAD(_pm_counters.name);
    PM_GLOBAL_COUNTERS(PM_COUNTER_COPY)
#undef PM_COUNTER_COPY
    uint64_t cache_hits, cache_frees, cache_live;   /* the large cache's own share */
    _pm_large_cache_counts(&cache_hits, &cache_frees, &cache_live);
    s.large_allocs += cache_hits;
    s.large_hits += cache_hits;
    s.large_frees += cache_frees;
    s.large_live_bytes += cache_live;
    _pm_heaps_counts(&s.pools_live, &s.spans_live, &s.span_pages_live);   /* kept per heap */
    s.counting = (_pm_slow & PM_SLOW_STATS) != 0;
    if (s.counting) {
        s.bytes_in_use = in_blocks + s.large_live_bytes;
        s.bytes_peak = LOAD(bytes_peak);
        if (s.bytes_peak < s.bytes_in_use)
            s.bytes_peak = s.bytes_in_use;
    }
    s.bytes_in_pages = (s.pools_live + s.span_pages_live) * PM_PAGE_SIZE + s.large_live_bytes;
    s.bytes_mapped =
        s.arenas_live * PM_ARENA_SIZE + s.large_live_bytes + s.large_cached_bytes + s.meta_bytes;
    s.bytes_cached = s.arenas_reserved * PM_ARENA_SIZE + s.large_cached_bytes;
    if (resident)
        resident_get(&s.bytes_resident, &s.bytes_resident_peak);
    *out = s;
    errno = saved;
}

void pm_stats_get(pm_stats_t *out) { stats_collect(out, true); }

/* mallinfo and mallinfo2 (preload/override.c) read no resident figure, and
 * a program may call them often (a server's status page, a test of its
 * memory use after each step): with the figures read from the kernel, a
 * call took 7.7 us against glibc's 0.13 and tcmalloc's 0.09 (4096 blocks
 * live, on the 2-core VM of the figures). */
void _pm_stats_counts(pm_stats_t *out) { stats_collect(out, false); }

/* ---- output: the message builder (base/msg.c), streaming to an fd or a
 * sink (malloc_info's FILE) ---- */
typedef pm_msg_t out_t;

static void out_kv(out_t *o, const char *key, uint64_t v)
{
    pm_msg_str(o, " ");
    pm_msg_str(o, key);
    pm_msg_str(o, "=");
    pm_msg_u64(o, v);
}

/* The counter lines of the report, from the one list (base/base.h). */
typedef struct counter_field_s {
    const char *group, *key;
    size_t offset;   /* in pm_stats_t */
} counter_field_t;

static const counter_field_t counter_fields[] = {
#define PM_COUNTER_REPORT(name, group, key, what) {#group, key, offsetof(pm_stats_t, name)},
    PM_GLOBAL_COUNTERS(PM_COUNTER_REPORT)
#undef PM_COUNTER_REPORT
};
#define COUNTER_FIELDS (sizeof counter_fields / sizeof counter_fields[0])

static uint64_t counter_value(const pm_stats_t *s, const counter_field_t *f)
{
    uint64_t v;
    memcpy(&v, (const char *)s + f->offset, sizeof v);
    return v;
}

static bool group_starts(size_t i)
{
    return i == 0 || strcmp(counter_fields[i].group, counter_fields[i - 1].group) != 0;
}

/* "poolmalloc: arenas: mapped=N ...", one line per group. */
static void counters_text(out_t *o, const pm_stats_t *s)
{
    for (size_t i = 0; i < COUNTER_FIELDS; i++) {
        if (group_starts(i)) {
            pm_msg_str(o, i ? "\npoolmalloc: " : "poolmalloc: ");
            pm_msg_str(o, counter_fields[i].group);
            pm_msg_str(o, ":");
        }
        out_kv(o, counter_fields[i].key, counter_value(s, &counter_fields[i]));
    }
    pm_msg_str(o, "\n");
}

/* One line of the totals block: "poolmalloc:   LABEL   1.5 MiB  (N bytes" --
 * the caller adds the details and the closing parenthesis. */
static void out_total(out_t *o, const char *label, uint64_t v)
{
    pm_msg_str(o, "poolmalloc:   ");
    pm_msg_pad(o, label, 10, false);
    pm_msg_bytesw(o, v, 10);
    pm_msg_str(o, "  (");
    pm_msg_u64(o, v);
    pm_msg_str(o, " bytes");
}

static uint64_t class_sum(const pm_stats_t *s, unsigned from, unsigned to, int what)
{
    uint64_t sum = 0;
    for (unsigned c = from; c < to; c++)
        sum += what == 0 ? s->classes[c].allocs
             : what == 1 ? s->classes[c].frees
                         : s->classes[c].current_bytes;
    return sum;
}

#define SMALL 0, PM_CLASS_COUNT
#define MEDIUM PM_CLASS_COUNT, PM_CLASS_COUNT + PM_MEDIUM_COUNT

static void stats_text(out_t *o, const pm_stats_t *s)
{
    pm_msg_str(o, "poolmalloc: statistics of pid ");
    pm_msg_u64(o, (uint64_t)getpid());
    pm_msg_str(o, " (poolmalloc ");
    pm_msg_str(o, pm_version());
    pm_msg_str(o, s->counting ? "; counting blocks)\n"
                           : "; counting is off: POOLMALLOC_STATS=1 counts blocks, for bytes in "
                             "use, peak and the per-class table)\n");
    if (s->counting) {
        out_total(o, "in use", s->bytes_in_use);
        pm_msg_str(o, ": small ");
        pm_msg_u64(o, class_sum(s, SMALL, 2));
        pm_msg_str(o, ", medium ");
        pm_msg_u64(o, class_sum(s, MEDIUM, 2));
        pm_msg_str(o, ", large ");
        pm_msg_u64(o, s->large_live_bytes);
        pm_msg_str(o, ")\npoolmalloc:   peak      ");
        pm_msg_bytesw(o, s->bytes_peak, 10);
        pm_msg_str(o, "  (");
        pm_msg_u64(o, s->bytes_peak);
        pm_msg_str(o, " bytes, of blocks in use at once)\n");
    } else {
        pm_msg_str(o, "poolmalloc:   in use    not counted (at most the bytes in pages)\n");
    }
    out_total(o, "in pages", s->bytes_in_pages);
    pm_msg_str(o, ": pools ");
    pm_msg_u64(o, s->pools_live * PM_PAGE_SIZE);
    pm_msg_str(o, ", spans ");
    pm_msg_u64(o, s->span_pages_live * PM_PAGE_SIZE);
    pm_msg_str(o, ", large ");
    pm_msg_u64(o, s->large_live_bytes);
    pm_msg_str(o, ")\n");
    out_total(o, "mapped", s->bytes_mapped);
    pm_msg_str(o, ": arenas ");
    pm_msg_u64(o, s->arenas_live * PM_ARENA_SIZE);
    pm_msg_str(o, ", large ");
    pm_msg_u64(o, s->large_live_bytes + s->large_cached_bytes);
    pm_msg_str(o, ", records ");
    pm_msg_u64(o, s->meta_bytes);
    pm_msg_str(o, ")\n");
    out_total(o, "cached", s->bytes_cached);
    pm_msg_str(o, ": empty arenas ");
    pm_msg_u64(o, s->arenas_reserved * PM_ARENA_SIZE);
    pm_msg_str(o, ", large mappings ");
    pm_msg_u64(o, s->large_cached_bytes);
    pm_msg_str(o, ")\n");
    out_total(o, "resident", s->bytes_resident);
    pm_msg_str(o, ", the whole process; peak ");
    pm_msg_bytes(o, s->bytes_resident_peak);
    pm_msg_str(o, ")\n");

    if (s->counting) {
        pm_msg_str(o, "poolmalloc: class  size       allocs        frees    cur-bytes   peak-bytes\n");
        for (unsigned c = 0; c < PM_CLASS_COUNT + PM_MEDIUM_COUNT; c++) {
            const pm_class_stats_t *k = &s->classes[c];
            if (!k->allocs)
                continue;
            pm_msg_str(o, "poolmalloc: ");
            pm_msg_u64w(o, c, 5);
            pm_msg_u64w(o, pm_class_block_size((int)c), 6);
            pm_msg_u64w(o, k->allocs, 13);
            pm_msg_u64w(o, k->frees, 13);
            pm_msg_u64w(o, k->current_bytes, 13);
            pm_msg_u64w(o, k->peak_bytes, 13);
            pm_msg_str(o, "\n");
        }
    }
    counters_text(o, s);
    if (s->counting) {
        pm_msg_str(o, "poolmalloc: totals:");
        out_kv(o, "small-allocs", class_sum(s, SMALL, 0));
        out_kv(o, "small-frees", class_sum(s, SMALL, 1));
        out_kv(o, "large-allocs", s->large_allocs);
        out_kv(o, "large-frees", s->large_frees);
        out_kv(o, "medium-allocs", class_sum(s, MEDIUM, 0));
        out_kv(o, "medium-frees", class_sum(s, MEDIUM, 1));
        pm_msg_str(o, "\n");
    }
}

/* ---- JSON ---- */
static void json_kv(out_t *o, const char *key, uint64_t v, bool last)
{
    pm_msg_str(o, "\"");
    pm_msg_str(o, key);
    pm_msg_str(o, "\": ");
    pm_msg_u64(o, v);
    pm_msg_str(o, last ? "" : ", ");
}

static void stats_json(out_t *o, const pm_stats_t *s)
{
    pm_msg_str(o, "{\"poolmalloc\": \"");
    pm_msg_str(o, pm_version());
    pm_msg_str(o, "\", ");
    json_kv(o, "pid", (uint64_t)getpid(), false);
    pm_msg_str(o, s->counting ? "\"counting\": true,\n" : "\"counting\": false,\n");
    pm_msg_str(o, " \"bytes\": {");
    if (s->counting) {
        json_kv(o, "in_use", s->bytes_in_use, false);
        json_kv(o, "in_use_small", class_sum(s, SMALL, 2), false);
        json_kv(o, "in_use_medium", class_sum(s, MEDIUM, 2), false);
        json_kv(o, "in_use_large", s->large_live_bytes, false);
        json_kv(o, "peak", s->bytes_peak, false);
    } else {
        pm_msg_str(o, "\"in_use\": null, \"peak\": null, ");
    }
    json_kv(o, "in_pages", s->bytes_in_pages, false);
    json_kv(o, "in_pools", s->pools_live * PM_PAGE_SIZE, false);
    json_kv(o, "in_spans", s->span_pages_live * PM_PAGE_SIZE, false);
    json_kv(o, "mapped", s->bytes_mapped, false);
    json_kv(o, "mapped_arenas", s->arenas_live * PM_ARENA_SIZE, false);
    json_kv(o, "mapped_large", s->large_live_bytes + s->large_cached_bytes, false);
    json_kv(o, "mapped_records", s->meta_bytes, false);
    json_kv(o, "cached", s->bytes_cached, false);
    json_kv(o, "cached_arenas", s->arenas_reserved * PM_ARENA_SIZE, false);
    json_kv(o, "cached_large", s->large_cached_bytes, false);
    json_kv(o, "resident", s->bytes_resident, false);
    json_kv(o, "resident_peak", s->bytes_resident_peak, true);
    for (size_t i = 0; i < COUNTER_FIELDS; i++) {   /* the counters, group by group */
        if (group_starts(i)) {
            pm_msg_str(o, "},\n \"");
            pm_msg_str(o, counter_fields[i].group);
            pm_msg_str(o, "\": {");
        }
        char key[32];
        size_t k = 0;
        for (const char *c = counter_fields[i].key; *c && k < sizeof key - 1; c++)
            key[k++] = *c == '-' ? '_' : *c;
        key[k] = 0;
        json_kv(o, key, counter_value(s, &counter_fields[i]),
                i + 1 == COUNTER_FIELDS || group_starts(i + 1));
    }
    pm_msg_str(o, "},\n \"totals\": ");
    if (s->counting) {
        pm_msg_str(o, "{");
        json_kv(o, "small_allocs", class_sum(s, SMALL, 0), false);
        json_kv(o, "small_frees", class_sum(s, SMALL, 1), false);
        json_kv(o, "medium_allocs", class_sum(s, MEDIUM, 0), false);
        json_kv(o, "medium_frees", class_sum(s, MEDIUM, 1), false);
        json_kv(o, "large_allocs", s->large_allocs, false);
        json_kv(o, "large_frees", s->large_frees, true);
        pm_msg_str(o, "}");
    } else {
        pm_msg_str(o, "null");
    }
    pm_msg_str(o, ",\n \"classes\": [");
    bool first = true;
    for (unsigned c = 0; s->counting && c < PM_CLASS_COUNT + PM_MEDIUM_COUNT; c++) {
        const pm_class_stats_t *k = &s->classes[c];
        if (!k->allocs)
            continue;
        pm_msg_str(o, first ? "\n  {" : ",\n  {");
        first = false;
        json_kv(o, "class", c, false);
        json_kv(o, "size", pm_class_block_size((int)c), false);
        json_kv(o, "allocs", k->allocs, false);
        json_kv(o, "frees", k->frees, false);
        json_kv(o, "current_bytes", k->current_bytes, false);
        json_kv(o, "peak_bytes", k->peak_bytes, true);
        pm_msg_str(o, "}");
    }
    pm_msg_str(o, "]}\n");
}

/* ---- malloc_info: glibc's XML elements, poolmalloc's figures ----
 * glibc lists per arena ("heap") the free chunks by size, then totals.
 * poolmalloc has no per-thread figures, so one heap stands for the process:
 * "rest" is the free space of its arenas and cached large mappings, "mmap"
 * the live large mappings, "system" and "aspace" what is mapped.  A
 * <poolmalloc> element adds the totals of the text report. */
static void xml_attr(out_t *o, const char *name, uint64_t v)
{
    pm_msg_str(o, " ");
    pm_msg_str(o, name);
    pm_msg_str(o, "=\"");
    pm_msg_u64(o, v);
    pm_msg_str(o, "\"");
}

static void xml_total(out_t *o, const char *elem, const char *type, int with_count,
                      uint64_t count, uint64_t size)
{
    pm_msg_str(o, "<");
    pm_msg_str(o, elem);
    pm_msg_str(o, " type=\"");
    pm_msg_str(o, type);
    pm_msg_str(o, "\"");
    if (with_count)
        xml_attr(o, "count", count);
    xml_attr(o, "size", size);
    pm_msg_str(o, "/>\n");
}

static void stats_xml(out_t *o, const pm_stats_t *s)
{
    uint64_t arena_bytes = s->arenas_live * PM_ARENA_SIZE;
    uint64_t used_pages = (s->pools_live + s->span_pages_live) * PM_PAGE_SIZE;
    uint64_t free_arena = arena_bytes > used_pages ? arena_bytes - used_pages : 0;
    uint64_t free_pages = free_arena / PM_PAGE_SIZE;
    uint64_t large_live = s->large_allocs - s->large_frees;
    pm_msg_str(o, "<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n</sizes>\n");
    xml_total(o, "total", "fast", 1, 0, 0);
    xml_total(o, "total", "rest", 1, free_pages, free_arena);
    xml_total(o, "system", "current", 0, 0, arena_bytes);
    xml_total(o, "system", "max", 0, 0, arena_bytes);
    xml_total(o, "aspace", "total", 0, 0, arena_bytes);
    xml_total(o, "aspace", "mprotect", 0, 0, arena_bytes);
    pm_msg_str(o, "</heap>\n");
    xml_total(o, "total", "fast", 1, 0, 0);
    xml_total(o, "total", "rest", 1, free_pages + s->large_cached_count,
              free_arena + s->large_cached_bytes);
    xml_total(o, "total", "mmap", 1, large_live, s->large_live_bytes);
    xml_total(o, "system", "current", 0, 0, s->bytes_mapped);
    xml_total(o, "system", "max", 0, 0, s->bytes_mapped);
    xml_total(o, "aspace", "total", 0, 0, s->bytes_mapped);
    xml_total(o, "aspace", "mprotect", 0, 0, s->bytes_mapped);
    pm_msg_str(o, "<poolmalloc version=\"");
    pm_msg_str(o, pm_version());
    pm_msg_str(o, "\"");
    xml_attr(o, "counting", s->counting);
    xml_attr(o, "in_use", s->bytes_in_use);
    xml_attr(o, "peak", s->bytes_peak);
    xml_attr(o, "in_pages", s->bytes_in_pages);
    xml_attr(o, "mapped", s->bytes_mapped);
    xml_attr(o, "cached", s->bytes_cached);
    xml_attr(o, "resident", s->bytes_resident);
    pm_msg_str(o, "/>\n</malloc>\n");
}

/* ---- entry points ---- */
enum { FORM_TEXT, FORM_JSON, FORM_XML };

static void stats_emit(int form, int fd, pm_sink_fn sink, void *arg)
{
    int cancel;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
    pm_stats_t s;
    pm_stats_get(&s);
    out_t o;
    pm_msg_stream(&o, fd, sink, arg);
    if (form == FORM_JSON)
        stats_json(&o, &s);
    else if (form == FORM_XML)
        stats_xml(&o, &s);
    else
        stats_text(&o, &s);
    pm_msg_out(&o);
    pthread_setcancelstate(cancel, NULL);
}

void pm_stats_print(int fd) { stats_emit(FORM_TEXT, fd, NULL, NULL); }
void pm_stats_print_json(int fd) { stats_emit(FORM_JSON, fd, NULL, NULL); }
void _pm_stats_print_xml(pm_sink_fn sink, void *arg) { stats_emit(FORM_XML, -1, sink, arg); }
void pm_malloc_stats(void) { pm_stats_print(2); }

/* POOLMALLOC_STATS_FILE with %p replaced by the process id (the pid at
 * exit: each process of a tree writes its own file) and %% by %. */
static bool stats_file_path(char *path, size_t cap)
{
    size_t n = 0;
    for (const char *s = _pm_stats_file; *s; s++) {
        pm_msg_t pid = {.n = 0};
        char *num = pid.buf;
        const char *piece = num;
        if (s[0] == '%' && s[1] == 'p') {
            pm_msg_u64(&pid, (uint64_t)getpid());
            pid.buf[pid.n] = 0;
            s++;
        } else if (s[0] == '%' && s[1] == '%') {
            piece = "%";
            s++;
        } else {
            num[0] = *s;
            num[1] = 0;
        }
        for (; *piece; piece++) {
            if (n + 1 >= cap)
                return false;
            path[n++] = *piece;
        }
    }
    path[n] = 0;
    return n > 0;
}

void _pm_stats_report_exit(int fd)
{
    int form = _pm_option_values[PM_OPTION_STATS_JSON] ? FORM_JSON : FORM_TEXT;
    if (_pm_stats_file[0]) {
        int saved = errno;
        char path[PM_STATS_FILE_MAX + 32];
        long file = -1;
        path[0] = 0;
        if (!stats_file_path(path, sizeof path))
            errno = ENAMETOOLONG;
        else
            file = syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                           0644);
        if (file >= 0) {
            stats_emit(form, (int)file, NULL, NULL);
            syscall(SYS_close, (int)file);
            errno = saved;
            return;
        }
        out_t o;
        pm_msg_stream(&o, fd, NULL, NULL);
        pm_msg_str(&o, "poolmalloc: cannot write the statistics to ");
        pm_msg_str(&o, errno == ENAMETOOLONG ? _pm_stats_file : path);
        pm_msg_str(&o, " (errno ");
        pm_msg_u64(&o, (uint64_t)errno);
        pm_msg_str(&o, "); they follow here\n");
        pm_msg_out(&o);
        errno = saved;
    }
    stats_emit(form, fd, NULL, NULL);
}
