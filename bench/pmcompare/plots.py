"""plots.py -- PNG plots of a run's summaries.

matplotlib (python3-matplotlib) if this interpreter has it, else gnuplot
(gnuplot-nox), else no plots and a note.  Both draw the same charts:
  workloads-time.png   time per operation relative to glibc, per workload
  workloads-rss.png    peak RSS per workload
  scaling.png          small-object loop throughput against threads
  instructions.png     instructions per malloc+free pair against size
  programs.png         real programs: wall time, CPU time, peak RSS relative to glibc
"""
import os
import shutil
import subprocess
import tempfile

COLORS = {"glibc": "#7f7f7f", "jemalloc": "#1f77b4", "mimalloc": "#2ca02c",
          "tcmalloc": "#ff7f0e", "poolmalloc": "#d62728"}
EXTRA_COLORS = ["#9467bd", "#8c564b", "#e377c2", "#17becf"]


def _color(name, i):
    return COLORS.get(name, EXTRA_COLORS[i % len(EXTRA_COLORS)])


class Matplotlib:
    name = "matplotlib"

    def __init__(self):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker as ticker
        self.plt = plt
        self.plain = ticker.FuncFormatter(lambda v, _pos: "%g" % v)
        self.none = ticker.NullFormatter()

    @staticmethod
    def _save(fig, path):
        """Save, then reduce to a 64-colour palette when Pillow is there: the
        charts have a handful of colours, and the files go into docs/img."""
        fig.savefig(path, dpi=72)
        try:
            from PIL import Image
        except ImportError:
            return
        with Image.open(path) as im:
            small = im.convert("RGB").quantize(colors=64)
        small.save(path, optimize=True)

    def bars(self, path, title, xlabel, categories, series, log=False, ref=None):
        plt = self.plt
        n = len(series)
        height = max(3.0, 0.09 * len(categories) * max(n, 1) + 1.2)
        fig, ax = plt.subplots(figsize=(7.5, height))
        width = 0.8 / max(n, 1)
        for i, (name, values) in enumerate(series.items()):
            ys = [c + i * width - 0.4 + width / 2 for c in range(len(categories))]
            vals = [v if v is not None else 0 for v in values]
            ax.barh(ys, vals, height=width, label=name, color=_color(name, i))
        ax.set_yticks(range(len(categories)))
        ax.set_yticklabels(categories, fontsize=7)
        ax.set_ylim(len(categories) - 0.5, -0.5)      # first category on top
        if log:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(self.plain)
            ax.xaxis.set_minor_formatter(self.none)
        if ref is not None:
            ax.axvline(ref, color="black", linewidth=0.8)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
        ax.legend(fontsize=7, loc="best")
        ax.grid(axis="x", linewidth=0.3)
        fig.tight_layout()
        self._save(fig, path)
        plt.close(fig)

    def lines(self, path, title, xlabel, ylabel, panels, logx=False, logy=False):
        """panels: [(subtitle, xs, {name: ys})]"""
        plt = self.plt
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
        for ax, (subtitle, xs, series) in zip(axes[0], panels):
            for i, (name, ys) in enumerate(series.items()):
                pts = [(x, y) for x, y in zip(xs, ys) if y is not None]
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=3,
                        label=name, color=_color(name, i))
            if logx:
                ax.set_xscale("log", base=2)
            if logy:
                ax.set_yscale("log")
                ax.yaxis.set_major_formatter(self.plain)
                ax.yaxis.set_minor_formatter(self.none)
            ax.set_xticks(xs)
            ax.set_xticklabels([str(x) for x in xs], fontsize=7)
            ax.tick_params(axis="y", labelsize=7)
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylabel(ylabel, fontsize=8)
            ax.set_title(subtitle, fontsize=9)
            ax.grid(linewidth=0.3)
            ax.legend(fontsize=7)
        fig.suptitle(title, fontsize=9)
        fig.tight_layout()
        self._save(fig, path)
        plt.close(fig)


