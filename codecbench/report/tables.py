"""The leaderboard as data: summaries of one or more runs joined, and cells as text (markdown, LaTeX)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from codecbench.report.cells import (
    BITRATE_COLUMNS,
    KEY_METRICS,
    MIN_N_FOR_CI,
    Footnotes,
    fmt_number,
    header_text,
    md_text,
    status_text,
    value_text,
)
from codecbench.report.runs import ALL_LANGS, Run, RunError, is_number

# Metrics shown first when present (the rest follow in the runs' order).
PREFERRED_ORDER = ("pesq_wb", "pesq_nb", "stoi", "estoi", "visqol", "visqol_speech", "si_sdr", "mel_distance",
                   "speaker_sim", "spk_sim", "wer", "cer", "dnsmos_ovrl")
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
    not_computed: dict[str, tuple[str, str]] = field(default_factory=dict)  # metric -> (status, reason): no value anywhere
    mixed: str = ""  # set when runs over different utterance sets are reported together (--allow-mixed)
    partial: list[str] = field(default_factory=list)  # runs still being written or stopped early (Run.partial)
    data_warnings: list[str] = field(default_factory=list)  # the runs' data checks (codecbench.datachecks)
    _standings: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)

    def n_utterances(self) -> dict[str, int]:
        """Unique utterances per language over every run (an utterance in two runs counts once)."""
        ids: dict[str, set[str]] = {}
        for r in self.runs:
            for lang, s in r.utterance_ids().items():
                ids.setdefault(lang, set()).update(s)
        return {lang: len(s) for lang, s in sorted(ids.items())}

    def group_n(self, codec: str, lang: str) -> int:
        """Utterances of the codec in the language (the most any metric saw, failures included)."""
        return max((c.n + c.n_failed for m in self.metrics if (c := self.cell(codec, lang, m)).status != "missing"),
                   default=0)

    def headline(self) -> list[str]:
        """The key metrics shown first (the rest is folded), in KEY_METRICS order."""
        return [m for m in KEY_METRICS if m in self.metrics] or self.metrics[:6]

    def shown_langs(self) -> list[str]:
        """The languages a page, a table set or a plot shows: each language, and the pooled "all" only
        when it pools something (with one language and no row outside it, it repeats that language)."""
        real = [x for x in self.langs if x != ALL_LANGS]
        if len(real) == 1 and all(self.group_n(c, ALL_LANGS) == self.group_n(c, real[0]) for c in self.codecs):
            return real
        return self.langs

    def cell(self, codec: str, lang: str, metric: str) -> Cell:
        return self.cells.get((codec, lang, metric)) or Cell(None, None, None, 0, 0, "missing", "not in the run")

    def standing(self, lang: str, metric: str):
        """The column leader against the runner-up with its paired evidence (report/standings.py), or None."""
        if (lang, metric) not in self._standings:
            from codecbench.report.standings import leader_standing

            self._standings[(lang, metric)] = leader_standing(self, lang, metric)
        return self._standings[(lang, metric)]

    def best(self, lang: str, metric: str) -> str | None:
        """The codec marked best: the leader, only when significantly better than the runner-up (paired
        sign-flip p < 0.05 over the utterances both scored). None otherwise, or without a direction."""
        s = self.standing(lang, metric)
        return s.candidate if s is not None and s.differences[0].outcome(s.alpha) == "better" else None

    def rate_kbps(self, codec: str, lang: str = ALL_LANGS) -> tuple[float | None, str]:
        """(kbps, source): measured bitrate in ``lang`` (default: pooled) when the run has it, else nominal."""
        for m in BITRATE_COLUMNS:
            c = self.cell(codec, lang, m)
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


def _cell(rec: dict[str, Any]) -> Cell:
    """A summary.csv record as a cell (an "ok" record without a mean is a failure, never a blank)."""
    status = str(rec.get("status") or "ok")
    mean = _num(rec.get("mean"))
    return Cell(mean, _num(rec.get("ci_low")), _num(rec.get("ci_high")), int(_num(rec.get("n")) or 0),
                int(_num(rec.get("n_failed")) or 0), "failed" if status == "ok" and mean is None else status,
                str(rec.get("note") or ""))


@dataclass
class _Join:
    """What ``build_board`` gathers over the runs, in their order."""

    codecs: list[str] = field(default_factory=list)
    codec_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    cells: dict[tuple[str, str, str], Cell] = field(default_factory=dict)
    metric_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    metric_order: list[str] = field(default_factory=list)
    langs: list[str] = field(default_factory=list)

    def add_metric(self, name: str) -> None:
        if name not in self.metric_order:
            self.metric_order.append(name)

    def add_run(self, r: Run, label) -> None:
        for name, o in r.outputs().items():
            self.metric_info.setdefault(name, {"higher_is_better": o.higher_is_better, "unit": o.unit,
                                               "metric": o.metric, "unavailable": o.unavailable,
                                               **_provenance(r.metrics.get(o.metric, {}))})
            self.add_metric(name)
        df = r.summary()
        for codec in df["codec"].unique():
            if label(codec) not in self.codec_info:
                self.codecs.append(label(codec))
                self.codec_info[label(codec)] = {**r.codecs.get(codec, {}), "run": r.name, "codec": codec}
        for rec in df.to_dict("records"):
            lang, metric = str(rec["lang"]), rec["metric"]
            if lang != ALL_LANGS and lang not in self.langs:
                self.langs.append(lang)
            self.add_metric(metric)
            info = self.metric_info.setdefault(metric, {})
            info.setdefault("higher_is_better", _bool_or_none(rec.get("higher_is_better")))
            info.setdefault("unit", rec["unit"] if isinstance(rec.get("unit"), str) else "")
            self.cells[(label(rec["codec"]), lang, metric)] = _cell(rec)

    def add_unavailable(self, r: Run) -> None:
        """Metrics unavailable in a run have no summary rows: say why in every cell of its codecs."""
        for name, o in r.outputs().items():
            if not o.unavailable:
                continue
            for label in [lb for lb, ci in self.codec_info.items() if ci["run"] == r.name]:
                for lang in [*self.langs, ALL_LANGS]:
                    self.cells.setdefault((label, lang, name), Cell(None, None, None, 0, 0, "unavailable", o.unavailable))

    def not_computed(self, present: set[str]) -> dict[str, tuple[str, str]]:
        """Metrics without a value anywhere but unavailable or failed somewhere: (status, reason) of the first."""
        out = {}
        for m in self.metric_order:
            bad = [c for (_, _, mm), c in self.cells.items() if mm == m and c.status in ("unavailable", "failed")]
            if m not in present and bad:
                out[m] = (bad[0].status, bad[0].note)
        return out


def build_board(runs: list[Run], select: list[str] | None = None, mixed: str = "") -> Board:
    """Join the summaries of the runs; codec names seen in several runs get ' (run)' appended.

    ``select``: output or metric names to keep (default: every metric with a value somewhere)."""
    seen = Counter(c for r in runs for c in r.summary()["codec"].unique())
    join = _Join()
    for r in runs:
        join.add_run(r, lambda codec, r=r: codec if seen[codec] == 1 else f"{codec} ({r.name})")
    for r in runs:
        join.add_unavailable(r)
    # a column needs a value somewhere: all-n/a metrics are dropped, all-unavailable/failed ones listed once;
    # data checks describe the references, not the codecs: warnings instead of columns
    checks = {name for r in runs for name, o in r.outputs().items() if r.metrics.get(o.metric, {}).get("data_check")}
    present = {m for (_, _, m), c in join.cells.items() if c.status in ("ok", "unreliable") and m not in checks}
    not_computed = join.not_computed(present)
    order, info = join.metric_order, join.metric_info
    if select:
        unknown = [m for m in select if m not in order and not any(i.get("metric") == m for i in info.values())]
        if unknown:
            raise RunError(f"unknown metric(s) {', '.join(unknown)} (known: {', '.join(order)})")
        chosen = [m for m in order if m in select or info.get(m, {}).get("metric") in select]
        present &= set(chosen)
        not_computed = {m: r for m, r in not_computed.items() if m in chosen}
    metrics = [m for m in PREFERRED_ORDER if m in present] + [m for m in order if m in present
                                                               and m not in PREFERRED_ORDER]
    partial = [why for r in runs for why in r.partial()]
    return Board(runs, join.codecs, join.codec_info, sorted(join.langs) + [ALL_LANGS], metrics, info, join.cells,
                 not_computed, mixed, partial, data_warnings=_data_warnings(runs))


def _data_warnings(runs: list[Run]) -> list[str]:
    from codecbench.datachecks import messages, read

    out = []
    for r in runs:
        out += [(f"{r.name}: " if len(runs) > 1 else "") + m for m in messages(read(r.dir))]
    return list(dict.fromkeys(out))


def _provenance(m: dict[str, Any]) -> dict[str, Any]:
    return {k: m.get(k) for k in ("library", "version", "mode", "model", "sample_rate")}


def cell_text(board: Board, c: Cell, metric: str, notes: Footnotes | None = None, with_ci: bool = True) -> str:
    """A cell as plain text in display units: 'mean [lo, hi]', or the status (its reason as a footnote
    mark when ``notes`` is given, else written out). Never a number for a cell without a value."""
    unit = board.metric_info.get(metric, {}).get("unit")
    if c.has_value:
        return value_text(c.mean, c.ci_low if with_ci else None, c.ci_high if with_ci else None, c.n, unit)
    if notes is not None:
        return status_text(c.status, c.note, notes)
    if c.status == "n/a" or not c.note:
        return c.status
    return c.note if c.note.startswith(c.status) else f"{c.status}: {c.note}"


def metric_header(board: Board, metric: str) -> str:
    i = board.metric_info.get(metric, {})
    return header_text(metric, i.get("unit"), i.get("higher_is_better"))


def rate_text(board: Board, codec: str) -> str:
    info = board.codec_info.get(codec, {})
    kbps, source = board.rate_kbps(codec)
    if kbps is not None:
        return f"{fmt_number(kbps)}" + ("" if source == "measured" else " (nominal)")
    if is_number(info.get("latent_rate")):
        return f"{float(info['latent_rate']):g} values/s (continuous)"
    return "–"


def _md_table(board: Board, lang: str, metrics: list[str], notes: Footnotes) -> list[str]:
    head = ["codec", "kbps", "n", *[metric_header(board, m) for m in metrics]]
    out = ["| " + " | ".join(md_text(h) for h in head) + " |", "|---|---:|---:|" + "---:|" * len(metrics)]
    for codec in board.codecs:
        cells = []
        for m in metrics:
            t = cell_text(board, board.cell(codec, lang, m), m, notes)  # numbers, or a status and its footnote mark
            cells.append(f"**{t}**" if board.best(lang, m) == codec else t)
        out.append("| " + " | ".join([md_text(codec), md_text(rate_text(board, codec)), str(board.group_n(codec, lang)), *cells])
                   + " |")
    return out


def standing_lines(board: Board, lang: str, metrics: list[str]) -> list[str]:
    """One line of evidence per metric with a leader (report/standings.py)."""
    from codecbench.report.standings import short_text

    return [short_text(s) for m in metrics if (s := board.standing(lang, m)) is not None]


def markdown_tables(board: Board) -> str:
    """Per language, the headline metrics; the rest folded; reasons as footnotes (each once)."""
    notes = Footnotes()
    counts = ", ".join(f"{k}: {v}" for k, v in board.n_utterances().items())
    out = ["# codecbench leaderboard", "",
           f"Runs: {', '.join(md_text(r.name) for r in board.runs)}. Unique utterances per language: {md_text(counts)}. "
           "Cells: mean "
           f"[95% bootstrap CI] (no CI for n < {MIN_N_FOR_CI}); bold = best, significantly better than the runner-up "
           "(paired sign-flip p < 0.05; the evidence is listed under each table); ↑ higher is better, ↓ lower is better; "
           "cells without a value give their status, the reason is a footnote.", ""]
    for why in board.partial:
        out += [f"> **Warning:** {md_text(why)}", ""]
    if board.mixed:
        out += [f"> **Warning:** {md_text(board.mixed)}", ""]
    if board.data_warnings:
        out += ["Data checks (each run's data_checks.json):", "", *[f"- ⚠️ {md_text(w)}" for w in board.data_warnings], ""]
    if board.not_computed:
        out += ["Not computed: " + ", ".join(f"{md_text(m)} ({status_text(st, why, notes)})"
                                            for m, (st, why) in board.not_computed.items()) + ".", ""]
    head = board.headline()
    rest = [m for m in board.metrics if m not in head]
    for lang in board.shown_langs():
        out += [f"## {'All languages (pooled)' if lang == ALL_LANGS else 'Language: ' + md_text(lang)}", ""]
        out += _md_table(board, lang, head, notes) + [""]
        standings = standing_lines(board, lang, head)
        if standings:
            out += ["Leader against runner-up (mean paired difference [95% CI], two-sided sign-flip p):", "",
                    *[f"- {md_text(t)}" for t in standings], ""]
        if rest:
            out += [f"<details><summary>{len(rest)} more metric{'s' if len(rest) > 1 else ''}</summary>", ""]
            for k in range(0, len(rest), 6):
                out += _md_table(board, lang, rest[k:k + 6], notes) + [""]
            out += ["</details>", ""]
    return "\n".join(out + notes.markdown()) + "\n"

