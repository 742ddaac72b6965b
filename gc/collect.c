/* collect.c -- the generational cycle collector (layer 3): CPython's
 * algorithm, in as few passes over the candidates as it allows.
 *
 * A collection of generation g takes the objects of generations 0..g (the
 * candidates) and finds those no outside reference can reach:
 *
 *   1. subtract_refs: one pass over the candidates computes, in each one's
 *      prev word, its count minus the references it gets from other
 *      candidates ("external" references; from older generations, untracked
 *      holders, locals and globals).
 *   2. move_unreachable: one pass that keeps every candidate with external
 *      references, and everything they reach, and moves the rest to an
 *      "unreachable" list; a candidate moved there and reached later is moved
 *      back to the end of the pass.  Survivors get the next generation's bit
 *      as they are scanned, so the pass also promotes them.
 *   3. the unreachable: weak references cleared; finalizers run once; if any
 *      ran, 1 and 2 again over the unreachable list alone (what a finalizer
 *      made reachable again survives); the rest is torn down: each object's
 *      children lose the references it held, and the counts free them all.
 *
 * Nothing proportional to the heap is allocated: lists are intrusive, and
 * the external count lives in the prev word, which pass 2 restores.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "gc/gc.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- pass 1 ---- */

/* When list element l is reached by the walk, l->prev still holds the
 * address of the element before it (which the walk just left) minus one for
 * each reference some earlier candidate made to l: the address is known, so
 * the pass turns the word into refcnt - references in place, with no pass to
 * initialise it first.  Later references then decrement the count itself. */
typedef struct subtract_ctx {
    uint32_t cand_mask;
    size_t outside;         /* references from candidates to non-candidates */
} subtract_ctx;

static void visit_subtract(void *child, void *arg)
{
    if (child == NULL)
        return;
    subtract_ctx *c = arg;
#if defined(PM_DEBUG) && PM_DEBUG > 0
    /* debug builds: every reference a tracked object holds leads to a live
     * object of this thread */
    _pm_gc_check(child, "pm_gc_collect");
#endif
    pm_gc_head *h = pm_gc_head_of(child);
    if (h->bits & c->cand_mask)
        pm_gc_link_of(h)->prev--;
    else
        c->outside++;
}

/* Returns the number of references the candidates hold to objects that
 * are not candidates (older generations, untracked objects).  When it is 0
 * and no candidate survives, the garbage holds nothing outside itself, and
 * its teardown needs no pass to release such references. */
static size_t subtract_refs(pm_gc_link *list, uint32_t cand_mask)
{
    subtract_ctx c = {cand_mask, 0};
    uintptr_t before = (uintptr_t)list;
    for (pm_gc_link *l = list->next; l != list; l = l->next) {
        pm_gc_head *h = pm_gc_head_of_link(l);
        l->prev = l->prev - before + h->refcnt;
        before = (uintptr_t)l;
        h->type->traverse(pm_gc_obj_of(h), visit_subtract, &c);
    }
    return c.outside;
}

/* ---- pass 2 ---- */

/* Candidates found reachable after the scan had moved them to the
 * unreachable list are traversed from the state's mark_stack (depth first),
 * and stay on that list, marked, until the end of the scan.  The stack is
 * kept between collections.  If it cannot grow, the object is moved back to
 * the end of the list being scanned instead (CPython's way: no memory, but
 * slower when many objects are reached late, as in a list whose links are
 * shuffled). */
typedef struct scan_ctx {
    pm_gc_link *young;      /* the list being scanned; survivors stay on it */
    uint32_t cand_mask;
    size_t depth;           /* entries on mark_stack */
    size_t late;            /* objects marked while on the unreachable list */
    pm_gc_state *s;
} scan_ctx;

static int mark_stack_grow(pm_gc_state *s)
{
    return _pm_gc_array_grow((void **)&s->mark_stack, &s->mark_cap, s->mark_cap,
                             sizeof *s->mark_stack, 1024) == 0;
}

/* child is referenced by a survivor.  Not scanned yet: mark it, the scan
 * will traverse it.  Already on the unreachable list: mark it and traverse
 * it from the mark stack. */
