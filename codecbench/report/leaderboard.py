"""``codecbench report RUN [RUN ...] --out DIR``: the leaderboard as one self-contained HTML page.

DIR receives:
  index.html        one file: inline CSS/JS, plots as PNG data URIs, example audio embedded as 16-bit
                    WAV data URIs at the source rate with spectrogram thumbnails and each clip's scores
                    (the page can be mailed or attached as a CI artefact on its own)
  leaderboard.md    per language the headline metrics, the rest folded; reasons as footnotes
  leaderboard.tex   one booktabs table for a paper (--latex-metrics; mean ± CI half-width)
  plots/*.png|svg   per-language rate–quality curves, codec × language heatmaps, codebook usage, token LM
                    bits/s against the nominal bitrate (PNG at 2×)

Runs over different utterance sets are refused (their means are not comparable) unless
``--common-only`` (every run restricted to the shared utterances, summaries recomputed) or
``--allow-mixed`` (reported as they are, marked on the page, no best value). Utterance counts are of
unique utterances. Every name and transcript is HTML-escaped; cells without a value show their
status (n/a apart from failures) and the reason once, in the notes, never a number.
"""

from __future__ import annotations

import argparse
import base64
import html
import struct
from pathlib import Path

from codecbench.report.cells import Footnotes, value_text
from codecbench.report.examples import choose_examples, examples_section
from codecbench.report.latex import latex_table
from codecbench.report.runs import ALL_LANGS, Run, RunError, check_utterance_sets, parse_labels
from codecbench.report.standings import short_text
from codecbench.report.tables import (
    Board,
    build_board,
    markdown_tables,
    metric_header,
    rate_text,
    standing_lines,
)
from codecbench.safe_io import make_folder

_ERROR_HOOK = """
window.__cbErrors = [];
function __cbReport(msg) {
  window.__cbErrors.push(String(msg));
  var el = document.getElementById("js-errors");
  if (el) { el.textContent = window.__cbErrors.join("\\n"); el.hidden = false; }
  if (document.body) document.body.setAttribute("data-errors", String(window.__cbErrors.length));
}
window.addEventListener("error", function (e) {
  var t = e.target && e.target !== window ? (e.target.tagName || "element") + " failed to load" : e.message;
  __cbReport("error: " + t);
}, true);
window.addEventListener("unhandledrejection", function (e) { __cbReport("unhandled rejection: " + e.reason); });
(function () {
  var orig = console.error;
  console.error = function () {
    __cbReport("console.error: " + Array.prototype.join.call(arguments, " "));
    return orig.apply(console, arguments);
  };
})();
document.addEventListener("DOMContentLoaded", function () {
  document.body.setAttribute("data-errors", String(window.__cbErrors.length));
  if (window.__cbErrors.length) __cbReport("(errors before load)");
});
"""


def e(text: object) -> str:
    """HTML-escape anything shown on the page (names, transcripts, reasons)."""
    return html.escape(str(text), quote=True)


