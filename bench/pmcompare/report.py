"""report.py -- from the raw CSVs of a run to medians, ratios and tables.

Raw files (one row per measured run, the exact command included):
  workloads-runs.csv, instructions.csv, programs-runs.csv
Derived here, and only here (the raw files are never filtered):
  workloads.csv, programs.csv   medians and ratios against glibc and jemalloc
  summary.md                    the Markdown tables, the targets, the machine
"""
import csv
import json
import os
import statistics

WORKLOAD_RUN_FIELDS = ["rep", "benchmark", "family", "threads", "max_size", "allocator", "status",
                       "ns_per_op", "ops_per_s", "peak_rss_kib", "iterations", "provider", "command"]
WORKLOAD_FIELDS = ["benchmark", "family", "threads", "max_size", "allocator", "runs", "ns_per_op",
                   "ops_per_s", "peak_rss_kib", "time_vs_glibc", "time_vs_jemalloc",
                   "rss_vs_glibc", "rss_vs_jemalloc"]
INSTRUCTION_FIELDS = ["allocator", "mode", "size", "n1", "n2", "status", "instr_per_pair",
                      "instr_in_allocator_per_pair", "total_per_pair", "allocator_share", "where",
                      "top_functions", "command"]
PROGRAM_RUN_FIELDS = ["rep", "program", "allocator", "status", "wall_s", "peak_rss_kib", "cpu_s",
                      "metric", "digest", "provider", "command"]
PROGRAM_FIELDS = ["program", "allocator", "runs", "wall_s", "cpu_s", "peak_rss_kib", "metric",
                  "time_vs_glibc", "time_vs_jemalloc", "cpu_vs_glibc", "cpu_vs_jemalloc",
                  "rss_vs_glibc", "rss_vs_jemalloc"]

FILES = {"workloads": "workloads-runs.csv", "instructions": "instructions.csv",
         "programs": "programs-runs.csv"}
FIELDS = {"workloads": WORKLOAD_RUN_FIELDS, "instructions": INSTRUCTION_FIELDS,
          "programs": PROGRAM_RUN_FIELDS}

SMALL = 512         # the targets treat requests up to 512 bytes apart


class RawWriter:
    """Appends rows to a raw CSV as they come (a run cut short keeps them)."""

    def __init__(self, out_dir, kind):
        self.path = os.path.join(out_dir, FILES[kind])
        self.fields = FIELDS[kind]
        self.rows = 0
        self._f = open(self.path, "w", newline="")
        self._w = csv.DictWriter(self._f, fieldnames=self.fields, extrasaction="ignore")
        self._w.writeheader()
        self._f.flush()

    def __call__(self, row):
        self._w.writerow({k: _cell(row.get(k)) for k in self.fields})
        self._f.flush()
        self.rows += 1

    def close(self):
        self._f.close()


def _cell(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return "%.6g" % v
    return v


def _num(v):
    if v in (None, ""):
        return None
    try:
        f = float(v)
    except ValueError:
        return v
    return int(f) if f.is_integer() and "." not in str(v) and "e" not in str(v) else f


def read_raw(out_dir, kind):
    path = os.path.join(out_dir, FILES[kind])
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return [{k: (_num(v) if k not in ("command", "status", "where", "top_functions",
                                          "benchmark", "family", "allocator", "provider",
                                          "program", "mode", "digest") else v)
                 for k, v in row.items()} for row in csv.DictReader(f)]


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def _write_csv(path, fields, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: _cell(r.get(k)) for k in fields})


def summarize_workloads(raw, allocators):
    """Medians per (benchmark, allocator) over the runs that succeeded."""
    groups, order = {}, []
    for r in raw:
        key = r["benchmark"]
        if key not in groups:
            groups[key] = {}
            order.append(key)
        groups[key].setdefault(r["allocator"], []).append(r)
    out = []
    for bench in order:
        med = {}
        for alloc in allocators:
            runs = [r for r in groups[bench].get(alloc, []) if r["status"] == "ok"]
            if not runs:
                continue
            med[alloc] = {
                "benchmark": bench, "family": runs[0]["family"], "threads": runs[0]["threads"],
                "max_size": runs[0]["max_size"], "allocator": alloc, "runs": len(runs),
                "ns_per_op": _median([r["ns_per_op"] for r in runs]),
                "ops_per_s": _median([r["ops_per_s"] for r in runs]),
                "peak_rss_kib": _median([r["peak_rss_kib"] for r in runs]),
            }
        for alloc, m in med.items():
            for base in ("glibc", "jemalloc"):
                b = med.get(base)
                m["time_vs_" + base] = _ratio(m["ns_per_op"], b and b["ns_per_op"])
                m["rss_vs_" + base] = _ratio(m["peak_rss_kib"], b and b["peak_rss_kib"])
            out.append(m)
    return out


