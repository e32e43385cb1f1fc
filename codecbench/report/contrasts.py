"""Minimal-pair ABX in the report: a contrast x codec table and a bar plot per language.

The corpus-level rows ``abx_floor|abx_error|abx_loss:<contrast>`` of summary.csv
(codecbench.metrics.abx_corpus) are taken out of the main leaderboard (they are not per-utterance
metrics) and shown here: per language, one row per contrast class (and ``all`` when there are
several), the floor (error on the original audio) and, per codec, its error with the contrast loss
(error - floor, paired 95% CI) beneath. Each codec's loss is against the floor on its own triplets (the same triplets unless
the codec failed items); the floor column shows the first codec's. Token codecs also show
``abx_token_error`` (the same triplets on the codec's tokens).
"""

from __future__ import annotations

import html
from dataclasses import replace
from pathlib import Path

from codecbench.report.cells import md_text, value_text
from codecbench.report.plots import Plot, _color, _pyplot, _save
from codecbench.report.runs import ALL_LANGS
from codecbench.report.tables import Board, Cell
from codecbench.store import safe_name

KINDS = ("abx_floor", "abx_error", "abx_loss")



def _text(c: Cell) -> str:
    """A contrast cell as plain text: 'mean [lo, hi]', or its status and reason (never a number)."""
    if c.has_value:
        return value_text(c.mean, c.ci_low, c.ci_high, c.n, "")
    return c.status if c.status == "n/a" or not c.note else f"{c.status}: {c.note}"

def split_metric(name: str) -> tuple[str, str] | None:
    """``abx_error:retroflex_dental`` -> ("abx_error", "retroflex_dental"); None for other metrics."""
    kind, sep, contrast = name.partition(":")
    return (kind, contrast) if sep and kind in KINDS and contrast else None


def split_board(board: Board) -> tuple[Board, list[str]]:
    """(the board without the contrast rows, the ABX metric names it had)."""
    abx = [m for m in board.metrics if split_metric(m)]
    return replace(board, metrics=[m for m in board.metrics if m not in abx]), abx


def _classes(board: Board, abx: list[str], lang: str) -> list[str]:
    """The contrast classes of a language, then "all" where it pools more than one class."""
    found = {split_metric(m)[1] for m in abx
             if any(board.cell(c, lang, m).status != "missing" for c in board.codecs)}
    classes = sorted(found - {"all"})
    return classes + (["all"] if "all" in found and len(classes) != 1 else [])


def _codecs(board: Board, abx: list[str]) -> list[str]:
    return [c for c in board.codecs if any(board.cell(c, lang, m).status != "missing"
                                           for lang in board.langs for m in abx)]


def _floor(board: Board, codecs: list[str], lang: str, contrast: str) -> Cell:
    cells = [board.cell(c, lang, f"abx_floor:{contrast}") for c in codecs]
    return next((c for c in cells if c.has_value), cells[0] if cells else board.cell("", lang, ""))


def _loss_text(c: Cell) -> str:
    if not c.has_value:
        return _text(c)
    ci = f" [{c.ci_low:+.3f}, {c.ci_high:+.3f}]" if c.ci_low is not None and c.ci_high is not None else ""
    return f"loss {c.mean:+.3f}{ci}"


