"""cli.py -- bench/compare's command line: what to run, then the report."""
import argparse
import os
import re
import shlex
import shutil
import sys
import tempfile

from . import allocators as allocs_mod
from . import instructions, plots, programs, report, runner, sysinfo, workloads

USAGE_EXAMPLES = """
examples:
  bench/compare                      workloads, all allocators, 3 repetitions
  bench/compare --all                workloads, instruction counts and real programs
  bench/compare --quick --filter 'fixed|larson'
  bench/compare --instructions --allocators jemalloc,poolmalloc
  bench/compare --programs --reps 5
  bench/compare --report-only --out bench/results     redo tables and plots
  bench/compare --smoke --all --out /tmp/smoke        the ctest: seconds, nothing judged
"""


def parse_args(argv, repo):
    p = argparse.ArgumentParser(
        prog="bench/compare", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Compare poolmalloc with glibc, jemalloc, mimalloc and tcmalloc: the pm_bench\n"
                    "workloads (time per operation, peak RSS), instructions per malloc+free pair\n"
                    "(callgrind), and real programs (wall time, peak RSS).  The allocators\n"
                    "alternate run by run; tables report medians.  See docs/BENCHMARKS.md.",
        epilog=USAGE_EXAMPLES)
    p.add_argument("--build", default=os.path.join(repo, "build"),
                   help="build directory holding libpoolmalloc.so and bench/ (default: %(default)s)")
    p.add_argument("--out", default=os.path.join(repo, "bench", "results"),
                   help="output directory (default: %(default)s)")
    p.add_argument("--reps", type=int, help="repetitions per allocator (default 3; --quick and --smoke 1)")
    p.add_argument("--min-time", type=float,
                   help="seconds each workload runs per process (google benchmark's min_time; "
                        "default 0.3, --quick 0.05, --smoke 0.001)")
    p.add_argument("--filter", help="regular expression: only the workloads, instruction cases "
                                    "(MODE/SIZE) and programs whose names match")
    p.add_argument("--allocators", help="comma-separated subset of glibc,jemalloc,mimalloc,tcmalloc,"
                                        "poolmalloc (default: all that are installed)")
    p.add_argument("--allocator", action="append", default=[], metavar="NAME=LIB",
                   help="also compare the allocator in LIB (preloaded), under NAME")
    p.add_argument("--workloads", action="store_true", help="run the pm_bench workloads (the default)")
    p.add_argument("--instructions", action="store_true",
                   help="count instructions per malloc+free pair with callgrind")
    p.add_argument("--programs", action="store_true",
                   help="time real programs (python3, sqlite3, redis-server, cc)")
    p.add_argument("--all", action="store_true", help="workloads, instructions and programs")
    p.add_argument("--sizes", help="sizes for --instructions (default 16,64,256,512,1024,4096,65536)")
    p.add_argument("--quick", action="store_true", help="short runs, one repetition: a first look")
    p.add_argument("--smoke", action="store_true",
                   help="a few milliseconds per case, then check that every part ran and wrote its "
                        "outputs (the bench_smoke ctest); exits 77 if nothing could run")
    p.add_argument("--report-only", action="store_true",
                   help="rebuild the tables and plots from the raw CSVs in --out")
    args = p.parse_args(argv)
    if args.all:
        args.workloads = args.instructions = args.programs = True
    if not (args.workloads or args.instructions or args.programs):
        args.workloads = True
    if args.reps is None:
        args.reps = 1 if (args.quick or args.smoke) else 3
    if args.min_time is None:
        args.min_time = 0.001 if args.smoke else 0.05 if args.quick else 0.3
    if args.reps < 1:
        p.error("--reps must be at least 1")
    if args.filter:
        try:
            re.compile(args.filter)
        except re.error as e:
            p.error("--filter: %s" % e)
    return args


class Context:
    """What the parts share: paths and the mode."""

    def __init__(self, repo, args, libc):
        self.repo = repo
        self.bench = os.path.join(repo, "bench")
        self.smoke = args.smoke
        bin_dir = os.path.join(args.build, "bench")
        self.pm_bench = os.path.join(bin_dir, "pm_bench")
        self.pm_pairs = os.path.join(bin_dir, "pm_pairs")
        self.runrss = os.path.join(bin_dir, "pm_runrss")
        self.libc = libc


