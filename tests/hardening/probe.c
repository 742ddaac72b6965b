/* probe.c -- the hardening probes: single stray writes, aimed the way an
 * attacker aims them, into the places where an allocator keeps its state.
 *
 * Run with libpoolmalloc.so (or libpoolmalloc-strict.so, or any other
 * malloc) preloaded:  probe CASE [SEED]
 *
 * Each case makes one stray write (a use after free or an overflow), then
 * keeps allocating the way a program would, and watches for the harm the
 * write could have been aimed at:
 *   exit 0   nothing went wrong: no block handed out twice, nothing written
 *            where the program did not write (the stray write was harmless,
 *            or was never noticed);
 *   exit 20  the allocator handed out a block that overlaps a live one, or a
 *            pointer the program chose (an overlap);
 *   exit 21  memory the program never wrote to changed (an arbitrary write);
 *   exit 22  a clean fault at the program's own stray access (guard page);
 *   abort    the allocator's one-line report (the caller checks stderr);
 *   SIGSEGV, SIGBUS elsewhere: a crash inside the allocator.
 * tests/hardening/probe.sh runs a case and classifies its ending.
 *
 * Cases:
 *   large_record_uaf    two words written through a dangling 64-byte
 *                       pointer whose block a large record could take
 *   large_record_size   the same with a size instead of pointers
 *   large_record_overflow  64 bytes written off the end of a 64-byte block,
 *                       over the next block (where a record could be)
 *   pool_header_overflow   8 bytes written past a block that ends its page
 *   secret_leak         the first word of fresh blocks, turned into a forged
 *                       free-list link
 *   link_uaf SEED       one byte written at a random offset of a freed
 *                       block's first word
 *   link_overflow SEED  a one-byte overflow into the next (free) block
 *   large_overflow_end  bytes written past the end of a large block
 *   write_after_reuse   a write through a stale pointer after the block was
 *                       freed and malloc was called again
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_LIVE 4096

/* Every block the probe holds, to catch an overlap. */
static struct {
    char *p;
    size_t n;
} live[MAX_LIVE];
static size_t nlive;

/* A victim the stray writes aim at: it must never change. */
static volatile uintptr_t victim[16];

static void check_victim(void)
{
    for (int i = 0; i < 16; i++)
        if (victim[i] != 0) {
            printf("arbitrary write: victim[%d] = %#lx\n", i, (unsigned long)victim[i]);
            fflush(stdout);
            _exit(21);
        }
}

static void overlap(const char *what, void *p)
{
    printf("overlap: %s %p\n", what, p);
    fflush(stdout);
    _exit(20);
}

/* Records a block just handed out, after checking it against the others
 * and the victim. */
static void *take(void *p, size_t n)
{
    if (!p)
        return NULL;
    char *c = p;
    if ((uintptr_t)c % 8)
        overlap("misaligned block", p);
    if (c < (char *)victim + sizeof victim && c + n > (char *)victim)
        overlap("block on the victim", p);
    for (size_t i = 0; i < nlive; i++)
        if (live[i].p && c < live[i].p + live[i].n && c + n > live[i].p)
            overlap("block overlapping a live one", p);
    if (nlive < MAX_LIVE) {
        live[nlive].p = c;
        live[nlive].n = n;
        nlive++;
    }
    memset(c, 0x11, n);   /* the program uses its block */
    return p;
}

static void *probe_malloc(size_t n) { return take(malloc(n), n); }

static void probe_free(void *p)
{
    for (size_t i = 0; i < nlive; i++)
        if (live[i].p == p)
            live[i].p = NULL;
    free(p);
}

/* Keeps allocating blocks of size n (and large ones), as a program would
 * after the stray write: a corrupted list is walked to its end. */
static void drain(size_t n, int rounds)
{
    for (int i = 0; i < rounds; i++)
        probe_malloc(n);
    for (int i = 0; i < 8; i++)
        probe_free(probe_malloc((size_t)1 << 20));
    void *a = probe_malloc((size_t)2 << 20), *b = probe_malloc((size_t)1 << 20);
    probe_free(a);
    probe_free(b);
    check_victim();
}

static uint64_t rng;
static uint64_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* ---- the cases ---- */

/* Hole 1 of issue 11: a large block's record used to be a 64-byte block,
 * with raw list links; a dangling 64-byte pointer to its block could aim
 * the cache's unlink at the victim. */
static void large_record_uaf(uintptr_t word)
{
    char *x = malloc(64);
    free(x);
    void *p = probe_malloc((size_t)1 << 20);
    probe_free(p);                                   /* into the cache */
    for (int i = 0; i < 8; i++)                      /* the stray writes */
        ((uintptr_t *)x)[i] = word ? word : (uintptr_t)&victim[i];
    drain(64, 256);
}

static void large_record_overflow(void)
{
    char *x[64];
    for (int i = 0; i < 64; i++)
        x[i] = probe_malloc(64);
    probe_free(x[32]);
    void *p = probe_malloc((size_t)1 << 20);
    probe_free(p);
    for (int i = 0; i < 8; i++)                      /* 64 bytes off x[31]'s end */
        ((uintptr_t *)(x[31] + 64))[i] = (uintptr_t)&victim[i];
    drain(64, 256);
}

/* Hole 2: the first word after a page's last block used to be the next
 * pool's free-list head. */
