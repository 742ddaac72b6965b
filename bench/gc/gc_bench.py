#!/usr/bin/env python3
"""gc_bench.py -- the shapes of gc_bench.c in CPython, timed with gc.collect().

Nodes are instances of a class with __slots__ = ('next', 'val'): tracked by
CPython's collector, one reference and an int each.  The int is kept below
256, one of the small ints CPython preallocates, so that each node is one
object as in C (a distinct int object per node would add an allocation
between nodes, and a visit of it during every collection: the address-order
list then takes about 2.5 times longer).  Shapes, at N nodes:

  garbage   small cycles (alternately pairs and triangles), all unreachable:
            one gc.collect(), ns per object reclaimed
  list      a live list allocated and linked in order, held by its head:
            after a first collection, steady gc.collect() time per object
  shuffled  the same list with links in a random permutation of the
            allocation order

The interpreter's own objects are moved out of the way first (gc.freeze()),
so that collections see the benchmark's objects only; automatic collection
is off while building (gc.disable()).

Usage: gc_bench.py [-n N] [-r REPS] [-s SHAPES] [-S SEED]
Prints lines in gc_bench.c's format:
  shape=list n=1000000 reps=5 median_ns_per_obj=... min_ns_per_obj=... ns=...
"""
import argparse
import gc
import random
import statistics
import sys
import time


class Node:
    __slots__ = ("next", "val")

    def __init__(self, val):
        self.next = None
        self.val = val


def report(shape, n, ns):
    print("shape=%s n=%d reps=%d median_ns_per_obj=%.2f min_ns_per_obj=%.2f ns=%s"
          % (shape, n, len(ns), statistics.median(ns), min(ns),
             ",".join("%.2f" % x for x in ns)), flush=True)


def check(shape, got, want):
    if got != want:
        sys.exit("gc_bench.py: %s: gc.collect() returned %d, expected %d" % (shape, got, want))


def build_garbage(n):
    made, k = 0, 0
    while made < n:
        length = min(3 if k % 2 else 2, n - made)
        first = p = Node(0)
        for i in range(1, length):
            q = Node(i)
            p.next = q
            p = q
        p.next = first
        made += length
        k += 1


def bench_garbage(n, reps):
    ns = []
    for _ in range(reps):
        build_garbage(n)  # its locals die with the frame: all unreachable
        t0 = time.perf_counter_ns()
        got = gc.collect()
        t1 = time.perf_counter_ns()
        check("garbage", got, n)
        ns.append((t1 - t0) / n)
    return ns


def build_list(n, shuffled, rng):
    v = [Node(i & 255) for i in range(n)]  # allocated in address order
    order = list(range(n))
    if shuffled:
        rng.shuffle(order)
    for i in range(n - 1):
        v[order[i]].next = v[order[i + 1]]
    return v[order[0]]


def bench_list(n, reps, shuffled, rng):
    shape = "shuffled" if shuffled else "list"
    head = build_list(n, shuffled, rng)
    gc.collect()  # settles the list (and frees the builder's lists)
    ns = []
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        got = gc.collect()
        t1 = time.perf_counter_ns()
        check(shape, got, 0)
        ns.append((t1 - t0) / n)
    del head
    return ns


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=1000000)
    ap.add_argument("-r", type=int, default=5)
    ap.add_argument("-s", default="garbage,list,shuffled")
    ap.add_argument("-S", type=int, default=42)
    a = ap.parse_args()
    rng = random.Random(a.S)
    gc.disable()
    gc.collect()
    gc.freeze()  # the interpreter's objects: never scanned from here on
    shapes = a.s.split(",")
    if "garbage" in shapes:
        report("garbage", a.n, bench_garbage(a.n, a.r))
    if "list" in shapes:
        report("list", a.n, bench_list(a.n, a.r, False, rng))
    if "shuffled" in shapes:
        report("shuffled", a.n, bench_list(a.n, a.r, True, rng))


if __name__ == "__main__":
    main()
