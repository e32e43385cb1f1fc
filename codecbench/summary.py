"""Per-(codec, language, metric) summaries with 95% bootstrap CIs, and every metric's corpus-level figures.

summary.csv columns (``codecbench.rows.SUMMARY_COLUMNS``): codec, lang, metric, n, n_failed, mean,
ci_low, ci_high, std, status, note, higher_is_better, unit, library, version, mode, model,
metric_sample_rate, codec_family, codec_nominal_bitrate, codec_latent_rate. ``lang == "all"`` pools
every language.

A metric whose model declares ``trained_languages`` (metrics.json; e.g. UTMOS: English) keeps its
figures in other languages, and their ``note`` says the model was not trained on them.

status (from the rows' failure kinds, ``codecbench.types.FailureKind``): "ok"; "unreliable" when at
least UNRELIABLE_SHARE of the rows were flagged unreliable (e.g. wrong-script ASR) — then no mean is
reported; "unavailable" when the metric could not run here (model or package missing); "n/a" when the
metric does not apply to the codec; "failed" when no row produced a value. ``note`` holds the most
common failure reason.

Corpus-level figures come from the metrics themselves (``Metric.aggregate``: corpus WER/CER, ABX,
pooled codebook utilization, ...): ``build`` calls each metric of the run once, with its own side
records, and appends its summary rows; ``write_summaries`` writes its files and summary.md tables.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from codecbench.metrics.corpus import Aggregate, Table
from codecbench.metrics.language import group_note
from codecbench.report.cells import (
    BITRATE_COLUMNS,
    KEY_METRICS,
    MIN_N_FOR_CI,
    Footnotes,
    header_text,
    md_text,
    status_text,
    value_text,
)
from codecbench.rows import SUMMARY_COLUMNS, UNRELIABLE_SHARE, SummaryRow, summary_frame
from codecbench.stats import bootstrap_ci
from codecbench.store import (
    CODECS,
    CONFIG,
    DATASET,
    FAILURE_SUFFIX,
    KIND_SUFFIX,
    METRICS,
    SUMMARY_CSV,
    SUMMARY_MD,
    RunFolder,
)
from codecbench.types import FailureKind

__all__ = ["SUMMARY_COLUMNS", "UNRELIABLE_SHARE", "build", "markdown", "results_table", "summarize", "write_summaries"]

MD_COLUMNS = 6  # metric columns per markdown table: keeps summary.md lines short


def _status(values: np.ndarray, reasons: list[str], kinds: list[str]) -> tuple[str, str]:
    """(status, most common reason) of one group; ``reasons``/``kinds`` hold only the failed rows."""
    note = Counter(reasons).most_common(1)[0][0] if reasons else ""
    total = len(values)
    unreliable = [r for r, k in zip(reasons, kinds, strict=True) if k == FailureKind.UNRELIABLE.value]
    if total and len(unreliable) / total >= UNRELIABLE_SHARE:
        return "unreliable", Counter(unreliable).most_common(1)[0][0]
    if np.isfinite(values).sum() == 0:
        if kinds and all(k == FailureKind.NOT_APPLICABLE.value for k in kinds):
            return "n/a", note
        if kinds and all(k == FailureKind.UNAVAILABLE.value for k in kinds):
            return "unavailable", note
        return "failed", note
    return "ok", note


def summarize(rows: pd.DataFrame, metrics_meta: dict, codecs_meta: dict) -> pd.DataFrame:
    out = []
    langs = sorted(x for x in rows["lang"].dropna().unique() if x)
    # each (codec, language) group's row positions, found once (slicing the whole frame per output
    # and group took seconds on a default run)
    lang_col = rows["lang"]
    groups: list[tuple[str, str, np.ndarray, list]] = []  # (codec, lang, row positions, the rows' languages)
    grouped = rows.groupby("codec", sort=False)
    listed = {c: k for k, c in enumerate(codecs_meta)}  # the run's codec order (codecs.json), not the rows'
    for codec in sorted((c for c, _ in grouped), key=lambda c: listed.get(c, len(listed))):
        at = np.asarray(grouped.indices[codec])  # positions, in the rows' order
        codec_langs = lang_col.iloc[at]
        for lang in [*langs, "all"]:
            pos = at if lang == "all" else at[(codec_langs == lang).to_numpy()]
            if len(pos):
                groups.append((codec, lang, pos, list(lang_col.iloc[pos].unique())))
    for meta in metrics_meta.values():
        for o in meta["outputs"]:
            col = o["name"]
            if col not in rows.columns:
                continue
            values = rows[col].to_numpy(dtype=np.float64)
            failures = rows[col + FAILURE_SUFFIX]
            failed_all = (failures.fillna("").astype(str) != "").to_numpy()
            failure_text, kind_text = failures.astype(str).to_numpy(), rows[col + KIND_SUFFIX].astype(str).to_numpy()
            for codec, lang, pos, group_langs in groups:
                cinfo = codecs_meta.get(codec, {})
                vals = values[pos]
                failed = pos[failed_all[pos]]
                reasons, kinds = list(failure_text[failed]), list(kind_text[failed])
                status, note = _status(vals, reasons, kinds)
                trained = group_note(meta.get("name", ""), meta.get("trained_languages"),
                                     group_langs)  # metrics.json: a model's languages
                if trained and status == "ok":
                    note = f"{note}; {trained}" if note else trained
                ok = vals[np.isfinite(vals)]
                report = status == "ok" and len(ok) > 0
                lo, hi = bootstrap_ci(ok) if report else (np.nan, np.nan)
                out.append(SummaryRow.of(
                    codec, lang, col, meta, cinfo, higher_is_better=o.get("higher_is_better"), unit=o.get("unit", ""),
                    n=int(len(ok)), n_failed=len(reasons), mean=float(ok.mean()) if report else np.nan, ci_low=lo,
                    ci_high=hi, std=float(ok.std(ddof=1)) if report and len(ok) > 1 else np.nan, status=status,
                    note=note))
    return summary_frame(out)


def _present(records: list[dict[str, Any]], rows: pd.DataFrame) -> list[dict[str, Any]]:
    """The side records of rows that are in ``rows`` (a report may keep only some utterances)."""
    if rows.empty or not records:
        return []
    present = set(zip(rows["codec"], rows["utt_id"], strict=True))
    return [r for r in records if (r.get("codec"), r.get("utt_id")) in present]


def aggregates(folder: RunFolder, rows: pd.DataFrame, metrics_meta: dict, codecs_meta: dict) -> list[Aggregate]:
    """Every corpus-level aggregate of the run's metrics (those registered here), each metric called once
    with its options from metrics.json and the records of its own side streams."""
    from codecbench.metrics.base import has_aggregate
    from codecbench.metrics.corpus import Corpus
    from codecbench.metrics.registry import configured

    out: list[Aggregate] = []
    dataset: list[dict[str, Any]] | None = None
    for name, meta in metrics_meta.items():
        metric = configured(name, meta.get("options"))
        if metric is None or not has_aggregate(metric):
            continue
        if dataset is None:
            dataset = folder.read_json(DATASET, [])
        records = {s: _present(folder.records(s), rows) for s in metric.streams}
        agg = metric.aggregate(Corpus(folder, rows, meta, codecs_meta, dataset, records))
        if agg is not None:
            agg.metric = name
            out.append(agg)
    return out


def build(folder: RunFolder | str | Path, rows: pd.DataFrame | None = None, metrics_meta: dict | None = None,
          codecs_meta: dict | None = None) -> tuple[pd.DataFrame, list[Aggregate]]:
    """The summary of a run folder (``rows``: these rows instead of all of them): per-output rows, then
    every metric's corpus-level rows; and the aggregates (their files and tables)."""
    folder = folder if isinstance(folder, RunFolder) else RunFolder(folder)
    rows = folder.frame() if rows is None else rows
    metrics_meta = folder.read_json(METRICS) if metrics_meta is None else metrics_meta
    codecs_meta = folder.read_json(CODECS, {}) if codecs_meta is None else codecs_meta
    summary = summarize(rows, metrics_meta, codecs_meta)
    aggs = aggregates(folder, rows, metrics_meta, codecs_meta)
    corpus = [r for a in aggs for r in a.rows]
    if corpus:
        summary = pd.concat([summary, summary_frame(corpus)], ignore_index=True)
    return summary, aggs


