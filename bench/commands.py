"""Timing whole commands from the outside (shared by the bench scripts): wall seconds and the CPU
seconds of every process a command starts, its metric pool's forkserver and workers included.

This process becomes a child subreaper (Linux ``PR_SET_CHILD_SUBREAPER``): descendants orphaned when
their parent exits (a forkserver is not waited for by the run that started it) are re-parented to it,
reaped after the command and counted in ``RUSAGE_CHILDREN``. Commands run without
``PYTHONDONTWRITEBYTECODE``, as an installed package does (byte code cached).

On a shared machine wall time depends on other users' load; ``runnable`` samples how many of the
command's threads are running or waiting for a CPU, which depends on the command alone: the share of
samples with fewer runnable threads than cores is the share of core time an idle machine would leave
unused (``demand_ratio``).
"""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter

PR_SET_CHILD_SUBREAPER = 36


def subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("warning: not a child subreaper: a metric pool's CPU time may be missing", file=sys.stderr)


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def command(cmd: list[str], env: dict[str, str] | None = None, demand: Counter | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of every process it started) of one command run to its end; its
    orphaned descendants are waited for (at most 10 s after it ends). Exits with its stderr if it fails.
    ``demand``: filled with how many samples (every ``DEMAND_SECONDS``) saw N of its threads runnable."""
    env = {k: v for k, v in (os.environ if env is None else env).items() if k != "PYTHONDONTWRITEBYTECODE"}
    c0, t0 = children_cpu(), time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, text=True, env=env)
        pids, rescan = [proc.pid], 0.0
        while proc.poll() is None:
            if demand is not None:
                if time.monotonic() >= rescan:  # the tree changes rarely; /proc is scanned twice a second
                    pids, rescan = _tree(proc.pid), time.monotonic() + 0.5
                demand[runnable(pids)] += 1
            time.sleep(DEMAND_SECONDS if demand is not None else 0.02)
        wall = time.perf_counter() - t0
        err.seek(0)
        stderr = err.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd[:5]))} ... failed ({proc.returncode}):\n{stderr[-3000:]}")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.01)
    return wall, children_cpu() - c0


DEMAND_SECONDS = 0.02


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (and orphans re-parented to this process: the pool's forkserver)."""
    parent: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    me, out, todo = os.getpid(), [], [pid]
    todo += [p for p, pp in parent.items() if pp == me and p != pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += [c for c, pp in parent.items() if pp == p]
    return out


def runnable(pids: list[int]) -> int:
    """Threads of these processes that are running or waiting for a CPU (state R) right now: what a
    command asks of the cores, whatever other users' load lets it have."""
    n = 0
    for p in pids:
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/stat") as f:
                    n += f.read().rsplit(")", 1)[1].split()[0] == "R"
            except (OSError, IndexError):
                continue
    return n


def demand_ratio(demand: Counter, n_cores: int) -> float:
    """wall / (core-seconds used / cores) on an otherwise idle machine, from the runnable-thread samples:
    a sample with k < cores runnable threads leaves cores - k idle."""
    total = sum(demand.values())
    used = sum(min(k, n_cores) * c for k, c in demand.items()) / n_cores
    return total / used if used else float("inf")


def cores() -> int:
    return len(os.sched_getaffinity(0))


def load() -> float:
    """The machine's 1-minute load average."""
    return os.getloadavg()[0]
