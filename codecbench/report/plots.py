"""Leaderboard plots (matplotlib, Agg backend), each written as PNG (at 2×, 200 dpi) and SVG.

* rate–quality: one panel per language (and pooled), bitrate on a log axis against the mean with its
  95% CI; the operating points of one codec family (opus-6/12/24kbps, ours-rvq-1q…16q, encodec-24k-*)
  are joined by a line, in bitrate order;
* codec × language heatmap per metric: the mean in each cell; cells without a value are hatched and
  say their status, the reasons are in the caption;
* codebook usage per codec, level and language.

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
from codecbench.report.runs import ALL_LANGS, COST_FAMILIES, Run
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


def _color(board: Board, key: str) -> str:
    """The same colour for a family in every plot."""
    fams = list(dict.fromkeys(operating_family(c) for c in board.codecs))
    return f"C{fams.index(operating_family(key)) % 10}" if operating_family(key) in fams else "C0"


def plotted_metrics(board: Board, all_metrics: bool = False) -> list[str]:
    """Headline quality metrics (default) or every metric with a direction."""
    directional = [m for m in board.metrics if board.metric_info.get(m, {}).get("higher_is_better") is not None]
    if all_metrics:
        return directional
    return [m for m in board.headline() if m in directional
            and board.metric_info.get(m, {}).get("metric") not in COST_FAMILIES]


def rate_quality(board: Board, metric: str, out: Path) -> Plot | None:
    """Per language: bitrate (log) against the mean with its CI, a codec family's points joined."""
    plt = _pyplot()
    langs = board.langs
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
                fams.setdefault(operating_family(codec), []).append((kbps, c, codec, source))
        panels[lang] = fams
    if not any(panels.values()):
        return None
    ncol = min(2 if len(langs) <= 4 else 3, len(langs))
    nrow = math.ceil(len(langs) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.4 * ncol, 2.5 * nrow), squeeze=False, sharey=True)
    for ax, lang in zip(axes.flat, langs, strict=False):
        for fam, pts in panels[lang].items():
            pts.sort(key=lambda p: p[0])
            xs = [p[0] for p in pts]
            ys = [p[1].mean for p in pts]
            lo = [p[1].mean - p[1].ci_low if p[1].ci_low is not None else 0.0 for p in pts]
            hi = [p[1].ci_high - p[1].mean if p[1].ci_high is not None else 0.0 for p in pts]
            ax.errorbar(xs, ys, yerr=[lo, hi], fmt="-o" if len(pts) > 1 else "o", capsize=2.5, ms=4, lw=1.2,
                        color=_color(board, fam), label=fam)
        ax.set_xscale("log")
        ticks = sorted({round(p[0], 1) for pts in panels[lang].values() for p in pts})
        ax.set_xticks(_spread(ticks))
        ax.set_title("all languages (pooled)" if lang == ALL_LANGS else lang, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.set_xlabel("kbps (log)")
        from matplotlib.ticker import FuncFormatter, NullFormatter

        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    for ax in axes.flat[len(langs):]:
        ax.set_visible(False)
    axes[0][0].set_ylabel(metric_header(board, metric))
    handles, labels = axes.flat[0].get_legend_handles_labels()
    for ax in axes.flat[1:len(langs)]:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(5, len(labels)), fontsize=7,
               frameon=False)
    fig.suptitle(f"Rate–quality: {metric} (mean, 95% CI; a family's operating points joined)", fontsize=10)
    fig.tight_layout()
    caption = "Left out: " + ", ".join(left_out) if left_out else ""
    return _save(fig, out, f"rate_quality_{safe_name(metric)}", f"Rate–quality: {metric}", caption)


def _spread(ticks: list[float], min_ratio: float = 1.25) -> list[float]:
    """Tick positions on a log axis, dropping any closer than ``min_ratio`` to the previous one."""
    out: list[float] = []
    for t in ticks:
        if t > 0 and (not out or t / out[-1] >= min_ratio):
            out.append(t)
    return out


def heatmap(board: Board, metric: str, out: Path) -> Plot | None:
    """Codec × language grid of means; hatched cells say why they have no value."""
    import numpy as np

    plt = _pyplot()
    langs = board.langs
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


def codebook_heatmap(board: Board, runs: list[Run], out: Path) -> Plot | None:
    """Share of codebook entries used, per (codec, level) and language (from codebook.csv)."""
    import numpy as np

    plt = _pyplot()
    rows, values = [], {}
    langs: list[str] = []
    for run in runs:
        df = run.codebook()
        if df is None:
            continue
        for rec in df.to_dict("records"):
            label = next((lab for lab, ci in board.codec_info.items()
                          if ci.get("codec") == rec["codec"] and ci.get("run") == run.name), None)
            if label is None or str(rec["lang"]) not in board.langs:
                continue
            if run.keep is not None and str(rec["lang"]) == ALL_LANGS:  # codebook.csv pools every utterance
                continue
            key = f"{label} · L{int(rec['level'])} ({int(rec['size'])})"
            if key not in rows:
                rows.append(key)
            lang = str(rec["lang"])
            if lang not in langs:
                langs.append(lang)
            values[(key, lang)] = float(rec["used_share"])
    if not rows:
        return None
    langs = sorted(x for x in langs if x != ALL_LANGS) + ([ALL_LANGS] if ALL_LANGS in langs else [])
    grid = np.array([[values.get((r, lang), math.nan) for lang in langs] for r in rows])
    fig, ax = plt.subplots(figsize=(1.6 + 0.9 * len(langs), 0.9 + 0.3 * len(rows)))
    im = ax.imshow(np.ma.masked_invalid(grid), vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(langs)))
    ax.set_xticklabels(langs)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows, fontsize=7)
    for i in range(len(rows)):
        for j in range(len(langs)):
            if math.isfinite(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if grid[i, j] < 0.6 else "black")
    fig.colorbar(im, ax=ax, label="share of entries used", fraction=0.05)
    ax.set_title("Codebook usage per level and language", fontsize=10)
    return _save(fig, out, "codebook_usage", "Codebook usage", "Share of each codebook's entries used at least once.")


def all_plots(board: Board, out: Path, all_metrics: bool = False) -> list[Plot]:
    metrics = plotted_metrics(board, all_metrics)
    plots = [p for m in metrics if (p := rate_quality(board, m, out))]
    plots += [p for m in metrics if (p := heatmap(board, m, out))]
    p = codebook_heatmap(board, board.runs, out)
    return plots + ([p] if p else [])
