"""programs.py -- real programs from Debian packages under each allocator.

  python   python3 with PYTHONMALLOC=malloc runs scripts/demo-workload.py
  sqlite   sqlite3 bulk insert (300k rows) and queries on an in-memory database
  redis    redis-server on 127.0.0.1 (a free high port), loaded by
           redis-benchmark (a bounded number of requests, pipelined)
  cc       cc -O2 -c on a large generated C file

Each records wall time and peak RSS (pm_runrss; for redis the server's peak
and the client's wall time).  A program that is not installed is skipped
with a note.  Before timing, one run per program and allocator with the
dynamic linker's binding trace (LD_DEBUG=bindings, LD_BIND_NOW=1) must show
malloc, free, calloc and realloc of every object bound to the allocator.
redis-server is linked against jemalloc: for glibc it runs with libc.so.6
itself preloaded, which puts glibc's malloc first in the lookup order.
Outputs (python's and sqlite's stdout, cc's object file) must be the same
under every allocator.
"""
import glob
import hashlib
import math
import os
import re
import shutil
import socket
import struct
import time

from . import runner

SYMBOLS = ("malloc", "free", "calloc", "realloc")
_binding = re.compile(r"binding file (\S+) \[\d+\] to (\S+) \[\d+\]: normal symbol `(\w+)'")


class PreloadError(RuntimeError):
    pass


def _which(*names):
    for n in names:
        path = n if os.path.isabs(n) else shutil.which(n)
        if path and os.access(path, os.X_OK):
            return path
    return None


def _digest_bytes(data):
    return hashlib.sha1(data).hexdigest()[:12]


class Program:
    name = ""
    doc = ""
    needs = ()          # executables; the first is the program

    def __init__(self, ctx):
        self.ctx = ctx  # repo, bench dir, smoke flag
        self.paths = [_which(*alts) if isinstance(alts, tuple) else _which(alts) for alts in self.needs]

    def missing(self):
        return [alts if isinstance(alts, str) else alts[0]
                for alts, p in zip(self.needs, self.paths) if p is None]

    def prepare(self, workdir):
        """Write inputs into workdir (once, before the runs)."""

    def probe(self, workdir):
        """A short command that loads what the real run loads (bindings check)."""
        raise NotImplementedError

    def extra_env(self):
        return {}

    def run(self, env, workdir):
        """One timed run: a dict with status, wall_s, peak_rss_kib, cpu_s,
        metric (or None) and digest (or None), and the command."""
        raise NotImplementedError


def _outcome_row(outcome, cmd, env, keys=("LD_PRELOAD",)):
    row = {"command": runner.command_line(cmd, env, keys),
           "status": "ok" if outcome.ok else outcome.describe(),
           "wall_s": outcome.wall_s, "peak_rss_kib": outcome.maxrss_kib,
           "cpu_s": (outcome.user_s or 0) + (outcome.sys_s or 0) if outcome.user_s is not None else None,
           "metric": None, "digest": None}
    if not outcome.ok:
        row["status"] += ": " + (outcome.stderr.strip()[-300:] or "no output")
    return row


