/* vg_bugs.c -- planted memory bugs, one per run (argv[1]), for memcheck
 * running with poolmalloc itself serving malloc (vg_check.sh).
 *
 * memcheck can report these only if poolmalloc describes its blocks with
 * client requests; a run on valgrind's own allocator would report them as
 * well, so every case first calls malloc_stats(): with POOLMALLOC_STATS=1
 * poolmalloc prints its totals there (non-zero counts), while valgrind's
 * replacement prints nothing.  vg_check.sh requires both.
 *
 * Cases (the error memcheck must report):
 *   uaf_small uaf_medium uaf_large      write to a freed block     Invalid write
 *   uaf_read_small                      read of a freed block      Invalid read
 *   overflow_small overflow_medium      write one byte past the    Invalid write ... after
 *   overflow_large                      size asked for
 *   uninit_small uninit_large           branch on never-written    uninitialised value
 *                                       malloc memory
 *   uninit_realloc                      a byte realloc added in    uninitialised value
 *                                       place (same class)
 *   leak_small leak_medium leak_large   block no pointer reaches   definitely lost
 *   double_free_small double_free_medium                           Invalid free
 *   double_free_large
 *   interior_free                       free of p + 8              Invalid free
 * and controls that must be clean:
 *   clean           every size class touched correctly; calloc is defined
 *   usable          writes up to malloc_usable_size(p)
 *   realloc_inplace realloc within the class keeps the contents defined */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keeps the compiler from seeing through the bugs (and from warning). */
static void *volatile sink;
static void *launder(void *p)
{
    sink = p;
    return sink;
}
static void (*volatile free_fn)(void *) = free;

static char *alloc_filled(size_t n)
{
    char *p = malloc(n);
    if (!p) {
        perror("malloc");
        exit(2);
    }
    memset(p, 'a', n);
    return p;
}

static int branch_on(const char *p, size_t i)
{
    if (p[i] == 42)      /* memcheck: conditional jump on an uninitialised value */
        return puts("forty-two");
    return 0;
}

static size_t case_size(const char *c)
{
    if (strstr(c, "medium"))
        return 3000;
    if (strstr(c, "large"))
        return 100000;
    return 37;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CASE\n", argv[0]);
        return 2;
    }
    const char *c = argv[1];
    size_t n = case_size(c);

    /* Some ordinary traffic, then the proof of who serves malloc. */
    void *warm[16];
    for (int i = 0; i < 16; i++)
        warm[i] = alloc_filled((size_t)(8 + i * 24));
    for (int i = 0; i < 16; i++)
        free(warm[i]);
    malloc_stats();
    printf("vg_bugs: %s\n", c);
    fflush(stdout);

    if (!strncmp(c, "uaf_read", 8)) {
        char *p = alloc_filled(n);
        free(p);
        branch_on(launder(p), 3);
    } else if (!strncmp(c, "uaf", 3)) {
        char *p = alloc_filled(n);
        free(p);
        ((char *)launder(p))[n / 2] = 'x';
    } else if (!strncmp(c, "overflow", 8)) {
        char *p = alloc_filled(n);
        ((char *)launder(p))[n] = 'x';     /* one past the end */
        free(p);
    } else if (!strcmp(c, "uninit_realloc")) {
        char *p = alloc_filled(17);
        char *q = realloc(p, 24);          /* same 24-byte class: grows in place */
        if (q != p)
            return 4;
        branch_on(q, 20);
        free(q);
    } else if (!strncmp(c, "uninit", 6)) {
        char *p = malloc(n);
        branch_on(p, n - 1);
        free(p);
    } else if (!strncmp(c, "leak", 4)) {
        char *p = alloc_filled(n);
        launder(p);
        sink = NULL;                       /* the only pointer is gone */
    } else if (!strncmp(c, "double_free", 11)) {
        char *p = alloc_filled(n);
        free_fn(p);
        free_fn(p);
    } else if (!strcmp(c, "interior_free")) {
        char *p = alloc_filled(64);
        free_fn(p + 8);
    } else if (!strcmp(c, "clean")) {
        size_t sizes[] = {0, 1, 8, 24, 100, 512, 513, 3000, 16384, 16385, 100000, 3 << 20};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            char *p = alloc_filled(sizes[i]);
            char *z = calloc(1, sizes[i] + 1);
            for (size_t k = 0; k <= sizes[i]; k++)
                if (z[k])
                    return 3;
            p = realloc(p, sizes[i] * 2 + 1);
            if (sizes[i] && p[sizes[i] - 1] != 'a')
                return 3;
            free(z);
            free(p);
        }
        void *a = aligned_alloc(256, 256);
        memset(a, 0, 256);
        free(a);
    } else if (!strcmp(c, "usable")) {
        for (size_t s = 1; s < 20000; s = s * 3 + 1) {
            char *p = malloc(s);
            size_t u = malloc_usable_size(p);
            if (u < s)
                return 3;
            memset(p, 'u', u);             /* the whole usable size is the program's */
            free(p);
        }
    } else if (!strcmp(c, "realloc_inplace")) {
        char *p = alloc_filled(17);
        char *q = realloc(p, 24);          /* same class: in place, 7 more bytes usable */
        if (q != p)
            return 4;
        memset(q + 17, 'b', 7);
        if (q[0] != 'a' || q[23] != 'b' || branch_on(q, 10))
            return 3;
        q = realloc(q, 18);                /* shrinks in place */
        if (q != p || q[16] != 'a')
            return 3;
        char *big = alloc_filled(100000);
        char *big2 = realloc(big, 90000);  /* large: shrinks in place */
        if (big2 != big || big2[89999] != 'a')
            return 3;
        free(big2);
        free(q);
    } else {
        fprintf(stderr, "unknown case %s\n", c);
        return 2;
    }
    puts("vg_bugs: end");
    return 0;
}
