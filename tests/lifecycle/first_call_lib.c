/* first_call_lib.c -- libpm_first.so: its constructor makes the process's
 * very first allocation, before libpoolmalloc's own constructor has run (a
 * dependency of the program is initialised first, like libselinux's under
 * ls).  PM_FIRST_CALL picks the entry point of that first call:
 *   small medium large posix_memalign aligned_alloc memalign calloc
 *   calloc_large realloc realloc_large
 * The block is written end to end, freed, and the same call is made once
 * more; that second block stays live until the program frees it. */
#define _GNU_SOURCE
#include "first_call_lib.h"

#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int errors;
static void *kept;
static const char *mode = "small";

int first_call_errors(void) { return errors; }
const char *first_call_mode(void) { return mode; }
void *first_call_take(void)
{
    void *p = kept;
    kept = NULL;
    return p;
}

#define ERR(...) do { fprintf(stderr, "libpm_first: " __VA_ARGS__); errors++; } while (0)

/* One call of the kind MODE names; *n gets the bytes it asked for, *align
 * the alignment it promises. */
static void *one_call(size_t *n, size_t *align)
{
    void *p = NULL;
    *align = 8;
    if (!strcmp(mode, "small")) {
        p = malloc(*n = 40);
    } else if (!strcmp(mode, "medium")) {
        p = malloc(*n = 3000);
    } else if (!strcmp(mode, "large")) {
        p = malloc(*n = 100000);
    } else if (!strcmp(mode, "posix_memalign")) {
        if (posix_memalign(&p, *align = 64, *n = 200) != 0)
            p = NULL;
    } else if (!strcmp(mode, "aligned_alloc")) {
        p = aligned_alloc(*align = 32, *n = 96);
    } else if (!strcmp(mode, "memalign")) {
        p = memalign(*align = 4096, *n = 5000);
    } else if (!strcmp(mode, "calloc") || !strcmp(mode, "calloc_large")) {
        size_t count = !strcmp(mode, "calloc") ? 10 : 2000;
        p = calloc(count, 24);
        *n = count * 24;
        for (size_t i = 0; p && i < *n; i++)
            if (((unsigned char *)p)[i]) {
                ERR("calloc: byte %zu is not zero\n", i);
                break;
            }
    } else if (!strcmp(mode, "realloc") || !strcmp(mode, "realloc_large")) {
        p = realloc(NULL, *n = !strcmp(mode, "realloc") ? 100 : 70000);
    } else {
        ERR("unknown PM_FIRST_CALL=%s\n", mode);
        return NULL;
    }
    if (!p)
        ERR("%s: first call returned NULL\n", mode);
    else if ((uintptr_t)p % *align)
        ERR("%s: %p is not %zu-aligned\n", mode, p, *align);
    return p;
}

__attribute__((constructor(101))) static void first_call_ctor(void)
{
    const char *m = getenv("PM_FIRST_CALL");   /* getenv does not allocate */
    if (m && *m)
        mode = m;
    size_t n, align;
    unsigned char *p = one_call(&n, &align);   /* the process's first allocation */
    if (!p)
        return;
    memset(p, 0xa5, n);
    if (!strncmp(mode, "realloc", 7)) {         /* and move it once */
        p = realloc(p, 2 * n);
        if (!p) {
            ERR("realloc to %zu returned NULL\n", 2 * n);
            return;
        }
        for (size_t i = 0; i < n; i++)
            if (p[i] != 0xa5) {
                ERR("realloc lost byte %zu\n", i);
                break;
            }
        memset(p, 0x5a, 2 * n);
    }
    free(p);
    unsigned char *q = one_call(&n, &align);
    if (q)
        memset(q, 0x3c, n);
    kept = q;
}