def leaderboard_table(board: Board, lang: str, metrics: list[str], notes: Footnotes, kind: str) -> str:
    """One sortable table: codec, family, kbps, n, then ``metrics``; cells without a value link to a note."""
    head = ['<th data-type="text">codec</th>', '<th data-type="text">family</th>', '<th>kbps</th>', '<th>n</th>']
    for m in metrics:
        info = board.metric_info.get(m, {})
        tip = ", ".join(f"{k}: {v}" for k, v in info.items() if v not in (None, "") and k != "unavailable")
        head.append(f'<th title="{e(tip)}">{e(metric_header(board, m))}</th>')
    rows = []
    for codec in board.codecs:
        info = board.codec_info.get(codec, {})
        kbps, _ = board.rate_kbps(codec)
        gn = board.group_n(codec, lang)
        tds = [f'<td data-sort="{e(codec.lower())}" class="codec">{e(codec)}</td>',
               f'<td data-sort="{e(info.get("family", ""))}">{e(info.get("family", ""))}</td>',
               f'<td class="num" data-sort="{"" if kbps is None else f"{kbps:.6g}"}">{e(rate_text(board, codec))}</td>',
               f'<td class="num" data-sort="{gn}">{gn}</td>']
        for m in metrics:
            tds.append(_td(board, codec, lang, m, gn, notes))
        rows.append(f'<tr class="codec-row" data-codec="{e(codec)}">' + "".join(tds) + "</tr>")
    return (f'<div class="table-wrap"><table class="lb {kind}" data-lang="{e(lang)}"><thead><tr>{"".join(head)}'
            f'</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def _td(board: Board, codec: str, lang: str, m: str, group_n: int, notes: Footnotes) -> str:
    c = board.cell(codec, lang, m)
    if c.has_value:
        unit = board.metric_info.get(m, {}).get("unit")
        text = value_text(c.mean, c.ci_low, c.ci_high, c.n, unit)
        main, _, ci = text.partition(" [")
        ci_html = f' <span class="ci">[{e(ci)}</span>' if ci else ""
        extra = ""
        if c.n < group_n:
            k = notes.ref(c.note, "failed") if c.note and c.n_failed else None
            extra = f' <span class="nsmall">n={c.n}' + (f'<a href="#note-{k}">{k}</a>' if k else "") + "</span>"
        best = board.best(lang, m) == codec
        cls = "num best" if best else "num"
        tip = f' title="{e(short_text(board.standing(lang, m)))}"' if best else ""
        return f'<td class="{cls}"{tip} data-sort="{c.mean:.9g}">{e(main)}{ci_html}{extra}</td>'
    status = "missing" if c.status == "missing" else c.status
    cls = {"n/a": "na", "missing": "na", "unreliable": "unrel", "unavailable": "unavail"}.get(status, "bad")
    link = ""
    if c.note and status not in ("n/a", "missing"):
        k = notes.ref(c.note, status)
        link = f'<sup><a href="#note-{k}">{k}</a></sup>'
    return f'<td class="{cls}" data-sort="" title="{e(c.note)}">{e(status)}{link}</td>'


def provenance_table(board: Board) -> str:
    rows = []
    for m in board.metrics:
        i = board.metric_info.get(m, {})
        hib = i.get("higher_is_better")
        rows.append("<tr>" + "".join(f"<td>{e(v)}</td>" for v in (
            m, i.get("metric", ""), "higher" if hib is True else "lower" if hib is False else "–", i.get("unit") or "",
            i.get("library") or "", i.get("version") or "", i.get("mode") or "", i.get("model") or "",
            i.get("sample_rate") or "")) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("output", "metric", "better", "unit", "library", "version", "mode",
                                            "model", "sample rate"))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _notes_html(notes: Footnotes) -> str:
    if not notes.reasons:
        return ""
    items = "".join(f'<li id="note-{k}" value="{k}"><b>{e(kind)}</b>: {e(reason)}</li>' for k, kind, reason in notes.items())
    return f'<section id="notes"><h2>Notes</h2><ol class="notes">{items}</ol></section>'


def render_html(board: Board, plots, examples, contrast_html: str = "", token_html: str = "") -> str:
    css = (Path(__file__).with_name("leaderboard.css")).read_text(encoding="utf-8")
    js = (Path(__file__).with_name("leaderboard.js")).read_text(encoding="utf-8")
    notes = Footnotes()
    runs_txt = ", ".join(e(r.name) + (f" <code>{e(r.revision)}</code>" if r.revision else "") for r in board.runs)
    nav = " ".join(f'<a href="#lang-{e(lang)}">{e("all languages" if lang == ALL_LANGS else lang)}</a>'
                   for lang in board.shown_langs())
    headline = board.headline()
    rest = [m for m in board.metrics if m not in headline]
    pre = [f'<p class="warn partial">⚠ {e(why)}</p>' for why in board.partial]
    if board.mixed:
        pre.append(f'<p class="warn" id="mixed">⚠ {e(board.mixed)}</p>')
    if board.data_warnings:
        items = "".join(f"<li>⚠ {e(w)}</li>" for w in board.data_warnings)
        pre.append(f'<div class="warn" id="data-checks">Data checks:<ul>{items}</ul></div>')
    if board.not_computed:
        items = []
        for m, (status, why) in board.not_computed.items():
            k = notes.ref(why, status) if why else None
            items.append(f"{e(m)} ({e(status)}" + (f'<sup><a href="#note-{k}">{k}</a></sup>' if k else "") + ")")
        pre.append(f'<p class="meta" id="not-computed">Not computed: {", ".join(items)}.</p>')
    sections = []
    for lang in board.shown_langs():
        title = "All languages (pooled)" if lang == ALL_LANGS else f"Language: {lang}"
        full = ""
        if rest:
            full = (f'<details><summary>{len(rest)} more metric{"s" if len(rest) > 1 else ""}</summary>'
                    f'{leaderboard_table(board, lang, rest, notes, "full")}</details>')
        lines = standing_lines(board, lang, headline)
        evidence = (f'<p class="meta">Leader against runner-up (mean paired difference [95% CI], two-sided sign-flip '
                    f'p):</p><ul class="standings">{"".join(f"<li>{e(t)}</li>" for t in lines)}</ul>' if lines else "")
        sections.append(f'<section id="lang-{e(lang)}"><h2>{e(title)}</h2>'
                        f'{leaderboard_table(board, lang, headline, notes, "headline")}{evidence}{full}</section>')
    figs = []
    for p in plots:
        png = p.png.read_bytes()
        uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        w, h = (v // 2 for v in struct.unpack(">II", png[16:24]))  # the IHDR size; the PNGs are drawn at 2×
        cap = e(p.title) + (f" — {e(p.caption)}" if p.caption else "")
        figs.append(f'<figure><img alt="{e(p.title)}" src="{uri}" width="{w}" height="{h}"><figcaption>{cap} '
                    f'(files: plots/{e(p.png.name)}, plots/{e(p.svg.name)})</figcaption></figure>')
    utts = ", ".join(f"{e(k)}: {v}" for k, v in board.n_utterances().items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>codecbench leaderboard</title>
<script>{_ERROR_HOOK}</script>
<style>{css}</style>
</head><body>
<pre id="js-errors" hidden></pre>
<h1>codecbench leaderboard</h1>
<p class="meta">Runs: {runs_txt}. Unique utterances per language: {utts}. {len(board.codecs)} codecs.
Cells: mean with 95% bootstrap CI in brackets (none for n &lt; 5); n = utterances of the codec in the language;
bold = best, significantly better than the runner-up (paired sign-flip p &lt; 0.05; evidence under each table);
↑ higher is better, ↓ lower is better. Cells without a value give their status and a note number.
Click a column header to sort.</p>
{''.join(pre)}
<nav>{nav} <a href="#plots">plots</a> <a href="#examples">audio examples</a> <a href="#provenance">metrics</a></nav>
{''.join(sections)}
{_notes_html(notes)}
{f'<section id="contrasts"><h2>Minimal-pair ABX per contrast</h2>{contrast_html}</section>' if contrast_html else ''}
{f'<section id="tokens"><h2>Tokens for a language model</h2>{token_html}</section>' if token_html else ''}
<section id="plots"><h2>Plots</h2>{f'<div class="plots">{"".join(figs)}</div>' if figs else
                                   '<p class="meta">No plottable values.</p>'}</section>
<section id="examples"><h2>Audio examples</h2>{examples_section(board, examples)}</section>
<section id="provenance"><h2>Metrics</h2>{provenance_table(board)}</section>
<script>{js}</script>
</body></html>
"""


def build_report(run_dirs: list[str], out: str | Path, examples: int = 2, metrics: list[str] | None = None,
                 langs: list[str] | None = None, labels: list[str] | None = None, common_only: bool = False,
                 allow_mixed: bool = False, latex_metrics: list[str] | None = None,
                 all_metrics_plots: bool = False, plots: bool = True) -> Path:
    """Write index.html, leaderboard.md/.tex and plots/ into ``out``; returns the HTML path."""
    from codecbench.report import contrasts, tokens
    from codecbench.report.figures import all_plots

    runs = [Run.open(d) for d in run_dirs]
    parse_labels(labels, runs)
    if langs:
        _keep_langs(runs, langs)
    mixed = check_utterance_sets(runs, common_only=common_only, allow_mixed=allow_mixed)
    board, abx = contrasts.split_board(build_board(runs, select=metrics, mixed=mixed))  # ABX: own tables
    board, tok = tokens.split_board(board)  # token stability and LM: own section
    out = make_folder(out)  # a file in the path or a read-only place: one line naming it
    figures = (all_plots(board, out / "plots", all_metrics=all_metrics_plots)
               + contrasts.contrast_plots(board, abx, out / "plots") + tokens.rate_plot(board, tok, out / "plots")) \
        if plots else []
    (out / "leaderboard.md").write_text(markdown_tables(board) + contrasts.markdown_section(board, abx)
                                        + tokens.markdown_section(board, tok), encoding="utf-8")
    (out / "leaderboard.tex").write_text(latex_table(board, latex_metrics), encoding="utf-8")
    page = out / "index.html"
    page.write_text(render_html(board, figures, choose_examples(board, examples), contrasts.html_section(board, abx),
                                tokens.html_section(board, tok)), encoding="utf-8")
    return page


def _keep_langs(runs: list[Run], langs: list[str]) -> None:
    """Restrict every run to the utterances of ``langs`` (an unknown language is an error)."""
    have = set().union(*(r.utterance_ids().keys() for r in runs))
    unknown = [lang for lang in langs if lang not in have]
    if unknown:
        raise RunError(f"no utterances in language(s) {', '.join(unknown)} (the runs have: {', '.join(sorted(have))})")
    for r in runs:
        ids = r.utterance_ids()
        r.restrict(set().union(*(ids.get(lang, set()) for lang in langs)))


def cmd_report(args: argparse.Namespace) -> int:
    from codecbench.safe_io import writing

    with writing(args.out):  # a full disk or a size limit while writing the page, tables or plots
        page = build_report(args.runs, args.out, examples=args.examples, metrics=args.metrics, langs=args.langs,
                            labels=args.label, common_only=args.common_only, allow_mixed=args.allow_mixed,
                            latex_metrics=args.latex_metrics, all_metrics_plots=args.plot_all,
                            plots=not args.no_plots)
    print(page)
    return 0


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def register(subparsers) -> None:
    from codecbench.schema import Whole

    p = subparsers.add_parser("report", help="leaderboard: self-contained HTML page, markdown/LaTeX tables, plots",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folder(s)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--examples", type=Whole(0), default=2,
                   help="example utterances per language with audio players (embedded; 0: none; default 2)")
    p.add_argument("--metrics", type=_csv, default=None, help="outputs or metric names to show (default: all with a value)")
    p.add_argument("--langs", type=_csv, default=None, help="languages to report (the pooled column pools only these)")
    p.add_argument("--label", action="append", default=None, metavar="RUN=NAME",
                   help="display name of a run (RUN: its folder or run id); repeatable")
    mix = p.add_mutually_exclusive_group()
    mix.add_argument("--common-only", action="store_true",
                     help="runs over different utterance sets: score only the utterances every run has")
    mix.add_argument("--allow-mixed", action="store_true",
                     help="runs over different utterance sets: report them as they are (marked on the page)")
    p.add_argument("--latex-metrics", type=_csv, default=None, help="metrics of the LaTeX table (default: headline)")
    p.add_argument("--plot-all", action="store_true", help="plot every metric with a direction, not only quality")
    p.add_argument("--no-plots", action="store_true", help="tables and audio only (plots take most of the time)")
    p.set_defaults(func=cmd_report)
