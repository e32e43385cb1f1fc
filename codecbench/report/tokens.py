"""Tokens for a language model in the report: stability per perturbation and codebook level, and LM
bits per second against the nominal bitrate, per language (docs/tokens.md).

The summary rows of ``token_stability`` (``ued_*``: per utterance, mean and bootstrap CI) and
``token_lm`` (``lm_*``, ``unigram_*``: corpus-level on held-out utterances) are taken out of the main
leaderboard and shown here; per-level figures come from each run's ``token_stability.csv`` and
``token_lm.csv``. Cells without a value say their status and reason, never a number.
"""

from __future__ import annotations

import html
from dataclasses import replace
from pathlib import Path

from codecbench.report.cells import md_text, value_text
from codecbench.report.runs import ALL_LANGS
from codecbench.report.tables import Board, Cell

METRICS = ("token_stability", "token_lm")
LM_COLUMNS = (("lm_bits_per_second", "LM kbps"), ("lm_redundancy", "redundancy"),
              ("lm_bits_per_frame", "LM bits/frame"), ("unigram_bits_per_frame", "unigram bits/frame"))


def split_board(board: Board) -> tuple[Board, list[str]]:
    """(the board without the token metrics' columns, those columns)."""
    tok = [m for m in board.metrics if board.metric_info.get(m, {}).get("metric") in METRICS]
    return replace(board, metrics=[m for m in board.metrics if m not in tok]), tok


def _text(c: Cell, unit: str = "") -> str:
    if c.has_value:
        return value_text(c.mean, c.ci_low, c.ci_high, c.n, unit)
    return c.status if c.status in ("n/a", "missing") or not c.note else f"{c.status}: {c.note}"


def _codecs(board: Board, names: list[str]) -> list[str]:
    return [c for c in board.codecs if any(board.cell(c, lang, m).has_value for lang in board.langs for m in names)]


def _table(board: Board, label: str, name: str):
    """A run's CSV (``name``) restricted to the codec shown as ``label``, or None."""
    info = board.codec_info.get(label, {})
    run = next((r for r in board.runs if r.name == info.get("run")), None)
    df = run.table(name) if run is not None else None
    return None if df is None else df[df["codec"].astype(str) == str(info.get("codec"))]


def level_text(board: Board, label: str, lang: str, perturbation: str) -> str:
    """UED per codebook level (level 0 first) from the run's token_stability.csv, or ''."""
    df = _table(board, label, "token_stability.csv")
    if df is None:
        return ""
    g = df[(df["lang"].astype(str) == lang) & (df["perturbation"] == perturbation)].sort_values("level")
    return " ".join(f"{v:.2f}" for v in g["ued"])


def _nominal(board: Board, label: str) -> str:
    n = board.codec_info.get(label, {}).get("nominal_bitrate")
    return value_text(float(n), None, None, 0, "bit/s") if isinstance(n, int | float) else "–"


def _sections(board: Board, tok: list[str]):
    """Per language: (title, stability header, stability rows, LM header, LM rows); cells as text."""
    ued = [m for m in tok if board.metric_info.get(m, {}).get("metric") == "token_stability"]
    lm = [m for m, _ in LM_COLUMNS if m in tok]
    s_codecs, l_codecs = _codecs(board, ued), _codecs(board, lm)
    for lang in board.shown_langs():
        s_rows = [[c, *[_text(board.cell(c, lang, m)) for m in ued]] for c in s_codecs]
        levels = [[c, m.removeprefix("ued_"), level_text(board, c, lang, m.removeprefix("ued_"))]
                  for c in s_codecs for m in ued if m != "ued_mean"]
        l_rows = [[c, _nominal(board, c), *[_text(board.cell(c, lang, m), board.metric_info[m].get("unit", ""))
                                            for m in lm]] for c in l_codecs]
        title = "all languages (pooled)" if lang == ALL_LANGS else lang
        yield (title, ["codec", *[m.removeprefix("ued_") for m in ued]], s_rows, [r for r in levels if r[2]],
               ["codec", "nominal kbps", *[dict(LM_COLUMNS)[m] for m in lm]], l_rows)


