/* gc_interp.c -- the object model of a tiny Lisp-like interpreter on top of
 * poolmalloc_gc.h, and the cycle collector at work on it.
 *
 * Values are tagged objects:
 *
 *   int      a number                   untracked (holds no references)
 *   sym      a name                     untracked
 *   pair     (car . cdr)                tracked: lists, association lists
 *   env      bindings + parent env      tracked
 *   closure  parameter, body, env       tracked
 *   port     an "open file"             untracked, with a finalizer
 *
 * Reference counts free most temporaries at once.  What they cannot free are
 * cycles, and an interpreter makes them all the time: a function defined in
 * an environment is bound in that environment and captures it (env <->
 * closure); every call that creates an inner closure leaves behind a frame
 * referencing a closure referencing the frame; set-cdr! closes a list into
 * a ring.  The program runs a little workload that makes such garbage, with
 * automatic collection on, prints each collection from a callback, then
 * collects what is left and prints the statistics.
 *
 * Build: part of the CMake build (examples/), or by hand:
 *   cc -O2 -Iinclude examples/gc_interp.c -Lbuild -lpoolmalloc -Wl,-rpath,build
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poolmalloc_gc.h"

/* ---- the object model ---------------------------------------------------- */

typedef struct value value; /* any of the payloads below */

typedef struct { long n; } int_obj;
typedef struct { char name[16]; } sym_obj;
typedef struct { value *car, *cdr; } pair_obj;
typedef struct { value *bindings, *parent; } env_obj; /* bindings: alist of (sym . value) */
typedef struct { value *param, *body, *env; } closure_obj;
typedef struct { int fd; } port_obj;

static void pair_traverse(void *o, pm_gc_visit_fn visit, void *arg)
{
    pair_obj *p = o;
    if (p->car) visit(p->car, arg);
    if (p->cdr) visit(p->cdr, arg);
}
static void env_traverse(void *o, pm_gc_visit_fn visit, void *arg)
{
    env_obj *e = o;
    if (e->bindings) visit(e->bindings, arg);
    if (e->parent) visit(e->parent, arg);
}
static void closure_traverse(void *o, pm_gc_visit_fn visit, void *arg)
{
    closure_obj *c = o;
    if (c->param) visit(c->param, arg);
    if (c->body) visit(c->body, arg);
    if (c->env) visit(c->env, arg);
}

static int ports_open;
static void port_finalize(void *o)
{
    port_obj *p = o;
    printf("  [finalizer] closing port fd=%d\n", p->fd);
    ports_open--;
}

static const pm_gc_type INT = {"int", NULL, NULL, NULL};
static const pm_gc_type SYM = {"sym", NULL, NULL, NULL};
static const pm_gc_type PAIR = {"pair", pair_traverse, NULL, NULL};
static const pm_gc_type ENV = {"env", env_traverse, NULL, NULL};
static const pm_gc_type CLOSURE = {"closure", closure_traverse, NULL, NULL};
static const pm_gc_type PORT = {"port", NULL, port_finalize, NULL};

static void *alloc(const pm_gc_type *t, size_t size)
{
    void *o = pm_gc_new(t, size);
    if (!o) {
        perror("pm_gc_new");
        exit(1);
    }
    return o;
}

/* Constructors return a new reference; those taking values "steal" the
 * references passed in (as CPython's PyList_SET_ITEM does), which keeps
 * expressions short. */
static value *mk_int(long n) { int_obj *i = alloc(&INT, sizeof *i); i->n = n; return (value *)i; }
static value *mk_sym(const char *s)
{
    sym_obj *y = alloc(&SYM, sizeof *y);
    snprintf(y->name, sizeof y->name, "%s", s);
    return (value *)y;
}
static value *cons(value *car, value *cdr)
{
    pair_obj *p = alloc(&PAIR, sizeof *p);
    p->car = car, p->cdr = cdr;
    pm_gc_track(p);     /* complete: the collector may traverse it from now on */
    return (value *)p;
}
static value *mk_env(value *parent) /* borrows parent */
{
    env_obj *e = alloc(&ENV, sizeof *e);
    pm_gc_incref(parent);
    e->parent = parent;
    pm_gc_track(e);
    return (value *)e;
}
static value *mk_closure(value *param, value *body, value *env) /* borrows env */
{
    closure_obj *c = alloc(&CLOSURE, sizeof *c);
    c->param = param, c->body = body;
    pm_gc_incref(env);
    c->env = env;
    pm_gc_track(c);
    return (value *)c;
}
static value *mk_port(int fd)
{
    port_obj *p = alloc(&PORT, sizeof *p);
    p->fd = fd;
    ports_open++;
    return (value *)p;
}
#define DROP(v) pm_gc_decref(v)

/* (define name val) in env: steals name and val. */
static void define(value *env, value *name, value *val)
{
    env_obj *e = (env_obj *)env;
    e->bindings = cons(cons(name, val), e->bindings);
}

/* ---- a workload ---------------------------------------------------------- */

/* A call of a function whose body defines a helper closure in the new frame:
 * the frame binds the helper, the helper captures the frame.  After the call
 * returns only the cycle refers to them: 7 tracked objects of garbage (the
 * frame, two binding cells, two binding pairs, the closure and its body's
 * list), plus the untracked ints and syms, which go with them. */
static long call_with_helper(value *fenv, long arg)
{
    value *frame = mk_env(fenv);
    define(frame, mk_sym("x"), mk_int(arg));
    value *helper = mk_closure(mk_sym("y"), cons(mk_sym("+"), NULL), frame);
    define(frame, mk_sym("helper"), helper); /* frame -> helper -> frame */
    long result = arg * 2;                     /* "evaluate" the body */
    DROP(frame);                               /* the call returns */
    return result;
}

