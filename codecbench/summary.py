"""Per-(codec, language, metric) summaries with 95% bootstrap CIs, and pooled codebook utilization.

summary.csv columns: codec, lang, metric, n, n_failed, mean, ci_low, ci_high, std, status, note,
higher_is_better, unit, library, version, mode, model, metric_sample_rate, codec_family,
codec_nominal_bitrate, codec_latent_rate. ``lang == "all"`` pools every language.

A metric whose model declares ``trained_languages`` (metrics.json; e.g. UTMOS: English) keeps its
figures in other languages, and their ``note`` says the model was not trained on them.

status (from the rows' failure kinds, ``codecbench.types.FailureKind``): "ok"; "unreliable" when at
least UNRELIABLE_SHARE of the rows were flagged unreliable (e.g. wrong-script ASR) — then no mean is
reported; "unavailable" when the metric could not run here (model or package missing); "n/a" when the
metric does not apply to the codec; "failed" when no row produced a value. ``note`` holds the most
common failure reason. Corpus-level ASR rows (``wer_corpus``, ``cer_corpus``, ``dwer_corpus``,
``dcer_corpus``: errors summed over all words of the group) have no CI.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from codecbench.metrics.codebook import pooled_utilization
from codecbench.metrics.language import group_note
from codecbench.report.cells import MIN_N_FOR_CI, Footnotes, header_text, md_text, status_text, value_text
from codecbench.stats import bootstrap_ci
from codecbench.store import FAILURE_SUFFIX, KIND_SUFFIX, RunStore, atomic_write_text, load_rows
from codecbench.store import read_json_file as read_json
from codecbench.types import FailureKind

UNRELIABLE_SHARE = 0.2
MD_COLUMNS = 6  # metric columns per markdown table: keeps summary.md lines short
SUMMARY_COLUMNS = ["codec", "lang", "metric", "n", "n_failed", "mean", "ci_low", "ci_high", "std", "status", "note",
                   "higher_is_better", "unit", "library", "version", "mode", "model", "metric_sample_rate",
                   "codec_family", "codec_nominal_bitrate", "codec_latent_rate"]


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
    for meta in metrics_meta.values():
        for o in meta["outputs"]:
            col = o["name"]
            if col not in rows.columns:
                continue
            for codec, by_codec in rows.groupby("codec", sort=False):
                cinfo = codecs_meta.get(codec, {})
                for lang in [*langs, "all"]:
                    sub = by_codec if lang == "all" else by_codec[by_codec["lang"] == lang]
                    if sub.empty:
                        continue
                    vals = sub[col].to_numpy(dtype=np.float64)
                    failed = sub[col + FAILURE_SUFFIX].fillna("").astype(str) != ""
                    reasons = list(sub.loc[failed, col + FAILURE_SUFFIX].astype(str))
                    kinds = list(sub.loc[failed, col + KIND_SUFFIX].astype(str))
                    status, note = _status(vals, reasons, kinds)
                    trained = group_note(meta.get("name", ""), meta.get("trained_languages"),
                                         list(sub["lang"].unique()))  # metrics.json: a model's languages
                    if trained and status == "ok":
                        note = f"{note}; {trained}" if note else trained
                    ok = vals[np.isfinite(vals)]
                    report = status == "ok" and len(ok) > 0
                    lo, hi = bootstrap_ci(ok) if report else (np.nan, np.nan)
                    out.append({
                        "codec": codec, "lang": lang, "metric": col, "n": int(len(ok)), "n_failed": len(reasons),
                        "mean": float(ok.mean()) if report else np.nan, "ci_low": lo, "ci_high": hi,
                        "std": float(ok.std(ddof=1)) if report and len(ok) > 1 else np.nan,
                        "status": status, "note": note, "higher_is_better": o.get("higher_is_better"),
                        "unit": o.get("unit", ""), "library": meta.get("library"), "version": meta.get("version"),
                        "mode": meta.get("mode"), "model": meta.get("model"), "metric_sample_rate": meta.get("sample_rate"),
                        "codec_family": cinfo.get("family"), "codec_nominal_bitrate": cinfo.get("nominal_bitrate"),
                        "codec_latent_rate": cinfo.get("latent_rate"),
                    })
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)


CORPUS_ASR = {"wer": "wer_corpus", "cer": "cer_corpus", "dwer": "dwer_corpus", "dcer": "dcer_corpus"}


def asr_records(run_dir: Path, rows: pd.DataFrame) -> list[dict]:
    """The run's ASR transcript records for rows that are in the run (the last record per row)."""
    from codecbench.metrics.asr.errors import load_transcripts

    if rows.empty or not (run_dir / "asr_transcripts.jsonl").exists():
        return []
    present = set(zip(rows["codec"], rows["utt_id"], strict=True))
    return [r for r in load_transcripts(run_dir) if (r.get("codec"), r.get("utt_id")) in present]


