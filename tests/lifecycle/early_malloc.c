/* early_malloc -- malloc works before main: from the constructor of a
 * library the program links (libpm_early, priority 101, which runs before
 * every constructor of the executable and normally before libpoolmalloc's
 * constructor), from the executable's own constructors, and at exit
 * (atexit handler, library destructor).  Blocks allocated that early are
 * checked and freed by main. */
#define _GNU_SOURCE
#include "early_lib.h"
#include "pm_test.h"

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int exe_ctor101_seq, exe_ctor_seq;
static int exe_ctor_errors;
static int lib_block_ok_in_exe_ctor;
static char *exe_ctor_string;
static unsigned char *exe_ctor_block;
static size_t exe_ctor_block_len;
static void *exit_kept[64];

static int check_pattern(const unsigned char *p, size_t n, unsigned mul, unsigned add)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)((i * mul + add) & 0xff)) return 0;
    return 1;
}

__attribute__((constructor(101))) static void exe_ctor101(void)
{
    exe_ctor101_seq = early_next_seq();
    exe_ctor_string = strdup("allocated in the executable's constructor");
    exe_ctor_block_len = 5000;
    exe_ctor_block = malloc(exe_ctor_block_len);
    if (!exe_ctor_string || !exe_ctor_block) { exe_ctor_errors++; return; }
    for (size_t i = 0; i < exe_ctor_block_len; i++) exe_ctor_block[i] = (unsigned char)(i * 5 + 2);
    /* The library's constructor has already run: its blocks are readable. */
    const char *s = early_string();
    lib_block_ok_in_exe_ctor = s && strcmp(s, EARLY_STRING) == 0;
}

__attribute__((constructor)) static void exe_ctor(void)
{
    exe_ctor_seq = early_next_seq();
    /* Grow the block from the first constructor: it must keep its bytes. */
    unsigned char *p = realloc(exe_ctor_block, 200000);
    if (!p) { exe_ctor_errors++; return; }
    for (size_t i = exe_ctor_block_len; i < 200000; i++) p[i] = (unsigned char)(i * 5 + 2);
    exe_ctor_block = p;
    exe_ctor_block_len = 200000;
    for (int i = 0; i < 1000; i++) {
        void *q = malloc((size_t)(i % 300) + 1);
        if (!q) { exe_ctor_errors++; continue; }
        memset(q, 0x5a, (size_t)(i % 300) + 1);
        free(q);
    }
}

static void at_exit_handler(void)
{
    /* Frees blocks kept since main and allocates again, during exit(). */
    int bad = 0;
    for (int i = 0; i < 64; i++) {
        unsigned char *p = exit_kept[i];
        for (size_t j = 0; j < (size_t)(i + 1) * 16; j++)
            if (p[j] != (unsigned char)(i ^ 0x3c)) bad = 1;
        free(p);
    }
    char *s = NULL;
    for (int i = 0; i < 100; i++) {
        char *t = realloc(s, (size_t)(i + 1) * 100);
        if (!t) { bad = 1; break; }
        memset(t, 'x', (size_t)(i + 1) * 100);
        s = t;
    }
    free(s);
    if (bad) {
        static const char msg[] = "FAIL early_malloc: atexit handler found damaged blocks\n";
        ssize_t r = write(2, msg, sizeof msg - 1);
        (void)r;
        _exit(6);
    }
}

int main(void)
{
    pm_test_require_poolmalloc();

    CHECK("library constructor ran first", early_ctor_seq() == 1);
    CHECK("executable constructor(101) ran after it", exe_ctor101_seq == 2);
    CHECK("executable default constructor ran last", exe_ctor_seq == 3);
    CHECK("library constructor found no problem", early_ctor_errors() == 0);
    CHECK("malloc in the library constructor was libpoolmalloc's", early_malloc_was_poolmalloc());
    CHECK("executable constructors found no problem", exe_ctor_errors == 0);
    CHECK("library blocks visible from the executable constructor", lib_block_ok_in_exe_ctor);

    /* Blocks from the library constructor. */
    char *block = early_take_block();
    CHECK("early block present", block != NULL);
    if (block) {
        CHECK("early block intact", check_pattern((unsigned char *)block, EARLY_BLOCK_LEN, 7, 3));
        CHECK("early block usable size", malloc_usable_size(block) >= EARLY_BLOCK_LEN);
        /* realloc of a block allocated before main: grows and keeps the data. */
        char *grown = realloc(block, 50000);
        CHECK("realloc of early block", grown != NULL);
        if (grown) {
            CHECK("realloc kept early data", check_pattern((unsigned char *)grown, EARLY_BLOCK_LEN, 7, 3));
            memset(grown + EARLY_BLOCK_LEN, 1, 50000 - EARLY_BLOCK_LEN);
            block = grown;
        }
        free(block);
    }
    char *large = early_take_large();
    CHECK("early large block present", large != NULL);
    if (large) {
        CHECK("early large block intact", check_pattern((unsigned char *)large, EARLY_LARGE_LEN, 13, 1));
        CHECK("early large usable size", malloc_usable_size(large) >= EARLY_LARGE_LEN);
        free(large);
    }
    void **small = early_take_small();
    CHECK("early small blocks present", small != NULL);
    if (small) {
        int intact = 1;
        for (int i = 0; i < EARLY_SMALL_COUNT; i++) {
            unsigned char *p = small[i];
            if (!p || malloc_usable_size(p) < 8 * (size_t)(i + 1)) { intact = 0; continue; }
            for (size_t j = 0; j < 8 * (size_t)(i + 1); j++)
                if (p[j] != (unsigned char)(i + 1)) intact = 0;
        }
        CHECK("early small blocks intact", intact);
        /* Free in an order different from the allocation order. */
        for (int i = 0; i < EARLY_SMALL_COUNT; i += 2) free(small[i]);
        for (int i = EARLY_SMALL_COUNT - 1; i > 0; i -= 2) free(small[i]);
        free(small);
    }
    const char *s = early_string();
    CHECK("early string intact", s && strcmp(s, EARLY_STRING) == 0);

    /* Blocks from the executable's constructors. */
    CHECK("ctor string intact", exe_ctor_string &&
          strcmp(exe_ctor_string, "allocated in the executable's constructor") == 0);
    free(exe_ctor_string);
    CHECK("ctor block intact after realloc",
          exe_ctor_block && check_pattern(exe_ctor_block, exe_ctor_block_len, 5, 2));
    free(exe_ctor_block);

    /* The blocks freed above are reused correctly. */
    unsigned long long rng = 101;
    void *live[512];
    for (int i = 0; i < 512; i++) {
        size_t n = pm_test_rand(&rng) % 1200 + 1;
        live[i] = malloc(n);
        if (live[i]) memset(live[i], i & 0xff, n);
    }
    int all = 1;
    rng = 101;
    for (int i = 0; i < 512; i++) {
        size_t n = pm_test_rand(&rng) % 1200 + 1;
        if (!live[i] || !check_pattern(live[i], n, 0, (unsigned)(i & 0xff))) all = 0;
        free(live[i]);
    }
    CHECK("allocations in main", all);

    for (int i = 0; i < 64; i++) {
        exit_kept[i] = malloc((size_t)(i + 1) * 16);
        if (!exit_kept[i]) { CHECK("block kept for atexit", 0); exit(1); }
        memset(exit_kept[i], i ^ 0x3c, (size_t)(i + 1) * 16);
    }
    CHECK("atexit registered", atexit(at_exit_handler) == 0);
    return pm_test_finish();
}
