"""Leaderboard plots (matplotlib, Agg backend), each written as PNG (at 2×, 200 dpi) and SVG.

* rate–quality: one panel per language (and pooled, when there is more than one language), bitrate
  against the mean with its 95% CI. The x ticks are the operating points themselves (a label is left
  out where it would overlap the previous one); the axis is logarithmic when the rates span 3× or
  more, else linear. The operating points of one codec family (opus-6/12/24kbps, ours-rvq-1q…16q,
  encodec-24k-*) are joined by a line in bitrate order, across runs; a family with the same codec in
  several runs is drawn once per run (same colour, its own line style and marker);
* codec × language heatmap per metric: the mean in each cell; cells without a value are hatched and
  say their status, the reasons are in the caption; no pooled column for a single language;
* codebook utilization: per language, the share of each level's entries used against the level
  (1 = first codebook), one line per codec.

By default only quality metrics of the headline set are plotted (bitrate, real-time factors and codebook
usage are cost, not quality); ``all_metrics`` plots every metric with a direction. Only cells with
status "ok" are drawn as values; every point left out is named in the caption with its status.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from codecbench.report.cells import fmt_number
from codecbench.report.runs import ALL_LANGS, COST_FAMILIES
from codecbench.report.tables import Board, metric_header
from codecbench.store import safe_name

DPI = 200  # PNGs at 2× the 100 dpi the page lays them out at
_POINT = re.compile(r"-(\d+(?:\.\d+)?)(kbps|q|cb)(?=$|-)")  # "-24k" is a sample rate, not a point


@dataclass
class Plot:
    title: str
    png: Path
    svg: Path
    caption: str = ""


def _pyplot():
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - matplotlib is in the report extra
        raise RuntimeError("plots need matplotlib: pip install 'codecbench[report]'") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "codecbench", "font.size": 9, "hatch.linewidth": 0.6})
    return plt


def _save(fig, out: Path, stem: str, title: str, caption: str = "") -> Plot:
    plt = _pyplot()
    out.mkdir(parents=True, exist_ok=True)
    png, svg = out / f"{stem}.png", out / f"{stem}.svg"
    fig.savefig(png, dpi=DPI, bbox_inches="tight")
    fig.savefig(svg, bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return Plot(title, png, svg, caption)


def operating_family(codec: str) -> str:
    """The codec with its operating point removed: 'opus-12kbps' -> 'opus', 'ours-rvq-4q' -> 'ours-rvq',
    'encodec-24k-1.5kbps' -> 'encodec-24k', 'dac-44k-4cb' -> 'dac-44k' (a run label in brackets is kept)."""
    name, sep, run = codec.partition(" (")
    return _POINT.sub("", name) + (sep + run if sep else "")


def _base_family(board: Board, label: str) -> str:
    """A codec label's family without its run: 'opus-6kbps (run-a)' -> 'opus'."""
    codec = board.codec_info.get(label, {}).get("codec") or label
    return operating_family(str(codec))


def _color_index(board: Board, label: str) -> int:
    fams = list(dict.fromkeys(_base_family(board, c) for c in board.codecs))
    fam = _base_family(board, label)
    return fams.index(fam) if fam in fams else 0


def _color(board: Board, label: str) -> str:
    """The same colour for a family in every plot (and in every run)."""
    return f"C{_color_index(board, label) % 10}"


def legend_entries(axes) -> tuple[list, list[str]]:
    """The legend handles and labels of several panels, each label once, in the order first seen."""
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    return handles, labels


def families(board: Board) -> dict[str, tuple[str, int]]:
    """label -> (the line its point joins, its style index). A family's points are joined across runs;
    when one codec of the family is in several runs (two points at one operating point), the family is
    drawn once per run: 'opus (run-a)', 'opus (run-b)', style index = the run's place."""
    runs_of: dict[str, set[str]] = {}
    for label in board.codecs:
        info = board.codec_info.get(label, {})
        runs_of.setdefault(str(info.get("codec") or label), set()).add(str(info.get("run", "")))
    split = {operating_family(c) for c, runs in runs_of.items() if len(runs) > 1}
    run_names = [r.name for r in board.runs]
    out = {}
    for label in board.codecs:
        fam, run = _base_family(board, label), str(board.codec_info.get(label, {}).get("run", ""))
        if fam in split:
            out[label] = (f"{fam} ({run})", run_names.index(run) if run in run_names else 0)
        else:
            out[label] = (fam, 0)
    return out


