/* gc_misuse.c -- one misuse of the refcount-and-cycle layer per process,
 * chosen by argv[1].
 *
 * The program prints the offending pointer ("%p") on stdout, flushes, then
 * commits the misuse.  The layer must abort (SIGABRT) with one line on
 * stderr that starts "poolmalloc: pm_gc_", names the call and the pointer;
 * tests/api/expect_abort.sh checks that.  If the misuse goes unnoticed the
 * program reaches the end and exits 3.
 *
 * Cases:
 *   decref_freed         pm_gc_decref of an object already freed (its memory
 *                        not reused meanwhile)
 *   decref_foreign       pm_gc_decref of a malloc'd block
 *   decref_interior      pm_gc_decref of a pointer inside an object
 *   incref_foreign       pm_gc_incref of a malloc'd block
 *   incref_freed         pm_gc_incref of an object already freed
 *   decref_large         pm_gc_decref of a large (page-aligned, mmap'd)
 *                        malloc block
 *   decref_page_start    pm_gc_decref of the first byte of a mapping whose
 *                        preceding page is not mapped
 *   decref_static        pm_gc_decref of a static array
 *   decref_in_finalizer  a finalizer running at count zero takes its own
 *                        count below zero
 *   overcount            a collection finds an object referenced by more
 *                        tracked objects than its count says; the object
 *                        comes after a holder in its generation, so the
 *                        scan reaches it through that holder first
 *   overcount_first      the same, the object created before its holders
 *   incref_teardown      a finalizer run by a collection's teardown takes a
 *                        strong reference to the garbage through a borrowed
 *                        pointer
 *   track_twice          pm_gc_track of a tracked object
 *   track_no_traverse    pm_gc_track of an object whose type has no traverse
 *   resize_shared        pm_gc_resize of an object with two references
 *   incref_other_thread  pm_gc_incref of another thread's object
 *   weakref_get_other_thread  pm_gc_weakref_get of another thread's weakref
 *   valid                control: correct use, exits 0 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <pthread.h>

#include "gc_test.h"

static void announce(const void *p)
{
    printf("%p\n", p);
    fflush(stdout);
}

/* The compiler must not see through these. */
static void (*volatile decref_fn)(void *) = pm_gc_decref;
static void (*volatile incref_fn)(void *) = pm_gc_incref;

static char static_array[256];

/* incref_teardown: an untracked object held by a garbage cycle, with a
 * borrowed pointer back to its owner */
typedef struct backptr {
    void *owner;
} backptr;
static void backptr_finalize(void *obj)
{
    announce(((backptr *)obj)->owner);
    incref_fn(((backptr *)obj)->owner);
}
static const pm_gc_type t_backptr = {"backptr", NULL, backptr_finalize, NULL};

static void *other_obj;
static pm_gc_weakref *other_weak;
static void *make_in_thread(void *arg)
{
    (void)arg;
    other_obj = gt_new(&t_plain, 500);
    other_weak = pm_gc_weakref_new(other_obj);
    return NULL;    /* the thread exits: its objects stay, owned by it */
}

static void self_decref(void *obj)
{
    announce(obj);
    decref_fn(obj);
}
static const pm_gc_type t_self_decref = {"self_decref", gt_traverse, self_decref, NULL};

