"""``codecbench report RUN [RUN ...] --out DIR``: the leaderboard as one self-contained HTML page.

DIR receives:
  index.html        one file: inline CSS/JS, plots as PNG data URIs, example audio embedded as 16-bit
                    WAV data URIs at the source rate (so the page can be mailed or attached as a CI
                    artefact on its own; --examples sets how many utterances per language)
  leaderboard.md    markdown tables (one per language), leaderboard.tex (booktabs tables)
  plots/*.png|svg   rate–quality scatter plots, per-language bars, codebook-usage heatmap

Every name and transcript is HTML-escaped; cells whose status is "unreliable" or "failed" (or whose
metric is unavailable) show the reason, never a number.
"""

from __future__ import annotations

import argparse
import base64
import html
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codecbench.report.runs import ALL_LANGS, Run, RunError
from codecbench.report.tables import (
    Board,
    build_board,
    cell_text,
    fmt_number,
    latex_tables,
    markdown_tables,
    metric_header,
    rate_text,
)

MAX_EMBEDDED_AUDIO_BYTES = 3_000_000  # per file; larger examples are listed, not embedded

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


@dataclass
class Example:
    lang: str
    utt_id: str
    text: str
    reference: Path | None
    recon: dict[str, Path]  # codec label -> saved reconstruction


def choose_examples(board: Board, per_lang: int) -> list[Example]:
    """Per language, the utterances with saved reconstructions for the most codecs (ties: by id)."""
    if per_lang <= 0:
        return []
    found: dict[tuple[str, str], Example] = {}
    for run in board.runs:
        rows = run.rows()
        if "audio" not in rows.columns:
            continue
        labels = {ci["codec"]: lab for lab, ci in board.codec_info.items() if ci["run"] == run.name}
        utts = run.utterances
        for rec in rows[rows["audio"].fillna("").astype(str) != ""].to_dict("records"):
            path = run.audio_file(str(rec["audio"]))
            label = labels.get(rec["codec"])
            if path is None or label is None:
                continue
            key = (str(rec["lang"]), str(rec["utt_id"]))
            ex = found.get(key)
            if ex is None:
                u = utts.get(rec["utt_id"], {})
                ex = found[key] = Example(key[0], key[1], str(u.get("text") or ""), run.reference_file(key[1]), {})
            ex.recon[label] = path
    out = []
    for lang in board.langs:
        cands = sorted((ex for (lg, _), ex in found.items() if lg == lang), key=lambda x: (-len(x.recon), x.utt_id))
        out += cands[:per_lang]
    return out


def _wav_data_uri(path: Path) -> str | None:
    """The file as a 16-bit PCM WAV data URI (float WAVs are converted: half the size), or None if too large."""
    import tempfile

    from codecbench import audio

    wave, sr = audio.load(path)
    with tempfile.TemporaryDirectory() as tmp:
        pcm = Path(tmp) / "x.wav"
        audio.save(pcm, np.clip(wave, -1.0, 1.0), sr, subtype="PCM_16")
        data = pcm.read_bytes()
    if len(data) > MAX_EMBEDDED_AUDIO_BYTES:
        return None
    return "data:audio/wav;base64," + base64.b64encode(data).decode("ascii")


def _audio_tag(path: Path | None) -> str:
    if path is None:
        return '<span class="meta">not saved</span>'
    uri = _wav_data_uri(path)
    if uri is None:
        return f'<span class="meta">too large to embed: {e(path.name)}</span>'
    return f'<audio controls preload="none" src="{uri}"></audio>'


