/* gc_chain.c -- long chains: releasing and collecting them must use
 * constant stack.
 *
 *   1. A chain of 10 million 16-byte objects, each holding the next, goes
 *      with one pm_gc_decref of its head, called from a thread whose whole
 *      stack is 256 KiB (recursion over the chain would need hundreds of
 *      megabytes).
 *   2. A chain of 1 million objects with finalizers: each finalized once.
 *   3. A chain of 1 million closed into a ring (garbage) and a live chain of
 *      1 million: collected from the same small stack; the ring reclaimed,
 *      the live chain kept and then released.
 *
 * argv[1] scales the chain lengths down (for runs under valgrind): the
 * lengths are divided by it.  Automatic collection is off.  Everything runs
 * on the small stack's thread (objects stay in the thread that made them). */
#include "gc_test.h"

#include <pthread.h>

typedef struct link {
    struct link *next;
    long val;
} link_t; /* 16 bytes: one reference and a payload */

static void link_traverse(void *obj, pm_gc_visit_fn visit, void *arg)
{
    link_t *l = obj;
    if (l->next)
        visit(l->next, arg);
}

static unsigned long link_fins;
static void link_finalize(void *obj)
{
    (void)obj;
    link_fins++;
}

static const pm_gc_type t_link = {"link", link_traverse, NULL, NULL};
static const pm_gc_type t_link_fin = {"link_fin", link_traverse, link_finalize, NULL};

/* head -> ... -> tail, n objects; the only reference the caller holds is
 * to the head. *tailp gets the last one. */
static link_t *chain(const pm_gc_type *type, long n, link_t **tailp)
{
    link_t *head = pm_gc_new(type, sizeof(link_t)), *p = head;
    if (!head)
        exit(2);
    pm_gc_track(head);
    for (long i = 1; i < n; i++) {
        link_t *l = pm_gc_new(type, sizeof(link_t));
        if (!l)
            exit(2);
        l->val = i;
        pm_gc_track(l);
        p->next = l; /* the new object's reference moves into the field */
        p = l;
    }
    if (tailp)
        *tailp = p;
    return head;
}

/* Runs fn(arg) on a thread with a 256 KiB stack. */
static void on_small_stack(void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    if (pthread_create(&t, &attr, fn, arg) != 0) {
        fprintf(stderr, "FATAL: pthread_create\n");
        exit(2);
    }
    pthread_join(t, NULL);
    pthread_attr_destroy(&attr);
}

static void *release(void *head)
{
    pm_gc_decref(head);
    return NULL;
}

static size_t collected;
static void *collect_full(void *arg)
{
    (void)arg;
    collected = pm_gc_collect(2);
    return NULL;
}

static long scale = 1;

static void *body(void *arg)
{
    (void)arg;
    const long big = 10000000 / scale, mid = 1000000 / scale;
    pm_gc_disable();
    gt_settle();

    /* 1. Ten million, one decref. */
    pm_gc_stats s0 = gt_stats();
    link_t *head = chain(&t_link, big, NULL);
    pm_gc_stats s1 = gt_stats();
    CHECK("chain: all tracked", s1.tracked[0] - s0.tracked[0] == (uint64_t)big);
    pm_gc_weakref *wtail;
    {
        link_t *p = head;
        while (p->next)
            p = p->next;
        wtail = pm_gc_weakref_new(p);
    }
    release(head);
    pm_gc_stats s2 = gt_stats();
    CHECK("chain: every object freed by its count",
          s2.freed_by_refcount - s0.freed_by_refcount == (uint64_t)big);
    CHECK("chain: nothing left tracked", gt_tracked(&s2) == gt_tracked(&s0));
    CHECK("chain: the tail is gone too", !gt_alive(wtail));
    pm_gc_weakref_free(wtail);

    /* 2. With finalizers. */
    link_fins = 0;
    head = chain(&t_link_fin, mid, NULL);
    release(head);
    CHECK("finalizer chain: each finalized once", link_fins == (unsigned long)mid);
    pm_gc_stats s3 = gt_stats();
    CHECK("finalizer chain: stats", s3.finalized - s2.finalized == (uint64_t)mid &&
                                        gt_tracked(&s3) == gt_tracked(&s0));

    /* 3. A ring of a million (garbage) and a live chain of a million,
     * collected from a small stack. */
    link_t *tail;
    link_t *ring = chain(&t_link, mid, &tail);
    tail->next = ring; /* closes the ring: the caller's reference moves in */
    link_t *live = chain(&t_link, mid, &tail);
    pm_gc_weakref *wlive_tail = pm_gc_weakref_new(tail);
    collect_full(NULL);
    CHECK("ring of a million reclaimed", collected == (size_t)mid);
    CHECK("live chain kept", gt_alive(wlive_tail));
    long len = 0;
    for (link_t *p = live; p; p = p->next)
        len += pm_gc_refcount(p) == 1 && p->val == len;
    CHECK("live chain intact", len == mid);
    pm_gc_stats s4 = gt_stats();
    CHECK("live chain promoted to generation 2", s4.tracked[2] == (uint64_t)mid);
    collect_full(NULL);
    CHECK("live chain survives a second full collection", collected == 0);
    release(live);
    CHECK("live chain released", !gt_alive(wlive_tail));
    pm_gc_weakref_free(wlive_tail);
    pm_gc_stats s5 = gt_stats();
    CHECK("nothing left", gt_tracked(&s5) == 0);
    return NULL;
}

int main(int argc, char **argv)
{
    pm_test_require_poolmalloc();
    scale = argc > 1 ? atol(argv[1]) : 1;
    if (scale < 1)
        scale = 1;
    on_small_stack(body, NULL);
    return pm_test_finish();
}
