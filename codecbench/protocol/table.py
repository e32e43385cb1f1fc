"""Our figures next to a paper's: for each protocol row and column, ours (mean with its 95% bootstrap
CI, times the column's scale), the published value, the difference, and whether the published value
lies in our CI.

Decisions:
- figures come from the run folder's ``summary.csv`` (lang ``all``); a corpus-level WER has no CI
  there, so its CI is a bootstrap over utterances of (word errors / reference words) from the run's
  ASR transcript records (``stats.bootstrap_ratio_ci``);
- "in CI" allows for the paper's rounding: the published value stands for the interval of half a
  unit of its last printed digit, and the check asks whether that interval meets our CI;
- a comparison is only meaningful under the protocol's conditions, so the table says when they do not
  hold: fewer utterances than the paper scored, metric options that differ from the protocol's (the
  run's metrics.json), a published value the protocol marks unverified.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from codecbench.protocol.spec import Protocol

CORPUS_WER = {"wer_corpus": "wer", "cer_corpus": "cer", "dwer_corpus": "dwer", "dcer_corpus": "dcer"}


@dataclass
class Cell:
    row: str
    codec: str
    column: str
    ours: float | None
    ci: tuple[float, float] | None
    n: int
    published: float | None
    verified: bool
    status: str = "ok"
    note: str = ""

    @property
    def diff(self) -> float | None:
        return None if self.ours is None or self.published is None else self.ours - self.published

    def in_ci(self, decimals: int) -> bool | None:
        if self.ci is None or self.published is None or not all(map(math.isfinite, self.ci)):
            return None
        half = 0.5 * 10 ** -decimals
        return self.ci[0] <= self.published + half and self.ci[1] >= self.published - half


@dataclass
class Comparison:
    protocol: Protocol
    cells: list[Cell]
    warnings: list[str] = field(default_factory=list)


def _corpus_ci(run_dir: Path, codec: str, figure: str) -> tuple[float, float] | None:
    from codecbench.metrics.asr.errors import load_transcripts
    from codecbench.stats import bootstrap_ratio_ci

    kind = CORPUS_WER[figure]
    counts = "dwer_counts" if kind in ("dwer", "dcer") else "wer_counts"
    num, den = ("word_errors", "words") if kind in ("wer", "dwer") else ("char_errors", "chars")
    recs = [r for r in load_transcripts(run_dir) if r.get("codec") == codec and not r.get("reference_unreliable")
            and r.get(counts)]
    if not recs:
        return None
    return bootstrap_ratio_ci(np.array([r[counts][num] for r in recs]), np.array([r[counts][den] for r in recs]))


def option_warnings(protocol: Protocol, metrics_meta: dict[str, Any]) -> list[str]:
    """Metrics the run lacks, and options whose value differs from the protocol's."""
    out = []
    for spec in protocol.metrics:
        meta = metrics_meta.get(spec.name)
        if meta is None:
            out.append(f"the run has no {spec.name} (the protocol runs it)")
            continue
        if meta.get("unavailable"):
            out.append(f"{spec.name} was unavailable in this run: {meta['unavailable']}")
        used = meta.get("options") or {}
        for key, want in spec.options.items():
            if key in used and used[key] != want:
                out.append(f"{spec.name}.{key} was {used[key]!r} in this run; the protocol says {want!r}")
    return out


