"""instructions.py -- instructions per malloc+free pair, counted by callgrind.

pm_pairs (bench/pairs.c) runs N malloc+free pairs of one size after a fixed
warm-up.  Each allocator, mode and size is run under callgrind with two
values of N; the instructions spent in the calls made from the loop
(callgrind's inclusive cost of the calls from pm_pairs' pairs()/batches():
the PLT stub, malloc, free and anything they call) differ by exactly the
extra pairs, so their difference divided by the difference of N is the
instructions per pair -- exact, and independent of start-up and warm-up.

Whose malloc is counted: callgrind, unlike memcheck, massif or helgrind,
does not replace malloc (valgrind has no vgpreload for it), so the calls go
to whatever the dynamic linker bound -- glibc's own malloc with no preload.
--soname-synonyms=somalloc=nouserintercepts is passed all the same (it
would keep a replacing tool off a preloaded allocator).  The proof is in
the output: at least half of the counted instructions must have run inside
the allocator's own object (the rest are PLT stubs and calls into libc),
and the objects and busiest functions are listed with each figure.  One
exception: valgrind ties code in a non-standard section to no object
("???"); tcmalloc keeps malloc and free in its "google_malloc" section, so
for it the instructions must be in such unnamed code and not in libc.
"""
import os
import re
import shutil
import tempfile

from . import runner

DEFAULT_SIZES = (16, 64, 256, 512, 1024, 4096, 65536)
DEFAULT_MODES = ("pair", "batch")
LOOP_FUNCTIONS = ("pairs", "batches")
MIN_SHARE = 0.5     # of the counted instructions, inside the allocator's object


def valgrind_path():
    return shutil.which("valgrind")


_ref = re.compile(r"^\((\d+)\)(?: (.*))?$")


def parse_callgrind(path):
    """Self cost per object and per (object, function), and the inclusive
    cost of the calls made from LOOP_FUNCTIONS, from a callgrind.out file."""
    tables = {"ob": {}, "fn": {}, "fl": {}}
    kinds = {"ob": "ob", "cob": "ob", "fn": "fn", "cfn": "fn",
             "fl": "fl", "fi": "fl", "fe": "fl", "cfi": "fl", "cfl": "fl"}
    positions, ir_index = 1, 0
    ob = fn = None
    pending_call = False
    by_object, by_function = {}, {}
    loop_calls = 0
    total = None

    def resolve(kind, value):
        m = _ref.match(value)
        if not m:
            return value
        ident, name = m.group(1), m.group(2)
        if name is not None:
            tables[kind][ident] = name
            return name
        return tables[kind].get(ident, "(%s)" % ident)

    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            c = line[0]
            if c.isdigit() or c in "+-*":
                fields = line.split()
                ir = int(fields[positions + ir_index]) if len(fields) > positions + ir_index else 0
                if pending_call:
                    if fn in LOOP_FUNCTIONS:
                        loop_calls += ir
                    pending_call = False
                else:
                    by_object[ob] = by_object.get(ob, 0) + ir
                    by_function[(ob, fn)] = by_function.get((ob, fn), 0) + ir
                continue
            key, sep, value = line.partition("=")
            if sep and key in kinds:
                name = resolve(kinds[key], value)
                if key == "ob":
                    ob = name
                elif key == "fn":
                    fn = name
            elif sep and key == "calls":
                pending_call = True
            elif line.startswith("positions:"):
                positions = len(line.split()[1:])
            elif line.startswith("events:"):
                events = line.split()[1:]
                ir_index = events.index("Ir") if "Ir" in events else 0
            elif line.startswith(("summary:", "totals:")):
                total = int(line.split()[1 + ir_index])
    return {"total": total, "loop_calls": loop_calls, "by_object": by_object,
            "by_function": by_function}


def count(valgrind, pm_pairs, alloc, mode, size, n, timeout=300):
    """One callgrind run of pm_pairs MODE SIZE N under alloc."""
    fd, out_path = tempfile.mkstemp(prefix="pm-callgrind-")
    os.close(fd)
    env = alloc.env(runner.base_environ())
    cmd = [valgrind, "--tool=callgrind", "--callgrind-out-file=%s" % out_path,
           "--soname-synonyms=somalloc=nouserintercepts", pm_pairs, mode, str(size), str(n)]
    try:
        outcome = runner.run(cmd, env, timeout)
        parsed = parse_callgrind(out_path) if outcome.ok else None
    finally:
        os.unlink(out_path)
    return outcome, parsed, runner.command_line(cmd[:2] + cmd[3:], env)


