/* options.c -- POOLMALLOC_* environment options (shim).
 *
 * One descriptor table; each option is read once from the environment at
 * process start-up (lifecycle.c), straight from `environ`, without
 * allocating.  Values accept a decimal number with an optional K, M or G
 * suffix (powers of 1024).  Until they are read the defaults apply.
 */
#include "include/internal/internal.h"

#include <errno.h>

typedef struct pm_option_desc_s {
    const char *env;     /* environment variable */
    long fallback;       /* default */
    long min, max;       /* accepted range */
} pm_option_desc_t;

static const pm_option_desc_t option_descs[PM_OPTION_COUNT] = {
    [PM_OPTION_STATS] = {"POOLMALLOC_STATS", 0, 0, 1},
    [PM_OPTION_ARENA_RESERVE] = {"POOLMALLOC_ARENA_RESERVE", 4, 0, 1024},
    [PM_OPTION_LARGE_CACHE] = {"POOLMALLOC_LARGE_CACHE", 64L << 20, 0, 1L << 40},
    [PM_OPTION_LARGE_DECAY_MS] = {"POOLMALLOC_LARGE_DECAY_MS", 1000, 0, 3600L * 1000},
    [PM_OPTION_ARENA_DECAY_MS] = {"POOLMALLOC_ARENA_DECAY_MS", 1000, 0, 3600L * 1000},
    [PM_OPTION_ARENA_CACHE] = {"POOLMALLOC_ARENA_CACHE", 16L << 20, 0, 1L << 40},
    [PM_OPTION_MIN_ALIGN] = {"POOLMALLOC_MIN_ALIGN", 8, 8, 16},
};

long _pm_option_values[PM_OPTION_COUNT] = {
    [PM_OPTION_STATS] = 0,
    [PM_OPTION_ARENA_RESERVE] = 4,
    [PM_OPTION_LARGE_CACHE] = 64L << 20,
    [PM_OPTION_LARGE_DECAY_MS] = 1000,
    [PM_OPTION_ARENA_DECAY_MS] = 1000,
    [PM_OPTION_ARENA_CACHE] = 16L << 20,
    [PM_OPTION_MIN_ALIGN] = 8,
};

unsigned _pm_slow;
uintptr_t _pm_align_or;

/* POOLMALLOC_MIN_ALIGN: 8 or 16 (types.h, _pm_align_or); anything else is
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
        _pm_align_or = v == 16 ? PM_CLASS_SPACING : 0;
}

static void stats_mode_set(long on)
{
    if (on)
        _pm_slow |= PM_SLOW_STATS;
    else
        _pm_slow &= ~PM_SLOW_STATS;
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
        _pm_option_values[i] = option_descs[i].fallback;
        if (!s)
            continue;
        if (parse_value(s, &v) == 0 && option_valid(i, v)) {
            option_apply(i, v);
        } else {
            char msg[96] = "ignoring bad value of ";
            size_t n = 22;
            for (const char *e = option_descs[i].env; *e && n < sizeof msg - 2; e++)
                msg[n++] = *e;
            msg[n++] = '\n';
            _pm_os_write(2, "poolmalloc: ", 12);
            _pm_os_write(2, msg, n);
        }
    }
    stats_mode_set(_pm_option_values[PM_OPTION_STATS]);
}

long pm_option_get(pm_option_t option)
{
    if ((unsigned)option >= PM_OPTION_COUNT)
        return -1;
    return _pm_option_values[option];
}

int pm_option_set(pm_option_t option, long value)
{
    if ((unsigned)option >= PM_OPTION_COUNT || !option_valid((int)option, value))
        return EINVAL;
    _pm_process_init();   /* so that the environment does not override it later */
    option_apply((int)option, value);
    if (option == PM_OPTION_STATS) {
        /* Other threads follow at their next slow path (heap.c). */
        stats_mode_set(value);
        _pm_heap_route();
    }
    return 0;
}