class Gnuplot:
    name = "gnuplot"

    def __init__(self, exe):
        self.exe = exe
        out = subprocess.run([exe, "-e", "set terminal"], capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, timeout=30)
        self.term = "pngcairo" if "pngcairo" in out.stdout + out.stderr else "png"

    def _run(self, script, data):
        with tempfile.TemporaryDirectory(prefix="pm-gnuplot-") as d:
            dat = os.path.join(d, "data.dat")
            with open(dat, "w") as f:
                f.write(data)
            gp = os.path.join(d, "plot.gp")
            with open(gp, "w") as f:
                f.write(script.replace("@DATA@", dat))
            subprocess.run([self.exe, gp], check=True, capture_output=True, stdin=subprocess.DEVNULL,
                           timeout=120)

    @staticmethod
    def _q(s):
        return '"%s"' % str(s).replace('"', "'")

    def bars(self, path, title, xlabel, categories, series, log=False, ref=None):
        names = list(series)
        rows = ["label " + " ".join(names)]
        for i, c in enumerate(categories):
            rows.append(self._q(c) + " " + " ".join(
                "%g" % series[n][i] if series[n][i] is not None else "NaN" for n in names))
        width = max(640, 28 * len(categories) + 200)
        script = ["set terminal %s size %d,420 font ',8' noenhanced" % (self.term, width),
                  "set output %s" % self._q(path), "set title %s" % self._q(title),
                  "set ylabel %s" % self._q(xlabel), "set style data histograms",
                  "set style histogram clustered gap 1", "set style fill solid border -1",
                  "set xtics rotate by -60 scale 0", "set key top left", "set grid ytics"]
        if log:
            script.append("set logscale y")
        if ref is not None:
            script.append("set arrow from graph 0, first %g to graph 1, first %g nohead" % (ref, ref))
        plot = ", ".join("'@DATA@' using %d:xtic(1) title %s lc rgb %s" % (
            i + 2, self._q(n), self._q(_color(n, i))) for i, n in enumerate(names))
        script.append("plot " + plot)
        self._run("\n".join(script) + "\n", "\n".join(rows) + "\n")

    def lines(self, path, title, xlabel, ylabel, panels, logx=False, logy=False):
        blocks, plots = [], []
        script = ["set terminal %s size %d,360 font ',8' noenhanced" % (self.term, 420 * len(panels)),
                  "set output %s" % self._q(path),
                  "set multiplot layout 1,%d title %s" % (len(panels), self._q(title)),
                  "set xlabel %s" % self._q(xlabel), "set ylabel %s" % self._q(ylabel), "set grid",
                  "set key top left"]
        if logx:
            script.append("set logscale x 2")
        if logy:
            script.append("set logscale y")
        index = 0
        for subtitle, xs, series in panels:
            parts = []
            for i, (name, ys) in enumerate(series.items()):
                blocks.append("\n".join("%g %g" % (x, y) for x, y in zip(xs, ys) if y is not None))
                parts.append("'@DATA@' index %d using 1:2 with linespoints title %s lc rgb %s" % (
                    index, self._q(name), self._q(_color(name, i))))
                index += 1
            plots.append("set title %s\nplot %s" % (self._q(subtitle), ", ".join(parts)))
        script += plots + ["unset multiplot"]
        self._run("\n".join(script) + "\n", "\n\n\n".join(blocks) + "\n")


def backend():
    """(backend or None, note)"""
    try:
        return Matplotlib(), "plots drawn with matplotlib"
    except ImportError:
        pass
    exe = shutil.which("gnuplot")
    if exe:
        try:
            return Gnuplot(exe), "plots drawn with gnuplot (matplotlib not importable here)"
        except (OSError, subprocess.SubprocessError):
            pass
    return None, "no plots: neither matplotlib (python3-matplotlib) nor gnuplot (gnuplot-nox) is available (scripts/install-deps.sh --bench installs them)"


def draw(out_dir, summaries, allocators):
    """Write the PNGs for whatever the summaries hold.  Returns (files, note)."""
    be, note = backend()
    if be is None:
        return [], note
    files = []

    def target(name):
        path = os.path.join(out_dir, name)
        files.append(path)
        return path

    wsum = summaries.get("workloads") or []
    if wsum:
        benches = []
        for m in wsum:
            if m["benchmark"] not in benches:
                benches.append(m["benchmark"])
        get = {(m["benchmark"], m["allocator"]): m for m in wsum}
        others = [a for a in allocators if a != "glibc"]
        labels = [b.replace("/real_time", "") for b in benches]
        if "glibc" in allocators and others:
            be.bars(target("workloads-time.png"), "Time per operation relative to glibc (lower is faster)",
                    "time / glibc's time (log scale)", labels,
                    {a: [get.get((b, a), {}).get("time_vs_glibc") for b in benches] for a in others},
                    log=True, ref=1.0)
        be.bars(target("workloads-rss.png"), "Peak RSS of the benchmark process",
                "MiB", labels,
                {a: [(get.get((b, a), {}).get("peak_rss_kib") or 0) / 1024.0 or None for b in benches]
                 for a in allocators})
        scaling = [b for b in benches if b.startswith("threads_small_loop")]
        if scaling:
            xs = [get.get((b, allocators[0]), {}).get("threads") or (i + 1) for i, b in enumerate(scaling)]
            be.lines(target("scaling.png"), "Small-object loop on 1..N threads", "threads",
                     "million ops/s (all threads)",
                     [("threads_small_loop", xs,
                       {a: [(get.get((b, a), {}).get("ops_per_s") or 0) / 1e6 or None for b in scaling]
                        for a in allocators})])
    instr = [r for r in summaries.get("instructions") or [] if r["status"] == "ok"]
    if instr:
        panels = []
        for mode, sub in (("pair", "malloc then free at once"), ("batch", "64 mallocs, then 64 frees")):
            sizes = sorted({r["size"] for r in instr if r["mode"] == mode})
            if sizes:
                get = {(r["allocator"], r["size"]): r["instr_per_pair"] for r in instr if r["mode"] == mode}
                panels.append((sub, sizes, {a: [get.get((a, s)) for s in sizes] for a in allocators}))
        be.lines(target("instructions.png"), "Instructions per malloc+free pair (callgrind)",
                 "request size (bytes)", "instructions (log scale)", panels, logx=True, logy=True)
    psum = summaries.get("programs") or []
    if psum and "glibc" in allocators:
        progs = []
        for m in psum:
            if m["program"] not in progs:
                progs.append(m["program"])
        get = {(m["program"], m["allocator"]): m for m in psum}
        others = [a for a in allocators if a != "glibc"]
        cats = (["%s wall" % p for p in progs] + ["%s CPU" % p for p in progs] +
                ["%s RSS" % p for p in progs])
        be.bars(target("programs.png"), "Real programs relative to glibc (lower is better)",
                "ratio to glibc", cats,
                {a: [get.get((p, a), {}).get("time_vs_glibc") for p in progs] +
                    [get.get((p, a), {}).get("cpu_vs_glibc") for p in progs] +
                    [get.get((p, a), {}).get("rss_vs_glibc") for p in progs] for a in others},
                ref=1.0)
    return files, note