static void visit_reachable(void *child, void *arg)
{
    if (child == NULL)
        return;
    scan_ctx *ctx = arg;
    pm_gc_head *h = pm_gc_head_of(child);
    uint32_t bits = h->bits;
    if (!(bits & ctx->cand_mask) || (bits & PM_GC_REACHABLE))
        return;
    if (bits & PM_GC_TENTATIVE) {
        if (gc_likely(ctx->depth < ctx->s->mark_cap || mark_stack_grow(ctx->s))) {
            ctx->s->mark_stack[ctx->depth++] = h;
            ctx->late++;
        } else {
            pm_gc_link *l = pm_gc_link_of(h);
            pm_gc_list_unlink(l);
            pm_gc_list_append(ctx->young, l);
            bits &= ~PM_GC_TENTATIVE;
        }
    }
    h->bits = bits | PM_GC_REACHABLE;
}

/* Scans young (whose prev words hold external counts).  Survivors end on
 * young with prev restored and their generation bits replaced by set_bits;
 * the others go to unreach, marked TENTATIVE.  Returns the survivors. */
static size_t move_unreachable(pm_gc_link *young, pm_gc_link *unreach, uint32_t cand_mask,
                               uint32_t clear_bits, uint32_t set_bits)
{
    scan_ctx ctx = {young, cand_mask, 0, 0, pm_gc_ctx()};
    size_t kept = 0;
    pm_gc_link *last = young;
    pm_gc_link *l = young->next;
    pm_gc_list_init(unreach);
    clear_bits |= PM_GC_REACHABLE | PM_GC_TENTATIVE;
    while (l != young) {
        pm_gc_head *h = pm_gc_head_of_link(l);
        intptr_t external = (intptr_t)l->prev;  /* (a pointer, so > 0, if moved back) */
        if (gc_unlikely(external < 0))
            _pm_gc_fatal_obj("pm_gc_collect", "object has more references from tracked "
                                              "objects than its count (a missing "
                                              "pm_gc_incref?)", pm_gc_obj_of(h));
        if ((h->bits & PM_GC_REACHABLE) || external > 0) {
            l->prev = (uintptr_t)last;
            last = l;
            h->bits = (h->bits & ~clear_bits) | set_bits;
            kept++;
            h->type->traverse(pm_gc_obj_of(h), visit_reachable, &ctx);
            while (ctx.depth) {
                pm_gc_head *m = ctx.s->mark_stack[--ctx.depth];
                m->type->traverse(pm_gc_obj_of(m), visit_reachable, &ctx);
            }
            l = l->next;    /* read after traverse: it may have appended to l */
        } else {
            pm_gc_link *next = l->next;
            last->next = next;
            if (next == young)
                young->prev = (uintptr_t)last;
            pm_gc_list_append(unreach, l);
            h->bits |= PM_GC_TENTATIVE;
            l = next;
        }
    }
    young->prev = (uintptr_t)last;
    if (ctx.late) {
        /* the objects reached late join the survivors */
        pm_gc_link *next;
        for (l = unreach->next; l != unreach; l = next) {
            next = l->next;
            pm_gc_head *h = pm_gc_head_of_link(l);
            if (h->bits & PM_GC_REACHABLE) {
                pm_gc_list_unlink(l);
                pm_gc_list_append(young, l);
                h->bits = (h->bits & ~clear_bits) | set_bits;
                kept++;
            }
        }
    }
    return kept;
}

/* ---- pass 3 ---- */

/* Runs each pending finalizer of the unreachable objects once; returns how
 * many ran.  Each object is moved to a side list before its finalizer runs,
 * so objects the finalizers free (which unlinks them) never upset the walk. */
