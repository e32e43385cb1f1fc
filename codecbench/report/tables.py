"""The leaderboard as data: summaries of one or more runs joined, and cells as text (markdown, LaTeX)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from codecbench.report.runs import ALL_LANGS, Run, is_number

# Metrics shown first when present (the rest follow in the runs' order).
PREFERRED_ORDER = ("pesq_wb", "pesq_nb", "stoi", "estoi", "visqol", "visqol_speech", "si_sdr", "mel_distance",
                   "speaker_sim", "spk_sim", "wer", "cer", "dnsmos_ovrl")
BITRATE_COLUMNS = ("bitrate_measured", "bitrate_kbps", "bitrate")  # first present wins
_TO_KBPS = {"bit/s": 1e-3, "bps": 1e-3, "b/s": 1e-3, "kbit/s": 1.0, "kbps": 1.0}


@dataclass
class Cell:
    """One (codec, language, metric) figure, or why there is none."""

    mean: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    n_failed: int
    status: str  # "ok" | "unreliable" | "failed" | "missing" | "unavailable"
    note: str

    @property
    def has_value(self) -> bool:
        return self.status == "ok" and self.mean is not None


@dataclass
class Board:
    """Everything the report renders: codecs (labels), languages, metrics and their cells."""

    runs: list[Run]
    codecs: list[str]  # display labels, unique across runs
    codec_info: dict[str, dict[str, Any]]  # label -> codecs.json entry (+ "run", "codec")
    langs: list[str]  # languages, then "all"
    metrics: list[str]
    metric_info: dict[str, dict[str, Any]]  # output name -> {higher_is_better, unit, library, ...}
    cells: dict[tuple[str, str, str], Cell]  # (label, lang, metric)

    def cell(self, codec: str, lang: str, metric: str) -> Cell:
        return self.cells.get((codec, lang, metric)) or Cell(None, None, None, 0, 0, "missing", "not in the run")

    def best(self, lang: str, metric: str) -> str | None:
        """The codec with the best reliable mean (None when the metric has no direction)."""
        hib = self.metric_info[metric].get("higher_is_better")
        if hib is None:
            return None
        vals = [(self.cell(c, lang, metric).mean, c) for c in self.codecs if self.cell(c, lang, metric).has_value]
        if len(vals) < 2:
            return None
        return (max(vals) if hib else min(vals))[1]

    def rate_kbps(self, codec: str) -> tuple[float | None, str]:
        """(kbps, source): measured bitrate over all languages when the run has it, else the nominal one."""
        for m in BITRATE_COLUMNS:
            c = self.cell(codec, ALL_LANGS, m)
            unit = str(self.metric_info.get(m, {}).get("unit") or "").lower()
            if c.has_value and unit in _TO_KBPS:
                return c.mean * _TO_KBPS[unit], "measured"
        nominal = self.codec_info.get(codec, {}).get("nominal_bitrate")
        if is_number(nominal):
            return float(nominal) / 1000.0, "nominal"
        return None, ""


def _bool_or_none(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    return True if s in ("true", "1", "1.0") else False if s in ("false", "0", "0.0") else None


def _num(v: Any) -> float | None:
    return float(v) if is_number(v) else None


def build_board(runs: list[Run]) -> Board:
    """Join the summaries of the runs; codec names seen in several runs get ' (run)' appended."""
    seen: dict[str, int] = {}
    for r in runs:
        for c in r.summary()["codec"].unique():
            seen[c] = seen.get(c, 0) + 1
    codecs: list[str] = []
    codec_info: dict[str, dict[str, Any]] = {}
    cells: dict[tuple[str, str, str], Cell] = {}
    metric_info: dict[str, dict[str, Any]] = {}
    metric_order: list[str] = []
    langs: list[str] = []
    for r in runs:
        outputs = r.outputs()
        for name, o in outputs.items():
            metric_info.setdefault(name, {"higher_is_better": o.higher_is_better, "unit": o.unit, "metric": o.metric,
                                          "unavailable": o.unavailable, **_provenance(r.metrics.get(o.metric, {}))})
            if name not in metric_order:
                metric_order.append(name)
        df = r.summary()
        for codec in df["codec"].unique():
            label = codec if seen[codec] == 1 else f"{codec} ({r.name})"
            if label in codec_info:
                continue
            codecs.append(label)
            codec_info[label] = {**r.codecs.get(codec, {}), "run": r.name, "codec": codec}
        for rec in df.to_dict("records"):
            codec, lang, metric = rec["codec"], str(rec["lang"]), rec["metric"]
            label = codec if seen[codec] == 1 else f"{codec} ({r.name})"
            if lang != ALL_LANGS and lang not in langs:
                langs.append(lang)
            if metric not in metric_order:
                metric_order.append(metric)
            info = metric_info.setdefault(metric, {})
            info.setdefault("higher_is_better", _bool_or_none(rec.get("higher_is_better")))
            info.setdefault("unit", rec["unit"] if isinstance(rec.get("unit"), str) else "")
            status = str(rec.get("status") or "ok")
            cells[(label, lang, metric)] = Cell(_num(rec.get("mean")), _num(rec.get("ci_low")), _num(rec.get("ci_high")),
                                                int(_num(rec.get("n")) or 0), int(_num(rec.get("n_failed")) or 0),
                                                status, str(rec.get("note") or ""))
            if status == "ok" and _num(rec.get("mean")) is None:
                cells[(label, lang, metric)].status = "failed"
    # metrics unavailable in a run have no summary rows: say why in every cell
    for r in runs:
        for name, o in r.outputs().items():
            if o.unavailable:
                for label, ci in codec_info.items():
                    if ci["run"] != r.name:
                        continue
                    for lang in [*langs, ALL_LANGS]:
                        cells.setdefault((label, lang, name), Cell(None, None, None, 0, 0, "unavailable", o.unavailable))
    present = {m for (_, _, m), c in cells.items() if c.status not in ("n/a", "missing")}  # drop all-n/a columns
    metrics = [m for m in PREFERRED_ORDER if m in present] + [m for m in metric_order if m in present
                                                               and m not in PREFERRED_ORDER]
    langs = sorted(langs) + [ALL_LANGS]
    return Board(runs, codecs, codec_info, langs, metrics, metric_info, cells)


def _provenance(m: dict[str, Any]) -> dict[str, Any]:
    return {k: m.get(k) for k in ("library", "version", "mode", "model", "sample_rate")}


def fmt_number(v: float | None, ref: float | None = None) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    a = abs(ref if ref is not None else v)
    digits = 1 if a >= 100 else 2 if a >= 10 else 3
    return f"{v:.{digits}f}"


def cell_text(c: Cell, with_ci: bool = True) -> str:
    """A cell as plain text: 'mean [lo, hi]', or the status with its reason (never a number)."""
    if c.has_value:
        if with_ci and c.ci_low is not None and c.ci_high is not None:
            return f"{fmt_number(c.mean)} [{fmt_number(c.ci_low, c.mean)}, {fmt_number(c.ci_high, c.mean)}]"
        return fmt_number(c.mean)
    if c.status == "n/a":  # the metric does not apply (e.g. codebook usage of Opus); the reason is a tooltip
        return "n/a"
    if not c.note:
        return c.status
    return c.note if c.note.startswith(c.status) else f"{c.status}: {c.note}"


def metric_header(board: Board, metric: str) -> str:
    hib = board.metric_info.get(metric, {}).get("higher_is_better")
    return metric + (" ↑" if hib is True else " ↓" if hib is False else "")


def rate_text(board: Board, codec: str) -> str:
    info = board.codec_info.get(codec, {})
    kbps, source = board.rate_kbps(codec)
    if kbps is not None:
        return f"{fmt_number(kbps)}" + ("" if source == "measured" else " (nominal)")
    if is_number(info.get("latent_rate")):
        return f"{float(info['latent_rate']):g} values/s (continuous)"
    return "–"


def markdown_tables(board: Board) -> str:
    """One markdown table per language: codecs down, metrics across, 'mean [95% CI]' or the reason."""
    out = ["# codecbench leaderboard", "",
           f"Runs: {', '.join(r.name for r in board.runs)}. Cells: mean [95% bootstrap CI]; "
           "unreliable or failed cells give the reason instead of a number. ↑ higher is better, ↓ lower is better.", ""]
    for lang in board.langs:
        out += [f"## {'All languages' if lang == ALL_LANGS else 'Language: ' + lang}", ""]
        head = ["codec", "kbps", *[metric_header(board, m) for m in board.metrics]]
        out.append("| " + " | ".join(_md(h) for h in head) + " |")
        out.append("|" + "---|" * len(head))
        for codec in board.codecs:
            cells = []
            for m in board.metrics:
                t = _md(cell_text(board.cell(codec, lang, m)))
                cells.append(f"**{t}**" if board.best(lang, m) == codec else t)
            out.append("| " + " | ".join([_md(codec), _md(rate_text(board, codec)), *cells]) + " |")
        out.append("")
    return "\n".join(out)


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "<": r"\textless{}", ">": r"\textgreater{}", "↑": r"$\uparrow$", "↓": r"$\downarrow$",
                  "–": "--"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def latex_tables(board: Board) -> str:
    """One booktabs table per language (needs \\usepackage{booktabs})."""
    out = ["% codecbench leaderboard; needs \\usepackage{booktabs}. Cells: mean [95% bootstrap CI]."]
    for lang in board.langs:
        title = "all languages" if lang == ALL_LANGS else f"language {lang}"
        out += [r"\begin{table}[t]", r"\centering", r"\small",
                rf"\caption{{Codec leaderboard, {latex_escape(title)} (mean [95\% CI]).}}",
                rf"\label{{tab:codecbench-{latex_escape(lang)}}}",
                r"\begin{tabular}{l r " + "l " * len(board.metrics) + "}", r"\toprule",
                " & ".join(["Codec", "kbps", *[latex_escape(metric_header(board, m)) for m in board.metrics]]) + r" \\",
                r"\midrule"]
        for codec in board.codecs:
            cells = []
            for m in board.metrics:
                t = latex_escape(cell_text(board.cell(codec, lang, m)))
                cells.append(rf"\textbf{{{t}}}" if board.best(lang, m) == codec else t)
            out.append(" & ".join([latex_escape(codec), latex_escape(rate_text(board, codec)), *cells]) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(out)