STYLES = (("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"))


def plotted_metrics(board: Board, all_metrics: bool = False) -> list[str]:
    """Headline quality metrics (default) or every metric with a direction."""
    directional = [m for m in board.metrics if board.metric_info.get(m, {}).get("higher_is_better") is not None]
    if all_metrics:
        return directional
    return [m for m in board.headline() if m in directional
            and board.metric_info.get(m, {}).get("metric") not in COST_FAMILIES]


def rate_quality(board: Board, metric: str, out: Path) -> Plot | None:
    """Per language: bitrate against the mean with its CI, a codec family's points joined."""
    plt = _pyplot()
    langs = board.shown_langs()
    fam_of = families(board)
    left_out: list[str] = []
    panels: dict[str, dict[str, list]] = {}
    for lang in langs:
        fams: dict[str, list] = {}
        for codec in board.codecs:
            kbps, source = board.rate_kbps(codec, lang)
            c = board.cell(codec, lang, metric)
            if kbps is None or kbps <= 0:
                if lang == langs[0]:
                    left_out.append(f"{codec} (no bitrate)")
            elif not c.has_value:
                if c.status not in ("missing", "n/a"):
                    left_out.append(f"{codec}/{lang} ({c.status})")
            else:
                fams.setdefault(fam_of[codec][0], []).append((kbps, c, codec, source))
        panels[lang] = fams
    if not any(panels.values()):
        return None
    ncol = min(2 if len(langs) <= 4 else 3, len(langs))
    nrow = math.ceil(len(langs) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 2.6 * nrow), squeeze=False, sharey=True)
    for ax, lang in zip(axes.flat, langs, strict=False):
        for fam, pts in panels[lang].items():
            pts.sort(key=lambda p: p[0])
            xs = [p[0] for p in pts]
            ys = [p[1].mean for p in pts]
            lo = [p[1].mean - p[1].ci_low if p[1].ci_low is not None else 0.0 for p in pts]
            hi = [p[1].ci_high - p[1].mean if p[1].ci_high is not None else 0.0 for p in pts]
            line, marker = STYLES[fam_of[pts[0][2]][1] % len(STYLES)]
            ax.errorbar(xs, ys, yerr=[lo, hi], fmt=marker, ls=line if len(pts) > 1 else "none", capsize=2.5, ms=4,
                        lw=1.2, color=_color(board, pts[0][2]), label=fam)
        rate_axis(ax, [p[0] for pts in panels[lang].values() for p in pts])
        ax.set_title("all languages (pooled)" if lang == ALL_LANGS else lang, fontsize=9)
        ax.grid(True, alpha=0.3)
    for ax in axes.flat[len(langs):]:
        ax.set_visible(False)
    axes[0][0].set_ylabel(metric_header(board, metric))
    handles, labels = legend_entries(axes.flat[:len(langs)])
    order = list(dict.fromkeys(fam_of[c][0] for c in sorted(board.codecs, key=lambda c: _color_index(board, c))))
    ranked = sorted(zip(handles, labels, strict=True), key=lambda hl: order.index(hl[1]) if hl[1] in order else 0)
    fig.legend([h for h, _ in ranked], [lab for _, lab in ranked], loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=min(5, len(labels)), fontsize=7, frameon=False)
    fig.suptitle(f"Rate–quality: {metric} (mean, 95% CI; a family's operating points joined)", fontsize=10)
    fig.tight_layout()
    caption = "Left out: " + ", ".join(left_out) if left_out else ""
    return _save(fig, out, f"rate_quality_{safe_name(metric)}", f"Rate–quality: {metric}", caption)


