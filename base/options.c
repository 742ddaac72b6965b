/* options.c -- POOLMALLOC_* environment options, the version, and the
 * start-up line (floor 0).
 *
 * One list (PM_OPTION_LIST): each option's variable, default, range and
 * kind, written once; it generates the descriptor table and the initial
 * values, so an option is at its default until read.  Each option is read
 * once from the environment at process start-up (process.c), straight from
 * `environ`, without allocating.  The public pm_option_get and
 * pm_option_set are in pools/lifecycle.c (setting statistics re-routes the
 * threads' fast paths).  Kinds of value:
 *   bool   0/1, yes/no, true/false, on/off (any case)
 *   size   a number of bytes, with an optional K, M or G (powers of 1024)
 *   count, ms   a plain number (K/M/G accepted too)
 *   align  8 or 16
 * A bad value is reported on stderr with what was expected, and the default
 * kept.  Any other POOLMALLOC_* variable in the environment is reported as
 * unknown (with the closest known name), except those the wrapper and the
 * test scripts use themselves (not_options below).  POOLMALLOC_STATS_FILE is
 * a string, kept in a static buffer; stats.c expands it at exit.
 * POOLMALLOC_VERBOSE=1 prints one line: version, pid and every option.
 * Messages are built with the one message builder (msg.c), one write each.
 */
#include "base/base.h"

#include <errno.h>
#include <unistd.h>

#ifndef PM_PROJECT_VERSION_MAJOR   /* from CMakeLists.txt's project(VERSION) */
#define PM_PROJECT_VERSION_MAJOR POOLMALLOC_VERSION_MAJOR
#define PM_PROJECT_VERSION_MINOR POOLMALLOC_VERSION_MINOR
#define PM_PROJECT_VERSION_PATCH POOLMALLOC_VERSION_PATCH
#endif
_Static_assert(PM_PROJECT_VERSION_MAJOR == POOLMALLOC_VERSION_MAJOR &&
                   PM_PROJECT_VERSION_MINOR == POOLMALLOC_VERSION_MINOR &&
                   PM_PROJECT_VERSION_PATCH == POOLMALLOC_VERSION_PATCH,
               "include/poolmalloc.h's POOLMALLOC_VERSION_* differ from project(VERSION) in CMakeLists.txt");
#define PM_VERSION_STRING                                                                   \
    PM_STR(PM_PROJECT_VERSION_MAJOR) "." PM_STR(PM_PROJECT_VERSION_MINOR) "." PM_STR( \
        PM_PROJECT_VERSION_PATCH)

const char *pm_version(void) { return PM_VERSION_STRING; }

enum { KIND_BOOL, KIND_SIZE, KIND_COUNT, KIND_MS, KIND_ALIGN };

/* X(option, variable, default, min, max, kind) */
#define PM_OPTION_LIST(X)                                                                    \
    X(PM_OPTION_STATS, "POOLMALLOC_STATS", 0, 0, 1, KIND_BOOL)                             \
    X(PM_OPTION_ARENA_RESERVE, "POOLMALLOC_ARENA_RESERVE", 4, 0, 1024, KIND_COUNT)         \
    X(PM_OPTION_LARGE_CACHE, "POOLMALLOC_LARGE_CACHE", 64L << 20, 0, 1L << 40, KIND_SIZE)  \
    X(PM_OPTION_LARGE_DECAY_MS, "POOLMALLOC_LARGE_DECAY_MS", 1000, 0, 3600L * 1000, KIND_MS) \
    X(PM_OPTION_ARENA_DECAY_MS, "POOLMALLOC_ARENA_DECAY_MS", 10000, 0, 3600L * 1000, KIND_MS) \
    X(PM_OPTION_ARENA_CACHE, "POOLMALLOC_ARENA_CACHE", 16L << 20, 0, 1L << 40, KIND_SIZE)  \
    X(PM_OPTION_MIN_ALIGN, "POOLMALLOC_MIN_ALIGN", 8, 8, 16, KIND_ALIGN)                   \
    X(PM_OPTION_VERBOSE, "POOLMALLOC_VERBOSE", 0, 0, 1, KIND_BOOL)                         \
    X(PM_OPTION_STATS_JSON, "POOLMALLOC_STATS_JSON", 0, 0, 1, KIND_BOOL)                   \
    X(PM_OPTION_LARGE_THP, "POOLMALLOC_LARGE_THP", 1, 0, 1, KIND_BOOL)                     \
    X(PM_OPTION_ARENA_THP, "POOLMALLOC_ARENA_THP", 8L << 20, 0, 1L << 40, KIND_SIZE)       \
    X(PM_OPTION_FLAT_PAGEMAP, "POOLMALLOC_FLAT_PAGEMAP", 1, 0, 1, KIND_BOOL)                 \
    X(PM_OPTION_ARENA_POPULATE, "POOLMALLOC_ARENA_POPULATE", 15, 0, 61, KIND_COUNT)

