/* pairs.c -- pm_pairs: a fixed number of malloc+free pairs, for counting
 * instructions under valgrind's callgrind (bench/compare --instructions).
 *
 *   pm_pairs MODE SIZE N
 *     pair   N times: p = malloc(SIZE), write a byte, free(p)
 *     batch  N/64 times: 64 mallocs of SIZE, then their 64 frees (oldest
 *            first), so the allocator's free lists really move
 *
 * Both modes first run the same 4096 pairs of warm-up, so that two runs with
 * different N differ by exactly the extra pairs: the driver takes the
 * instructions spent in the calls made from pairs() or batches() (callgrind's
 * inclusive cost of those calls: PLT stub, malloc, free and whatever they
 * call), and divides the difference between the two runs by the difference
 * of N.  The loop's own instructions are not counted.  Built with
 * -fno-builtin so the calls are really made.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 64

static void barrier(void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

/* Not inlined: the driver sums the cost of the calls made from these two
 * functions, by name. */
__attribute__((noinline)) static void pairs(size_t size, long n)
{
    for (long i = 0; i < n; i++) {
        char *p = malloc(size);
        if (p == NULL)
            abort();
        p[0] = (char)i;
        barrier(p);
        free(p);
    }
}

__attribute__((noinline)) static void batches(size_t size, long n)
{
    static char *blocks[BATCH];
    for (long r = 0; r < n / BATCH; r++) {
        for (int i = 0; i < BATCH; i++) {
            blocks[i] = malloc(size);
            if (blocks[i] == NULL)
                abort();
            blocks[i][0] = (char)i;
        }
        barrier(blocks);
        for (int i = 0; i < BATCH; i++)
            free(blocks[i]);
    }
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "pair") != 0 && strcmp(argv[1], "batch") != 0)) {
        fprintf(stderr, "usage: pm_pairs pair|batch SIZE N\n");
        return 2;
    }
    size_t size = (size_t)strtoul(argv[2], NULL, 10);
    long n = strtol(argv[3], NULL, 10);
    int batch = strcmp(argv[1], "batch") == 0;
    if (batch && n % BATCH != 0) {
        fprintf(stderr, "pm_pairs: N must be a multiple of %d in batch mode\n", BATCH);
        return 2;
    }
    if (batch) {
        batches(size, 4096);
        batches(size, n);
    } else {
        pairs(size, 4096);
        pairs(size, n);
    }
    return 0;
}