static size_t finalize_garbage(pm_gc_link *unreach)
{
    pm_gc_link seen;
    pm_gc_list_init(&seen);
    size_t ran = 0;
    while (!pm_gc_list_empty(unreach)) {
        pm_gc_link *l = unreach->next;
        pm_gc_list_unlink(l);
        pm_gc_list_append(&seen, l);
        pm_gc_head *h = pm_gc_head_of_link(l);
        if (h->type->finalize && !(h->bits & PM_GC_FINALIZED)) {
            h->bits |= PM_GC_FINALIZED;
            _pm_gc.pending_finalizers--;
            _pm_gc.stats.finalized++;
            ran++;
            h->refcnt++;
            h->type->finalize(pm_gc_obj_of(h));
            if (--h->refcnt == 0)
                _pm_gc_release_zero(h);
            /* what it released is freed now, even inside an outer drain:
             * the garbage's lists must hold no pending object later */
            if (_pm_gc_release_pending())
                _pm_gc_drain();
        }
    }
    pm_gc_list_splice(unreach, &seen);
    return ran;
}

static void visit_release_outside(void *child, void *arg)
{
    (void)arg;
    if (child && !(pm_gc_head_of(child)->bits & PM_GC_TENTATIVE))
        _pm_gc_visit_release(child, NULL);
}

/* Frees the unreachable objects.  Nothing outside them refers to them, so
 * the references among them need no counting: first each one drops the
 * references it holds to objects outside the set (which may free those, by
 * their counts, but can never reach back into the set), then all are freed.
 * The first pass is skipped when holds_outside is 0: pass 1 saw no
 * reference to a non-candidate and every candidate is garbage.
 * (Every pending finalizer of theirs has run: finalize_garbage runs whenever
 * any live object has one; and no weak reference leads to them any more, so
 * the code that freeing outside objects runs cannot reach them either.)
 * Returns how many were freed. */
static size_t delete_garbage(pm_gc_link *unreach, int holds_outside)
{
    pm_gc_state *s = pm_gc_ctx();
    /* While the garbage releases what it holds, code runs (finalizers of
     * outside objects, weak reference callbacks); a borrowed pointer may
     * lead it into the garbage: tearing_down makes pm_gc_weakref_new refuse
     * those objects, pm_gc_weakref_get return NULL and pm_gc_incref abort.
     * The drains are not recursive, and draining is restored afterwards: this
     * collection may run inside a drain (a finalizer allocated). */
    int saved = s->draining;
    s->draining = 1;
    s->tearing_down = 1;
    for (pm_gc_link *l = unreach->next; holds_outside && l != unreach; l = l->next) {
        pm_gc_head *h = pm_gc_head_of_link(l);
        h->type->traverse(pm_gc_obj_of(h), visit_release_outside, NULL);
        if (_pm_gc_release_pending())
            _pm_gc_drain();
    }
    s->draining = saved;
    /* The blocks go back in batches: the pools free a run of blocks of one
     * pool with one page-map lookup (the list is mostly in address order). */
    enum { BATCH = 256 };
    void *batch[BATCH];
    size_t n = 0, nb = 0;
    _pm_gc_seam_bulk_begin();
    pm_gc_link *next;
    for (pm_gc_link *l = unreach->next; l != unreach; l = next) {
        next = l->next;
        pm_gc_head *h = pm_gc_head_of_link(l);
        if (gc_unlikely(h->bits & PM_GC_WEAKREFS))     /* none can be made: belt and braces */
            _pm_gc_weakrefs_clear(pm_gc_obj_of(h));
        if (h->type->dealloc)
            h->type->dealloc(pm_gc_obj_of(h));
        h->bits = 0;
        n++;
        batch[nb++] = l;
        if (nb == BATCH) {
            _pm_gc_seam_free_run(batch, nb, "pm_gc_collect");
            nb = 0;
        }
    }
    _pm_gc_seam_free_run(batch, nb, "pm_gc_collect");
    _pm_gc_seam_bulk_end();
    s->tearing_down = 0;
    pm_gc_list_init(unreach);
    s->gens[0].count = s->gens[0].count > (int)n ? s->gens[0].count - (int)n : 0;
    return n;
}

/* DEBUG_SAVEALL: the garbage is kept, each object held by the garbage list,
 * and tracked in generation old (bit old_bit).  Returns 0, or ENOMEM (then
 * nothing was kept). */