typedef struct pm_option_desc_s {
    const char *env;     /* environment variable */
    long fallback;       /* default */
    long min, max;       /* accepted range */
    int kind;            /* KIND_*: how the value is read and described */
} pm_option_desc_t;

static const pm_option_desc_t option_descs[PM_OPTION_COUNT] = {
#define PM_OPTION_DESC(opt, env, def, lo, hi, kind) [opt] = {env, def, lo, hi, kind},
    PM_OPTION_LIST(PM_OPTION_DESC)
#undef PM_OPTION_DESC
};

long _pm_option_values[PM_OPTION_COUNT] = {
#define PM_OPTION_DEFAULT(opt, env, def, lo, hi, kind) [opt] = def,
    PM_OPTION_LIST(PM_OPTION_DEFAULT)
#undef PM_OPTION_DEFAULT
};

#define STATS_FILE_ENV "POOLMALLOC_STATS_FILE"

/* POOLMALLOC_* variables that are not options of the library: read by
 * poolmalloc-run (tools/poolmalloc-run.in) and the test scripts.  They are
 * not warned about. */
static const char *const not_options[] = {
    "POOLMALLOC_LIBDIR",          /* poolmalloc-run: where libpoolmalloc.so is */
    "POOLMALLOC_VALGRIND_OPTS",   /* poolmalloc-run --valgrind: more valgrind options */
    "POOLMALLOC_LIB",             /* tests/valgrind/vg_check.sh: the library's path */
};

char _pm_stats_file[PM_STATS_FILE_MAX];

/* POOLMALLOC_MIN_ALIGN: 8 or 16 (base.h, _pm_align_or); anything else is
 * rejected like an out-of-range value. */
static bool option_valid(int option, long v)
{
    if (v < option_descs[option].min || v > option_descs[option].max)
        return false;
    return option != PM_OPTION_MIN_ALIGN || v == 8 || v == 16;
}

static void option_apply(int option, long v)
{
    _pm_option_values[option] = v;
    if (option == PM_OPTION_MIN_ALIGN)
        _pm_align_or = v == 16 ? 8 : 0;
    if (option == PM_OPTION_STATS) {
        if (v)
            _pm_slow |= PM_SLOW_STATS;
        else
            _pm_slow &= ~PM_SLOW_STATS;
    }
}

int _pm_option_store(int option, long v)
{
    if ((unsigned)option >= PM_OPTION_COUNT || !option_valid(option, v))
        return EINVAL;
    option_apply(option, v);
    return 0;
}

/* ---- reading values ---- */

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

static bool word_is(const char *s, const char *word)
{
    for (; *word; s++, word++)
        if (lower(*s) != *word)
            return false;
    return *s == 0;
}

/* 0/1, yes/no, true/false, on/off; returns 0 or EINVAL. */
static int parse_bool(const char *s, long *out)
{
    static const char *const yes[] = {"1", "yes", "true", "on", "y"};
    static const char *const no[] = {"0", "no", "false", "off", "n"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (word_is(s, yes[i])) {
            *out = 1;
            return 0;
        }
        if (word_is(s, no[i])) {
            *out = 0;
            return 0;
        }
    }
    return EINVAL;
}

/* Parses "123", "64K", "64M", "1G" (also "64KiB", "64MB"); returns 0 or EINVAL. */
static int parse_value(const char *s, long *out)
{
    if (*s == 0)
        return EINVAL;
    long v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (1L << 50))
            return EINVAL;
        v = v * 10 + (*s - '0');
    }
    switch (*s) {
    case 'k': case 'K': v <<= 10; s++; break;
    case 'm': case 'M': v <<= 20; s++; break;
    case 'g': case 'G': v <<= 30; s++; break;
    default: break;
    }
    if (*s == 'i' || *s == 'B' || *s == 'b')   /* tolerate KiB, MB */
        s++;
    if (*s == 'B')
        s++;
    if (*s != 0)
        return EINVAL;
    *out = v;
    return 0;
}