def _cell(r: dict[str, Any], notes: Footnotes, group_n: int) -> str:
    """One summary row as a markdown cell: value [CI] in display units, or its status with a footnote."""
    n, n_failed = int(r["n"]), int(r["n_failed"])
    note = r["note"] if isinstance(r["note"], str) else ""
    if r["status"] != "ok" or not np.isfinite(r["mean"]):
        return status_text(str(r["status"]), note, notes)
    text = value_text(r["mean"], r["ci_low"], r["ci_high"], n, r["unit"])
    if n_failed and note:
        text += f" ({n_failed} failed[^{notes.ref(note, 'failed')}])"
    elif n < group_n:
        text += f" (n={n})"
    if note and not n_failed:  # a note on a complete figure (a model trained on other languages)
        text += f"[^{notes.ref(note, 'note')}]"
    return text


def _shown_metrics(summary: pd.DataFrame, metrics_meta: dict | None = None) -> tuple[list[str], list[str]]:
    """(metrics with a column, metrics with no value anywhere in the run: unavailable or n/a throughout).
    Data checks (``MetricInfo.data_check``: the reference, not the codec) get no codec column."""
    checks = {o["name"] for m in (metrics_meta or {}).values() if m.get("data_check") for o in m.get("outputs", [])}
    names = [m for m in dict.fromkeys(summary["metric"]) if m not in checks]
    empty = [m for m in names if summary.loc[summary["metric"] == m, "status"].isin(["unavailable", "n/a"]).all()]
    return [m for m in names if m not in empty], empty