def measure(valgrind, pm_pairs, alloc, mode, size, n1, n2):
    """Instructions per pair for one allocator, mode and size: a row for
    the CSV (status "ok" or what went wrong)."""
    row = {"allocator": alloc.name, "mode": mode, "size": size, "n1": n1, "n2": n2}
    o1, p1, _ = count(valgrind, pm_pairs, alloc, mode, size, n1)
    o2, p2, command = count(valgrind, pm_pairs, alloc, mode, size, n2)
    row["command"] = command
    if p1 is None or p2 is None:
        bad = o1 if p1 is None else o2
        row["status"] = "valgrind failed: %s: %s" % (bad.describe(), bad.stderr.strip()[-300:])
        return row
    dn = n2 - n1
    dcalls = p2["loop_calls"] - p1["loop_calls"]
    if dcalls <= 0:
        row["status"] = "no instructions counted in the calls from the loop"
        return row
    objects = set(p1["by_object"]) | set(p2["by_object"])
    dobj = {ob: p2["by_object"].get(ob, 0) - p1["by_object"].get(ob, 0) for ob in objects}
    # The loop's own instructions are not part of the calls.
    pm_pairs_obj = next((ob for ob in objects if ob and os.path.basename(ob) == "pm_pairs"), None)
    loop_self = sum(p2["by_function"].get((pm_pairs_obj, f), 0) - p1["by_function"].get((pm_pairs_obj, f), 0)
                    for f in LOOP_FUNCTIONS)
    if pm_pairs_obj in dobj:
        dobj[pm_pairs_obj] -= loop_self
    in_alloc = sum(d for ob, d in dobj.items() if ob and ob != "???" and alloc.serves(ob))
    # Code in a section valgrind ties to no object is reported as "???":
    # tcmalloc keeps malloc and free in its own "google_malloc" section.
    unnamed = dobj.get("???", 0) + dobj.get(None, 0)
    where = sorted(((d, "unnamed" if ob in ("???", None) else os.path.basename(ob))
                    for ob, d in dobj.items() if d > 0.02 * dcalls), reverse=True)
    functions = set(p1["by_function"]) | set(p2["by_function"])
    dfn = sorted(((p2["by_function"].get(k, 0) - p1["by_function"].get(k, 0), k) for k in functions
                  if not (k[0] == pm_pairs_obj and k[1] in LOOP_FUNCTIONS)), reverse=True)
    top = ["%s %.0f%%" % (fn, 100.0 * d / dcalls) for d, (ob, fn) in dfn[:4] if d > 0.02 * dcalls]
    share = in_alloc / dcalls
    ok = share >= MIN_SHARE or (share + unnamed / dcalls >= MIN_SHARE and alloc.name != "glibc"
                                and not any(name.startswith("libc.so") and d > 0.25 * dcalls
                                            for d, name in where))
    row.update({
        "instr_per_pair": dcalls / dn,
        "instr_in_allocator_per_pair": in_alloc / dn,
        "total_per_pair": (p2["total"] - p1["total"]) / dn,
        "allocator_share": share,
        "where": "; ".join("%s %.0f%%" % (name, 100.0 * d / dcalls) for d, name in where),
        "top_functions": "; ".join(top),
        "status": "ok" if ok else
                  "only %.0f%% of the instructions ran in %s: not its malloc?" % (
                      100 * share, os.path.basename(alloc.serving_object)),
    })
    return row


def run_all(valgrind, pm_pairs, allocators, sizes, modes, n1, n2, progress, on_row):
    failures = 0
    for mode in modes:
        for size in sizes:
            parts = []
            for alloc in allocators:
                row = measure(valgrind, pm_pairs, alloc, mode, size, n1, n2)
                on_row(row)
                if row["status"] != "ok":
                    failures += 1
                    parts.append("%s FAILED (%s)" % (alloc.name, row["status"]))
                else:
                    parts.append("%s %.1f" % (alloc.name, row["instr_per_pair"]))
            progress("%-5s %6d B  instructions/pair: %s" % (mode, size, "  ".join(parts)))
    return failures