LOG_SPAN = 3.0  # rates spanning this ratio or more get a log axis
MIN_LABEL_GAP = 0.075  # of the axis width between two tick labels on one row


def rate_axis(ax, rates: list[float]) -> list[float]:
    """Ticks at the operating points (log axis when they span LOG_SPAN× or more, else linear, no minor
    ticks). A label that would crowd the previous one goes on a second row, and is left out (the tick
    and its grid line stay) where that row is crowded too. Returns the labelled rates."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    pts = sorted({float(f"{r:.3g}") for r in rates if r > 0})
    if not pts:
        return []
    lo, hi = pts[0], pts[-1]
    log = hi / lo >= LOG_SPAN
    if log:
        ax.set_xscale("log")
        limits = (lo / 1.2, hi * 1.2)
        where = [math.log(p) for p in pts]
        width = math.log(limits[1] / limits[0])
    else:
        pad = max(0.1 * (hi - lo), 0.06 * hi)
        limits = (lo - pad, hi + pad)
        where, width = pts, limits[1] - limits[0]
    ax.set_xlim(*limits)
    text: dict[float, str] = {}
    last = [-math.inf, -math.inf]  # the last label's place on each row
    for p, w in zip(pts, where, strict=True):
        row = next((r for r in (0, 1) if (w - last[r]) / width >= MIN_LABEL_GAP), None)
        if row is not None:
            text[p] = ("\n" * row) + f"{p:g}"
            last[row] = w
    ax.xaxis.set_major_locator(FixedLocator(pts))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(
        lambda v, _: next((t for p, t in text.items() if abs(v - p) <= 1e-9 * p), "")))
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel("kbps (log scale)" if log else "kbps")
    return list(text)


def heatmap(board: Board, metric: str, out: Path) -> Plot | None:
    """Codec × language grid of means; hatched cells say why they have no value."""
    import numpy as np

    plt = _pyplot()
    langs = board.shown_langs()
    grid = np.full((len(board.codecs), len(langs)), np.nan)
    status: dict[tuple[int, int], str] = {}
    reasons: dict[str, str] = {}
    for i, codec in enumerate(board.codecs):
        for j, lang in enumerate(langs):
            c = board.cell(codec, lang, metric)
            if c.has_value:
                grid[i, j] = c.mean
            else:
                status[(i, j)] = c.status
                if c.note and c.status not in ("n/a", "missing"):
                    reasons.setdefault(f"{c.status}: {c.note}", codec)
    if np.isfinite(grid).sum() == 0:
        return None
    hib = board.metric_info.get(metric, {}).get("higher_is_better")
    fig, ax = plt.subplots(figsize=(1.6 + 0.95 * len(langs), 0.9 + 0.36 * len(board.codecs)))
    im = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis" if hib is not False else "viridis_r", aspect="auto")
    lo, hi = np.nanmin(grid), np.nanmax(grid)
    for (i, j), st in status.items():
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="////", edgecolor="#9a9a9a", lw=0))
        ax.text(j, i, st, ha="center", va="center", fontsize=6.5, color="#444",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.6, "alpha": 0.85})
    for i in range(len(board.codecs)):
        for j in range(len(langs)):
            if math.isfinite(grid[i, j]):
                frac = (grid[i, j] - lo) / (hi - lo) if hi > lo else 0.5
                dark = frac < 0.55 if hib is not False else frac > 0.45
                ax.text(j, i, fmt_number(float(grid[i, j])), ha="center", va="center", fontsize=7,
                        color="white" if dark else "black")
    ax.set_xticks(range(len(langs)))
    ax.set_xticklabels(["all" if x == ALL_LANGS else x for x in langs])
    ax.set_yticks(range(len(board.codecs)))
    ax.set_yticklabels(board.codecs, fontsize=7)
    fig.colorbar(im, ax=ax, label=metric_header(board, metric), fraction=0.05)
    ax.set_title(f"{metric} per codec and language", fontsize=10)
    caption = "Hatched: " + "; ".join(reasons) if reasons else ""
    return _save(fig, out, f"heatmap_{safe_name(metric)}", f"{metric}: codec × language", caption)
