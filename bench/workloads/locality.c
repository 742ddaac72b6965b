/* locality.c -- how well the allocator places objects that are used together.
 *
 * locality_fresh/NODES, locality_churned/NODES: a singly linked list of NODES nodes (48 bytes:
 * next, key, value, a pointer to a string) is built in allocation order; each
 * node also gets a string of 8..128 bytes, and every other string is
 * freed again at once (the temporaries a real program allocates between the
 * nodes it keeps).  In locality_churned the heap is first churned: as many
 * blocks of the node size and of string sizes are allocated and freed in a
 * random order, so that the allocator's free lists are scrambled, as in a
 * program that has been running for a while.  The building is not timed;
 * the timed part walks the list and sums the nodes' values and keys.  One
 * operation is one node visited.
 */
#include "workloads.h"

typedef struct node_s {
    struct node_s *next;
    uint64_t key;
    uint64_t value;
    char *name;
    uint64_t pad[2];            /* 48 bytes: a typical small record */
} node_t;

static void heap_churn(size_t n, uint64_t seed)
{
    char **blocks = pmb_check(malloc(2 * n * sizeof *blocks), 2 * n * sizeof *blocks);
    uint32_t *order = pmb_check(malloc(2 * n * sizeof *order), 2 * n * sizeof *order);
    uint64_t rng = seed;
    for (size_t i = 0; i < 2 * n; i++) {
        size_t size = (i & 1) ? 8 + pmb_rand(&rng) % 121 : sizeof(node_t);
        blocks[i] = pmb_check(malloc(size), size);
        blocks[i][0] = 1;
    }
    pmb_shuffle(order, 2 * n, seed + 1);
    for (size_t i = 0; i < 2 * n; i++)
        free(blocks[order[i]]);
    free(order);
    free(blocks);
}

static void locality_run(pmb_state *st, int churned)
{
    size_t n = (size_t)pmb_arg(st, 0);
    uint64_t rng = 0xA54FF53A5F1D36F1ULL;
    if (churned)
        heap_churn(n, rng);
    node_t *head = NULL, **tail = &head;
    for (size_t i = 0; i < n; i++) {
        node_t *nd = pmb_check(malloc(sizeof *nd), sizeof *nd);
        size_t len = 8 + pmb_rand(&rng) % 121;
        nd->next = NULL;
        nd->key = i;
        nd->value = pmb_rand(&rng) & 0xFFFF;
        nd->name = pmb_check(malloc(len), len);
        nd->name[0] = (char)i;
        if (i & 1) {
            free(nd->name);         /* a temporary: dropped at once */
            nd->name = NULL;
        }
        *tail = nd;
        tail = &nd->next;
    }
    uint64_t sum = 0;
    while (pmb_keep_running_batch(st, (int64_t)n)) {
        for (const node_t *nd = head; nd != NULL; nd = nd->next)
            sum += nd->value ^ nd->key;
        pmb_do_not_optimize(&sum);
    }
    while (head != NULL) {
        node_t *next = head->next;
        free(head->name);
        free(head);
        head = next;
    }
}

void pmb_locality_fresh(pmb_state *st)
{
    locality_run(st, 0);
}

void pmb_locality_churned(pmb_state *st)
{
    locality_run(st, 1);
}
