"""sysinfo.py -- where and with what a run was made (for meta.json and the tables)."""
import os
import platform
import subprocess
import time


def _run(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def cpu_model():
    for line in _run(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def os_name():
    name = ""
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    name = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    try:
        with open("/etc/debian_version") as f:
            name += " (Debian %s)" % f.read().strip()
    except OSError:
        pass
    libc = os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else ""
    gcc = _run(["gcc", "-dumpfullversion"])
    return ", ".join(x for x in (name or platform.platform(), libc, gcc and "gcc " + gcc) if x)


def machine():
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count()
    load = os.getloadavg()
    return {"cpu": cpu_model(), "cpus": cpus, "kernel": "Linux " + platform.release(),
            "os": os_name(), "hostname": platform.node(),
            "load_start": "%.2f %.2f %.2f" % load}


def package_version(package):
    if not package:
        return ""
    return _run(["dpkg-query", "-W", "-f=${Version}", package])


def git_version(repo):
    desc = _run(["git", "-C", repo, "describe", "--always", "--dirty"])
    branch = _run(["git", "-C", repo, "rev-parse", "--abbrev-ref", "HEAD"])
    return ("%s (%s)" % (desc, branch)) if desc else ""


def now():
    return time.strftime("%Y-%m-%d %H:%M:%S %Z")