class Python(Program):
    name = "python"
    doc = ("python3 (PYTHONMALLOC=malloc: every object from malloc) running "
           "scripts/demo-workload.py: dicts, lists, strings, json and 4 threads")
    needs = (("/usr/bin/python3", "python3"),)

    def probe(self, workdir):
        return [self.paths[0], "-c", "pass"]

    def extra_env(self):
        return {"PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}

    def run(self, env, workdir):
        cmd = [self.paths[0], "-s", os.path.join(self.ctx.repo, "scripts", "demo-workload.py")]
        out = runner.run_measured(self.ctx.runrss, cmd, env, 300, cwd=workdir)
        row = _outcome_row(out, cmd, env, ("LD_PRELOAD", "PYTHONMALLOC"))
        row["digest"] = _digest_bytes(out.stdout.encode())
        return row


class Sqlite(Program):
    name = "sqlite"
    doc = ("sqlite3 on an in-memory database: bulk insert of %d rows in one transaction, "
           "two indexes, aggregates, a join, sorting, an update and a delete")
    needs = ("sqlite3",)
    ROWS = 300000

    def __init__(self, ctx):
        super().__init__(ctx)
        self.rows = 3000 if ctx.smoke else self.ROWS
        self.doc = self.doc % self.rows

    def prepare(self, workdir):
        with open(os.path.join(self.ctx.bench, "programs", "sqlite_bulk.sql")) as f:
            sql = f.read()
        with open(os.path.join(workdir, "bulk.sql"), "w") as f:
            f.write(sql.replace("i < 300000", "i < %d" % self.rows))

    def probe(self, workdir):
        return [self.paths[0], ":memory:", "select 1;"]

    def run(self, env, workdir):
        cmd = [self.paths[0], ":memory:"]
        out = runner.run_measured(self.ctx.runrss, cmd, env, 300, cwd=workdir,
                                  stdin_path=os.path.join(workdir, "bulk.sql"))
        row = _outcome_row(out, cmd, env)
        row["command"] += " < bulk.sql"
        row["digest"] = _digest_bytes(out.stdout.encode())
        return row


class Cc(Program):
    name = "cc"
    doc = ("cc -O2 -c on a generated C file of %d functions (%d lines; "
           "gcc's driver, cc1 and as all run on the allocator)")
    needs = (("cc", "gcc"),)
    FUNCTIONS = 150

    def __init__(self, ctx):
        super().__init__(ctx)
        self.functions = 4 if ctx.smoke else self.FUNCTIONS

    def prepare(self, workdir):
        import importlib.util
        spec = importlib.util.spec_from_file_location(
            "gen_c_file", os.path.join(self.ctx.bench, "programs", "gen_c_file.py"))
        gen = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(gen)
        with open(os.path.join(workdir, "big.c"), "w") as f:
            gen.generate(self.functions, f)
        with open(os.path.join(workdir, "big.c")) as f:
            self.doc = self.doc % (self.functions, sum(1 for _ in f))
        with open(os.path.join(workdir, "tiny.c"), "w") as f:
            f.write("int tiny(int x) { return x * 3; }\n")

    def probe(self, workdir):
        return [self.paths[0], "-c", "tiny.c", "-o", "tiny.o"]

    def run(self, env, workdir):
        obj = os.path.join(workdir, "big.o")
        if os.path.exists(obj):
            os.unlink(obj)
        cmd = [self.paths[0], "-O2", "-c", "big.c", "-o", "big.o"]
        out = runner.run_measured(self.ctx.runrss, cmd, env, 600, cwd=workdir)
        row = _outcome_row(out, cmd, env)
        if out.ok and os.path.exists(obj):
            with open(obj, "rb") as f:
                row["digest"] = _digest_bytes(f.read())
        return row


class Redis(Program):
    name = "redis"
    doc = ("redis-server on 127.0.0.1 loaded by redis-benchmark (%d requests per test, "
           "16 clients, pipeline 16, random keys, 64-byte values; "
           "the client runs without preload): client wall time, server peak RSS")
    needs = ("redis-server", "redis-benchmark")
    REQUESTS = 100000
    TESTS = "set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,lrange_100,mset"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.requests = 2000 if ctx.smoke else self.REQUESTS
        self.tests = "set,get,lpush,lpop" if ctx.smoke else self.TESTS
        self.doc = self.doc % self.requests

    def probe(self, workdir):
        return [self.paths[0], "--version"]

    @staticmethod
    def _free_port():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    @staticmethod
    def _command(port, line, timeout=2.0):
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(line.encode() + b"\r\n")
            try:
                return s.recv(64)
            except socket.timeout:
                return b""

    def _start(self, env, workdir):
        """Start a server on a free port; retry a few ports.  (server, port)"""
        for attempt in range(3):
            port = self._free_port()
            cmd = [self.paths[0], "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--daemonize", "no", "--dir", workdir,
                   "--logfile", ""]
            server = runner.Background(self.ctx.runrss, cmd, env, workdir,
                                       os.path.join(workdir, "redis-%d.log" % attempt))
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and server.running():
                try:
                    if self._command(port, "PING").startswith(b"+PONG"):
                        return server, port, cmd
                except OSError:
                    pass
                time.sleep(0.05)
            server.kill()
        return None, None, None

    def run(self, env, workdir):
        server, port, scmd = self._start(env, workdir)
        if server is None:
            log = ""
            for p in sorted(glob.glob(os.path.join(workdir, "redis-*.log"))):
                with open(p, errors="replace") as f:
                    log += f.read()[-300:]
            return {"command": "redis-server", "status": "redis-server did not start: " + log,
                    "wall_s": None, "peak_rss_kib": None, "cpu_s": None, "metric": None, "digest": None}
        try:
            client_env = runner.base_environ()
            ccmd = [self.paths[1], "-h", "127.0.0.1", "-p", str(port), "-n", str(self.requests),
                    "-r", "100000", "-d", "64", "-c", "16", "-P", "16", "-q", "-t", self.tests]
            client = runner.run(ccmd, client_env, 300)
            try:
                self._command(port, "SHUTDOWN NOSAVE")
            except OSError:
                pass
            srv = server.wait(15)
        finally:
            if server.running():
                server.kill()
        rates = [float(m) for m in re.findall(r"([0-9.]+) requests per second", client.stdout)]
        row = {"command": runner.command_line(scmd, env) + " ; " + runner.command_line(ccmd),
               "wall_s": client.wall_s, "peak_rss_kib": srv.maxrss_kib,
               "cpu_s": (srv.user_s or 0) + (srv.sys_s or 0) if srv.user_s is not None else None,
               "digest": None,
               "metric": math.exp(sum(math.log(r) for r in rates) / len(rates)) if rates else None}
        if not client.ok:
            row["status"] = "redis-benchmark: %s: %s" % (client.describe(), client.stderr.strip()[-300:])
        elif len(rates) < len(self.tests.split(",")):
            row["status"] = "redis-benchmark reported %d rates for %d tests" % (
                len(rates), len(self.tests.split(",")))
        elif srv.returncode != 0:
            row["status"] = "redis-server: %s" % srv.describe()
        else:
            row["status"] = "ok"
        return row


PROGRAMS = (Python, Sqlite, Redis, Cc)


def bindings(probe_cmd, env, workdir):
    """{symbol: set of objects} that the dynamic linker bound the malloc
    symbols to, in every process of probe_cmd.  A binding to an object that
    does not define the symbol -- a non-PIE executable whose PLT entry is
    the canonical address of malloc, like Debian's python3 -- is followed to
    where that object's own reference was bound."""
    trace = os.path.join(workdir, "ld-trace")
    for old in glob.glob(trace + ".*"):
        os.unlink(old)
    tenv = dict(env, LD_DEBUG="bindings", LD_BIND_NOW="1", LD_DEBUG_OUTPUT=trace)
    out = runner.run(probe_cmd, tenv, 120, cwd=workdir)
    found = {s: set() for s in SYMBOLS}
    for path in glob.glob(trace + ".*"):
        edges = {s: {} for s in SYMBOLS}      # per process: file -> targets
        with open(path, errors="replace") as f:
            for line in f:
                m = _binding.search(line)
                if m and m.group(3) in edges:
                    edges[m.group(3)].setdefault(m.group(1), set()).add(m.group(2))
        os.unlink(path)
        for sym, graph in edges.items():
            for targets in graph.values():
                for t in targets:
                    found[sym] |= _follow(graph, sym, t, set())
    return out, found


_undefined_cache = {}


def _undefined(obj):
    """The dynamic symbols that the ELF file obj references but does not
    define (st_shndx == SHN_UNDEF in .dynsym), read directly from the file."""
    if obj not in _undefined_cache:
        try:
            _undefined_cache[obj] = _elf_undefined(obj)
        except (OSError, ValueError, struct.error):
            _undefined_cache[obj] = set()
    return _undefined_cache[obj]


def _elf_undefined(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[5] not in (1, 2):
        raise ValueError("not an ELF file")
    end = "<" if data[5] == 1 else ">"
    if data[4] == 2:        # ELF64
        shoff, = struct.unpack_from(end + "Q", data, 0x28)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x3A)
        sh_fmt, sym_fmt, sym_size = end + "IIQQQQIIQQ", end + "IBBHQQ", 24
    else:                   # ELF32
        shoff, = struct.unpack_from(end + "I", data, 0x20)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x2E)
        sh_fmt, sym_fmt, sym_size = end + "IIIIIIIIII", end + "IIIBBH", 16
    sections = [struct.unpack_from(sh_fmt, data, shoff + i * shentsize) for i in range(shnum)]
    names = set()
    for sh in sections:
        if sh[1] != 11:     # SHT_DYNSYM
            continue
        offset, size, link = sh[4], sh[5], sh[6]
        strtab = sections[link][4]
        for i in range(size // sym_size):
            sym = struct.unpack_from(sym_fmt, data, offset + i * sym_size)
            st_name, shndx = sym[0], (sym[3] if data[4] == 2 else sym[5])
            if shndx == 0 and st_name:
                names.add(data[strtab + st_name:data.index(b"\0", strtab + st_name)].decode())
    return names


def _follow(graph, sym, target, seen):
    """The objects that really define sym for a binding to target."""
    if sym not in _undefined(target) or target in seen:
        return {target}
    seen.add(target)
    onward = graph.get(target, set()) - {target}
    result = set()
    for t in onward:
        result |= _follow(graph, sym, t, seen)
    return result or {target}


def resolve_env(program, alloc, base, workdir, libc_path):
    """The environment under which program really runs on alloc, checked by
    the binding trace, and the objects malloc was bound to.  Raises
    PreloadError when there is none."""
    env = dict(alloc.env(base), **program.extra_env())
    out, found = bindings(program.probe(workdir), env, workdir)

    def served(found):
        return all(found[s] and all(alloc.serves(o) for o in found[s]) for s in SYMBOLS)

    if not served(found) and alloc.preload is None:
        # A program linked against another malloc (redis-server: jemalloc):
        # preload the C library itself, so that glibc's malloc comes first.
        env["LD_PRELOAD"] = libc_path
        out, found = bindings(program.probe(workdir), env, workdir)
    if not served(found):
        seen = "; ".join("%s -> %s" % (s, ", ".join(sorted(found[s])) or "nothing") for s in SYMBOLS)
        raise PreloadError("%s under %s: malloc & co are not all bound to %s (%s)%s" % (
            program.name, alloc.name, alloc.serving_object, seen,
            "" if out.ok else "; probe %s" % out.describe()))
    return env, " ".join(sorted(found["malloc"]))


def run_all(ctx, allocators, names, reps, workdir, progress, on_row, notes):
    """Programs x allocators x reps (allocators alternating).  Returns the
    number of failures (runs that failed, outputs that differ)."""
    programs = []
    for cls in PROGRAMS:
        if names and cls.name not in names:
            continue
        p = cls(ctx)
        if p.missing():
            notes.append("program %s skipped: %s not installed (scripts/install-deps.sh --bench)"
                         % (p.name, ", ".join(p.missing())))
            continue
        pdir = os.path.join(workdir, p.name)
        os.makedirs(pdir, exist_ok=True)
        p.prepare(pdir)
        programs.append((p, pdir))
    failures = 0
    envs, providers = {}, {}
    base = runner.base_environ()
    for p, pdir in programs:
        for a in allocators:
            envs[(p.name, a.name)], providers[(p.name, a.name)] = resolve_env(p, a, base, pdir, ctx.libc)
            if a.preload is None and envs[(p.name, a.name)].get("LD_PRELOAD"):
                notes.append("%s runs with LD_PRELOAD=%s for glibc (it is linked against "
                             "another malloc)" % (p.name, ctx.libc))
    digests = {}
    for rep in range(1, reps + 1):
        for p, pdir in programs:
            parts = []
            for a in allocators:
                row = p.run(envs[(p.name, a.name)], pdir)
                row.update({"rep": rep, "program": p.name, "allocator": a.name,
                            "provider": providers[(p.name, a.name)]})
                if row["status"] == "ok" and row["digest"] is not None:
                    digests.setdefault(p.name, {}).setdefault(row["digest"], []).append(a.name)
                on_row(row)
                if row["status"] != "ok":
                    failures += 1
                    parts.append("%s FAILED (%s)" % (a.name, row["status"][:200]))
                else:
                    parts.append("%s %.2fs %.1fMiB" % (a.name, row["wall_s"], (row["peak_rss_kib"] or 0) / 1024))
            progress("[%d/%d] %-8s %s" % (rep, reps, p.name, "  ".join(parts)))
    for name, by_digest in digests.items():
        if len(by_digest) > 1:
            failures += 1
            notes.append("OUTPUT DIFFERS for %s: %s" % (name, "; ".join(
                "%s: %s" % (d, ", ".join(sorted(set(v)))) for d, v in by_digest.items())))
    return failures, [(p.name, p.doc) for p, _ in programs]
