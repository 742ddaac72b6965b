"""runner.py -- start the measured processes.

Every process gets stdin from /dev/null (or a given file), its own session
(so that a time limit can stop it together with its children, and nothing
else), and a bounded time.  Peak RSS of a program comes from pm_runrss, a
small static launcher that waits for it with wait4 (see bench/runrss.c for
why the driver cannot simply read its own children's ru_maxrss).
Background servers (redis-server) are registered and always stopped, also
when the driver is interrupted.
"""
import atexit
import os
import shlex
import signal
import subprocess
import tempfile
import time

# Variables that change how an allocator behaves: recorded in the metadata.
TUNING_PREFIXES = ("MALLOC_", "GLIBC_TUNABLES", "MIMALLOC_", "TCMALLOC_", "POOLMALLOC_", "LD_")


def base_environ():
    """The driver's environment without LD_PRELOAD (each run sets its own)."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    return env


def tuning_variables(env):
    return {k: v for k, v in sorted(env.items())
            if k.startswith(TUNING_PREFIXES) or k == "MALLOC_CONF"}


def command_line(cmd, env=None, keys=("LD_PRELOAD",)):
    """The command as one shell line, with the environment variables that
    matter for it (keys) in front."""
    prefix = []
    for k in keys:
        if env is not None and k in env:
            prefix.append("%s=%s" % (k, shlex.quote(env[k])))
    return " ".join(prefix + [shlex.quote(str(c)) for c in cmd])


class Outcome:
    """How a process ended: returncode (None if it ran past its time limit),
    its output, wall seconds, and with pm_runrss its peak RSS and CPU times."""

    def __init__(self, returncode, stdout, stderr, wall_s):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.wall_s = wall_s
        self.maxrss_kib = None
        self.user_s = None
        self.sys_s = None

    @property
    def ok(self):
        return self.returncode == 0

    def describe(self):
        if self.returncode is None:
            return "timed out"
        if self.returncode < 0:
            return "killed by signal %d" % -self.returncode
        if self.returncode > 128 and self.returncode < 160:
            return "exit status %d (signal %d?)" % (self.returncode, self.returncode - 128)
        return "exit status %d" % self.returncode


def _kill_group(proc, sig=signal.SIGKILL):
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run(cmd, env, timeout, cwd=None, stdin_path=None):
    """Run cmd to completion (or to its time limit) and capture its output."""
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen([str(c) for c in cmd], env=env, cwd=cwd, stdin=stdin,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
    except OSError as e:
        if stdin_path:
            stdin.close()
        return Outcome(127, "", "cannot run %s: %s" % (cmd[0], e), 0.0)
    try:
        out, err = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        code = None
    finally:
        if stdin_path:
            stdin.close()
    return Outcome(code, out.decode(errors="replace"), err.decode(errors="replace"),
                   time.monotonic() - t0)


def _parse_runrss(path):
    fields = {}
    try:
        with open(path) as f:
            for item in f.read().split():
                k, _, v = item.partition("=")
                fields[k] = v
    except OSError:
        pass
    return fields


def _apply_runrss(outcome, fields):
    if "maxrss_kib" in fields:
        outcome.maxrss_kib = int(fields["maxrss_kib"])
        outcome.wall_s = float(fields["wall_s"])
        outcome.user_s = float(fields["user_s"])
        outcome.sys_s = float(fields["sys_s"])


def run_measured(runrss, cmd, env, timeout, cwd=None, stdin_path=None):
    """run() through pm_runrss: wall time and peak RSS of cmd itself."""
    fd, path = tempfile.mkstemp(prefix="pm-runrss-")
    os.close(fd)
    try:
        outcome = run([runrss, path] + list(cmd), env, timeout, cwd, stdin_path)
        _apply_runrss(outcome, _parse_runrss(path))
    finally:
        os.unlink(path)
    return outcome


_live = set()


class Background:
    """A server started through pm_runrss, output to a log file.  stop()
    returns its Outcome (peak RSS included) once it has exited."""

    def __init__(self, runrss, cmd, env, cwd, log_path):
        fd, self._rss_path = tempfile.mkstemp(prefix="pm-runrss-")
        os.close(fd)
        self._log = open(log_path, "wb")
        self._t0 = time.monotonic()
        self.proc = subprocess.Popen([runrss, self._rss_path] + [str(c) for c in cmd], env=env,
                                     cwd=cwd, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        _live.add(self)

    def running(self):
        return self.proc.poll() is None

    def wait(self, timeout):
        """Wait for the server to exit by itself; kill its group past timeout."""
        try:
            self.proc.wait(timeout=timeout)
            code = self.proc.returncode
        except subprocess.TimeoutExpired:
            _kill_group(self.proc, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _kill_group(self.proc)
                self.proc.wait()
            code = None
        return self._finish(code)

    def kill(self):
        if self.proc.poll() is None:
            _kill_group(self.proc)
            self.proc.wait()
        return self._finish(None)

    def _finish(self, code):
        _live.discard(self)
        self._log.close()
        outcome = Outcome(code, "", "", time.monotonic() - self._t0)
        _apply_runrss(outcome, _parse_runrss(self._rss_path))
        try:
            os.unlink(self._rss_path)
        except OSError:
            pass
        return outcome


def _kill_live():
    for bg in list(_live):
        bg.kill()


def _on_signal(signum, _frame):
    _kill_live()
    raise SystemExit(128 + signum)


atexit.register(_kill_live)


def install_signal_handlers():
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