def _table(t: Table) -> list[str]:
    align = t.align or "ll" + "r" * max(0, len(t.columns) - 2)
    return [f"## {md_text(t.title)}", "", "| " + " | ".join(md_text(c) for c in t.columns) + " |",
            "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|",
            *["| " + " | ".join(md_text(c) for c in r) + " |" for r in t.rows], ""]


def markdown(summary: pd.DataFrame, tables: list[Table] | None, metrics_meta: dict, codecs_meta: dict,
             run_id: str, checks: dict | None = None) -> str:
    """summary.md: the data checks (codecbench.datachecks), then per language, tables of at most MD_COLUMNS
    metrics, then the metrics' corpus-level ``tables``; every reason once, as a footnote."""
    from codecbench.datachecks import markdown as checks_markdown

    notes = Footnotes()
    shown, empty = _shown_metrics(summary, metrics_meta)
    lines = [f"# codecbench run {md_text(run_id)}", "",
             f"Mean [95% bootstrap CI] per codec and language (no CI for n < {MIN_N_FOR_CI}); n = utterances of the "
             "codec in the language, a cell with fewer values says so. ↑ higher is better, ↓ lower is better; "
             "reasons are footnotes.", ""]
    if empty:
        lines += ["Not computed in this run: " + ", ".join(_empty_groups(summary, empty, metrics_meta, notes)) + ".", ""]
    lines += checks_markdown(checks or {})
    units = {m: g["unit"].iloc[0] for m, g in summary.groupby("metric", sort=False)}
    hib = {m: _hib(g["higher_is_better"].iloc[0]) for m, g in summary.groupby("metric", sort=False)}
    for lang in [*sorted(x for x in summary["lang"].unique() if x != "all"), "all"]:
        sub = summary[summary["lang"] == lang]
        cols = [m for m in shown if m in set(sub["metric"])]
        if sub.empty or not cols:
            continue
        by_key = {(r["codec"], r["metric"]): r for r in sub.to_dict("records")}
        group_n = (sub["n"] + sub["n_failed"]).groupby(sub["codec"], sort=False).max()
        lines += [f"## {'all languages (pooled)' if lang == 'all' else md_text(lang)}", ""]
        for k in range(0, len(cols), MD_COLUMNS):
            chunk = cols[k:k + MD_COLUMNS]
            lines += ["| codec | n | " + " | ".join(md_text(header_text(c, units[c], hib[c])) for c in chunk) + " |",
                      "|---|---:|" + "---:|" * len(chunk)]
            for codec, gn in group_n.items():
                cells = [_cell(by_key[(codec, c)], notes, int(gn)).replace("|", "\\|") if (codec, c) in by_key else ""
                         for c in chunk]
                lines.append(f"| {md_text(codec)} | {int(gn)} | " + " | ".join(cells) + " |")
            lines.append("")
    for t in tables if isinstance(tables, list) else []:  # (a DataFrame: the former codebook argument)
        lines += _table(t)
    lines += ["## Metrics", "", "| metric | library | version | mode | model | sample rate |", "|---|---|---|---|---|---|"]
    for name, m in metrics_meta.items():
        extra = f" (unavailable[^{notes.ref(m['unavailable'], 'unavailable')}])" if m.get("unavailable") else ""
        lines.append(f"| {md_text(name)}{extra} | {md_text(m.get('library'))} | {md_text(m.get('version'))} | "
                     f"{md_text(m.get('mode') or '')} | {md_text(m.get('model') or '')} | {m.get('sample_rate') or 'source'} |")
    if codecs_meta:
        lines += ["", "## Codecs", "", "| codec | family | sample rate | frame rate | nominal bitrate (kbps) | latent rate |",
                  "|---|---|---|---|---|---|"]
    for name, c in codecs_meta.items():
        kbps = value_text(c["nominal_bitrate"], None, None, 0, "bit/s") if c.get("nominal_bitrate") else ""
        lines.append(f"| {md_text(name)} | {md_text(c.get('family'))} | {c.get('sample_rate')} | {c.get('frame_rate') or ''} | "
                     f"{kbps} | {c.get('latent_rate') or ''} |")
    if notes.reasons:
        lines += ["", *notes.markdown()]
    return "\n".join(lines) + "\n"