/* (let ((l (list 1 2 ... n))) (set-cdr! (last l) l)): a circular list. */
static void make_ring(int n)
{
    value *head = cons(mk_int(0), NULL), *last = head;
    for (int i = 1; i < n; i++) {
        value *cell = cons(mk_int(i), NULL);
        ((pair_obj *)last)->cdr = cell;
        last = cell;
    }
    pm_gc_incref(head);
    ((pair_obj *)last)->cdr = head; /* set-cdr!: the ring holds itself */
    DROP(head);
}

/* A list of temporaries: no cycle, freed by its count the moment it drops. */
static long sum_list(int n)
{
    value *l = NULL;
    for (int i = 0; i < n; i++)
        l = cons(mk_int(i), l);
    long s = 0;
    for (value *p = l; p; p = ((pair_obj *)p)->cdr)
        s += ((int_obj *)((pair_obj *)p)->car)->n;
    DROP(l);
    return s;
}

/* ---- watching the collector ---------------------------------------------- */

/* Prints every collection of generations 1 and 2 (generation 0 ones too
 * when *verbose), with the counts that triggered it. */
static void on_collection(int phase, const pm_gc_callback_info *info, void *arg)
{
    int *verbose = arg;
    static int counts[3];
    if (phase == PM_GC_PHASE_START) {
        pm_gc_get_count(counts);
        return;
    }
    if (*verbose || info->generation > 0)
        printf("   [gc] generation %d collection (counts %d %d %d): reclaimed %zu objects\n",
               info->generation, counts[0], counts[1], counts[2], info->collected);
}

static uint64_t reclaimed_so_far(uint64_t *collections)
{
    pm_gc_stats s;
    pm_gc_get_stats(&s);
    *collections = s.gen[0].collections + s.gen[1].collections + s.gen[2].collections;
    return s.gen[0].collected + s.gen[1].collected + s.gen[2].collected;
}

static void print_stats(const char *when)
{
    pm_gc_stats s;
    pm_gc_get_stats(&s);
    printf("%s:\n", when);
    for (int g = 0; g < 3; g++)
        printf("  generation %d: %llu collections, %llu objects reclaimed, %.3f ms\n", g,
               (unsigned long long)s.gen[g].collections, (unsigned long long)s.gen[g].collected,
               s.gen[g].time_ns / 1e6);
    printf("  tracked now: %llu / %llu / %llu (frozen %llu), untracked %llu\n",
           (unsigned long long)s.tracked[0], (unsigned long long)s.tracked[1],
           (unsigned long long)s.tracked[2], (unsigned long long)s.tracked[3],
           (unsigned long long)s.untracked);
    printf("  freed by reference count: %llu, finalizers run: %llu\n",
           (unsigned long long)s.freed_by_refcount, (unsigned long long)s.finalized);
}

int main(void)
{
    int verbose = 0;
    pm_gc_callback_add(on_collection, &verbose);
    pm_gc_set_threshold(2000, 10, 10);

    /* The global environment, and a function defined in it: (define f
     * (lambda (n) ...)).  The closure captures the global env, which binds
     * it: a cycle that lives as long as the program holds the env. */
    value *global = mk_env(NULL);
    value *f = mk_closure(mk_sym("n"), cons(mk_sym("helper"), NULL), global);
    define(global, mk_sym("f"), f);

    printf("1. 20000 calls of f, each leaving a frame <-> helper cycle of 7 objects,\n"
           "   with automatic collection (thresholds 2000, 10, 10):\n");
    uint64_t c0, c1;
    uint64_t r0 = reclaimed_so_far(&c0);
    long total = 0;
    for (int i = 0; i < 20000; i++)
        total += call_with_helper(global, i);
    uint64_t r1 = reclaimed_so_far(&c1);
    printf("   sum of results %ld; %llu automatic collections reclaimed %llu objects\n", total,
           (unsigned long long)(c1 - c0), (unsigned long long)(r1 - r0));

    printf("2. 100 circular lists of 50 cells (set-cdr!), and temporaries:\n");
    for (int i = 0; i < 100; i++)
        make_ring(50);
    printf("   sum_list(10000) = %ld (no cycle: its 10000 cells freed by their counts)\n",
           sum_list(10000));
    pm_gc_disable();
    verbose = 1;
    printf("   pm_gc_collect(2) reclaimed %zu objects left by 1 and 2\n", pm_gc_collect(2));

    printf("3. a port held in a cycle: its finalizer runs when the cycle is reclaimed\n");
    value *scope = mk_env(global);
    define(scope, mk_sym("out"), mk_port(3));
    define(scope, mk_sym("self"), mk_closure(NULL, NULL, scope)); /* scope <-> closure */
    pm_gc_weakref *watch = pm_gc_weakref_new(scope);
    DROP(scope);
    value *seen = pm_gc_weakref_get(watch);
    printf("   scope dropped; its count cannot reach 0, a weak reference still sees it: %s\n",
           seen ? "yes" : "no");
    DROP(seen);
    size_t n = pm_gc_collect(2);
    seen = pm_gc_weakref_get(watch);
    printf("   pm_gc_collect(2) reclaimed %zu objects; weak reference now: %s; ports open: %d\n",
           n, seen ? "alive" : "cleared", ports_open);
    DROP(seen);
    pm_gc_weakref_free(watch);

    printf("4. the program lets go of the global environment:\n");
    DROP(global);
    n = pm_gc_collect(2);
    printf("   pm_gc_collect(2) reclaimed %zu objects (the global env <-> f cycle)\n", n);
    printf("   a second pm_gc_collect(2) reclaimed %zu\n", pm_gc_collect(2));

    print_stats("statistics");
    pm_gc_callback_remove(on_collection, &verbose);
    return ports_open == 0 ? 0 : 1;
}
