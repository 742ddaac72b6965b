/* options.c -- POOLMALLOC_* environment options (floor 0).
 *
 * One list (PM_OPTION_LIST): each option's variable, default and accepted
 * range, written once; it generates the descriptor table and the initial
 * values, so an option is at its default until read.  Each option is read
 * once from the environment at process start-up (process.c), straight from
 * `environ`, without allocating.  Values accept a decimal number with an
 * optional K, M or G suffix (powers of 1024).  The public pm_option_get and
 * pm_option_set are in pools/lifecycle.c (setting statistics re-routes the
 * threads' fast paths).
 */
#include "base/base.h"

#include <errno.h>

/* X(option, variable, default, min, max) */
#define PM_OPTION_LIST(X)                                                                  \
    X(PM_OPTION_STATS, "POOLMALLOC_STATS", 0, 0, 1)                                      \
    X(PM_OPTION_ARENA_RESERVE, "POOLMALLOC_ARENA_RESERVE", 4, 0, 1024)                   \
    X(PM_OPTION_LARGE_CACHE, "POOLMALLOC_LARGE_CACHE", 64L << 20, 0, 1L << 40)           \
    X(PM_OPTION_LARGE_DECAY_MS, "POOLMALLOC_LARGE_DECAY_MS", 1000, 0, 3600L * 1000)      \
    X(PM_OPTION_ARENA_DECAY_MS, "POOLMALLOC_ARENA_DECAY_MS", 1000, 0, 3600L * 1000)      \
    X(PM_OPTION_ARENA_CACHE, "POOLMALLOC_ARENA_CACHE", 16L << 20, 0, 1L << 40)           \
    X(PM_OPTION_MIN_ALIGN, "POOLMALLOC_MIN_ALIGN", 8, 8, 16)

typedef struct pm_option_desc_s {
    const char *env;     /* environment variable */
    long min, max;       /* accepted range */
} pm_option_desc_t;

static const pm_option_desc_t option_descs[PM_OPTION_COUNT] = {
#define PM_OPTION_DESC(opt, env, def, lo, hi) [opt] = {env, lo, hi},
    PM_OPTION_LIST(PM_OPTION_DESC)
#undef PM_OPTION_DESC
};

long _pm_option_values[PM_OPTION_COUNT] = {
#define PM_OPTION_DEFAULT(opt, env, def, lo, hi) [opt] = def,
    PM_OPTION_LIST(PM_OPTION_DEFAULT)
#undef PM_OPTION_DEFAULT
};

/* POOLMALLOC_MIN_ALIGN: 8 or 16 (base.h, _pm_align_or); anything else is
 * rejected like an out-of-range value. */
static bool option_valid(int option, long v)
{
    if (v < option_descs[option].min || v > option_descs[option].max)
        return false;
    return option != PM_OPTION_MIN_ALIGN || v == 8 || v == 16;
}

int _pm_option_store(int option, long v)
{
    if ((unsigned)option >= PM_OPTION_COUNT || !option_valid(option, v))
        return EINVAL;
    _pm_option_values[option] = v;
    if (option == PM_OPTION_MIN_ALIGN)
        _pm_align_or = v == 16 ? 8 : 0;
    if (option == PM_OPTION_STATS) {
        if (v)
            _pm_slow |= PM_SLOW_STATS;
        else
            _pm_slow &= ~PM_SLOW_STATS;
    }
    return 0;
}

/* Parses "123", "64K", "64M", "1G"; returns 0 or EINVAL. */
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

void _pm_options_init(void)
{
    for (int i = 0; i < PM_OPTION_COUNT; i++) {
        const char *s = _pm_os_getenv(option_descs[i].env);
        long v;
        if (!s)
            continue;
        if (parse_value(s, &v) != 0 || _pm_option_store(i, v) != 0) {
            pm_msg_t m = {.n = 0};
            pm_msg_str(&m, "poolmalloc: ignoring bad value of ");
            pm_msg_str(&m, option_descs[i].env);
            pm_msg_str(&m, "\n");
            pm_msg_flush(&m, 2);
        }
    }
}