/* ---- messages (msg.c) ---- */
typedef pm_msg_t line_t;

static void line_str(line_t *l, const char *s) { pm_msg_str(l, s); }

static void line_num(line_t *l, uint64_t v) { pm_msg_u64(l, v); }

/* A size: 64M rather than 67108864 where it is a whole number of K/M/G. */
static void line_size(line_t *l, uint64_t v)
{
    static const char units[] = "GMK";
    for (int i = 0; i < 3; i++) {
        unsigned shift = 30 - 10 * (unsigned)i;
        if (v && (v & ((1ULL << shift) - 1)) == 0) {
            line_num(l, v >> shift);
            char u[2] = {units[i], 0};
            line_str(l, u);
            return;
        }
    }
    line_num(l, v);
}

static void line_write(line_t *l)
{
    pm_msg_str(l, "\n");
    pm_msg_flush(l, 2);
}

/* The value as the user wrote it, shortened if it is long. */
static void line_value(line_t *l, const char *s)
{
    size_t n = 0;
    for (; s[n] && n < 48; n++) {
        char c[2] = {s[n] >= ' ' && s[n] < 127 ? s[n] : '?', 0};
        line_str(l, c);
    }
    if (s[n])
        line_str(l, "...");
}

static void describe_expected(line_t *l, int i)
{
    const pm_option_desc_t *d = &option_descs[i];
    switch (d->kind) {
    case KIND_BOOL:
        line_str(l, "0/1, yes/no, true/false or on/off");
        break;
    case KIND_SIZE:
        line_str(l, "a size in bytes from ");
        line_size(l, (uint64_t)d->min);
        line_str(l, " to ");
        line_size(l, (uint64_t)d->max);
        line_str(l, ", with an optional K, M or G suffix");
        break;
    case KIND_MS:
        line_str(l, "milliseconds from ");
        line_num(l, (uint64_t)d->min);
        line_str(l, " to ");
        line_num(l, (uint64_t)d->max);
        break;
    case KIND_ALIGN:
        line_str(l, "8 or 16");
        break;
    default:
        line_str(l, "a number from ");
        line_num(l, (uint64_t)d->min);
        line_str(l, " to ");
        line_num(l, (uint64_t)d->max);
        break;
    }
}

static void warn_bad_value(int i, const char *s)
{
    line_t l = {.n = 0};
    line_str(&l, "poolmalloc: ignoring bad value '");
    line_value(&l, s);
    line_str(&l, "' of ");
    line_str(&l, option_descs[i].env);
    line_str(&l, " (expected ");
    describe_expected(&l, i);
    line_str(&l, ")");
    line_write(&l);
}

/* ---- unknown POOLMALLOC_* variables ---- */

/* Edit distance between a[0..na) and b (Levenshtein), capped at 3: enough
 * to suggest a name for a misspelling.  Two rows on the stack. */
static unsigned name_distance(const char *a, size_t na, const char *b)
{
    size_t nb = 0;
    while (b[nb])
        nb++;
    if (na > 63 || nb > 63)
        return 3;
    unsigned row[64], next[64];
    for (size_t j = 0; j <= nb; j++)
        row[j] = (unsigned)j;
    for (size_t i = 1; i <= na; i++) {
        next[0] = (unsigned)i;
        unsigned best = next[0];
        for (size_t j = 1; j <= nb; j++) {
            unsigned sub = row[j - 1] + (a[i - 1] != b[j - 1]);
            unsigned del = row[j] + 1, ins = next[j - 1] + 1;
            unsigned m = sub < del ? sub : del;
            next[j] = m < ins ? m : ins;
            if (next[j] < best)
                best = next[j];
        }
        if (best >= 3)
            return 3;
        for (size_t j = 0; j <= nb; j++)
            row[j] = next[j];
    }
    return row[nb] < 3 ? row[nb] : 3;
}

static bool name_is(const char *entry, size_t n, const char *name)
{
    for (size_t k = 0; k < n; k++)
        if (name[k] != entry[k])
            return false;
    return name[n] == 0;
}

/* Every POOLMALLOC_* variable of the environment that is neither an
 * option nor one of not_options gets one warning line. */