int main(int argc, char **argv)
{
    struct rlimit nocore = {0, 0};
    setrlimit(RLIMIT_CORE, &nocore); /* the expected abort must not dump core */
    pm_test_require_poolmalloc();
    if (argc < 2) {
        fprintf(stderr, "usage: %s CASE\n", argv[0]);
        return 2;
    }
    const char *c = argv[1];
    pm_gc_disable();

    /* Some ordinary traffic first: live objects around the victim. */
    tnode *keep[32];
    for (int i = 0; i < 32; i++)
        keep[i] = gt_new(&t_plain, i);
    for (int i = 1; i < 32; i++)
        gt_set(keep[i], 0, keep[i - 1]);

    if (!strcmp(c, "decref_freed")) {
        tnode *a = gt_new(&t_plain, 100);
        tnode *neighbour = gt_new(&t_plain, 101);
        decref_fn(a);
        announce(a);
        decref_fn(a);
        pm_gc_decref(neighbour);
    } else if (!strcmp(c, "decref_foreign")) {
        char *p = malloc(48);
        memset(p, 0, 48);
        announce(p);
        decref_fn(p);
        free(p);
    } else if (!strcmp(c, "decref_interior")) {
        tnode *a = gt_new(&t_plain, 100);
        void *inside = (char *)a + 16;
        announce(inside);
        decref_fn(inside);
        pm_gc_decref(a);
    } else if (!strcmp(c, "incref_foreign")) {
        char *p = malloc(64);
        memset(p, 0, 64);
        announce(p);
        incref_fn(p);
        free(p);
    } else if (!strcmp(c, "incref_freed")) {
        tnode *a = gt_new(&t_plain, 100);
        tnode *neighbour = gt_new(&t_plain, 101);
        decref_fn(a);
        announce(a);
        incref_fn(a);
        pm_gc_decref(neighbour);
    } else if (!strcmp(c, "decref_large")) {
        char *p = malloc(100000);
        memset(p, 0, 100000);
        announce(p);
        decref_fn(p);
        free(p);
    } else if (!strcmp(c, "decref_page_start")) {
        long pg = sysconf(_SC_PAGESIZE);
        char *m = mmap(NULL, 2 * (size_t)pg, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return 2;
        munmap(m, (size_t)pg); /* nothing mapped before m + pg */
        announce(m + pg);
        decref_fn(m + pg);
    } else if (!strcmp(c, "decref_static")) {
        announce(static_array + 64);
        decref_fn(static_array + 64);
    } else if (!strcmp(c, "decref_in_finalizer")) {
        void *a = pm_gc_new(&t_self_decref, sizeof(tnode));
        decref_fn(a); /* count 0: its finalizer decrefs it once more */
    } else if (!strcmp(c, "overcount") || !strcmp(c, "overcount_first")) {
        tnode *a, *b, *d;
        if (!strcmp(c, "overcount")) {
            a = gt_new(&t_plain, 100);
            b = gt_new(&t_plain, 101);
            d = gt_new(&t_plain, 102);
        } else {
            b = gt_new(&t_plain, 101);
            a = gt_new(&t_plain, 100);
            d = gt_new(&t_plain, 102);
        }
        gt_set(a, 0, b); /* b: count 2 */
        d->kid[0] = b;   /* a second reference from a tracked object, not counted */
        pm_gc_decref(b); /* b: count 1, held by a and d */
        announce(b);
        pm_gc_collect(2);
        d->kid[0] = NULL;
        pm_gc_decref(a);
        pm_gc_decref(d);
    } else if (!strcmp(c, "incref_teardown")) {
        tnode *r[2];
        gt_ring(&t_plain, r, 2, 100);
        backptr *b = pm_gc_new(&t_backptr, sizeof *b);
        b->owner = r[0];
        r[0]->kid[1] = (tnode *)b;
        gt_drop_all(r, 2);
        pm_gc_collect(2);
    } else if (!strcmp(c, "track_twice")) {
        tnode *a = gt_new(&t_plain, 100);   /* tracked by gt_new */
        announce(a);
        pm_gc_track(a);
    } else if (!strcmp(c, "track_no_traverse")) {
        tnode *a = gt_new(&t_leaf, 100);
        announce(a);
        pm_gc_track(a);
    } else if (!strcmp(c, "resize_shared")) {
        tnode *a = gt_new(&t_plain, 100);
        pm_gc_incref(a);
        announce(a);
        pm_gc_resize(a, 1000);
    } else if (!strcmp(c, "incref_other_thread") || !strcmp(c, "weakref_get_other_thread")) {
        pthread_t t;
        pthread_create(&t, NULL, make_in_thread, NULL);
        pthread_join(t, NULL);
        if (c[0] == 'i') {
            announce(other_obj);
            incref_fn(other_obj);
        } else {
            announce(other_weak);
            pm_gc_weakref_get(other_weak);
        }
    } else if (!strcmp(c, "valid")) {
        tnode *r[3];
        gt_ring(&t_fin, r, 3, 100);
        announce(r[0]);
        gt_drop_all(r, 3);
        if (pm_gc_collect(2) != 3)
            return 4;
        pm_gc_decref(keep[31]);
        return pm_gc_collect(2) == 0 ? 0 : 5;
    } else {
        fprintf(stderr, "unknown case %s\n", c);
        return 2;
    }
    printf("misuse was not detected\n");
    fflush(stdout);
    return 3;
}
