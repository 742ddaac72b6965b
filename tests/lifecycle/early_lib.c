/* early_lib.c -- libpm_early.so: allocates from a priority-101 constructor,
 * i.e. before any constructor of the executable runs (dependencies are
 * initialised first) and, since the preloaded libpoolmalloc comes before
 * this library in the search list, before libpoolmalloc's own constructor.
 * Its destructor allocates again, after libpoolmalloc's destructor has run. */
#define _GNU_SOURCE
#include "early_lib.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int seq_counter;
static int ctor_seq;
static int ctor_errors;
static int malloc_is_pm;
static char *kept_block;
static char *kept_large;
static void **kept_small;
static char *kept_string;

#define ERR(...) do { fprintf(stderr, "libpm_early: " __VA_ARGS__); ctor_errors++; } while (0)

int early_next_seq(void) { return ++seq_counter; }
int early_ctor_seq(void) { return ctor_seq; }
int early_ctor_errors(void) { return ctor_errors; }
int early_malloc_was_poolmalloc(void) { return malloc_is_pm; }

char *early_take_block(void) { char *p = kept_block; kept_block = NULL; return p; }
char *early_take_large(void) { char *p = kept_large; kept_large = NULL; return p; }
void **early_take_small(void) { void **p = kept_small; kept_small = NULL; return p; }
const char *early_string(void) { return kept_string; }

/* poolmalloc's documented alignment (docs/DESIGN.md): every block 8-aligned, and
 * 16-aligned when the request is a multiple of 16 bytes. */
static int aligned_ok(const void *p, size_t n)
{
    uintptr_t a = (uintptr_t)p;
    return (a & 7) == 0 && (n % 16 != 0 || (a & 15) == 0);
}

__attribute__((constructor(101))) static void early_ctor(void)
{
    ctor_seq = early_next_seq();

    /* Churn: many sizes, small and large, each written end to end. */
    for (int round = 0; round < 200; round++) {
        void *blocks[16];
        for (int i = 0; i < 16; i++) {
            size_t n = (size_t)(round * 16 + i) % 700 + 1;
            if (i == 15) n = 70000 + (size_t)round * 64;
            blocks[i] = malloc(n);
            if (!blocks[i] || !aligned_ok(blocks[i], n)) { ERR("malloc(%zu) = %p\n", n, blocks[i]); continue; }
            memset(blocks[i], i, n);
        }
        for (int i = 0; i < 16; i++)
            free(blocks[i]);
    }

    /* calloc must hand out zeroed memory, even for reused blocks. */
    for (int i = 0; i < 50; i++) {
        unsigned char *z = calloc(37 + i, 3);
        if (!z) { ERR("calloc failed\n"); continue; }
        for (int j = 0; j < (37 + i) * 3; j++)
            if (z[j]) { ERR("calloc block not zeroed\n"); break; }
        memset(z, 0xff, (size_t)(37 + i) * 3);
        free(z);
    }

    /* realloc chain from 1 byte to 200 kB keeps the prefix. */
    unsigned char *r = NULL;
    size_t have = 0;
    for (size_t n = 1; n <= 200000; n = n * 3 / 2 + 1) {
        unsigned char *q = realloc(r, n);
        if (!q) { ERR("realloc(%zu) failed\n", n); break; }
        for (size_t j = 0; j < have; j++)
            if (q[j] != (unsigned char)(j * 31)) { ERR("realloc lost data at %zu/%zu\n", j, n); break; }
        for (size_t j = have; j < n; j++) q[j] = (unsigned char)(j * 31);
        r = q;
        have = n;
    }
    free(r);
    free(malloc(0));

    /* Blocks that outlive the constructor. */
    kept_block = malloc(EARLY_BLOCK_LEN);
    kept_large = malloc(EARLY_LARGE_LEN);
    kept_small = malloc(EARLY_SMALL_COUNT * sizeof *kept_small);
    kept_string = strdup(EARLY_STRING);
    if (!kept_block || !kept_large || !kept_small || !kept_string) {
        ERR("could not allocate the kept blocks\n");
        return;
    }
    for (int i = 0; i < EARLY_BLOCK_LEN; i++) kept_block[i] = (char)((i * 7 + 3) & 0xff);
    for (int i = 0; i < EARLY_LARGE_LEN; i++) kept_large[i] = (char)((i * 13 + 1) & 0xff);
    for (int i = 0; i < EARLY_SMALL_COUNT; i++) {
        kept_small[i] = malloc(8 * (size_t)(i + 1));
        if (!kept_small[i]) { ERR("small block %d\n", i); continue; }
        memset(kept_small[i], i + 1, 8 * (size_t)(i + 1));
    }

    /* Which malloc is this?  (dlsym and dladdr allocate too.) */
    Dl_info info;
    void *sym = dlsym(RTLD_DEFAULT, "malloc");
    malloc_is_pm = sym && dladdr(sym, &info) && info.dli_fname &&
                   strstr(info.dli_fname, "libpoolmalloc") != NULL;
}

static void die(const char *msg)
{
    /* stdio may already be shut down: write(2) only, then a distinctive status. */
    ssize_t r = write(2, msg, strlen(msg));
    (void)r;
    _exit(5);
}

__attribute__((destructor(101))) static void early_dtor(void)
{
    /* Runs after main returned, after the executable's destructors and
     * usually after libpoolmalloc's destructor too. */
    if (!kept_string || strcmp(kept_string, EARLY_STRING) != 0)
        die("libpm_early destructor: the string kept since the constructor changed\n");
    free(kept_string);
    kept_string = NULL;
    for (int round = 0; round < 50; round++) {
        char *a = malloc(24 + (size_t)round);
        char *b = strdup("destructor-time allocation");
        char *c = malloc(100000);
        if (!a || !b || !c) die("libpm_early destructor: allocation failed\n");
        memset(a, 'a', 24 + (size_t)round);
        memset(c, 'c', 100000);
        if (strcmp(b, "destructor-time allocation") != 0)
            die("libpm_early destructor: strdup copy is wrong\n");
        free(c);
        free(a);
        free(b);
    }
    /* Whatever main did not take is freed here. */
    free(kept_block);
    free(kept_large);
    if (kept_small) {
        for (int i = 0; i < EARLY_SMALL_COUNT; i++) free(kept_small[i]);
        free(kept_small);
    }
}
