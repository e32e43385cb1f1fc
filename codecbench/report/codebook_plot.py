"""Codebook utilization plot of the leaderboard: per language, the share of each codebook level's
entries used (pooled over the language's utterances, from codebook.csv) against the level, one line
per codec. A residual-VQ stack shows as a curve over its levels; a single-codebook codec as one
point. Continuous codecs have no codebook and are named in the caption."""

from __future__ import annotations

import math
from pathlib import Path

from codecbench.report.plots import STYLES, Plot, _base_family, _color, _pyplot, _save, legend_entries
from codecbench.report.runs import ALL_LANGS, Run
from codecbench.report.tables import Board


def usage_by_codec(board: Board, runs: list[Run]) -> dict[str, dict[str, list[tuple[int, float, int]]]]:
    """lang -> codec label -> [(level, used share, codebook size)] in level order."""
    out: dict[str, dict[str, list[tuple[int, float, int]]]] = {}
    for run in runs:
        df = run.codebook()
        if df is None:
            continue
        for rec in df.to_dict("records"):
            label = next((lab for lab, ci in board.codec_info.items()
                          if ci.get("codec") == rec["codec"] and ci.get("run") == run.name), None)
            lang = str(rec["lang"])
            if label is None or lang not in board.langs:
                continue
            if run.keep is not None and lang == ALL_LANGS:  # codebook.csv pools every utterance
                continue
            out.setdefault(lang, {}).setdefault(label, []).append(
                (int(rec["level"]), float(rec["used_share"]), int(rec["size"])))
    for by_codec in out.values():
        for pts in by_codec.values():
            pts.sort()
    return out


def _legend_label(label: str, pts: list[tuple[int, float, int]]) -> str:
    sizes = sorted({s for _, _, s in pts})
    size = str(sizes[0]) if len(sizes) == 1 else f"{sizes[0]}–{sizes[-1]}"
    return f"{label} ({len(pts)} × {size})" if len(pts) > 1 else f"{label} (1 × {size})"


def codebook_usage(board: Board, runs: list[Run], out: Path) -> Plot | None:
    from matplotlib.ticker import MaxNLocator

    data = usage_by_codec(board, runs)
    langs = [x for x in board.shown_langs() if x in data]
    if not langs and ALL_LANGS in data:  # a restricted run keeps per-language rows only
        langs = [x for x in board.langs if x in data]
    if not langs:
        return None
    plt = _pyplot()
    codecs = [c for c in board.codecs if any(c in data[lang] for lang in langs)]
    within: dict[str, int] = {}  # a codec's place within its family (over runs): its line style
    style = {}
    for c in codecs:
        fam = _base_family(board, c)
        style[c] = STYLES[within.get(fam, 0) % len(STYLES)]
        within[fam] = within.get(fam, 0) + 1
    ncol = min(2 if len(langs) <= 4 else 3, len(langs))
    nrow = math.ceil(len(langs) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.8 * ncol, 2.6 * nrow), squeeze=False, sharey=True, sharex=True)
    for ax, lang in zip(axes.flat, langs, strict=False):
        for c in codecs:
            pts = data[lang].get(c)
            if not pts:
                continue
            line, marker = style[c]
            ax.plot([lvl + 1 for lvl, _, _ in pts], [u for _, u, _ in pts], ls=line if len(pts) > 1 else "none",
                    marker=marker, ms=3.5, lw=1.2, color=_color(board, c), label=_legend_label(c, pts))
        ax.set_title("all languages (pooled)" if lang == ALL_LANGS else lang, fontsize=9)
        ax.set_ylim(0, 1.04)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_xlabel("codebook level (1 = first)")
        ax.grid(True, alpha=0.3)
    for ax in axes.flat[len(langs):]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel("share of entries used")
    handles, labels = legend_entries(axes.flat[:len(langs)])
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(3, len(labels)), fontsize=7,
               frameon=False)
    fig.suptitle("Codebook utilization per level (share of entries used at least once)", fontsize=10)
    fig.tight_layout()
    continuous = [c for c in board.codecs if c not in codecs and board.codec_info.get(c, {}).get("latent_rate")]
    caption = "Per codec: levels × entries per codebook. Pooled over each language's utterances."
    if continuous:
        caption += " No codebook (continuous latent): " + ", ".join(continuous) + "."
    return _save(fig, out, "codebook_usage", "Codebook utilization", caption)
