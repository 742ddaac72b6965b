/* small_loop.c -- a first single-threaded small-object figure.
 *
 * Allocates rounds of 1000 blocks of 8..512 bytes (deterministic mix),
 * writes a byte in each, frees them in a shuffled order; prints nanoseconds
 * per malloc+free pair and peak RSS.  The same binary runs under every
 * allocator by LD_PRELOAD.  The README's first figure; the harness runs the
 * same pattern as pm_bench's small_loop workload (bench/compare).
 *   small_loop [rounds]      default 20000 rounds (20 M pairs)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BATCH 1000

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 20000;
    static void *slots[BATCH];
    static unsigned sizes[BATCH], order[BATCH];
    unsigned long long x = 88172645463325252ULL;
    for (int i = 0; i < BATCH; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        sizes[i] = 8 + (unsigned)(x % 505);
        order[i] = (unsigned)i;
    }
    for (int i = BATCH - 1; i > 0; i--) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        unsigned j = (unsigned)(x % (unsigned)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned long sum = 0;
    for (long r = 0; r < rounds; r++) {
        for (int i = 0; i < BATCH; i++) {
            char *p = malloc(sizes[i]);
            p[0] = (char)i;
            slots[i] = p;
        }
        for (int i = 0; i < BATCH; i++) {
            char *p = slots[order[i]];
            sum += (unsigned char)p[0];
            free(p);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / ((double)rounds * BATCH);
    /* VmHWM: this program's own peak (ru_maxrss would include the shell that
     * exec'd it). */
    long hwm = -1;
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld", &hwm) == 1)
            break;
    if (f)
        fclose(f);
    printf("ns_per_pair=%.2f peak_rss_kib=%ld check=%lu\n", ns, hwm, sum);
    return 0;
}
