"""How a summary figure is written as text: units, digits, CIs and footnoted reasons.

One formatter serves summary.md, the end-of-run table, the report's markdown/LaTeX/HTML and compare.
Measurement decisions recorded here:

* bit rates are shown in kbps; values in seconds as ms; real-time factors as stored everywhere (rows,
  summary.csv, summary.md, reports, docs): ``s/s``, processing seconds per second of audio, lower is
  better (one convention: no "× real time" reciprocal anywhere);
* digits follow the magnitude (3 significant-ish digits: 0.912, 3.21, 12.3, 123; below 0.01 two
  significant digits, 0.0021, so a small RTF is never shown as 0.000);
* no CI is shown for fewer than ``MIN_N_FOR_CI`` values (a bootstrap of 2-4 values is not an interval
  worth printing) nor when it has zero width (a constant such as a nominal bitrate);
* a cell without a value says its status and points at a footnote holding the reason, so a reason
  repeated over many cells is written once.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

MIN_N_FOR_CI = 5
# The metrics shown first (end-of-run table, the report's headline tables), in this order, when a run has them.
KEY_METRICS = ("pesq_wb", "stoi", "visqol_speech", "spk_sim_ecapa", "wer", "cer", "wer_corpus")
BITRATE_COLUMNS = ("bitrate_measured", "bitrate_kbps", "bitrate")  # the bitrate of a codec: first present wins
SHOWN_UNITS = ("kbps", "ms", "s/s", "dB", "bit")  # others (MOS-LQO, cosine, ratio) go in the metrics table
STATUSES = ("ok", "unreliable", "unavailable", "n/a", "failed", "missing")


@dataclass(frozen=True)
class Unit:
    """How values of one output are displayed: ``shown = scale * value``."""

    label: str
    scale: float = 1.0

    def convert(self, v: float | None) -> float | None:
        if v is None or not math.isfinite(v):
            return None
        return self.scale * v


_UNITS = {"bit/s": Unit("kbps", 1e-3), "bps": Unit("kbps", 1e-3), "b/s": Unit("kbps", 1e-3), "s": Unit("ms", 1e3)}


def display_unit(unit: Any) -> Unit:
    """The display unit of a stored unit string (unknown units are shown as they are)."""
    u = str(unit or "") if not (isinstance(unit, float) and math.isnan(unit)) else ""
    return _UNITS.get(u.strip().lower(), Unit(u))


def fmt_number(v: float | None, ref: float | None = None) -> str:
    """``v`` with digits chosen from the magnitude of ``ref`` (default ``v``); '–' when absent."""
    if v is None or not math.isfinite(v):
        return "–"
    a = abs(ref if ref is not None and math.isfinite(ref) else v)
    digits = 0 if a >= 100 else 1 if a >= 10 else 2 if a >= 1 else 3 if a >= 0.01 or a == 0 else \
        min(8, 1 - math.floor(math.log10(a)))
    return f"{v:.{digits}f}"


def value_text(mean: float | None, lo: float | None, hi: float | None, n: int, unit: Any = "") -> str:
    """'3.21 [3.05, 3.36]' in display units; the CI only for n >= MIN_N_FOR_CI and a non-zero width."""
    u = display_unit(unit)
    m = u.convert(mean)
    text = fmt_number(m)
    a, b = u.convert(lo), u.convert(hi)
    if n >= MIN_N_FOR_CI and a is not None and b is not None and a != b:
        a, b = min(a, b), max(a, b)
        text += f" [{fmt_number(a, m)}, {fmt_number(b, m)}]"
    return text


def header_text(name: str, unit: Any = "", higher_is_better: bool | None = None) -> str:
    """'bitrate_measured (kbps)', 'pesq_wb ↑', 'rtf_encode (s/s) ↓'."""
    u = display_unit(unit)
    arrow = " ↑" if higher_is_better is True else " ↓" if higher_is_better is False else ""
    shown = u.label if u.label in SHOWN_UNITS else ""
    return f"{name}{f' ({shown})' if shown else ''}{arrow}"


@dataclass
class Footnotes:
    """Reasons numbered in order of first use; each distinct reason is written once."""

    reasons: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)

    def ref(self, reason: str, kind: str = "") -> int:
        key = " ".join(str(reason).split())
        if key not in self.reasons:
            self.reasons[key] = len(self.reasons) + 1
            self.kinds[key] = kind
        return self.reasons[key]

    def items(self) -> list[tuple[int, str, str]]:
        """(number, kind, reason) in number order."""
        return [(k, self.kinds[r], r) for r, k in self.reasons.items()]

    def markdown(self) -> list[str]:
        """GitHub-style footnote definitions (``[^3]: unavailable: reason``)."""
        return [f"[^{k}]: {kind + ': ' if kind else ''}{md_text(r)}" for k, kind, r in self.items()]


def status_text(status: str, note: str, notes: Footnotes | None, marker: str = "md") -> str:
    """A cell without a value: the status, and a footnote mark for its reason (n/a keeps no mark)."""
    shown = md_text(status) if marker == "md" else status
    if status == "n/a" or not note or notes is None:
        return shown
    k = notes.ref(note, status)
    return f"{shown}[^{k}]" if marker == "md" else f"{shown} ({k})"


_MD_ESCAPE = re.compile(r"[\\*\[\]|~]")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def _underscore(m: re.Match) -> str:
    s, i = m.string, m.start()
    inside = 0 < i < len(s) - 1 and s[i - 1].isalnum() and s[i + 1].isalnum()
    return "_" if inside else "\\_"  # intraword underscores (pesq_wb) never start emphasis


def md_text(text: Any) -> str:
    """Plain text anywhere in markdown (a cell, a heading, a footnote): one line; HTML shown, not
    interpreted (``& < >`` as entities); markdown syntax shown, not interpreted (``\\ * [ ] | ~`` and
    underscores at word edges backslash-escaped), so a run id or language cannot add links, images,
    emphasis or table cells. Backticks stay: a code span shows its text literally (reasons quote
    commands in them). Names such as ``opus-6kbps`` or ``pesq_wb (ra)`` stay as they read."""
    t = " ".join(str(text).splitlines())
    t = re.sub(r"[&<>]", lambda m: _ENTITIES[m.group()], t)
    t = _MD_ESCAPE.sub(lambda m: "\\" + m.group(), t)
    return re.sub(r"_", _underscore, t)