def html_section(board: Board, abx: list[str]) -> str:
    """The contrast tables of every language as HTML ('' when the runs have no ABX rows)."""
    codecs = _codecs(board, abx)
    if not abx or not codecs:
        return ""
    e = html.escape
    parts = ['<p class="meta">Minimal-pair ABX error (lower is better; 0.5 = chance) per contrast class: floor = '
             "error on the original audio; per codec its error and, beneath, the contrast loss (codec − original, "
             "paired 95% bootstrap CI over triplets) and, for token codecs, the error in the codec's token space "
             "(what a speech LM sees).</p>"]
    for lang in board.langs:
        classes = _classes(board, abx, lang)
        if not classes:
            continue
        head = "<th>contrast</th><th>original (floor)</th>" + "".join(f"<th>{e(c)}</th>" for c in codecs)
        rows = []
        for contrast in classes:
            floor = _floor(board, codecs, lang, contrast)
            tds = [f"<td>{e(contrast)}</td>", f'<td class="num" title="n={floor.n} triplets">{e(_text(floor))}</td>']
            for codec in codecs:
                err = board.cell(codec, lang, f"abx_error:{contrast}")
                loss = board.cell(codec, lang, f"abx_loss:{contrast}")
                tok = board.cell(codec, lang, f"abx_token_error:{contrast}")
                tok_div = f'<div class="ci">tokens {e(_text(tok))}</div>' if tok.has_value else ""
                tds.append(f'<td class="num" title="n={err.n} triplets; {e(loss.note)}">{e(_text(err))}'
                           f'<div class="ci">{e(_loss_text(loss))}</div>{tok_div}</td>')
            rows.append("<tr>" + "".join(tds) + "</tr>")
        title = "all languages" if lang == ALL_LANGS else lang
        parts.append(f'<h3>{e(title)}</h3><div class="table-wrap"><table class="contrasts" data-lang="{e(lang)}">'
                     f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")
    return "".join(parts)


def markdown_section(board: Board, abx: list[str]) -> str:
    codecs = _codecs(board, abx)
    if not abx or not codecs:
        return ""
    out = ["", "## Minimal-pair ABX per contrast class", "",
           "ABX error (0.5 = chance); floor = original audio; per codec: error, then contrast loss [95% CI], "
           "then (token codecs) the error in the codec's token space.", ""]
    for lang in board.langs:
        classes = _classes(board, abx, lang)
        if not classes:
            continue
        out += [f"### {md_text(lang)}", "", "| contrast | original (floor) | " + " | ".join(map(md_text, codecs)) + " |",
                "|---" * (len(codecs) + 2) + "|"]
        for contrast in classes:
            cells = [_text(_floor(board, codecs, lang, contrast))]
            for codec in codecs:
                err = board.cell(codec, lang, f"abx_error:{contrast}")
                tok = board.cell(codec, lang, f"abx_token_error:{contrast}")
                cells.append(f"{_text(err)}; {_loss_text(board.cell(codec, lang, f'abx_loss:{contrast}'))}"
                             + (f"; tokens {_text(tok)}" if tok.has_value else ""))
            out.append("| " + " | ".join([md_text(contrast), *map(md_text, cells)]) + " |")
        out.append("")
    return "\n".join(out)


def contrast_plots(board: Board, abx: list[str], out: Path) -> list[Plot]:
    """Per language: contrast classes along x; the floor and each codec's error as bars with 95% CIs."""
    codecs = _codecs(board, abx)
    plots = []
    for lang in [x for x in board.langs if x != ALL_LANGS]:
        classes = _classes(board, abx, lang)
        if not classes or not codecs:
            continue
        plt = _pyplot()
        series = [("original", [_floor(board, codecs, lang, c) for c in classes], "0.6")]
        series += [(codec, [board.cell(codec, lang, f"abx_error:{c}") for c in classes], _color(board, codec))
                   for codec in codecs]
        width = 0.8 / len(series)
        fig, ax = plt.subplots(figsize=(max(3.8, 1.2 + 1.1 * len(classes) + 0.2 * len(series) * len(classes)), 3.6))
        for k, (label, cells, color) in enumerate(series):
            pts = [(i, c) for i, c in enumerate(cells) if c.has_value]
            if not pts:
                continue
            xs = [i - 0.4 + width * (k + 0.5) for i, _ in pts]
            ys = [c.mean for _, c in pts]
            lo = [c.mean - c.ci_low if c.ci_low is not None else 0.0 for _, c in pts]
            hi = [c.ci_high - c.mean if c.ci_high is not None else 0.0 for _, c in pts]
            ax.bar(xs, ys, width=width, yerr=[lo, hi], capsize=2, label=label, color=color)
        ax.axhline(0.5, color="k", lw=0.8, ls="--")
        ax.set_ylim(0, max(0.55, ax.get_ylim()[1]))
        ax.set_xticks(range(len(classes)))
        ax.set_xticklabels(classes, rotation=20, ha="right", fontsize=7)
        ax.set_ylabel("ABX error ↓ (0.5 = chance)")
        ax.set_title(f"Minimal-pair ABX per contrast, {lang} (95% CI)")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.grid(True, axis="y", alpha=0.3)
        plots.append(_save(fig, out, f"abx_contrasts_{safe_name(lang)}", f"ABX per contrast: {lang}",
                           "Grey: the original audio (floor); dashed: chance."))
    return plots
