"""allocators.py -- find the allocators to compare, and check that a run used them.

glibc is the system malloc (no preload); jemalloc, mimalloc and tcmalloc are
the Debian libraries, found with `ldconfig -p` or in the multiarch library
directory; poolmalloc is libpoolmalloc.so of a build directory.  An
allocator that is not installed is skipped with a note.  Every measured run
reports which shared object served its malloc (pm_bench's malloc_provider,
the dynamic linker's bindings for real programs, callgrind's objects for
instruction counts); `Allocator.serves` says whether that is the one meant.
"""
import os
import platform
import shutil
import subprocess

# name, shared object, Debian package
KNOWN = (
    ("glibc", "libc.so.6", "libc6"),
    ("jemalloc", "libjemalloc.so.2", "libjemalloc2"),
    ("mimalloc", "libmimalloc.so.2", "libmimalloc2.0"),
    ("tcmalloc", "libtcmalloc_minimal.so.4", "libtcmalloc-minimal4"),
    ("poolmalloc", "libpoolmalloc.so", None),
)
ORDER = [k[0] for k in KNOWN]


class Allocator:
    """One allocator: its name, the library to preload (None: the system
    malloc, nothing preloaded) and the object that must serve malloc."""

    def __init__(self, name, preload, serving_object, package=None):
        self.name = name
        self.preload = preload              # path for LD_PRELOAD, or None
        self.serving_object = serving_object  # path of the object that must serve malloc
        self.package = package

    def env(self, base):
        """base with LD_PRELOAD set for this allocator (or removed)."""
        env = dict(base)
        env.pop("LD_PRELOAD", None)
        if self.preload:
            env["LD_PRELOAD"] = self.preload
        return env

    def serves(self, obj):
        """True if `obj` (a path reported by a run) is this allocator's object."""
        if not obj:
            return False
        return same_file(obj, self.serving_object)

    def __repr__(self):
        return "Allocator(%s, %s)" % (self.name, self.preload)


def same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _ldconfig_table():
    """{soname: [path, ...]} from `ldconfig -p`, entries for this machine's
    word size first."""
    exe = shutil.which("ldconfig") or next(
        (p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig") if os.access(p, os.X_OK)), None)
    table = {}
    if exe is None:
        return table
    try:
        out = subprocess.run([exe, "-p"], capture_output=True, text=True, timeout=30,
                             stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError):
        return table
    want64 = platform.architecture()[0] == "64bit"
    for line in out.splitlines():
        line = line.strip()
        if "=>" not in line:
            continue
        left, path = line.split("=>", 1)
        soname = left.split()[0]
        flags = left[left.find("(") + 1:left.find(")")] if "(" in left else ""
        is64 = "64" in flags
        entry = table.setdefault(soname, [])
        if is64 == want64:
            entry.insert(0, path.strip())
        else:
            entry.append(path.strip())
    return table


def _multiarch_dirs():
    triplet = None
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc:
        try:
            triplet = subprocess.run([cc, "-print-multiarch"], capture_output=True, text=True,
                                     timeout=30, stdin=subprocess.DEVNULL).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            triplet = None
    if not triplet:
        triplet = "%s-linux-gnu" % platform.machine()
    return ["/usr/lib/" + triplet, "/lib/" + triplet, "/usr/lib64", "/usr/lib", "/lib64", "/lib"]


def find_library(soname, table=None):
    """Path of a system library by soname, or None."""
    table = _ldconfig_table() if table is None else table
    for path in table.get(soname, []):
        if os.path.exists(path):
            return path
    for d in _multiarch_dirs():
        path = os.path.join(d, soname)
        if os.path.exists(path):
            return path
    return None


def discover(build_dir, wanted=None, extra=()):
    """The allocators to compare, in the fixed order glibc, jemalloc,
    mimalloc, tcmalloc, poolmalloc, then any given as NAME=LIB; and notes on
    those skipped.  wanted: names to keep (None: all).  Raises RuntimeError
    if glibc's libc or libpoolmalloc.so cannot be found."""
    table = _ldconfig_table()
    found, notes = [], []
    for name, soname, package in KNOWN:
        if wanted is not None and name not in wanted:
            continue
        if name == "glibc":
            libc = find_library(soname, table)
            if libc is None:
                raise RuntimeError("cannot find the C library (libc.so.6)")
            found.append(Allocator("glibc", None, libc, package))
        elif name == "poolmalloc":
            lib = os.path.join(build_dir, soname)
            if not os.path.exists(lib):
                raise RuntimeError("%s not found: build first (cmake -S . -B build && "
                                   "cmake --build build -j2) or pass --build DIR" % lib)
            lib = os.path.abspath(lib)
            found.append(Allocator("poolmalloc", lib, lib))
        else:
            lib = find_library(soname, table)
            if lib is None:
                notes.append("%s skipped: %s not found (Debian package %s; "
                             "scripts/install-deps.sh --bench installs it)" % (name, soname, package))
                continue
            found.append(Allocator(name, lib, lib, package))
    for spec in extra:
        name, _, lib = spec.partition("=")
        if not name or not lib or not os.path.exists(lib):
            raise RuntimeError("--allocator wants NAME=/path/to/lib.so that exists, not %r" % spec)
        if any(a.name == name for a in found):
            raise RuntimeError("allocator name %r is already taken" % name)
        lib = os.path.abspath(lib)
        found.append(Allocator(name, lib, lib))
    if wanted is not None:
        known = set(ORDER)
        for name in wanted:
            if name not in known and not any(a.name == name for a in found):
                raise RuntimeError("unknown allocator %r (known: %s)" % (name, ", ".join(ORDER)))
    return found, notes