def summarize_programs(raw, allocators):
    groups, order = {}, []
    for r in raw:
        if r["program"] not in groups:
            groups[r["program"]] = {}
            order.append(r["program"])
        groups[r["program"]].setdefault(r["allocator"], []).append(r)
    out = []
    for prog in order:
        med = {}
        for alloc in allocators:
            runs = [r for r in groups[prog].get(alloc, []) if r["status"] == "ok"]
            if runs:
                med[alloc] = {"program": prog, "allocator": alloc, "runs": len(runs),
                              "wall_s": _median([r["wall_s"] for r in runs]),
                              "cpu_s": _median([r["cpu_s"] for r in runs]),
                              "peak_rss_kib": _median([r["peak_rss_kib"] for r in runs]),
                              "metric": _median([r["metric"] for r in runs])}
        for alloc, m in med.items():
            for base in ("glibc", "jemalloc"):
                b = med.get(base)
                m["time_vs_" + base] = _ratio(m["wall_s"], b and b["wall_s"])
                m["cpu_vs_" + base] = _ratio(m["cpu_s"], b and b["cpu_s"])
                m["rss_vs_" + base] = _ratio(m["peak_rss_kib"], b and b["peak_rss_kib"])
            out.append(m)
    return out


# ---- Markdown --------------------------------------------------------------

def _fmt(v, kind="num"):
    if v is None:
        return "–"
    if kind == "ratio":
        return "%.2f" % v
    if kind == "mib":
        return "%.1f" % (v / 1024.0)
    if kind == "int":
        return "%d" % round(v)
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.2f" % v


def _numeric(cell):
    try:
        float(str(cell).replace("×", ""))
        return True
    except ValueError:
        return str(cell) == "–"