INTRO = ("Are the tokens good for a language model (docs/tokens.md)? Stability: unit edit distance of the tokens "
         "under meaning-preserving perturbations (0 = unchanged; lower is better), mean [95% CI] over utterances. "
         "Predictability: a small LM trained on each language's training split, scored on its held-out utterances: "
         "bits per second against the nominal bitrate (lower is more predictable; redundancy = 1 − LM ÷ nominal).")


def markdown_section(board: Board, tok: list[str]) -> str:
    if not tok:
        return ""
    out = ["", "## Tokens for a language model", "", INTRO, ""]
    for title, s_head, s_rows, levels, l_head, l_rows in _sections(board, tok):
        out += [f"### {md_text(title)}", ""]
        for head, rows in ((s_head, s_rows), (["codec", "perturbation", "UED per codebook level (level 0 first)"],
                                              levels), (l_head, l_rows)):
            if rows:
                out += ["| " + " | ".join(map(md_text, head)) + " |", "|---" * len(head) + "|",
                        *["| " + " | ".join(md_text(x) for x in r) + " |" for r in rows], ""]
    return "\n".join(out)


def html_section(board: Board, tok: list[str]) -> str:
    if not tok:
        return ""
    e = html.escape
    parts = [f'<p class="meta">{e(INTRO)}</p>']
    for title, s_head, s_rows, levels, l_head, l_rows in _sections(board, tok):
        parts.append(f"<h3>{e(title)}</h3>")
        for kind, head, rows in (("stability", s_head, s_rows), ("levels", ["codec", "perturbation", "UED per level"],
                                                                  levels), ("lm", l_head, l_rows)):
            if rows:
                body = "".join("<tr>" + "".join(f"<td>{e(str(x))}</td>" for x in r) + "</tr>" for r in rows)
                parts.append(f'<div class="table-wrap"><table class="tokens {kind}"><thead><tr>'
                             + "".join(f"<th>{e(h)}</th>" for h in head) + f"</tr></thead><tbody>{body}</tbody>"
                             "</table></div>")
    return "".join(parts)


def rate_plot(board: Board, tok: list[str], out: Path):
    """Per language: LM bits/s against the nominal bitrate, one point per codec with its 95% CI; the
    diagonal is no compression by the LM. [] when the runs have no LM figures."""
    from codecbench.report.plots import _color, _pyplot, _save

    if "lm_bits_per_second" not in tok:
        return []
    langs = [x for x in board.shown_langs()]
    pts = {lang: [(c, board.codec_info.get(c, {}).get("nominal_bitrate"), board.cell(c, lang, "lm_bits_per_second"))
                  for c in board.codecs] for lang in langs}
    pts = {lang: [(c, n, cell) for c, n, cell in v if cell.has_value and isinstance(n, int | float)]
           for lang, v in pts.items()}
    langs = [x for x in langs if pts[x]]
    if not langs:
        return []
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(langs), figsize=(3.2 * len(langs) + 1.5, 3.2), squeeze=False)
    top = max(max(n, cell.ci_high or cell.mean) for v in pts.values() for _, n, cell in v) / 1000 * 1.1
    for ax, lang in zip(axes[0], langs, strict=True):
        ax.plot([0, top], [0, top], color="0.6", lw=0.8, ls="--")
        for c, n, cell in pts[lang]:
            err = [[cell.mean - (cell.ci_low or cell.mean)], [(cell.ci_high or cell.mean) - cell.mean]]
            ax.errorbar([n / 1000], [cell.mean / 1000], yerr=[[x / 1000 for x in err[0]], [x / 1000 for x in err[1]]],
                        fmt="o", color=_color(board, c), label=c, capsize=2)
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel("nominal kbps")
        ax.set_title("all languages" if lang == ALL_LANGS else lang)
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("LM kbps on held-out speech ↓")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return [_save(fig, out, "token_lm_rate", "Token LM bits/s against the nominal bitrate",
                  "Dashed: the nominal bitrate (an LM that predicts nothing). Below it: what the LM saves.")]