static int save_garbage(pm_gc_link *unreach, size_t n, unsigned old, uint32_t old_bit)
{
    pm_gc_state *s = pm_gc_ctx();
    while (s->garbage_cap < s->garbage_len + n)
        if (_pm_gc_array_grow((void **)&s->garbage, &s->garbage_cap, s->garbage_len,
                              sizeof *s->garbage, 64) != 0)
            return ENOMEM;
    for (pm_gc_link *l = unreach->next; l != unreach; l = l->next) {
        pm_gc_head *h = pm_gc_head_of_link(l);
        h->bits = (h->bits & ~(uint32_t)(PM_GC_GENMASK | PM_GC_TENTATIVE | PM_GC_UNREACH |
                                         PM_GC_REACHABLE)) | old_bit;
        h->refcnt++;
        s->garbage[s->garbage_len++] = pm_gc_obj_of(h);
    }
    s->gens[old].size += n;
    pm_gc_list_splice(&s->gens[old].list, unreach);
    return 0;
}

/* Clears the weak references to the unreachable objects, then runs the
 * callbacks due (CPython's handle_weakrefs: all cleared first). */
static void clear_weakrefs(pm_gc_link *unreach)
{
    for (pm_gc_link *l = unreach->next; l != unreach; l = l->next) {
        pm_gc_head *h = pm_gc_head_of_link(l);
        if (h->bits & PM_GC_WEAKREFS)
            _pm_gc_weakrefs_clear(pm_gc_obj_of(h));
    }
    _pm_gc_weakref_callbacks_run();
}

/* ---- callbacks ---- */

static void run_callbacks(int phase, int generation, size_t collected)
{
    pm_gc_state *s = pm_gc_ctx();
    pm_gc_callback_info info = {generation, collected, 0};
    for (size_t i = 0; i < s->callbacks_len; i++)
        s->callbacks[i].fn(phase, &info, s->callbacks[i].arg);
}

int pm_gc_callback_add(pm_gc_callback_fn fn, void *arg)
{
    if (fn == NULL) {
        errno = EINVAL;
        return -1;
    }
    pm_gc_state *s = pm_gc_ctx();
    if (s->callbacks_len == s->callbacks_cap &&
        _pm_gc_array_grow((void **)&s->callbacks, &s->callbacks_cap, s->callbacks_len,
                          sizeof *s->callbacks, 8)) {
        errno = ENOMEM;
        return -1;
    }
    s->callbacks[s->callbacks_len++] = (pm_gc_callback_rec){fn, arg};
    return 0;
}

int pm_gc_callback_remove(pm_gc_callback_fn fn, void *arg)
{
    pm_gc_state *s = pm_gc_ctx();
    for (size_t i = 0; i < s->callbacks_len; i++) {
        if (s->callbacks[i].fn == fn && s->callbacks[i].arg == arg) {
            for (size_t j = i + 1; j < s->callbacks_len; j++)
                s->callbacks[j - 1] = s->callbacks[j];
            s->callbacks_len--;
            return 0;
        }
    }
    errno = ENOENT;
    return -1;
}

/* ---- invariants (debug builds) ---- */

#if defined(PM_DEBUG) && PM_DEBUG > 0
/* Outside a collection's passes, for each generation list (and the frozen
 * one): l->next->prev == l for every element, each object carries this
 * thread's magic, LISTED, HASLINKS, exactly its generation's bit and no
 * collection mark, and the list holds gens[i].size objects.  Aborts naming
 * the first object that breaks one. */