def corpus_asr_rows(run_dir: Path, rows: pd.DataFrame, metrics_meta: dict, codecs_meta: dict) -> list[dict]:
    """Corpus-level WER/CER/dWER/dCER (errors summed over words) per (codec, language) and per codec."""
    recs = asr_records(run_dir, rows)
    if not recs:
        return []
    from codecbench.metrics.asr.errors import corpus_error_rates

    rates = corpus_error_rates(recs) | corpus_error_rates([{**r, "lang": "all"} for r in recs])
    meta = metrics_meta.get("wer", {})
    out = []
    for (codec, lang), res in rates.items():
        n, bad = res["n"], res["n_unreliable"]
        cinfo = codecs_meta.get(codec, {})
        for key, metric in CORPUS_ASR.items():
            value = res.get(key)
            if n and bad / n >= UNRELIABLE_SHARE:
                status, note = "unreliable", f"reference ASR unreliable on {bad} of {n} utterances (asr_reliability.json)"
            elif value is None:
                status, note = "failed", "no transcripts with reference words"
            else:
                status, note = "ok", f"{bad} of {n} utterances left out (unreliable reference ASR)" if bad else ""
            out.append({"codec": codec, "lang": lang, "metric": metric, "n": n - bad, "n_failed": bad,
                        "mean": value if status == "ok" else np.nan, "ci_low": np.nan, "ci_high": np.nan, "std": np.nan,
                        "status": status, "note": note, "higher_is_better": False, "unit": "",
                        "library": meta.get("library"), "version": meta.get("version"), "mode": "corpus-level",
                        "model": meta.get("model"), "metric_sample_rate": meta.get("sample_rate"),
                        "codec_family": cinfo.get("family"), "codec_nominal_bitrate": cinfo.get("nominal_bitrate"),
                        "codec_latent_rate": cinfo.get("latent_rate")})
    return out


def codebook_table(run_dir: Path, rows: pd.DataFrame, codecs_meta: dict) -> pd.DataFrame:
    """Pooled utilization per (codec, language incl. 'all', codebook level) from the saved codes."""
    out = []
    store = RunStore(run_dir)
    for codec, by_codec in rows[rows["status"] == "ok"].groupby("codec", sort=False):
        books = codecs_meta.get(codec, {}).get("codebooks") or []
        if not books:
            continue
        sizes = [b["size"] for b in books]
        codes_by_utt = {}
        for uid in by_codec["utt_id"]:
            path = store.codes_path(codec, uid)
            if path.exists():
                with np.load(path) as z:
                    codes_by_utt[uid] = [z[f"arr_{i}"] for i in range(len(z.files))]
        langs = sorted(x for x in by_codec["lang"].unique() if x)
        for lang in [*langs, "all"]:
            ids = by_codec["utt_id"] if lang == "all" else by_codec.loc[by_codec["lang"] == lang, "utt_id"]
            per_utt = [codes_by_utt[u] for u in ids if u in codes_by_utt]
            if not per_utt:
                continue
            for stats in pooled_utilization(per_utt, sizes):
                out.append({"codec": codec, "lang": lang, "level": stats["level"], "size": stats["size"],
                            "frame_rate": books[stats["level"]].get("frame_rate"), "n_codes": stats["n_codes"],
                            "used_share": stats["used_share"], "entropy_bits": stats["entropy_bits"],
                            "perplexity": stats["perplexity"], "n_utterances": len(per_utt)})
    return pd.DataFrame(out, columns=["codec", "lang", "level", "size", "frame_rate", "n_codes", "used_share",
                                      "entropy_bits", "perplexity", "n_utterances"])


def _cell(r: pd.Series, notes: Footnotes, group_n: int) -> str:
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


def markdown(summary: pd.DataFrame, codebook: pd.DataFrame, metrics_meta: dict, codecs_meta: dict, run_id: str,
             checks: dict | None = None) -> str:
    """summary.md: the data checks (codecbench.datachecks), then per language, tables of at most MD_COLUMNS
    metrics; every reason once, as a footnote."""
    from codecbench.datachecks import markdown as checks_markdown

    notes = Footnotes()
    shown, empty = _shown_metrics(summary, metrics_meta)
    lines = [f"# codecbench run {md_text(run_id)}", "",
             f"Mean [95% bootstrap CI] per codec and language (no CI for n < {MIN_N_FOR_CI}); n = utterances of the "
             "codec in the language, a cell with fewer values says so. ↑ higher is better, ↓ lower is better; "
             "reasons are footnotes.", ""]
    if empty:
        lines += ["Not computed in this run: " + ", ".join(_empty_text(summary, m, notes) for m in empty) + ".", ""]
    lines += checks_markdown(checks or {})
    units = {m: g["unit"].iloc[0] for m, g in summary.groupby("metric", sort=False)}
    hib = {m: _hib(g["higher_is_better"].iloc[0]) for m, g in summary.groupby("metric", sort=False)}
    for lang in [*sorted(x for x in summary["lang"].unique() if x != "all"), "all"]:
        sub = summary[summary["lang"] == lang]
        cols = [m for m in shown if m in set(sub["metric"])]
        if sub.empty or not cols:
            continue
        by_key = {(r["codec"], r["metric"]): r for _, r in sub.iterrows()}
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
    if not codebook.empty:
        pooled = codebook.groupby(["codec", "lang"])[["used_share", "entropy_bits", "perplexity"]].mean().reset_index()
        lines += ["## Codebook utilization (pooled, mean over codebooks)", "",
                  "| codec | lang | used share | entropy (bits) | perplexity |", "|---|---|---:|---:|---:|"]
        for _, r in pooled.iterrows():
            lines.append(f"| {md_text(r['codec'])} | {md_text(r['lang'])} | {r['used_share']:.3f} | {r['entropy_bits']:.2f} | {r['perplexity']:.1f} |")
        lines.append("")
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