def main(argv):
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
    args = parse_args(argv, repo)
    args.build = os.path.abspath(args.build)
    out_dir = os.path.abspath(args.out)
    os.makedirs(out_dir, exist_ok=True)
    say = print

    if args.report_only:
        meta = report.load_meta(out_dir)
        text, summaries = report.generate(out_dir, meta)
        files, note = plots.draw(out_dir, summaries, [a["name"] for a in meta["allocators"]])
        say(text)
        say("%s: %s" % (note, ", ".join(os.path.basename(f) for f in files) or "none"))
        return 0

    runner.install_signal_handlers()
    wanted = [w.strip() for w in args.allocators.split(",")] if args.allocators else None
    try:
        allocators, notes = allocs_mod.discover(args.build, wanted, args.allocator)
    except RuntimeError as e:
        say("bench/compare: %s" % e, file=sys.stderr)
        return 2
    glibc = next((a for a in allocators if a.name == "glibc"), None)
    libc = glibc.serving_object if glibc else allocs_mod.find_library("libc.so.6")
    ctx = Context(repo, args, libc)
    if not os.path.exists(ctx.runrss):
        say("bench/compare: %s not found: build first (cmake --build %s)" % (ctx.runrss, args.build),
            file=sys.stderr)
        return 2
    for old in ("workloads-runs.csv", "instructions.csv", "programs-runs.csv", "workloads.csv",
                "programs.csv", "summary.md", "workloads-time.png", "workloads-rss.png", "scaling.png",
                "instructions.png", "programs.png"):
        if os.path.exists(os.path.join(out_dir, old)):
            os.unlink(os.path.join(out_dir, old))
    log_dir = os.path.join(out_dir, "logs")
    if os.path.isdir(log_dir):
        shutil.rmtree(log_dir)
    os.makedirs(log_dir)

    meta = {"command": "bench/compare " + " ".join(shlex.quote(a) for a in argv),
            "started": sysinfo.now(), "machine": sysinfo.machine(),
            "options": {"reps": args.reps, "min_time": args.min_time, "filter": args.filter,
                        "quick": args.quick, "smoke": args.smoke},
            "tuning_environment": runner.tuning_variables(runner.base_environ()),
            "allocators": [], "notes": notes}
    for a in allocators:
        version = sysinfo.git_version(repo) if a.name == "poolmalloc" else sysinfo.package_version(a.package)
        meta["allocators"].append({"name": a.name, "preload": a.preload or "",
                                   "serving_object": a.serving_object, "version": version})
    if meta["tuning_environment"]:
        notes.append("allocator-related environment variables were set: %s" % ", ".join(
            "%s=%s" % kv for kv in meta["tuning_environment"].items()))
    say("bench/compare: %s" % ", ".join("%s (%s)" % (a.name, a.preload or "no preload") for a in allocators))
    for n in notes:
        say("  note: " + n)
    report.save_meta(out_dir, meta)

    failures = 0
    expected, ran = {}, {}
    rx = re.compile(args.filter) if args.filter else None
    try:
        if args.workloads:
            f, e, r = _workloads(ctx, args, allocators, rx, log_dir, out_dir, meta, say)
            failures += f
            expected["workloads"], ran["workloads"] = e, r
        if args.instructions:
            f, e, r = _instructions(ctx, args, allocators, rx, out_dir, meta, say)
            failures += f
            expected["instructions"], ran["instructions"] = e, r
        if args.programs:
            f, e, r = _programs(ctx, args, allocators, rx, out_dir, meta, say)
            failures += f
            expected["programs"], ran["programs"] = e, r
    except (workloads.PreloadError, programs.PreloadError) as e:
        meta["notes"].append("ABORTED: %s" % e)
        report.save_meta(out_dir, meta)
        say("bench/compare: aborted, an allocator was not the one serving malloc: %s" % e, file=sys.stderr)
        return 3

    meta["finished"] = sysinfo.now()
    meta["machine"]["load"] = "Load average %s at the start, %.2f %.2f %.2f at the end." % (
        (meta["machine"]["load_start"],) + os.getloadavg())
    report.save_meta(out_dir, meta)
    text, summaries = report.generate(out_dir, meta)
    files, note = plots.draw(out_dir, summaries, [a.name for a in allocators])
    say("")
    say(text)
    say("%s: %s" % (note, ", ".join(os.path.basename(f) for f in files) or "none"))
    say("results in %s (raw: *-runs.csv, instructions.csv; summary: workloads.csv, programs.csv, "
        "summary.md)" % out_dir)
    if failures:
        say("bench/compare: %d run(s) failed; see the notes above and %s" % (failures, log_dir),
            file=sys.stderr)
    if args.smoke:
        return _smoke_check(out_dir, expected, ran, files, note, failures, say)
    return 1 if failures else 0


def _progress(say):
    return lambda line: say("  " + line, flush=True)


