"""Leaderboard plots (matplotlib, Agg backend), each written as PNG and SVG.

Only reliable cells (status "ok") are plotted; a plot says how many were left out and why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from codecbench.report.runs import ALL_LANGS, COST_FAMILIES, Run
from codecbench.report.tables import Board, metric_header
from codecbench.store import safe_name


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

    plt.rcParams.update({"svg.hashsalt": "codecbench", "font.size": 9})
    return plt


def _save(fig, out: Path, stem: str, title: str, caption: str = "") -> Plot:
    plt = _pyplot()
    out.mkdir(parents=True, exist_ok=True)
    png, svg = out / f"{stem}.png", out / f"{stem}.svg"
    fig.savefig(png, dpi=110, bbox_inches="tight")
    fig.savefig(svg, bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return Plot(title, png, svg, caption)


def _color(board: Board, codec: str) -> str:
    """The same colour for a codec in every plot."""
    return f"C{board.codecs.index(codec) % 10}"


def quality_metrics(board: Board) -> list[str]:
    """Metrics with a better direction that measure quality (not cost), in leaderboard order."""
    return [m for m in board.metrics if board.metric_info.get(m, {}).get("higher_is_better") is not None
            and board.metric_info.get(m, {}).get("metric") not in COST_FAMILIES]


def rate_quality(board: Board, metric: str, out: Path) -> Plot | None:
    """Bitrate (log axis) against the pooled mean with its 95% CI, one point per codec."""
    plt = _pyplot()
    pts, left_out = [], []
    for codec in board.codecs:
        kbps, source = board.rate_kbps(codec)
        c = board.cell(codec, ALL_LANGS, metric)
        if kbps is None or kbps <= 0:
            left_out.append(f"{codec} (no bitrate)")
        elif not c.has_value:
            left_out.append(f"{codec} ({c.status})")
        else:
            pts.append((kbps, c, codec, source))
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for kbps, c, codec, source in pts:
        lo = c.mean - c.ci_low if c.ci_low is not None else 0.0
        hi = c.ci_high - c.mean if c.ci_high is not None else 0.0
        ax.errorbar([kbps], [c.mean], yerr=[[lo], [hi]], fmt="o" if source == "measured" else "s", capsize=3,
                    label=codec, color=_color(board, codec))
        ax.annotate(codec, (kbps, c.mean), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xscale("log")
    from matplotlib.ticker import NullFormatter

    ticks = sorted({p[0] for p in pts})
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:.3g}" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    if len(ticks) == 1:
        ax.set_xlim(ticks[0] / 1.5, ticks[0] * 1.5)
    ax.set_xlabel("bitrate (kbps, log scale; squares: nominal)")
    ax.set_ylabel(metric_header(board, metric))
    ax.set_title(f"Rate–quality: {metric} (all languages, 95% CI)")
    ax.grid(True, which="both", alpha=0.3)
    caption = "Left out: " + ", ".join(left_out) if left_out else ""
    return _save(fig, out, f"rate_quality_{safe_name(metric)}", f"Rate–quality: {metric}", caption)


def language_bars(board: Board, metric: str, out: Path) -> Plot | None:
    """Grouped bars: languages along x, one bar per codec, 95% CI whiskers."""
    plt = _pyplot()
    langs = [lang for lang in board.langs if lang != ALL_LANGS]
    if not langs:
        return None
    width = 0.8 / max(1, len(board.codecs))
    fig, ax = plt.subplots(figsize=(max(4.5, 1.2 * len(langs) + 0.25 * len(board.codecs) * len(langs)), 3.6))
    drawn, left_out = 0, []
    for k, codec in enumerate(board.codecs):
        xs, ys, err_lo, err_hi = [], [], [], []
        for i, lang in enumerate(langs):
            c = board.cell(codec, lang, metric)
            if not c.has_value:
                if c.status != "missing":
                    left_out.append(f"{codec}/{lang} ({c.status})")
                continue
            xs.append(i - 0.4 + width * (k + 0.5))
            ys.append(c.mean)
            err_lo.append(c.mean - c.ci_low if c.ci_low is not None else 0.0)
            err_hi.append(c.ci_high - c.mean if c.ci_high is not None else 0.0)
        if xs:
            ax.bar(xs, ys, width=width, yerr=[err_lo, err_hi], capsize=2, label=codec,
                   color=_color(board, codec))
            drawn += 1
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xticks(range(len(langs)))
    ax.set_xticklabels(langs)
    ax.set_ylabel(metric_header(board, metric))
    ax.set_title(f"{metric} per language (95% CI)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(True, axis="y", alpha=0.3)
    caption = "Left out: " + ", ".join(left_out) if left_out else ""
    return _save(fig, out, f"per_language_{safe_name(metric)}", f"{metric} per language", caption)


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
                          if ci.get("codec") == rec["codec"] and ci.get("run") == run.name), str(rec["codec"]))
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
    grid = np.full((len(rows), len(langs)), np.nan)
    for i, r in enumerate(rows):
        for j, lang in enumerate(langs):
            grid[i, j] = values.get((r, lang), math.nan)
    fig, ax = plt.subplots(figsize=(1.3 + 0.9 * len(langs), 0.9 + 0.32 * len(rows)))
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
    fig.colorbar(im, ax=ax, label="share of entries used")
    ax.set_title("Codebook usage per level and language")
    return _save(fig, out, "codebook_usage", "Codebook usage", "Share of each codebook's entries used at least once.")


def all_plots(board: Board, out: Path) -> list[Plot]:
    plots: list[Plot] = []
    for m in quality_metrics(board):
        p = rate_quality(board, m, out)
        if p:
            plots.append(p)
    for m in quality_metrics(board):
        p = language_bars(board, m, out)
        if p:
            plots.append(p)
    p = codebook_heatmap(board, board.runs, out)
    if p:
        plots.append(p)
    return plots