def _hib(v) -> bool | None:
    return v if isinstance(v, bool) else {"true": True, "false": False}.get(str(v).strip().lower())


def _empty_groups(summary: pd.DataFrame, empty: list[str], metrics_meta: dict, notes: Footnotes) -> list[str]:
    """The "Not computed" entries: an output each, or one entry for a metric whose outputs (three or
    more) all lack a value for the same reason ("token_stability's 8 outputs (n/a)")."""
    owner = {o["name"]: name for name, m in metrics_meta.items()
             for o in [*m.get("outputs", []), *(m.get("corpus_outputs") or [])]}
    groups: dict[str, list[str]] = {}
    for out in empty:
        groups.setdefault(owner.get(out, out), []).append(out)
    texts = []
    for metric, outs in groups.items():
        keys = {(tuple(summary.loc[summary["metric"] == o, "status"].unique()),
                 next((x for x in summary.loc[summary["metric"] == o, "note"] if isinstance(x, str) and x), ""))
                for o in outs}
        if len(outs) >= 3 and len(keys) == 1:
            texts.append(_empty_text(summary, outs[0], notes).replace(md_text(outs[0]),
                                                                      f"{md_text(metric)}'s {len(outs)} outputs", 1))
        else:
            texts += [_empty_text(summary, o, notes) for o in outs]
    return texts