def _workloads(ctx, args, allocators, rx, log_dir, out_dir, meta, say):
    if not os.path.exists(ctx.pm_bench):
        meta["notes"].append("workloads skipped: %s was not built (google benchmark, Debian "
                             "libbenchmark-dev, missing when configuring?)" % ctx.pm_bench)
        say("  note: " + meta["notes"][-1])
        return 0, None, 0
    desc = workloads.describe(ctx.pm_bench)
    meta["families"] = desc["families"]
    names = workloads.list_cases(ctx.pm_bench, rx.pattern if rx else None)
    workloads.check_providers(ctx.pm_bench, allocators)
    say("workloads: %d cases x %d allocators x %d repetitions, %.3g s each (min_time)" % (
        len(names), len(allocators), args.reps, args.min_time))
    writer = report.RawWriter(out_dir, "workloads")
    try:
        failures = workloads.run_all(ctx.pm_bench, allocators, names, args.reps, args.min_time,
                                     log_dir, _progress(say), writer)
    finally:
        writer.close()
    return failures, len(names) * len(allocators) * args.reps, writer.rows


def _instructions(ctx, args, allocators, rx, out_dir, meta, say):
    valgrind = instructions.valgrind_path()
    if valgrind is None:
        meta["notes"].append("instruction counts skipped: valgrind is not installed")
        say("  note: " + meta["notes"][-1])
        return 0, None, 0
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",")]
    elif args.smoke:
        sizes = [64]
    elif args.quick:
        sizes = [16, 64, 512, 4096]
    else:
        sizes = list(instructions.DEFAULT_SIZES)
    modes = ["pair"] if args.smoke else list(instructions.DEFAULT_MODES)
    cases = [(m, s) for m in modes for s in sizes if not rx or rx.search("%s/%d" % (m, s))]
    n1, n2 = (640, 1280) if args.smoke else (16000, 80000) if args.quick else (32000, 160000)
    say("instructions: %d cases x %d allocators under callgrind (N = %d and %d)" % (
        len(cases), len(allocators), n1, n2))
    writer = report.RawWriter(out_dir, "instructions")
    failures = 0
    try:
        for mode, size in cases:
            failures += instructions.run_all(valgrind, ctx.pm_pairs, allocators, [size], [mode], n1, n2,
                                             _progress(say), writer)
    finally:
        writer.close()
    return failures, len(cases) * len(allocators), writer.rows


def _programs(ctx, args, allocators, rx, out_dir, meta, say):
    names = [cls.name for cls in programs.PROGRAMS if not rx or rx.search(cls.name)]
    say("programs: %s x %d allocators x %d repetitions" % (", ".join(names), len(allocators), args.reps))
    writer = report.RawWriter(out_dir, "programs")
    workdir = tempfile.mkdtemp(prefix="pm-programs-")
    seen = len(meta["notes"])
    try:
        failures, docs = programs.run_all(ctx, allocators, names, args.reps, workdir, _progress(say),
                                          writer, meta["notes"])
    finally:
        writer.close()
        shutil.rmtree(workdir, ignore_errors=True)
        for n in meta["notes"][seen:]:
            say("  note: " + n)
    meta["programs"] = docs
    return failures, len(docs) * len(allocators) * args.reps, writer.rows


def _smoke_check(out_dir, expected, ran, files, plot_note, failures, say):
    """--smoke: everything selected that could run did, and wrote its outputs."""
    problems = []
    parts = [k for k, e in expected.items() if e is not None and e > 0]
    if not parts:
        say("smoke: nothing could run here (see the notes)")
        return 77
    for k in parts:
        if ran[k] != expected[k]:
            problems.append("%s: %d of %d runs recorded" % (k, ran[k], expected[k]))
        if not os.path.getsize(os.path.join(out_dir, report.FILES[k])):
            problems.append("%s: empty %s" % (k, report.FILES[k]))
    for name in ["summary.md", "meta.json"] + (["workloads.csv"] if "workloads" in parts else []) + \
            (["programs.csv"] if "programs" in parts else []):
        path = os.path.join(out_dir, name)
        if not os.path.exists(path) or os.path.getsize(path) == 0:
            problems.append("%s was not written" % name)
    if not files and "no plots" not in plot_note:
        problems.append("no plot written (%s)" % plot_note)
    for f in files:
        if not os.path.exists(f) or os.path.getsize(f) == 0:
            problems.append("%s was not written" % os.path.basename(f))
    if failures:
        problems.append("%d run(s) failed" % failures)
    if problems:
        say("smoke: FAILED: " + "; ".join(problems))
        return 1
    say("smoke: ok (%s; %s)" % (", ".join("%s %d runs" % (k, ran[k]) for k in parts), plot_note))
    return 0