static void gc_is_valid(pm_gc_state *s, const char *when)
{
    for (unsigned i = 0; i < PM_GC_GENS + 1; i++) {
        pm_gc_link *list = &s->gens[i].list;
        uint32_t want = i == 0 ? PM_GC_GEN0 : i == 1 ? PM_GC_GEN1 : i == 2 ? s->gen2_bit
                                                                           : PM_GC_PERM;
        size_t n = 0;
        for (pm_gc_link *l = list->next; l != list; l = l->next, n++) {
            pm_gc_head *h = pm_gc_head_of_link(l);
            if (pm_gc_prev(l->next) != l || (h->bits & ~PM_GC_FLAGMASK) != s->magic ||
                (h->bits & (PM_GC_GENMASK | PM_GC_LISTED | PM_GC_HASLINKS | PM_GC_TENTATIVE |
                            PM_GC_UNREACH | PM_GC_REACHABLE | PM_GC_PENDING)) !=
                    (want | PM_GC_LISTED | PM_GC_HASLINKS))
                _pm_gc_fatal(when, "collector invariant broken at", pm_gc_obj_of(h));
        }
        if (n != s->gens[i].size)
            _pm_gc_fatal(when, "generation size does not match its list; list", list);
    }
}
#define GC_IS_VALID(s, when) gc_is_valid(s, when)
#else
#define GC_IS_VALID(s, when) ((void)0)
#endif

/* ---- one collection ---- */

static size_t collect(int g)
{
    pm_gc_state *s = pm_gc_ctx();
    GC_IS_VALID(s, "pm_gc_collect (start)");
    run_callbacks(PM_GC_PHASE_START, g, 0);
    uint64_t t0 = now_ns();

    if (s->debug & PM_GC_DEBUG_STATS)
        fprintf(stderr, "gc: collecting generation %d...\ngc: objects in each generation: "
                        "%zu %zu %zu\ngc: objects in permanent generation: %zu\n",
                g, s->gens[0].size, s->gens[1].size, s->gens[2].size, s->gens[3].size);
    if (g + 1 < PM_GC_GENS)
        s->gens[g + 1].count++;
    uint32_t cand_mask = 0;
    pm_gc_link young;
    pm_gc_list_init(&young);
    size_t candidates = 0;
    for (int i = g; i >= 0; i--) {      /* oldest first: allocation order */
        s->gens[i].count = 0;
        candidates += s->gens[i].size;
        s->gens[i].size = 0;
        pm_gc_list_splice(&young, &s->gens[i].list);
        cand_mask |= i == 2 ? s->gen2_bit : (uint32_t)PM_GC_GEN0 << i;
    }
    int old = g < 2 ? g + 1 : 2;
    uint32_t old_bit = g == 0 ? PM_GC_GEN1
                     : g == 1 ? s->gen2_bit
                              : s->gen2_bit ^ (PM_GC_GEN2A | PM_GC_GEN2B);

    pm_gc_link unreach;
    size_t outside = subtract_refs(&young, cand_mask);
    size_t kept = move_unreachable(&young, &unreach, cand_mask, PM_GC_GENMASK, old_bit);
    size_t found = candidates - kept;

    if (g == 1)
        s->long_lived_pending += kept;
    else if (g == 2) {
        s->long_lived_pending = 0;
        s->long_lived_total = kept;
        s->gen2_bit = old_bit;
    }
    pm_gc_list_splice(&s->gens[old].list, &young);
    s->gens[old].size += kept;

    size_t survived = 0;
    if (found) {
        /* The unreachable keep their generation bits (any candidate bit) and
         * TENTATIVE; from here on they are "on a collection's list". */
        if (s->weakref_objects)
            clear_weakrefs(&unreach);
        if (s->pending_finalizers && finalize_garbage(&unreach)) {
            /* Finalizers ran code: redo passes 1 and 2 over what is left. */
            for (pm_gc_link *l = unreach.next; l != &unreach; l = l->next) {
                pm_gc_head *h = pm_gc_head_of_link(l);
                h->bits = (h->bits & ~(PM_GC_GENMASK | PM_GC_TENTATIVE)) | PM_GC_UNREACH;
            }
            pm_gc_link still;
            subtract_refs(&unreach, PM_GC_UNREACH);
            outside = 1;    /* finalizers ran: what the garbage holds may have changed */
            size_t resurrected = move_unreachable(&unreach, &still, PM_GC_UNREACH,
                                                  PM_GC_UNREACH, old_bit);
            s->stats.resurrected += resurrected;
            survived += resurrected;
            s->gens[old].size += resurrected;
            pm_gc_list_splice(&s->gens[old].list, &unreach);
            pm_gc_list_splice(&unreach, &still);
            /* weak references the finalizers made to what is still garbage:
             * cleared before the teardown runs any more code */
            if (s->weakref_objects)
                clear_weakrefs(&unreach);
        }
        if (s->debug & PM_GC_DEBUG_COLLECTABLE)
            for (pm_gc_link *l = unreach.next; l != &unreach; l = l->next)
                fprintf(stderr, "gc: collectable <%s %p>\n",
                        pm_gc_head_of_link(l)->type->name ? pm_gc_head_of_link(l)->type->name
                                                          : "object",
                        pm_gc_obj_of_link(l));
        if (!(s->debug & PM_GC_DEBUG_SAVEALL) ||
            save_garbage(&unreach, found - survived - 0, (unsigned)old, old_bit) != 0)
            delete_garbage(&unreach, outside != 0 || kept != 0);
    }
    /* what the finalizers freed through counts was unreachable too */
    size_t collected = found - survived;

    pm_gc_gen_stats *st = &s->stats.gen[g];
    st->collections++;
    st->collected += collected;
    st->time_ns += now_ns() - t0;
    if (s->debug & PM_GC_DEBUG_STATS)
        fprintf(stderr, "gc: done, %zu unreachable, 0 uncollectable, %.4fs elapsed\n",
                collected, (double)(now_ns() - t0) / 1e9);
    GC_IS_VALID(s, "pm_gc_collect (end)");
    run_callbacks(PM_GC_PHASE_STOP, g, collected);
    return collected;
}