static void pool_header_overflow(void)
{
    enum { N = 512 };
    char *b[N];
    for (int i = 0; i < N; i++)
        b[i] = probe_malloc(64);
    /* A block that ends its page, followed by a page of the same class in
     * which the probe holds blocks. */
    for (int i = 0; i < N; i++) {
        char *end = b[i] + 64;
        if ((uintptr_t)end % 4096)
            continue;
        int in_next = 0;
        for (int j = 0; j < N; j++)
            if (b[j] >= end && b[j] < end + 4096)
                in_next++;
        if (in_next < 4)
            continue;
        /* free most of the next page, keeping one block so it stays a pool */
        int kept = 0;
        for (int j = 0; j < N; j++)
            if (b[j] >= end && b[j] < end + 4096) {
                if (kept++ == 2)
                    continue;
                probe_free(b[j]);
            }
        /* the 8-byte overflow: an address where nothing is mapped */
        *(uintptr_t *)end = (uintptr_t)0xdead0040;
        drain(64, 1024);
        return;
    }
    printf("no block ending its page found (layout of this allocator)\n");
}

/* Hole 3: a fresh block's first word, never written by the program, used
 * to be its link: next ^ block ^ secret, with next = block + size. */
static void secret_leak(void)
{
    enum { SIZE = 256 };   /* a class the probe uses first (a range's host: pools.h) */
    char *a = malloc(SIZE), *b = malloc(SIZE);
    char *volatile bv = b;   /* (b is a's neighbour: written as a block, not past a) */
    int leaked = 0;
    uintptr_t wa = *(uintptr_t *)a;
    if (wa != 0 && wa != (uintptr_t)0xaaaaaaaaaaaaaaaa)
        leaked = 1;
    take(a, SIZE);
    take(b, SIZE);
    printf("first word of a fresh block: %#lx%s\n", (unsigned long)wa, leaked ? " (leaked)" : "");
    if (b != a + SIZE) {
        printf("blocks not adjacent: the attack needs them so\n");
        return;
    }
    /* The attack, with safe linking's plain encoding: the secret from the
     * leaked word, then a forged link in freed b pointing at live a. */
    uintptr_t secret = wa ^ (uintptr_t)a ^ (uintptr_t)(a + SIZE);
    probe_free(b);
    *(uintptr_t *)a = (uintptr_t)(a + 2 * SIZE) ^ (uintptr_t)a ^ secret;   /* a's, too */
    *(uintptr_t *)bv = (uintptr_t)a ^ (uintptr_t)b ^ secret;
    drain(SIZE, 64);
}

/* Hole 4: one byte of a free block's link changed. */
static void link_byte(int overflow, uint64_t seed)
{
    enum { N = 64, SIZE = 48 };
    rng = seed * 0x9e3779b97f4a7c15ull + 1;
    char *b[N];
    for (int i = 0; i < N; i++)
        b[i] = probe_malloc(SIZE);
    /* free every other block, in an order of the seed's choosing */
    int order[N / 2];
    for (int i = 0; i < N / 2; i++)
        order[i] = 2 * i + 1;
    for (int i = N / 2 - 1; i > 0; i--) {
        int j = (int)(next_random() % (uint64_t)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < N / 2; i++)
        probe_free(b[order[i]]);
    int k = 1 + 2 * (int)(next_random() % (N / 2 - 1));   /* a freed block, b[k-1] live */
    unsigned off = overflow ? 0 : (unsigned)(next_random() % 8);
    unsigned char *target = (unsigned char *)(overflow ? b[k - 1] + SIZE : b[k]) + off;
    unsigned char old = *target, v;
    do
        v = (unsigned char)next_random();
    while (v == old);
    *target = v;                                      /* the stray byte */
    drain(SIZE, 256);
}

/* Strict mode's guard page: bytes written past a large block's end. */
static volatile int in_stray;
static void on_fault(int sig)
{
    if (in_stray) {
        static const char m[] = "clean fault at the program's own access\n";
        (void)!write(1, m, sizeof m - 1);
        _exit(22);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void large_overflow_end(void)
{
    size_t n = ((size_t)1 << 20) + 24;
    char *p = probe_malloc(n);
    in_stray = 1;
    for (size_t i = 0; i < 64; i++)   /* 64 bytes past the end */
        ((volatile char *)p)[n + i] = 'x';
    in_stray = 0;
    probe_free(p);
    drain(64, 16);
}

/* Strict mode's quarantine: a stale pointer written through after its
 * block was freed and malloc was called again. */
static void write_after_reuse(void)
{
    char *p = probe_malloc(64);
    probe_free(p);
    char *q = malloc(64);           /* without delayed reuse, q == p */
    take(q, 64);
    p[8] = 'X';                     /* the stale write */
    for (int i = 0; i < 20000; i++)
        probe_free(probe_malloc(64));
    for (int i = 0; i < 20000; i++)
        free(malloc(64));
    probe_free(q);
    drain(64, 64);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: probe CASE [SEED]\n");
        return 2;
    }
    signal(SIGSEGV, on_fault);
    signal(SIGBUS, on_fault);
    const char *c = argv[1];
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    if (!strcmp(c, "large_record_uaf"))
        large_record_uaf(0);
    else if (!strcmp(c, "large_record_size"))
        large_record_uaf((uintptr_t)4 << 20);
    else if (!strcmp(c, "large_record_overflow"))
        large_record_overflow();
    else if (!strcmp(c, "pool_header_overflow"))
        pool_header_overflow();
    else if (!strcmp(c, "secret_leak"))
        secret_leak();
    else if (!strcmp(c, "link_uaf"))
        link_byte(0, seed);
    else if (!strcmp(c, "link_overflow"))
        link_byte(1, seed);
    else if (!strcmp(c, "large_overflow_end"))
        large_overflow_end();
    else if (!strcmp(c, "write_after_reuse"))
        write_after_reuse();
    else {
        fprintf(stderr, "probe: unknown case %s\n", c);
        return 2;
    }
    check_victim();
    printf("nothing went wrong\n");
    return 0;
}
