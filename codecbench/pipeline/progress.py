"""Progress of ``run`` and ``score``: one live display of the run's stages on a terminal, plain log
lines otherwise.

On a terminal (``rich``): a header with elapsed time, ETA and rows written, and a line per stage
(reconstruct, model metrics, signal metrics) with done/total, items per second and the codec or
metric it is working on, redrawn every ``REFRESH_SECONDS`` and when a stage moves to another codec; messages printed meanwhile appear above it.
Elsewhere (a pipe, a log file, CI): one line every ``LOG_SECONDS`` and one at the end, no control
characters. The figures come from ``pipeline.monitor.RunMonitor`` (the ETA from measured costs per
second of audio, not from rows finished). Executors create the display where their output goes to
the terminal (the Ray engine: inside ``ray_output_to_log``, whose ``sys.stderr`` is the terminal).
"""

from __future__ import annotations

import sys
from typing import IO, Any

from codecbench.pipeline.monitor import RunMonitor

REFRESH_SECONDS = 0.25
LOG_SECONDS = 10.0


def clock(seconds: float | None) -> str:
    """H:MM:SS or M:SS; '?' when unknown."""
    if seconds is None:
        return "?"
    s = int(round(max(0.0, seconds)))
    h, m = divmod(s, 3600)
    m, s = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _rate(rate: float | None) -> str:
    if rate is None:
        return "-"
    return f"{rate:.2f}/s" if rate < 10 else f"{rate:.0f}/s"


def _eta(snap: dict[str, Any]) -> str:
    """The ETA's text; says when it still counts codecs that have not started at an estimated cost."""
    if snap["eta"] is None:
        return "measuring"
    n = snap.get("estimated_codecs", 0)
    if n and snap["eta"]:
        return f"~{clock(snap['eta'])} ({n} codec{'s' if n > 1 else ''} not started yet)"
    return clock(snap["eta"])


def lines(snap: dict[str, Any], title: str = "codecbench") -> list[str]:
    """The display's text: a header, then one line per stage (the same text as the log lines)."""
    out = [f"{title}  {clock(snap['elapsed'])} elapsed  ETA {_eta(snap)}  rows {snap['rows']}/{snap['rows_total']}"]
    width = max(len(st["label"]) for st in snap["stages"]) if snap["stages"] else 0
    for st in snap["stages"]:
        done = f"{st['done']}/{st['total']}"
        workers = f" x{st['workers']}" if st["workers"] > 1 else ""
        current = f"  {st['current']}" if st["current"] and st["done"] < st["total"] else ""
        out.append(f"  {st['label']:<{width}}  {done:>11}  {_rate(st['rate']):>8}{workers}{current}")
    return out


def log_line(snap: dict[str, Any]) -> str:
    """One plain line: elapsed, each stage's done/total and rate, rows, ETA."""
    eta = _eta(snap)
    stages = "; ".join(f"{st['label']} {st['done']}/{st['total']}"
                       + (f" ({_rate(st['rate'])}{', ' + st['current'] if st['current'] and st['done'] < st['total'] else ''})"
                          if st["rate"] is not None else "")
                       for st in snap["stages"])
    return f"codecbench: [{clock(snap['elapsed'])}] {stages}; rows {snap['rows']}/{snap['rows_total']}; ETA {eta}"


class Display:
    """The run's progress on ``stream`` (default: ``sys.stderr`` when entered): a live display on a
    terminal, log lines otherwise, nothing when ``enabled`` is false. Redraws from the monitor's
    sampler thread."""

    def __init__(self, monitor: RunMonitor, enabled: bool = True, stream: IO[str] | None = None,
                 title: str = "codecbench"):
        self.monitor, self.enabled, self.stream, self.title = monitor, enabled, stream, title
        self._live: Any = None
        self.tty = False

    def __enter__(self) -> Display:
        if not self.enabled:
            return self
        self.stream = self.stream or sys.stderr
        try:
            self.tty = self.stream.isatty()
        except (AttributeError, ValueError):
            self.tty = False
        if self.tty:
            from rich.console import Console
            from rich.live import Live
            from rich.text import Text

            self._text = Text
            console = Console(file=self.stream, highlight=False, soft_wrap=False)
            self._live = Live(self._render(), console=console, auto_refresh=False, transient=False,
                              redirect_stdout=False, redirect_stderr=self.stream is sys.stderr)
            self._live.start()
            self.monitor.every(REFRESH_SECONDS, self.refresh)
            self.monitor.on_change(self.refresh)
        else:
            self.monitor.every(LOG_SECONDS, self.log)
        return self

    def _render(self):
        return self._text("\n".join(lines(self.monitor.snapshot(), self.title)), no_wrap=True, overflow="ellipsis")

    def refresh(self) -> None:
        live = self._live  # the sampler thread or a stage's thread; None once stopped
        if live is not None:
            live.update(self._render(), refresh=True)

    def log(self) -> None:
        print(log_line(self.monitor.snapshot()), file=self.stream, flush=True)

    def __exit__(self, *exc) -> None:
        if not self.enabled:
            return
        if self._live is not None:
            self.refresh()
            self._live.stop()
            self._live = None
        else:
            self.log()