def compare(run_dir: str | Path, protocol: Protocol) -> Comparison:
    """The comparison table of a finished run folder (summary.csv written) under ``protocol``."""
    import pandas as pd

    from codecbench.store import read_json_file

    run_dir = Path(run_dir)
    summary = pd.read_csv(run_dir / "summary.csv", keep_default_na=False, na_values=[""])
    meta = read_json_file(run_dir / "metrics.json") if (run_dir / "metrics.json").exists() else {}
    warnings = option_warnings(protocol, meta)
    want_n = int(protocol.dataset.get("utterances") or 0)
    cells = []
    for row in protocol.rows:
        sub = summary[(summary["codec"] == row.codec) & (summary["lang"] == "all")]
        if sub.empty:
            warnings.append(f"{row.label}: codec {row.codec} is not in this run")
        seen_n = 0
        for col in protocol.columns:
            pub = row.published.get(col.name)
            cell = Cell(row.label, row.codec, col.name, None, None, 0, None if pub is None else float(pub),
                        col.name not in row.unverified)
            hit = sub[sub["metric"] == col.metric]
            if hit.empty:
                cell.status, cell.note = "absent", f"{col.metric} not in this run"
            else:
                r = hit.iloc[0]
                cell.status, cell.n = str(r["status"]), int(r["n"])
                cell.note = r["note"] if isinstance(r["note"], str) else ""
                if cell.status == "ok" and np.isfinite(r["mean"]):
                    cell.ours = float(r["mean"]) * col.scale
                    lo, hi = r["ci_low"], r["ci_high"]
                    if col.metric in CORPUS_WER:
                        ci = _corpus_ci(run_dir, row.codec, col.metric)
                        lo, hi = ci if ci else (np.nan, np.nan)
                    if np.isfinite(lo) and np.isfinite(hi):
                        cell.ci = (float(lo) * col.scale, float(hi) * col.scale)
                seen_n = max(seen_n, cell.n)
            cells.append(cell)
        if want_n and 0 < seen_n < want_n:
            warnings.append(f"{row.label}: {seen_n} utterances scored, the paper scored {want_n}: not the same test set")
    return Comparison(protocol, cells, warnings)


def _fmt(v: float | None, decimals: int, signed: bool = False) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    return f"{v:+.{decimals}f}" if signed else f"{v:.{decimals}f}"


def table_rows(cmp: Comparison) -> list[list[str]]:
    """[row, column, ours [CI], published, difference, in CI] as text."""
    out = []
    for c in cmp.cells:
        d = cmp.protocol.column(c.column).decimals + 1
        if c.ours is None:
            ours = c.status if c.status != "ok" else "-"
        else:
            ours = _fmt(c.ours, d) + (f" [{_fmt(c.ci[0], d)}, {_fmt(c.ci[1], d)}]" if c.ci else " [no CI]")
        dec = cmp.protocol.column(c.column).decimals
        pub = "-" if c.published is None else _fmt(c.published, dec) + ("" if c.verified else " (unverified)")
        in_ci = c.in_ci(dec)
        out.append([c.row, c.column, ours, pub, _fmt(c.diff, d, signed=True),
                    {True: "yes", False: "no", None: "-"}[in_ci]])
    return out


HEAD = ["row", "column", "ours [95% CI]", "published", "difference", "published in CI"]


def render_text(cmp: Comparison) -> str:
    p = cmp.protocol
    rows = table_rows(cmp)
    widths = [max(len(x) for x in col) for col in zip(HEAD, *rows, strict=True)]
    line = "  ".join(h.ljust(w) for h, w in zip(HEAD, widths, strict=True))
    out = [f"{p.title} — {_source(p)}", line, "-" * len(line)]
    out += ["  ".join(x.ljust(w) for x, w in zip(r, widths, strict=True)) for r in rows]
    out += [f"note: {w}" for w in cmp.warnings]
    return "\n".join(out) + "\n"


def render_markdown(cmp: Comparison) -> str:
    p = cmp.protocol
    out = [f"# {p.title}", "", f"Source: {_source(p)}. Ours: mean over the run's utterances with its 95% bootstrap "
           "CI (corpus WER: errors over words, utterances resampled); \"published in CI\" allows for the paper's "
           "rounding.", "", "| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    out += ["| " + " | ".join(x.replace("|", "\\|") for x in r) + " |" for r in table_rows(cmp)]
    if cmp.warnings:
        out += ["", *[f"- {w}" for w in cmp.warnings]]
    return "\n".join(out) + "\n"


def _source(p: Protocol) -> str:
    s = p.source
    bits = [s.get("paper", ""), f"arXiv {s['arxiv']}" if s.get("arxiv") else "", s.get("table", "")]
    return ", ".join(b for b in bits if b)
