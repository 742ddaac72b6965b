#!/usr/bin/env python3
"""run.py -- poolmalloc's cycle collector against CPython's gc and Boehm GC.

Runs gc_bench (poolmalloc), gc_bench.py (CPython) and boehm_bench (Boehm) in
turn, ROUNDS times (A B C A B C ...), each doing REPS timed full collections
per shape.  Prints a table of ns per object: the median over the rounds of
each run's median, and the best run's median (the least disturbed on a shared
machine); and the ratios CPython/poolmalloc and Boehm/poolmalloc (above 1:
poolmalloc is faster), each the median over the rounds of the ratio within a
round (runs next to each other in time see similar machine load).  Writes the
table, with the command and the machine, to OUT_DIR/gc_bench.md; every
measurement, with the exact command, to OUT_DIR/gc_bench.csv; and the machine
and versions to OUT_DIR/meta.json.  The machine is described by bench/compare's
own code (bench/pmcompare/sysinfo.py).  OUT_DIR defaults to bench/gc/results/,
which is not committed (docs/BENCHMARKS.md, "Results").

Usage (from a build tree; the CMake target gc-bench runs this):
  run.py --gc-bench build/bench/gc/gc_bench --boehm-bench build/bench/gc/boehm_bench
         [--python python3] [-n 1000000] [--rounds 3] [--reps 5] [--out-dir DIR]
"""
import argparse
import csv
import json
import os
import shlex
import statistics
import subprocess
import sys

sys.dont_write_bytecode = True      # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))

from pmcompare import sysinfo  # noqa: E402  (bench/compare's machine description)

SHAPES = [
    ("garbage", "small garbage cycles (pairs, triangles), per object reclaimed"),
    ("list", "live list, links in address order, per object scanned"),
    ("shuffled", "live list, links shuffled, per object scanned"),
]


def parse(out):
    res = {}
    for line in out.splitlines():
        if not line.startswith("shape="):
            continue
        kv = dict(f.split("=", 1) for f in line.split())
        res[kv["shape"]] = float(kv["median_ns_per_obj"])
    return res


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gc-bench", required=True, help="path of gc_bench")
    ap.add_argument("--boehm-bench", default="", help="path of boehm_bench ('' to skip)")
    ap.add_argument("--python", default="python3", help="the CPython to compare with")
    ap.add_argument("-n", type=int, default=1000000, help="objects per shape")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=5, help="timed collections per run")
    ap.add_argument("--boehm-markers", default="1",
                    help="GC_MARKERS for boehm_bench ('' for libgc's default)")
    ap.add_argument("--out-dir", default=os.path.join(here, "results"),
                    help="where gc_bench.md, gc_bench.csv and meta.json go (default: %(default)s)")
    a = ap.parse_args()
    repo = os.path.dirname(os.path.dirname(here))
    command = " ".join(shlex.quote(x) for x in ["bench/gc/run.py"] + sys.argv[1:])
    machine = sysinfo.machine()
    started = sysinfo.now()

    common = ["-n", str(a.n), "-r", str(a.reps)]
    progs = [("poolmalloc", [a.gc_bench] + common, {}),
             ("CPython", [a.python, os.path.join(here, "gc_bench.py")] + common, {})]
    if a.boehm_bench:
        env = {"GC_MARKERS": a.boehm_markers} if a.boehm_markers else {}
        progs.append(("Boehm", [a.boehm_bench] + common, env))

    pyver = subprocess.run([a.python, "-c", "import sys; print(sys.version.split()[0])"],
                           capture_output=True, text=True).stdout.strip()
    os.makedirs(a.out_dir, exist_ok=True)
    csv_path = os.path.join(a.out_dir, "gc_bench.csv")
    md_path = os.path.join(a.out_dir, "gc_bench.md")
    meta_path = os.path.join(a.out_dir, "meta.json")

    results = {name: {s: [] for s, _ in SHAPES} for name, _, _ in progs}
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["round", "collector", "shape", "n", "median_ns_per_obj", "command"])
        for rnd in range(a.rounds):
            for name, cmd, extra in progs:
                env = dict(os.environ, **extra)
                shown = " ".join("%s=%s" % kv for kv in extra.items())
                shown = (shown + " " if shown else "") + " ".join(cmd)
                print("round %d/%d: %s" % (rnd + 1, a.rounds, shown), file=sys.stderr, flush=True)
                p = subprocess.run(cmd, env=env, capture_output=True, text=True)
                if p.returncode != 0:
                    sys.exit("%s failed (%d):\n%s%s" % (name, p.returncode, p.stdout, p.stderr))
                for shape, v in parse(p.stdout).items():
                    results[name][shape].append(v)
                    w.writerow([rnd + 1, name, shape, a.n, "%.2f" % v, shown])

    def cell(name, shape):
        v = results[name][shape]
        return "%.1f (%.1f)" % (statistics.median(v), min(v))

    def ratio(name, shape):
        pairs = zip(results[name][shape], results["poolmalloc"][shape])
        return statistics.median(x / pm for x, pm in pairs)

    have_boehm = "Boehm" in results
    head = ["shape", "poolmalloc ns/obj", "CPython %s ns/obj" % pyver]
    if have_boehm:
        head.append("Boehm ns/obj")
    head.append("CPython / poolmalloc")
    if have_boehm:
        head.append("Boehm / poolmalloc")
    rows = []
    for shape, desc in SHAPES:
        row = ["%s: %s" % (shape, desc), cell("poolmalloc", shape), cell("CPython", shape)]
        if have_boehm:
            row.append(cell("Boehm", shape))
        row.append("%.1f" % ratio("CPython", shape))
        if have_boehm:
            row.append("%.2f" % ratio("Boehm", shape))
        rows.append(row)

    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    machine["load"] = "Load average %s at the start, %.2f %.2f %.2f at the end." % (
        (machine["load_start"],) + os.getloadavg())
    version = sysinfo.git_version(repo)
    note = ("%d objects per shape; %d rounds of the programs in turn, %d timed full "
            "collections per run. ns/obj: median over the rounds of each run's median "
            "(in parentheses: the best run's). Ratios: median over the rounds of the "
            "ratio within the round. Boehm: GC_MARKERS=%s." % (
                a.n, a.rounds, a.reps, a.boehm_markers or "default"))
    where = ("Machine: %s, %d CPUs visible, %s; %s. %s\n\npoolmalloc %s; CPython %s. "
             "Command: `%s` (%s)." % (
                 machine["cpu"], machine["cpus"], machine["kernel"], machine["os"], machine["load"],
                 version or "(not a git checkout)", pyver, command, started))
    text = "\n".join(lines) + "\n\n" + note + "\n\n" + where + "\n"
    print(text)
    with open(md_path, "w") as f:
        f.write(text)
    with open(meta_path, "w") as f:
        json.dump({"command": command, "started": started, "finished": sysinfo.now(),
                   "machine": machine, "poolmalloc": version, "python": pyver,
                   "options": {"n": a.n, "rounds": a.rounds, "reps": a.reps,
                               "boehm_markers": a.boehm_markers}}, f, indent=2)
        f.write("\n")
    print("written: %s, %s, %s" % (md_path, csv_path, meta_path), file=sys.stderr)


if __name__ == "__main__":
    main()
