"""Ray's own notices during a run go to ``<run>/ray.log``, not over the run's progress and results.

Ray prints on every start-up, through Python logging ("Token authentication is enabled for this
Ray cluster...") and from its C++ core worker straight onto file descriptor 2 (``core_worker.cc``:
"Actor with class name ... has constructor arguments in the object store and max_restarts > 0").
While the run uses Ray, the ``ray`` loggers write to ``ray.log`` instead of the terminal (their
console handlers are set aside; ``ray.init(configure_logging=False)`` clears the "ray" logger's
handlers, so logging's last-resort handler, which then takes its records, is the log file too) and
file descriptor 2 is pointed at ``ray.log``. ``sys.stderr`` becomes a new stream on the terminal's
stderr, so codecbench's own messages and a progress display created inside the block still show.
When the block ends with an error, the log's path is printed. Nothing is dropped: the notices are
in the log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

LOG_NAME = "ray.log"


@contextlib.contextmanager
def ray_output_to_log(run_dir: str | os.PathLike) -> Iterator[Path]:
    path = Path(run_dir) / LOG_NAME
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    loggers = _ray_loggers()
    kept = {lg: (lg.handlers[:], lg.propagate) for lg in loggers}
    for lg in loggers:  # Ray's console handlers (it adds them on import) give way to the log file
        console = [h for h in lg.handlers if _console(h)]
        lg.handlers = [h for h in lg.handlers if not _console(h)] + ([handler] if console or lg.name == "ray" else [])
        if lg.name == "ray":
            lg.propagate = False
    last_resort, logging.lastResort = logging.lastResort, handler  # ray.init clears the "ray" logger's handlers
    restore = _fd2_to(path)
    try:
        yield path
    except BaseException:
        restore()
        restore = _nothing
        print(f"codecbench: Ray's log: {path}", file=sys.stderr)
        raise
    finally:
        restore()
        logging.lastResort = last_resort
        for lg, (handlers, propagate) in kept.items():
            lg.handlers, lg.propagate = handlers, propagate
        handler.close()


def _ray_loggers() -> list[logging.Logger]:
    names = [n for n in logging.root.manager.loggerDict if n == "ray" or n.startswith("ray.")]
    return [logging.getLogger("ray")] + [lg for n in names if n != "ray"
                                         and isinstance(lg := logging.root.manager.loggerDict[n], logging.Logger)]


def _console(h: logging.Handler) -> bool:
    return isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)


def _nothing() -> None:
    return None


def _fd2_to(path: Path):
    """Point file descriptor 2 at ``path``; returns the function that points it back."""
    old = sys.stderr
    try:
        on_fd2 = old.fileno() == 2
    except (AttributeError, OSError, ValueError):  # a replaced sys.stderr (pytest capture, IDEs)
        on_fd2 = False
    old.flush()
    saved = os.dup(2)
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 2)
    os.close(log)
    if on_fd2:
        sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, encoding=old.encoding, errors=old.errors)

    def restore() -> None:
        if sys.stderr is not old:
            sys.stderr.flush()
            sys.stderr.close()
            sys.stderr = old
        os.dup2(saved, 2)
        os.close(saved)

    return restore