def _table(header, rows):
    """A Markdown table; columns of numbers are right-aligned."""
    align = ["---:" if i > 0 and rows and all(_numeric(r[i]) for r in rows) else "---"
             for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _pivot(summary, key):
    """(keys in first-seen order, {key: {allocator: summary row}})"""
    by = {}
    order = []
    for m in summary:
        k = m[key]
        if k not in by:
            by[k] = {}
            order.append(k)
        by[k][m["allocator"]] = m
    return order, by


def workloads_markdown(summary, allocators, meta):
    order, by = _pivot(summary, "benchmark")
    units = {f["name"]: f["unit"] for f in meta.get("families", [])}
    out = []
    reps = max((m["runs"] for m in summary), default=0)
    out.append("### Time per operation (ns, median of %d runs; lower is better)\n" % reps)
    out.append(_table(["workload", "max B", "op"] + allocators,
                      [[b, by[b][next(iter(by[b]))]["max_size"],
                        units.get(by[b][next(iter(by[b]))]["family"], "")] +
                       [_fmt(by[b].get(a, {}).get("ns_per_op")) for a in allocators] for b in order]))
    for base in ("glibc", "jemalloc"):
        if base not in allocators:
            continue
        others = [a for a in allocators if a != base]
        out.append("\n### Time relative to %s (< 1: faster than %s)\n" % (base, base))
        out.append(_table(["workload"] + others,
                          [[b] + [_fmt(by[b].get(a, {}).get("time_vs_" + base), "ratio") for a in others]
                           for b in order]))
    out.append("\n### Peak RSS of the process (MiB, median; pm_bench's own baseline included)\n")
    extra = ["poolmalloc / jemalloc"] if "poolmalloc" in allocators and "jemalloc" in allocators else []
    out.append(_table(["workload"] + allocators + extra,
                      [[b] + [_fmt(by[b].get(a, {}).get("peak_rss_kib"), "mib") for a in allocators] +
                       ([_fmt(by[b].get("poolmalloc", {}).get("rss_vs_jemalloc"), "ratio")] if extra else [])
                       for b in order]))
    scaling = [b for b in order if by[b][next(iter(by[b]))]["family"] == "threads_small_loop"]
    if scaling:
        out.append("\n### Thread scaling of the small-object loop (million operations per second, all threads)\n")
        out.append(_table(["threads"] + allocators,
                          [[by[b][next(iter(by[b]))]["threads"]] +
                           [_fmt((by[b].get(a, {}).get("ops_per_s") or 0) / 1e6 or None) for a in allocators]
                           for b in scaling]))
    return "\n".join(out)


def instructions_markdown(rows, allocators):
    out = []
    ok = [r for r in rows if r["status"] == "ok"]
    for mode, title in (("pair", "malloc(n) then free at once (the hot path)"),
                        ("batch", "64 mallocs of n bytes, then their 64 frees")):
        sizes = sorted({r["size"] for r in ok if r["mode"] == mode})
        if not sizes:
            continue
        get = {(r["allocator"], r["size"]): r for r in ok if r["mode"] == mode}
        out.append("\n### Instructions per malloc+free pair: %s\n" % title)
        out.append(_table(["size (B)"] + allocators,
                          [[s] + [_fmt(get.get((a, s), {}).get("instr_per_pair")) for a in allocators]
                           for s in sizes]))
    if ok:
        out.append("\nWhere the instructions ran (pair mode, 64 bytes; objects and busiest functions "
                   "from callgrind's output: each figure is the named allocator's code):\n")
        pick = {r["allocator"]: r for r in ok if r["mode"] == "pair" and r["size"] == 64}
        out.append(_table(["allocator", "objects", "functions"],
                          [[a, pick[a]["where"], pick[a]["top_functions"]] for a in allocators if a in pick]))
    bad = [r for r in rows if r["status"] != "ok"]
    for r in bad:
        out.append("\n- %s %s %s B: %s" % (r["allocator"], r["mode"], r["size"], r["status"]))
    return "\n".join(out)


def programs_markdown(summary, allocators, meta):
    order, by = _pivot(summary, "program")
    docs = dict(meta.get("programs", []))
    out = []
    reps = max((m["runs"] for m in summary), default=0)
    out.append("### Wall time (s, median of %d runs)\n" % reps)
    out.append(_table(["program"] + allocators,
                      [[p] + [_fmt(by[p].get(a, {}).get("wall_s")) for a in allocators] for p in order]))
    for base in ("glibc", "jemalloc"):
        if base in allocators:
            others = [a for a in allocators if a != base]
            out.append("\n### Wall time relative to %s\n" % base)
            out.append(_table(["program"] + others,
                              [[p] + [_fmt(by[p].get(a, {}).get("time_vs_" + base), "ratio") for a in others]
                               for p in order]))
    out.append("\n### CPU time (s, user+sys, median; redis: the server's)\n")
    out.append("Less sensitive than wall time to other load on the machine.\n")
    out.append(_table(["program"] + allocators,
                      [[p] + [_fmt(by[p].get(a, {}).get("cpu_s")) for a in allocators] for p in order]))
    if "glibc" in allocators:
        others = [a for a in allocators if a != "glibc"]
        out.append("\n### CPU time relative to glibc\n")
        out.append(_table(["program"] + others,
                          [[p] + [_fmt(by[p].get(a, {}).get("cpu_vs_glibc"), "ratio") for a in others]
                           for p in order]))
    out.append("\n### Peak RSS (MiB, median)\n")
    out.append(_table(["program"] + allocators,
                      [[p] + [_fmt(by[p].get(a, {}).get("peak_rss_kib"), "mib") for a in allocators]
                       for p in order]))
    if any(m.get("metric") for m in summary if m["program"] == "redis"):
        out.append("\nredis-benchmark, geometric mean of the tests' requests per second: " + ", ".join(
            "%s %s" % (a, _fmt(by["redis"].get(a, {}).get("metric"), "int")) for a in allocators
            if a in by.get("redis", {})) + ".")
    out.append("")
    for p in order:
        if p in docs:
            out.append("- **%s**: %s." % (p, docs[p]))
    return "\n".join(out)


def targets_markdown(wsum, instr, allocators):
    """The issue's targets for poolmalloc, checked against this run."""
    if "poolmalloc" not in allocators:
        return ""
    pm = {m["benchmark"]: m for m in wsum if m["allocator"] == "poolmalloc"}
    lines, misses = [], []
    for b, m in pm.items():
        small = m["max_size"] is not None and m["max_size"] <= SMALL
        if small:
            for base in ("glibc", "jemalloc"):
                r = m.get("time_vs_" + base)
                if r is not None and r >= 1.0:
                    misses.append("%s (≤512 B): %.2f× %s's time" % (b, r, base))
            r = m.get("rss_vs_jemalloc")
            if r is not None and r > 1.0:
                misses.append("%s (≤512 B): peak RSS %.2f× jemalloc's" % (b, r))
        else:
            r = m.get("time_vs_jemalloc")
            if r is not None and r > 1.10:
                misses.append("%s (>512 B): %.2f× jemalloc's time (target ≤ 1.10)" % (b, r))
    ok = {(r["allocator"], r["mode"], r["size"]): r["instr_per_pair"] for r in instr if r["status"] == "ok"}
    for (a, mode, size), v in sorted(ok.items(), key=lambda kv: (kv[0][1], kv[0][2])):
        if a == "poolmalloc" and size <= SMALL and ("jemalloc", mode, size) in ok:
            j = ok[("jemalloc", mode, size)]
            if v > j:
                misses.append("instructions, %s %d B: %.1f per pair vs jemalloc's %.1f" % (mode, size, v, j))
    checked = len(pm) + sum(1 for k in ok if k[0] == "poolmalloc" and k[2] <= SMALL)
    lines.append("Targets: faster than glibc and jemalloc on every workload of 512 bytes or less, with "
                 "peak RSS no higher than jemalloc's; over 512 bytes within 10%% of jemalloc's time; "
                 "no more instructions per pair than jemalloc up to 512 bytes.  Checked %d figures; "
                 "poolmalloc misses %d:\n" % (checked, len(misses)))
    lines += ["- " + m for m in misses] or ["- none"]
    return "\n".join(lines)


def families_markdown(meta):
    fams = meta.get("families", [])
    if not fams:
        return ""
    rows = [[f["name"], f["unit"], f["doc"]] for f in fams]
    return _table(["workload", "one operation", "the real pattern it stands for"], rows)


def generate(out_dir, meta):
    """Derived CSVs and summary.md from the raw CSVs in out_dir.  Returns
    (markdown text, {kind: summary rows})."""
    allocators = [a["name"] for a in meta.get("allocators", [])]
    wraw = read_raw(out_dir, "workloads")
    instr = read_raw(out_dir, "instructions")
    praw = read_raw(out_dir, "programs")
    wsum = summarize_workloads(wraw, allocators)
    psum = summarize_programs(praw, allocators)
    if wraw:
        _write_csv(os.path.join(out_dir, "workloads.csv"), WORKLOAD_FIELDS, wsum)
    if praw:
        _write_csv(os.path.join(out_dir, "programs.csv"), PROGRAM_FIELDS, psum)
    md = ["# poolmalloc benchmark results", ""]
    m = meta.get("machine", {})
    md.append("Machine: %s, %s online CPUs, %s; %s.  %s" % (
        m.get("cpu", "?"), m.get("cpus", "?"), m.get("kernel", "?"), m.get("os", "?"),
        m.get("load", "")))
    md.append("")
    md.append("Allocators: " + "; ".join("%s %s" % (a["name"], a.get("version", ""))
                                          for a in meta.get("allocators", [])) + ".")
    md.append("")
    md.append("Command: `%s` (%s)." % (meta.get("command", "?"), meta.get("finished", meta.get("started", ""))))
    for note in meta.get("notes", []):
        md.append("\n- Note: " + note)
    if wsum:
        md += ["", "## Workloads (pm_bench)", "", workloads_markdown(wsum, allocators, meta)]
    if instr:
        md += ["", "## Instructions per malloc+free pair (callgrind, exact)", "",
               instructions_markdown(instr, allocators)]
    if psum:
        md += ["", "## Real programs", "", programs_markdown(psum, allocators, meta)]
    t = targets_markdown(wsum, instr, allocators)
    if t:
        md += ["", "## Against the targets", "", t]
    f = families_markdown(meta) if wsum else ""
    if f:
        md += ["", "## The workloads", "", f]
    text = "\n".join(md) + "\n"
    with open(os.path.join(out_dir, "summary.md"), "w") as fh:
        fh.write(text)
    return text, {"workloads": wsum, "instructions": instr, "programs": psum}


def load_meta(out_dir):
    with open(os.path.join(out_dir, "meta.json")) as f:
        return json.load(f)


def save_meta(out_dir, meta):
    with open(os.path.join(out_dir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
