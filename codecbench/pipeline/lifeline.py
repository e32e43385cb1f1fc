"""Helper processes that die with the run that started them.

A run's metric workers hold both ends of their task queue, so a run killed with -9 never closes it:
without help they (and the forkserver they come from, and the resource tracker they keep open)
outlive it. Each helper process therefore asks the kernel for SIGKILL when its parent exits
(Linux ``prctl(PR_SET_PDEATHSIG)``), then checks that the run is still alive (it may have died
before the request); where there is no prctl, a thread polls the run's pid instead. Workers also
ignore SIGINT and SIGTERM: stopping is the run's decision (it shuts its pool down), and a worker
killed by a signal meant for the run would be recorded as a crashed item.

The forkserver is covered by preloading ``codecbench.pipeline.lifeline_server``, which does the same
in the server process (``ENV_PARENT`` names the run).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

ENV_PARENT = "CODECBENCH_RUN_PID"
PR_SET_PDEATHSIG = 1
POLL_SECONDS = 0.5


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _pdeathsig() -> bool:
    """Ask for SIGKILL when the parent thread exits; False where prctl is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(run_pid: int, parent: int) -> None:
    while True:
        time.sleep(POLL_SECONDS)
        if os.getppid() != parent or not alive(run_pid):
            os._exit(1)


def die_with(run_pid: int) -> None:
    """End this process when its parent exits, and now if the run ``run_pid`` is already gone."""
    parent = os.getppid()
    if not _pdeathsig():
        threading.Thread(target=_watch, args=(run_pid, parent), name="codecbench-lifeline", daemon=True).start()
    if not alive(run_pid):
        os._exit(1)


def worker_setup(run_pid: int) -> None:
    """In a worker process: die with the run, and leave SIGINT/SIGTERM to it."""
    die_with(run_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
