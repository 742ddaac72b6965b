/* process.c -- the process words and start-up below the allocator (floor 0).
 *
 * The words every layer reads (base.h): slow mode, the secret of safe
 * linking, the minimum-alignment word, the counters.  _pm_base_init sets
 * them from the environment once, without allocating; pools/lifecycle.c
 * calls it first thing when the process starts using the allocator, which
 * may be before any constructor runs.
 */
#include "base/base.h"
#include "base/vg.h"

#include <errno.h>

unsigned _pm_slow;
pm_keys_t _pm_keys = {.mul = 1, .unmul = 1};
uintptr_t _pm_align_or;
pm_global_counters_t _pm_counters;
#if defined(PM_VALGRIND) && PM_VALGRIND
int _pm_vg_race_tool;
#endif

/* Asks valgrind which tool runs the program: memcheck sets
 * PM_SLOW_VALGRIND, helgrind and drd _pm_vg_race_tool; any other tool
 * (callgrind measuring the fast paths, say) leaves poolmalloc exactly as it
 * runs natively. */
static void vg_init(void)
{
#if defined(PM_VALGRIND) && PM_VALGRIND
    if (!RUNNING_ON_VALGRIND)
        return;
    /* Each tool answers only its own requests; the others return the
     * default.  Only memcheck keeps validity bits (GET_VBITS succeeds),
     * only helgrind counts addressable bytes for GET_ABITS (the default
     * comes back as an unsigned -2), only drd numbers threads. */
    uint64_t probe = 0;
    unsigned char vbits[sizeof probe];
    if (VALGRIND_GET_VBITS(&probe, vbits, sizeof probe) == 1)
        _pm_slow |= PM_SLOW_VALGRIND;
    if (VALGRIND_HG_GET_ABITS(&probe, NULL, sizeof probe) == (long)sizeof probe ||
        DRD_GET_VALGRIND_THREADID != 0)
        _pm_vg_race_tool = 1;
    if (_pm_vg_race_tool)
        _pm_os_reserve_released();   /* base/os.h: no range mapped twice */
    void *words;
    size_t size;
    _pm_os_shared_words(&words, &size);
    PM_VG_ATOMIC_WORDS(words, size);
#endif
}

void _pm_base_init(void)
{
    int saved = errno;
    /* Once, even if two threads get here first at the same time: blocks
     * freed under one secret must be read back under the same one. */
    uintptr_t none = 0, secret = (uintptr_t)_pm_os_random() | 1;
    __atomic_compare_exchange_n(&_pm_secret, &none, secret, false, __ATOMIC_RELAXED,
                                __ATOMIC_RELAXED);
    /* The multiplier follows from the secret that won, so that every thread
     * that gets here stores the same pair before it goes on. */
    secret = __atomic_load_n(&_pm_secret, __ATOMIC_RELAXED);
    uintptr_t mul = (secret * 0x9e3779b97f4a7c15ull) ^ (secret >> 29);
    mul = (mul ^ (mul >> 32)) | 1, none = mul;
    for (int i = 0; i < 6; i++)   /* Newton: each step doubles the correct low bits */
        none *= 2 - mul * none;
    __atomic_store_n(&_pm_keys.mul, mul, __ATOMIC_RELAXED);
    __atomic_store_n(&_pm_keys.unmul, none, __ATOMIC_RELAXED);
    /* Its own random word (the first to get here wins, as for the secret):
     * a mark read back from a freed block tells nothing of the secret. */
    none = 0;
    uintptr_t tag = ((uintptr_t)_pm_os_random() << 8 >> 8) | (uintptr_t)PM_TC_MARK_TOP << 56 | 1;
    __atomic_compare_exchange_n(&_pm_keys.tag, &none, tag, false, __ATOMIC_RELAXED,
                                __ATOMIC_RELAXED);
    _pm_options_init();
    vg_init();
    if (PM_STRICT)
        _pm_slow |= PM_SLOW_STRICT;   /* every block through the hooks, for ever */
    errno = saved;
}