static void warn_unknown_variables(void)
{
    extern char **environ;
    char **env = environ;
    if (!env)
        return;
    static const char prefix[] = "POOLMALLOC_";
    for (; *env; env++) {
        const char *e = *env;
        size_t n = 0;
        while (n < sizeof prefix - 1 && e[n] == prefix[n])
            n++;
        if (n < sizeof prefix - 1)
            continue;
        while (e[n] && e[n] != '=')
            n++;
        bool known = name_is(e, n, STATS_FILE_ENV);
        const char *closest = NULL;
        unsigned best = 3;
        for (int i = 0; i < PM_OPTION_COUNT && !known; i++) {
            known = name_is(e, n, option_descs[i].env);
            unsigned d = name_distance(e, n, option_descs[i].env);
            if (d < best) {
                best = d;
                closest = option_descs[i].env;
            }
        }
        if (!known && name_distance(e, n, STATS_FILE_ENV) < best)
            closest = STATS_FILE_ENV;
        for (size_t i = 0; i < sizeof not_options / sizeof not_options[0] && !known; i++)
            known = name_is(e, n, not_options[i]);
        if (known)
            continue;
        line_t l = {.n = 0};
        line_str(&l, "poolmalloc: ignoring unknown variable ");
        for (size_t k = 0; k < n && k < 64; k++) {
            char c[2] = {e[k], 0};
            line_str(&l, c);
        }
        if (closest) {
            line_str(&l, " (did you mean ");
            line_str(&l, closest);
            line_str(&l, "?)");
        } else {
            line_str(&l, " (see poolmalloc(3) for the options)");
        }
        line_write(&l);
    }
}

/* ---- POOLMALLOC_STATS_FILE ---- */

/* Kept as an absolute path (relative to the working directory at start-up,
 * not at exit); empty when unset or too long. */
static void stats_file_read(const char *s)
{
    _pm_stats_file[0] = 0;
    if (!s || !*s)
        return;
    size_t n = 0;
    if (*s != '/') {
        if (!getcwd(_pm_stats_file, sizeof _pm_stats_file))
            goto too_long;
        while (_pm_stats_file[n])
            n++;
        if (n > 1)
            _pm_stats_file[n++] = '/';
    }
    for (; *s; s++) {
        if (n >= sizeof _pm_stats_file - 1)
            goto too_long;
        _pm_stats_file[n++] = *s;
    }
    _pm_stats_file[n] = 0;
    return;
too_long:
    _pm_stats_file[0] = 0;
    line_t l = {.n = 0};
    line_str(&l, "poolmalloc: ignoring " STATS_FILE_ENV " (path too long); the report goes to stderr");
    line_write(&l);
}

/* ---- POOLMALLOC_VERBOSE ---- */
static void verbose_line(void)
{
    line_t l = {.n = 0};
    line_str(&l, "poolmalloc: version " PM_VERSION_STRING " pid ");
    line_num(&l, (uint64_t)getpid());
    line_str(&l, PM_STRICT ? " (strict build):" : ":");
    for (int i = 0; i < PM_OPTION_COUNT; i++) {
        line_str(&l, " ");
        line_str(&l, option_descs[i].env + 11);   /* without POOLMALLOC_ */
        line_str(&l, "=");
        if (option_descs[i].kind == KIND_SIZE)
            line_size(&l, (uint64_t)_pm_option_values[i]);
        else
            line_num(&l, (uint64_t)_pm_option_values[i]);
    }
    if (_pm_stats_file[0]) {
        line_str(&l, " STATS_FILE=");
        line_str(&l, _pm_stats_file);
    }
    line_write(&l);
}

void _pm_options_init(void)
{
    for (int i = 0; i < PM_OPTION_COUNT; i++) {
        const char *s = _pm_os_getenv(option_descs[i].env);
        long v;
        _pm_option_values[i] = option_descs[i].fallback;
        if (!s)
            continue;
        int err = option_descs[i].kind == KIND_BOOL ? parse_bool(s, &v) : parse_value(s, &v);
        if (err == 0 && option_valid(i, v))
            option_apply(i, v);
        else
            warn_bad_value(i, s);
    }
    /* A file for the report asks for the report: counting goes on unless
     * POOLMALLOC_STATS says 0 itself. */
    stats_file_read(_pm_os_getenv(STATS_FILE_ENV));
    if (_pm_stats_file[0] && !_pm_os_getenv("POOLMALLOC_STATS"))
        option_apply(PM_OPTION_STATS, 1);
    warn_unknown_variables();
    if (_pm_option_values[PM_OPTION_VERBOSE])
        verbose_line();
}
