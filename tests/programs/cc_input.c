/* cc_input.c -- the C program cc.sh compiles and links with the C compiler
 * running on poolmalloc.  (It is compiled and run as data for that test; it
 * is not part of the build.)  Deterministic: word frequencies in a hash
 * table, qsort, a binary heap, a merge sort of a linked list, a small
 * red-black-free binary search tree, CRC-32, and a matrix product. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- deterministic generator ------------------------------------------ */
static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

/* ---- CRC-32 ------------------------------------------------------------ */
static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32_update(uint32_t crc, const void *data, size_t n)
{
    const unsigned char *p = data;
    crc = ~crc;
    while (n--) crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ---- hash table with chaining and resizing ----------------------------- */
struct entry {
    struct entry *next;
    uint32_t hash;
    unsigned count;
    char word[];
};

struct table {
    struct entry **slots;
    size_t nslots, nentries;
};

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s) {
        h ^= (unsigned char)*s++;
        h *= 16777619u;
    }
    return h;
}

static void table_init(struct table *t)
{
    t->nslots = 16;
    t->nentries = 0;
    t->slots = calloc(t->nslots, sizeof *t->slots);
    if (!t->slots) exit(1);
}

static void table_grow(struct table *t)
{
    size_t n = t->nslots * 2;
    struct entry **s = calloc(n, sizeof *s);
    if (!s) exit(1);
    for (size_t i = 0; i < t->nslots; i++) {
        struct entry *e = t->slots[i];
        while (e) {
            struct entry *next = e->next;
            e->next = s[e->hash & (n - 1)];
            s[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(t->slots);
    t->slots = s;
    t->nslots = n;
}

static void table_add(struct table *t, const char *w)
{
    uint32_t h = fnv1a(w);
    for (struct entry *e = t->slots[h & (t->nslots - 1)]; e; e = e->next)
        if (e->hash == h && strcmp(e->word, w) == 0) {
            e->count++;
            return;
        }
    size_t len = strlen(w);
    struct entry *e = xmalloc(sizeof *e + len + 1);
    memcpy(e->word, w, len + 1);
    e->hash = h;
    e->count = 1;
    e->next = t->slots[h & (t->nslots - 1)];
    t->slots[h & (t->nslots - 1)] = e;
    if (++t->nentries > t->nslots * 3 / 4) table_grow(t);
}

static void table_free(struct table *t)
{
    for (size_t i = 0; i < t->nslots; i++) {
        struct entry *e = t->slots[i];
        while (e) {
            struct entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(t->slots);
}

static int by_count_then_word(const void *a, const void *b)
{
    const struct entry *x = *(struct entry *const *)a, *y = *(struct entry *const *)b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return strcmp(x->word, y->word);
}

/* ---- binary min-heap of integers --------------------------------------- */
struct heap {
    int *v;
    size_t n, cap;
};

static void heap_push(struct heap *h, int x)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 8;
        h->v = realloc(h->v, h->cap * sizeof *h->v);
        if (!h->v) exit(1);
    }
    size_t i = h->n++;
    while (i > 0 && h->v[(i - 1) / 2] > x) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = x;
}

static int heap_pop(struct heap *h)
{
    int top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && h->v[c + 1] < h->v[c]) c++;
        if (h->v[c] >= last) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

/* ---- linked list merge sort -------------------------------------------- */
struct node {
    struct node *next;
    long key;
};

static struct node *merge(struct node *a, struct node *b)
{
    struct node head = {0, 0}, *t = &head;
    while (a && b) {
        if (a->key <= b->key) {
            t->next = a;
            a = a->next;
        } else {
            t->next = b;
            b = b->next;
        }
        t = t->next;
    }
    t->next = a ? a : b;
    return head.next;
}

static struct node *msort(struct node *l)
{
    if (!l || !l->next) return l;
    struct node *slow = l, *fast = l->next;
    while (fast && fast->next) {
        slow = slow->next;
        fast = fast->next->next;
    }
    struct node *right = slow->next;
    slow->next = NULL;
    return merge(msort(l), msort(right));
}

/* ---- unbalanced binary search tree ------------------------------------- */
struct tnode {
    struct tnode *l, *r;
    int key;
    int dup;
};

static struct tnode *tree_insert(struct tnode *t, int key)
{
    struct tnode **pp = &t;
    while (*pp) {
        if (key == (*pp)->key) {
            (*pp)->dup++;
            return t;
        }
        pp = key < (*pp)->key ? &(*pp)->l : &(*pp)->r;
    }
    *pp = xmalloc(sizeof **pp);
    (*pp)->l = (*pp)->r = NULL;
    (*pp)->key = key;
    (*pp)->dup = 0;
    return t;
}

static long tree_walk(const struct tnode *t, long *prev, int *ordered)
{
    if (!t) return 0;
    long s = tree_walk(t->l, prev, ordered);
    if (*prev >= t->key) *ordered = 0;
    *prev = t->key;
    s += (long)t->key * (t->dup + 1);
    return s + tree_walk(t->r, prev, ordered);
}

static int tree_height(const struct tnode *t)
{
    if (!t) return 0;
    int a = tree_height(t->l), b = tree_height(t->r);
    return 1 + (a > b ? a : b);
}

static void tree_free(struct tnode *t)
{
    if (!t) return;
    tree_free(t->l);
    tree_free(t->r);
    free(t);
}

/* ---- main -------------------------------------------------------------- */
int main(void)
{
    static const char *syll[] = {"ka", "lo", "mi", "ne", "ru", "so", "ta", "vi", "ze", "qu", "x", "y"};
    crc_init();

    /* 1. word frequencies */
    struct table t;
    table_init(&t);
    uint32_t crc = 0;
    for (int i = 0; i < 200000; i++) {
        char w[32];
        int n = 1 + (int)(rng() % 3), len = 0;
        for (int k = 0; k < n; k++) len += sprintf(w + len, "%s", syll[rng() % 12]);
        table_add(&t, w);
        crc = crc32_update(crc, w, (size_t)len);
    }
    struct entry **all = xmalloc(t.nentries * sizeof *all);
    size_t k = 0;
    for (size_t i = 0; i < t.nslots; i++)
        for (struct entry *e = t.slots[i]; e; e = e->next) all[k++] = e;
    qsort(all, k, sizeof *all, by_count_then_word);
    printf("words: %zu distinct, crc %08x\n", k, (unsigned)crc);
    for (size_t i = 0; i < 5; i++) printf("  %-8s %u\n", all[i]->word, all[i]->count);
    printf("  last: %s %u\n", all[k - 1]->word, all[k - 1]->count);
    free(all);
    table_free(&t);

    /* 2. heap sort of 100000 values */
    struct heap h = {0, 0, 0};
    for (int i = 0; i < 100000; i++) heap_push(&h, (int)(rng() % 1000000));
    long hsum = 0;
    int prev = -1, ok = 1;
    while (h.n) {
        int x = heap_pop(&h);
        if (x < prev) ok = 0;
        prev = x;
        hsum += x;
    }
    free(h.v);
    printf("heap: sorted=%d sum=%ld max=%d\n", ok, hsum, prev);

    /* 3. linked list merge sort */
    struct node *list = NULL;
    for (int i = 0; i < 50000; i++) {
        struct node *n = xmalloc(sizeof *n);
        n->key = (long)(rng() % 100000) - 50000;
        n->next = list;
        list = n;
    }
    list = msort(list);
    long lsum = 0, lprev = -100000;
    ok = 1;
    int count = 0;
    while (list) {
        struct node *n = list;
        list = n->next;
        if (n->key < lprev) ok = 0;
        lprev = n->key;
        lsum += n->key * (count++ % 7);
        free(n);
    }
    printf("list: %d nodes sorted=%d weighted=%ld\n", count, ok, lsum);

    /* 4. binary search tree */
    struct tnode *root = NULL;
    for (int i = 0; i < 30000; i++) root = tree_insert(root, (int)(rng() % 20000));
    long tprev = -1;
    ok = 1;
    long tsum = tree_walk(root, &tprev, &ok);
    printf("tree: in-order=%d sum=%ld height=%d\n", ok, tsum, tree_height(root));
    tree_free(root);

    /* 5. matrix product */
    enum { N = 64 };
    long (*a)[N] = xmalloc(sizeof(long[N][N])), (*b)[N] = xmalloc(sizeof(long[N][N]));
    long (*c)[N] = calloc(N, sizeof *c);
    if (!c) return 1;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            a[i][j] = (i * 31 + j * 17) % 23 - 11;
            b[i][j] = (i * 7 + j * 13) % 19 - 9;
        }
    for (int i = 0; i < N; i++)
        for (int l = 0; l < N; l++)
            for (int j = 0; j < N; j++) c[i][j] += a[i][l] * b[l][j];
    long trace = 0, total = 0;
    for (int i = 0; i < N; i++) {
        trace += c[i][i];
        for (int j = 0; j < N; j++) total += c[i][j];
    }
    printf("matrix: trace=%ld total=%ld crc=%08x\n", trace, total,
           (unsigned)crc32_update(0, c, sizeof(long[N][N])));
    free(a);
    free(b);
    free(c);
    return 0;
}