/* CPython's collect_generations: the oldest generation over its threshold,
 * except that a full collection also waits for the objects promoted into
 * generation 2 since the last one to reach 25% of those that survived it. */
void _pm_gc_maybe_collect(void)
{
    pm_gc_state *s = pm_gc_ctx();
    if (!s->enabled || s->gens[0].threshold == 0 || s->collecting)
        return;
    for (int i = PM_GC_GENS - 1; i >= 0; i--) {
        if (s->gens[i].count > s->gens[i].threshold) {
            if (i == PM_GC_GENS - 1 && s->long_lived_pending < s->long_lived_total / 4)
                continue;
            s->collecting = 1;
            collect(i);
            s->collecting = 0;
            return;
        }
    }
}

size_t pm_gc_collect(int generation)
{
    if (generation < 0 || generation >= PM_GC_GENS) {
        errno = EINVAL;
        return 0;
    }
    pm_gc_state *s = pm_gc_ctx();
    if (s->collecting)
        return 0;
    s->collecting = 1;
    size_t n = collect(generation);
    s->collecting = 0;
    return n;
}

/* ---- settings ---- */

void(pm_gc_set_threshold)(int t0, int t1, int t2)
{
    int t[3] = {t0, t1, t2};
    for (int i = 0; i < PM_GC_GENS; i++)
        if (t[i] != PM_GC_KEEP)
            _pm_gc.gens[i].threshold = t[i] > 0 ? t[i] : 0;
}

void pm_gc_get_threshold(int out[3])
{
    for (int i = 0; i < PM_GC_GENS; i++)
        out[i] = _pm_gc.gens[i].threshold;
}

void pm_gc_get_count(int out[3])
{
    for (int i = 0; i < PM_GC_GENS; i++)
        out[i] = _pm_gc.gens[i].count;
}

void pm_gc_enable(void) { _pm_gc.enabled = 1; }
void pm_gc_disable(void) { _pm_gc.enabled = 0; }
int pm_gc_is_enabled(void) { return _pm_gc.enabled; }

/* ---- freeze ---- */

/* Moves list from into generation to, rewriting each object's bits. */
static void move_generation(unsigned from, unsigned to, uint32_t bit)
{
    pm_gc_link *list = &_pm_gc.gens[from].list;
    for (pm_gc_link *l = list->next; l != list; l = l->next) {
        pm_gc_head *h = pm_gc_head_of_link(l);
        h->bits = (h->bits & ~PM_GC_GENMASK) | bit;
    }
    _pm_gc.gens[to].size += _pm_gc.gens[from].size;
    _pm_gc.gens[from].size = 0;
    pm_gc_list_splice(&_pm_gc.gens[to].list, list);
}