def leaderboard_table(board: Board, lang: str) -> str:
    head = ['<th data-type="text">codec</th>', '<th data-type="text">family</th>', '<th>kbps</th>']
    for m in board.metrics:
        info = board.metric_info.get(m, {})
        tip = ", ".join(f"{k}: {v}" for k, v in info.items() if v not in (None, "") and k != "unavailable")
        head.append(f'<th title="{e(tip)}">{e(metric_header(board, m))}</th>')
    rows = []
    for codec in board.codecs:
        info = board.codec_info.get(codec, {})
        kbps, _ = board.rate_kbps(codec)
        tds = [f'<td data-sort="{e(codec.lower())}" class="codec">{e(codec)}</td>',
               f'<td data-sort="{e(info.get("family", ""))}">{e(info.get("family", ""))}</td>',
               f'<td class="num" data-sort="{"" if kbps is None else f"{kbps:.6g}"}">{e(rate_text(board, codec))}</td>']
        best = {m: board.best(lang, m) for m in board.metrics}
        for m in board.metrics:
            c = board.cell(codec, lang, m)
            if c.has_value:
                ci = ""
                if c.ci_low is not None and c.ci_high is not None:
                    ci = f' <span class="ci">[{e(fmt_number(c.ci_low, c.mean))}, {e(fmt_number(c.ci_high, c.mean))}]</span>'
                n = f"n={c.n}" + (f", {c.n_failed} failed" if c.n_failed else "")
                cls = "num best" if best[m] == codec else "num"
                tds.append(f'<td class="{cls}" data-sort="{c.mean:.9g}" title="{e(n)}">{e(fmt_number(c.mean))}{ci}</td>')
            else:
                tds.append(f'<td class="bad" data-sort="" title="{e(c.note)}"><div class="reason">{e(cell_text(c))}</div></td>')
        rows.append(f'<tr class="codec-row" data-codec="{e(codec)}">' + "".join(tds) + "</tr>")
    return (f'<div class="table-wrap"><table class="lb" data-lang="{e(lang)}"><thead><tr>{"".join(head)}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def provenance_table(board: Board) -> str:
    rows = []
    for m in board.metrics:
        i = board.metric_info.get(m, {})
        hib = i.get("higher_is_better")
        rows.append("<tr>" + "".join(f"<td>{e(v)}</td>" for v in (
            m, i.get("metric", ""), "higher" if hib is True else "lower" if hib is False else "–", i.get("unit") or "",
            i.get("library") or "", i.get("version") or "", i.get("mode") or "", i.get("model") or "",
            i.get("sample_rate") or "", i.get("unavailable") or "")) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("output", "metric", "better", "unit", "library", "version", "mode",
                                            "model", "sample rate", "unavailable"))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def examples_section(board: Board, examples: list[Example]) -> str:
    if not examples:
        return '<p class="meta">No saved reconstructions in the run(s) (run with --save-audio N).</p>'
    parts = []
    for lang in board.langs:
        exs = [x for x in examples if x.lang == lang]
        if not exs:
            continue
        head = "<th>codec</th>" + "".join(
            f'<th>{e(x.utt_id)}<div class="utt-text">{e(x.text)}</div></th>' for x in exs)
        rows = ["<tr><td>reference</td>" + "".join(f"<td>{_audio_tag(x.reference)}</td>" for x in exs) + "</tr>"]
        for codec in board.codecs:
            if not any(codec in x.recon for x in exs):
                continue
            rows.append(f"<tr><td>{e(codec)}</td>" + "".join(
                f"<td>{_audio_tag(x.recon.get(codec))}</td>" for x in exs) + "</tr>")
        parts.append(f"<h3>{e(lang)}</h3><table class=\"examples\"><thead><tr>{head}</tr></thead>"
                     f"<tbody>{''.join(rows)}</tbody></table>")
    return "".join(parts)


def render_html(board: Board, plots, examples: list[Example], contrast_html: str = "") -> str:
    css = (Path(__file__).with_name("leaderboard.css")).read_text(encoding="utf-8")
    js = (Path(__file__).with_name("leaderboard.js")).read_text(encoding="utf-8")
    n_utts = {}
    for run in board.runs:
        for u in run.dataset:
            n_utts[u.get("lang")] = n_utts.get(u.get("lang"), 0) + 1
    runs_txt = ", ".join(e(r.name) for r in board.runs)
    nav = " ".join(f'<a href="#lang-{e(lang)}">{e("all languages" if lang == ALL_LANGS else lang)}</a>'
                   for lang in board.langs)
    sections = []
    for lang in board.langs:
        title = "All languages (pooled)" if lang == ALL_LANGS else f"Language: {lang}"
        sections.append(f'<section id="lang-{e(lang)}"><h2>{e(title)}</h2>{leaderboard_table(board, lang)}</section>')
    figs = []
    for p in plots:
        uri = "data:image/png;base64," + base64.b64encode(p.png.read_bytes()).decode("ascii")
        cap = e(p.title) + (f" — {e(p.caption)}" if p.caption else "")
        figs.append(f'<figure><img alt="{e(p.title)}" src="{uri}"><figcaption>{cap} '
                    f'(files: plots/{e(p.png.name)}, plots/{e(p.svg.name)})</figcaption></figure>')
    utts = ", ".join(f"{e(k)}: {v}" for k, v in sorted(n_utts.items(), key=lambda kv: str(kv[0])))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>codecbench leaderboard</title>
<script>{_ERROR_HOOK}</script>
<style>{css}</style>
</head><body>
<pre id="js-errors" hidden></pre>
<h1>codecbench leaderboard</h1>
<p class="meta">Runs: {runs_txt}. Utterances per language: {utts}. {len(board.codecs)} codecs.
Cells: mean with 95% bootstrap CI in brackets; bold = best reliable value; ↑ higher is better, ↓ lower is better.
Unreliable or failed cells give the reason instead of a number. Click a column header to sort.</p>
<nav>{nav} <a href="#plots">plots</a> <a href="#examples">audio examples</a> <a href="#provenance">metrics</a></nav>
{''.join(sections)}
{f'<section id="contrasts"><h2>Minimal-pair ABX per contrast</h2>{contrast_html}</section>' if contrast_html else ''}
<section id="plots"><h2>Plots</h2>{''.join(figs) or '<p class="meta">No plottable values.</p>'}</section>
<section id="examples"><h2>Audio examples</h2>{examples_section(board, examples)}</section>
<section id="provenance"><h2>Metrics</h2>{provenance_table(board)}</section>
<script>{js}</script>
</body></html>
"""


def build_report(run_dirs: list[str], out: str | Path, examples: int = 2) -> Path:
    """Write index.html, leaderboard.md/.tex and plots/ into ``out``; returns the HTML path."""
    from codecbench.report import contrasts
    from codecbench.report.plots import all_plots

    runs = [Run.open(d) for d in run_dirs]
    board, abx = contrasts.split_board(build_board(runs))  # ABX rows get their own contrast tables
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plots = all_plots(board, out / "plots") + contrasts.contrast_plots(board, abx, out / "plots")
    (out / "leaderboard.md").write_text(markdown_tables(board) + contrasts.markdown_section(board, abx), encoding="utf-8")
    (out / "leaderboard.tex").write_text(latex_tables(board), encoding="utf-8")
    page = out / "index.html"
    page.write_text(render_html(board, plots, choose_examples(board, examples), contrasts.html_section(board, abx)),
                    encoding="utf-8")
    return page


def cmd_report(args: argparse.Namespace) -> int:
    try:
        page = build_report(args.runs, args.out, examples=args.examples)
    except RunError as exc:
        print(f"codecbench report: error: {exc}", file=sys.stderr)
        return 2
    print(page)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("report", help="leaderboard: self-contained HTML page, markdown/LaTeX tables, plots",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folder(s)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--examples", type=int, default=2,
                   help="example utterances per language with audio players (embedded; 0: none; default 2)")
    p.set_defaults(func=cmd_report)
