"""workloads.py -- run pm_bench's cases under each allocator.

Each case runs in its own process (so that its peak RSS is its own), with
the allocators alternating run by run: for every repetition, for every
case, glibc, jemalloc, ..., poolmalloc in turn.  A run whose malloc was
not served by the allocator it was meant for stops the comparison.
"""
import json
import os
import re
import tempfile

from . import runner


class PreloadError(RuntimeError):
    """A run was served by another malloc than the allocator meant."""


def describe(pm_bench):
    """pm_bench --pm_describe: {"families": [...], "cases": [...], "online_cpus": N}."""
    out = runner.run([pm_bench, "--pm_describe"], runner.base_environ(), 60)
    if not out.ok:
        raise RuntimeError("%s --pm_describe failed (%s): %s" % (pm_bench, out.describe(), out.stderr))
    return json.loads(out.stdout)


def list_cases(pm_bench, pattern=None):
    """The benchmark names, in registration order, that match `pattern`."""
    out = runner.run([pm_bench, "--benchmark_list_tests=true"], runner.base_environ(), 60)
    if not out.ok:
        raise RuntimeError("%s --benchmark_list_tests failed: %s" % (pm_bench, out.stderr))
    names = [line.strip() for line in out.stdout.splitlines() if line.strip()]
    if pattern:
        rx = re.compile(pattern)
        names = [n for n in names if rx.search(n)]
    return names


def family_of(name):
    return name.split("/", 1)[0]


def threads_of(name):
    m = re.search(r"/threads:(\d+)", name)
    return int(m.group(1)) if m else 1


def check_providers(pm_bench, allocators):
    """Before measuring: each allocator's preload must take malloc & co."""
    for a in allocators:
        out = runner.run([pm_bench, "--pm_provider"], a.env(runner.base_environ()), 60)
        fields = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
        provider = fields.get("malloc_provider", "")
        bindings = fields.get("malloc_bindings", "")
        if not out.ok or not a.serves(provider) or bindings != "consistent":
            raise PreloadError("%s: malloc is served by %r (bindings: %s), not by %s%s" % (
                a.name, provider, bindings or "?", a.serving_object,
                "" if out.ok else " (pm_bench failed: %s)" % out.describe()))


def _peak_rss(stderr):
    m = re.search(r"^pm_bench: peak_rss_kib=(-?\d+)$", stderr, re.M)
    return int(m.group(1)) if m else None


def run_case(pm_bench, name, alloc, min_time, timeout, log_dir):
    """One process: one case under one allocator.  Returns a dict for the
    raw CSV (status "ok" or what went wrong)."""
    env = alloc.env(runner.base_environ())
    fd, json_path = tempfile.mkstemp(prefix="pm-bench-", suffix=".json")
    os.close(fd)
    cmd = [pm_bench, "--benchmark_filter=^%s$" % re.escape(name),
           "--benchmark_min_time=%g" % min_time,
           "--benchmark_out=%s" % json_path, "--benchmark_out_format=json"]
    row = {"benchmark": name, "family": family_of(name), "threads": threads_of(name),
           "allocator": alloc.name, "command": runner.command_line(cmd[:-2], env)}
    try:
        out = runner.run(cmd, env, timeout)
        try:
            with open(json_path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            data = None
    finally:
        os.unlink(json_path)
    provider = (data or {}).get("context", {}).get("malloc_provider", "")
    bindings = (data or {}).get("context", {}).get("malloc_bindings", "")
    row["provider"] = provider
    runs = [b for b in (data or {}).get("benchmarks", []) if b.get("run_type", "iteration") == "iteration"]
    problem = None
    if not out.ok:
        problem = out.describe()
    elif not runs:
        problem = "no result in the JSON output"
    elif runs[0].get("error_occurred"):
        problem = "error: %s" % runs[0].get("error_message", "?")
    if data is not None and provider and (not alloc.serves(provider) or bindings != "consistent"):
        raise PreloadError("%s under %s: malloc was served by %s (bindings: %s)" % (
            name, alloc.name, provider, bindings))
    if problem:
        row["status"] = problem
        log = os.path.join(log_dir, "%s-%s.log" % (alloc.name, re.sub(r"[^A-Za-z0-9_.-]", "_", name)))
        with open(log, "w") as f:
            f.write("$ %s\n--- stdout\n%s\n--- stderr\n%s\n" % (row["command"], out.stdout, out.stderr))
        return row
    r = runs[0]
    ips = float(r.get("items_per_second", 0.0))
    row.update({
        "status": "ok",
        "max_size": int(r.get("max_size", 0)),
        "threads": int(r.get("threads", row["threads"])),
        "iterations": int(r.get("iterations", 0)),
        "ops_per_s": ips,
        "ns_per_op": 1e9 / ips if ips > 0 else None,
        "peak_rss_kib": _peak_rss(out.stderr),
    })
    return row


def run_all(pm_bench, allocators, names, reps, min_time, log_dir, progress, on_row):
    """reps x names x allocators, allocators alternating run by run.
    on_row(row) gets every result as it comes; progress(text) a line per
    case and repetition.  Returns the number of failed runs."""
    failures = 0
    timeout = max(120.0, 60 * min_time + 60)
    for rep in range(1, reps + 1):
        for name in names:
            parts = []
            for alloc in allocators:
                row = run_case(pm_bench, name, alloc, min_time, timeout, log_dir)
                row["rep"] = rep
                on_row(row)
                if row["status"] != "ok":
                    failures += 1
                    parts.append("%s FAILED (%s)" % (alloc.name, row["status"]))
                else:
                    parts.append("%s %.2f" % (alloc.name, row["ns_per_op"]))
            progress("[%d/%d] %-40s ns/op: %s" % (rep, reps, name, "  ".join(parts)))
    return failures