def _empty_text(summary: pd.DataFrame, metric: str, notes: Footnotes, marker: str = "md") -> str:
    g = summary[summary["metric"] == metric]
    status = g["status"].iloc[0] if g["status"].nunique() == 1 else "unavailable or n/a"
    note = next((x for x in g["note"] if isinstance(x, str) and x), "")
    name = md_text(metric) if marker == "md" else metric
    return f"{name} ({status_text(status, note, notes, marker) if note else status})"


KEY_METRICS = ("pesq_wb", "stoi", "visqol_speech", "spk_sim_ecapa", "wer", "cer", "bitrate_measured")


def results_table(run_dir: str | Path, metrics: tuple[str, ...] = KEY_METRICS) -> str:
    """A compact plain-text table for the end of ``run``: mean per codec and language of the key metrics
    that have a value somewhere in the run, reasons numbered below (summary.md has the CIs and the rest)."""
    run_dir = Path(run_dir)
    summary = pd.read_csv(run_dir / "summary.csv", keep_default_na=False, na_values=[""])
    meta_path = run_dir / "metrics.json"
    shown, empty = _shown_metrics(summary, read_json(meta_path) if meta_path.exists() else {})
    cols = [m for m in metrics if m in shown] or shown[:6]
    notes = Footnotes()
    skipped = [_empty_text(summary, m, notes, "plain") for m in metrics if m in empty]  # numbered first
    head = ["codec", "lang", "n"]
    units = {m: g["unit"].iloc[0] for m, g in summary.groupby("metric", sort=False)}
    head += [header_text(m, units[m], _hib(summary.loc[summary["metric"] == m, "higher_is_better"].iloc[0])) for m in cols]
    body = []
    for (codec, lang), g in summary.groupby(["codec", "lang"], sort=False):
        by = {r["metric"]: r for _, r in g.iterrows()}
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

    out += [f"warning: {m}" for m in messages(read(run_dir))]
    return "\n".join(out) + f"\nmeans; CIs and every metric: {run_dir / 'summary.md'}\n"


def write_summaries(run_dir: str | Path) -> pd.DataFrame:
    run_dir = Path(run_dir)
    rows = load_rows(run_dir)
    metrics_meta = read_json(run_dir / "metrics.json")
    codecs_path = run_dir / "codecs.json"
    codecs_meta = read_json(codecs_path) if codecs_path.exists() else {}
    run_id = read_json(run_dir / "config.json")["run_id"]
    summary = summarize(rows, metrics_meta, codecs_meta)
    corpus = corpus_asr_rows(run_dir, rows, metrics_meta, codecs_meta)
    records = asr_records(run_dir, rows)
    if records:
        from codecbench.metrics.asr.reliability import reliability
        from codecbench.store import atomic_write_json

        atomic_write_json(run_dir / "asr_reliability.json", reliability(records))
    if corpus:
        summary = pd.concat([summary, pd.DataFrame(corpus, columns=SUMMARY_COLUMNS)], ignore_index=True)
    from codecbench.metrics.abx_corpus import abx_summary_rows

    abx = abx_summary_rows(run_dir, rows, metrics_meta, codecs_meta)
    if abx:
        summary = pd.concat([summary, pd.DataFrame(abx, columns=SUMMARY_COLUMNS)], ignore_index=True)
    from codecbench import datachecks
    from codecbench.store import atomic_write_json

    checks = datachecks.check(rows, metrics_meta, codecs_meta)
    codebook = codebook_table(run_dir, rows, codecs_meta)
    atomic_write_json(run_dir / datachecks.FILE, checks)
    atomic_write_text(run_dir / "summary.csv", summary.to_csv(index=False))
    atomic_write_text(run_dir / "codebook.csv", codebook.to_csv(index=False))
    atomic_write_text(run_dir / "summary.md", markdown(summary, codebook, metrics_meta, codecs_meta, run_id, checks))
    return summary