void pm_gc_freeze(void)
{
    for (unsigned i = 0; i < PM_GC_GENS; i++) {
        move_generation(i, 3, PM_GC_PERM);
        _pm_gc.gens[i].count = 0;   /* all three, as the issue asks (3.11 zeroes count 0 only) */
    }
}

void pm_gc_unfreeze(void)
{
    move_generation(3, 2, _pm_gc.gen2_bit);
}

size_t pm_gc_freeze_count(void) { return _pm_gc.gens[3].size; }

void pm_gc_get_stats(pm_gc_stats *out)
{
    *out = _pm_gc.stats;
    for (int i = 0; i < 4; i++)
        out->tracked[i] = _pm_gc.gens[i].size;
}

/* ---- introspection ---- */

size_t pm_gc_get_objects(int generation, void **out, size_t cap)
{
    if (generation < -1 || generation >= PM_GC_GENS) {
        errno = EINVAL;
        return 0;
    }
    pm_gc_state *s = pm_gc_ctx();
    size_t n = 0;
    int first = generation < 0 ? 0 : generation, last = generation < 0 ? 2 : generation;
    for (int i = first; i <= last; i++) {
        pm_gc_link *list = &s->gens[i].list;
        for (pm_gc_link *l = list->next; l != list; l = l->next, n++)
            if (n < cap)
                out[n] = pm_gc_obj_of_link(l);
    }
    return n;
}

typedef struct collect_ctx {
    void **out;
    size_t cap, n;
    const void *target;     /* get_referrers: the object looked for */
    int found;
} collect_ctx;

static void visit_collect(void *child, void *arg)
{
    collect_ctx *c = arg;
    if (child == NULL)
        return;
    if (c->n < c->cap)
        c->out[c->n] = child;
    c->n++;
}

size_t pm_gc_get_referents(const void *obj, void **out, size_t cap)
{
    pm_gc_head *h = _pm_gc_check(obj, "pm_gc_get_referents");
    if (!h->type->traverse)
        return 0;
    collect_ctx c = {out, cap, 0, NULL, 0};
    h->type->traverse((void *)obj, visit_collect, &c);
    return c.n;
}

static void visit_find(void *child, void *arg)
{
    collect_ctx *c = arg;
    if (child == c->target)
        c->found = 1;
}

size_t pm_gc_get_referrers(const void *obj, void **out, size_t cap)
{
    _pm_gc_check(obj, "pm_gc_get_referrers");
    pm_gc_state *s = pm_gc_ctx();
    collect_ctx c = {out, cap, 0, obj, 0};
    for (int i = 0; i < PM_GC_GENS; i++) {
        pm_gc_link *list = &s->gens[i].list;
        for (pm_gc_link *l = list->next; l != list; l = l->next) {
            pm_gc_head *h = pm_gc_head_of_link(l);
            c.found = 0;
            h->type->traverse(pm_gc_obj_of(h), visit_find, &c);
            if (c.found) {
                if (c.n < cap)
                    out[c.n] = pm_gc_obj_of(h);
                c.n++;
            }
        }
    }
    return c.n;
}

/* ---- leak inspection ---- */

void pm_gc_set_debug(unsigned flags) { _pm_gc.debug = flags; }
unsigned pm_gc_get_debug(void) { return _pm_gc.debug; }

size_t pm_gc_garbage(void **out, size_t cap)
{
    pm_gc_state *s = pm_gc_ctx();
    for (size_t i = 0; i < s->garbage_len && i < cap; i++)
        out[i] = s->garbage[i];
    return s->garbage_len;
}

size_t pm_gc_garbage_clear(void)
{
    pm_gc_state *s = pm_gc_ctx();
    size_t n = s->garbage_len;
    /* released from the end: a release may run code that saves more */
    while (s->garbage_len)
        pm_gc_decref(s->garbage[--s->garbage_len]);
    return n;
}
