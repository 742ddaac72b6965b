/* batch.c -- allocate a batch of objects, then free them all.
 *
 * batch_lifo/SIZE, batch_fifo/SIZE, batch_random/SIZE: 10^5 blocks of SIZE
 * bytes are allocated and written, then freed in LIFO order (the last
 * allocated first), FIFO order (the first allocated first) or a random
 * order.  The
 * order decides how an allocator's free lists end up, and how many pages
 * it must touch, empty and give back.  One operation is one malloc and one
 * free.  object_rounds (below): the same at 68 MB, round after round.
 * medium_batches (below): batches of 64 blocks of 8..16 KiB.
 */
#include "workloads.h"

#include <string.h>

enum { ORDER_LIFO = 0, ORDER_FIFO = 1, ORDER_RANDOM = 2 };

static void batch_run(pmb_state *st, int order_kind)
{
    size_t size = (size_t)pmb_arg(st, 0);
    const size_t count = 100000;
    char **blocks = pmb_check(malloc(count * sizeof *blocks), count * sizeof *blocks);
    uint32_t *order = NULL;
    if (order_kind == ORDER_RANDOM) {
        order = pmb_check(malloc(count * sizeof *order), count * sizeof *order);
        pmb_shuffle(order, count, 0x243F6A8885A308D3ULL);
    }
    while (pmb_keep_running_batch(st, (int64_t)count)) {
        for (size_t i = 0; i < count; i++) {
            char *p = pmb_check(malloc(size), size);
            p[0] = (char)i;
            blocks[i] = p;
        }
        pmb_clobber_memory();
        switch (order_kind) {
        case ORDER_LIFO:
            for (size_t i = count; i-- > 0;)
                free(blocks[i]);
            break;
        case ORDER_FIFO:
            for (size_t i = 0; i < count; i++)
                free(blocks[i]);
            break;
        default:
            for (size_t i = 0; i < count; i++)
                free(blocks[order[i]]);
            break;
        }
    }
    free(order);
    free(blocks);
}

void pmb_batch_lifo(pmb_state *st)
{
    batch_run(st, ORDER_LIFO);
}

void pmb_batch_fifo(pmb_state *st)
{
    batch_run(st, ORDER_FIFO);
}

void pmb_batch_random(pmb_state *st)
{
    batch_run(st, ORDER_RANDOM);
}

/* object_rounds: 131072 objects of 16..1024 bytes (sizes at random, about
 * 68 MB) made, their first word written, and all freed in the order made,
 * round after round: far more than an allocator keeps of freed small
 * memory by default, so whether one round's pages serve the next.  Two
 * rounds run before the clock starts (PMB_ROUNDS_WARM, workloads.h): the
 * first faults the whole set in under every allocator, the second is
 * where poolmalloc's arena reserve learns that the rounds come back. */
#define OBJ_ROUNDS_COUNT 131072
static void object_round(char **objs, uint64_t *rng)
{
    for (size_t i = 0; i < OBJ_ROUNDS_COUNT; i++) {
        size_t size = 16 + (size_t)(pmb_rand(rng) % 1009);
        char *p = pmb_check(malloc(size), size);
        memcpy(p, &i, sizeof i);
        objs[i] = p;
    }
    pmb_clobber_memory();
    for (size_t i = 0; i < OBJ_ROUNDS_COUNT; i++)
        free(objs[i]);
}

void pmb_object_rounds(pmb_state *st)
{
    uint64_t rng = 0x6A09E667F3BCC908ULL;
    char **objs = pmb_check(malloc(OBJ_ROUNDS_COUNT * sizeof *objs), OBJ_ROUNDS_COUNT * sizeof *objs);
    for (int warm = 0; warm < PMB_ROUNDS_WARM; warm++)   /* before the clock (above) */
        object_round(objs, &rng);
    while (pmb_keep_running_batch(st, OBJ_ROUNDS_COUNT))
        object_round(objs, &rng);
    free(objs);
}

/* medium_batches: 64 blocks of 8..16 KiB (sizes at random, about 770 KB)
 * made, their first and last bytes written, then freed in the order made,
 * batch after batch: a server's I/O buffers for a burst of requests (8 KiB
 * stdio and socket buffers, 16 KiB TLS records), a parser's chunk buffers.
 * More blocks than a thread cache holds of sizes this big (glibc's tcache
 * stops at 1 KiB, poolmalloc's holds 8 KiB of a medium class), so whether
 * the pages of one batch serve the next without being set up again. */
#define MEDIUM_BATCH 64
#define MEDIUM_MIN ((size_t)8 << 10)
#define MEDIUM_SPAN ((size_t)8 << 10)

void pmb_medium_batches(pmb_state *st)
{
    uint64_t rng = 0xBB67AE8584CAA73BULL;
    size_t sizes[MEDIUM_BATCH];
    char *blocks[MEDIUM_BATCH];
    for (unsigned i = 0; i < MEDIUM_BATCH; i++)
        sizes[i] = MEDIUM_MIN + (size_t)(pmb_rand(&rng) % (MEDIUM_SPAN + 1));
    while (pmb_keep_running_batch(st, MEDIUM_BATCH)) {
        for (unsigned i = 0; i < MEDIUM_BATCH; i++) {
            char *p = pmb_check(malloc(sizes[i]), sizes[i]);
            p[0] = (char)i;
            p[sizes[i] - 1] = (char)i;
            blocks[i] = p;
        }
        pmb_clobber_memory();
        for (unsigned i = 0; i < MEDIUM_BATCH; i++)
            free(blocks[i]);
    }
}