def _empty_text(summary: pd.DataFrame, metric: str, notes: Footnotes, marker: str = "md") -> str:
    g = summary[summary["metric"] == metric]
    status = g["status"].iloc[0] if g["status"].nunique() == 1 else "unavailable or n/a"
    note = next((x for x in g["note"] if isinstance(x, str) and x), "")
    name = md_text(metric) if marker == "md" else metric
    return f"{name} ({status_text(status, note, notes, marker) if note else status})"


def results_table(run_dir: str | Path, metrics: tuple[str, ...] = KEY_METRICS) -> str:
    """A compact plain-text table for the end of ``run``: mean per codec and language of the key metrics
    that have a value somewhere in the run and the measured bitrate, reasons numbered below (summary.md
    has the CIs and the rest)."""
    run_dir = Path(run_dir)
    summary = pd.read_csv(run_dir / SUMMARY_CSV, keep_default_na=False, na_values=[""])
    shown, empty = _shown_metrics(summary, RunFolder(run_dir).read_json(METRICS, {}))
    cols = [m for m in metrics if m in shown] or shown[:6]
    cols += [m for m in BITRATE_COLUMNS if m in shown][:1]
    notes = Footnotes()
    skipped = [_empty_text(summary, m, notes, "plain") for m in metrics if m in empty]  # numbered first
    head = ["codec", "lang", "n"]
    units = {m: g["unit"].iloc[0] for m, g in summary.groupby("metric", sort=False)}
    head += [header_text(m, units[m], _hib(summary.loc[summary["metric"] == m, "higher_is_better"].iloc[0])) for m in cols]
    body = []
    for (codec, lang), g in summary.groupby(["codec", "lang"], sort=False):
        by = {r["metric"]: r for r in g.to_dict("records")}
        cells = []
        for m in cols:
            r = by.get(m)
            if r is None:
                cells.append("")
            elif r["status"] == "ok" and np.isfinite(r["mean"]):
                cells.append(value_text(r["mean"], None, None, 0, r["unit"]))
            else:
                cells.append(status_text(str(r["status"]), r["note"] if isinstance(r["note"], str) else "", notes, "plain"))
        body.append([str(codec), str(lang), str(int((g["n"] + g["n_failed"]).max())), *cells])
    order = {lang: i for i, lang in enumerate(sorted(set(summary["lang"]) - {"all"}) + ["all"])}
    body.sort(key=lambda row: (order.get(row[1], 0), row[1]))
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=False)]
    fmt = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
           for row in [head, *body]]
    out = [fmt[0], "-" * len(fmt[0]), *fmt[1:]]
    if skipped:
        out.append("not computed: " + ", ".join(skipped))
    out += [f"({k}) {kind}: {reason}" for k, kind, reason in notes.items()]
    from codecbench.datachecks import messages, read

    out += [f"codecbench: warning: {m}" for m in messages(read(run_dir))]  # as every warning on stderr
    return "\n".join(out) + f"\nmeans; CIs and every metric: {run_dir / 'summary.md'}\n"


def write_summaries(run_dir: str | Path) -> pd.DataFrame:
    """summary.csv, summary.md, data_checks.json and the metrics' corpus-level files of a run folder, from
    its rows."""
    from codecbench import datachecks

    folder = RunFolder(run_dir)
    rows = folder.frame()
    metrics_meta = folder.read_json(METRICS)
    codecs_meta = folder.read_json(CODECS, {})
    summary, aggs = build(folder, rows, metrics_meta, codecs_meta)
    for agg in aggs:
        for name, content in agg.files.items():
            folder.write_file(name, content)
        if agg.values is not None:
            folder.write_corpus_values(agg.metric, agg.values)
    checks = datachecks.check(rows, metrics_meta, codecs_meta)
    folder.write_json(datachecks.FILE, checks)
    folder.write_file(SUMMARY_CSV, summary)
    tables = [t for a in aggs for t in a.tables]
    folder.write_text(SUMMARY_MD, markdown(summary, tables, metrics_meta, codecs_meta, folder.read_json(CONFIG)["run_id"],
                                           checks))
    return summary
