"""A LaTeX table a paper can include: booktabs, chosen metrics, mean ± CI half-width, failures as footnotes.

Decisions: one table for all languages (a block of rows per language, pooled "all" last); the ± is
half the width of the 95% bootstrap CI (the interval is not always symmetric; the caption says so);
no ± for n < MIN_N_FOR_CI; a cell without a value is "--" with a footnote letter giving the status and
reason once; the best reliable mean of a column within a language block is bold. Needs
``\\usepackage{booktabs}``.
"""

from __future__ import annotations

import string

from codecbench.report.cells import MIN_N_FOR_CI, display_unit, fmt_number
from codecbench.report.runs import ALL_LANGS
from codecbench.report.tables import Board, metric_header, rate_text

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "<": r"\textless{}", ">": r"\textgreater{}", "↑": r"$\uparrow$", "↓": r"$\downarrow$",
                  "–": "--", "×": r"$\times$"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def _mark(k: int) -> str:
    letters = string.ascii_lowercase
    return letters[k % 26] * (k // 26 + 1)


def latex_table(board: Board, metrics: list[str] | None = None) -> str:
    """The paper table (``metrics``: default the headline metrics of the board)."""
    metrics = [m for m in (metrics or board.headline()) if m in board.metrics]
    notes: dict[str, str] = {}
    lines = ["% codecbench leaderboard; needs \\usepackage{booktabs}",
             r"\begin{table}[t]", r"\centering", r"\small",
             r"\caption{Codec comparison per language: mean $\pm$ half-width of the 95\% bootstrap CI "
             rf"(no interval for $n<{MIN_N_FOR_CI}$); bold: best per language, significantly better than the runner-up "
             r"(paired sign-flip test, $p<0.05$).}",
             r"\label{tab:codecbench}",
             r"\begin{tabular}{l r " + "c " * len(metrics) + "}", r"\toprule",
             " & ".join(["Codec", "kbps", *[latex_escape(metric_header(board, m)) for m in metrics]]) + r" \\"]
    counts = board.n_utterances()
    for lang in board.shown_langs():
        n = sum(counts.values()) if lang == ALL_LANGS else counts.get(lang, 0)
        title = ("all languages (pooled)" if lang == ALL_LANGS else f"language: {lang}") + f", {n} utterances"
        lines += [r"\midrule", rf"\multicolumn{{{len(metrics) + 2}}}{{l}}{{\emph{{{latex_escape(title)}}}}} \\"]
        for codec in board.codecs:
            cells = [_cell(board, codec, lang, m, notes) for m in metrics]
            lines.append(" & ".join([latex_escape(codec), latex_escape(rate_text(board, codec)), *cells]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if notes:
        lines.append(r"\par\smallskip\footnotesize")
        lines += [rf"\textsuperscript{{{k}}}{latex_escape(reason)}\\" for reason, k in notes.items()]
    lines += [r"\end{table}", ""]
    return "\n".join(lines)


def _cell(board: Board, codec: str, lang: str, metric: str, notes: dict[str, str]) -> str:
    c = board.cell(codec, lang, metric)
    if not c.has_value:
        if c.status == "n/a":
            return "n/a"
        reason = f"{c.status}: {c.note}" if c.note else c.status
        k = notes.setdefault(" ".join(reason.split()), _mark(len(notes)))
        return rf"--\textsuperscript{{{k}}}"
    u = display_unit(board.metric_info.get(metric, {}).get("unit"))
    m, lo, hi = u.convert(c.mean), u.convert(c.ci_low), u.convert(c.ci_high)
    text = fmt_number(m)
    if c.n >= MIN_N_FOR_CI and lo is not None and hi is not None and lo != hi:
        text += rf" $\pm$ {fmt_number(abs(hi - lo) / 2, m)}"
    return rf"\textbf{{{text}}}" if board.best(lang, metric) == codec else text
