/* pair_loop.c -- the shortest malloc+free pair, for counting the
 * instructions of the inline fast paths (bench/instr_per_pair.sh).
 *
 * One size, one extra block kept so that the pool never empties: every
 * malloc pops the block the previous free pushed.
 *   pair_loop [pairs] [size]      default 1000000 pairs of 32 bytes */
#include <stdlib.h>

static void *volatile sink;

int main(int argc, char **argv)
{
    long pairs = argc > 1 ? atol(argv[1]) : 1000000;
    size_t size = argc > 2 ? (size_t)atol(argv[2]) : 32;
    void *keep = malloc(size);
    for (long i = 0; i < pairs; i++) {
        void *p = malloc(size);
        sink = p;
        free(p);
    }
    free(keep);
    return 0;
}
