"""Per-(codec, language, metric) summaries with 95% bootstrap CIs, and pooled codebook utilization.

summary.csv columns: codec, lang, metric, n, n_failed, mean, ci_low, ci_high, std, status, note,
higher_is_better, unit, library, version, mode, model, metric_sample_rate, codec_family,
codec_nominal_bitrate, codec_latent_rate. ``lang == "all"`` pools every language.

status (from the rows' failure kinds, ``codecbench.types.FailureKind``): "ok"; "unreliable" when at
least UNRELIABLE_SHARE of the rows were flagged unreliable (e.g. wrong-script ASR) — then no mean is
reported; "unavailable" when the metric could not run here (model or package missing); "n/a" when the
metric does not apply to the codec; "failed" when no row produced a value. ``note`` holds the most
common failure reason. Corpus-level ASR rows (``wer_corpus``, ``cer_corpus``, ``dwer_corpus``,
``dcer_corpus``: errors summed over all words of the group) have no CI.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from codecbench.metrics.codebook import pooled_utilization
from codecbench.stats import bootstrap_ci
from codecbench.store import FAILURE_SUFFIX, KIND_SUFFIX, atomic_write_text, load_rows, safe_name
from codecbench.types import FailureKind

UNRELIABLE_SHARE = 0.2
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


def corpus_asr_rows(run_dir: Path, rows: pd.DataFrame, metrics_meta: dict, codecs_meta: dict) -> list[dict]:
    """Corpus-level WER/CER/dWER/dCER (errors summed over words) per (codec, language) and per codec."""
    if not (run_dir / "asr_transcripts.jsonl").exists():
        return []
    from codecbench.metrics.asr import corpus_error_rates, load_transcripts

    present = set(zip(rows["codec"], rows["utt_id"], strict=True))
    recs = [r for r in load_transcripts(run_dir) if (r.get("codec"), r.get("utt_id")) in present]
    rates = corpus_error_rates(recs) | corpus_error_rates([{**r, "lang": "all"} for r in recs])
    meta = next((m for m in metrics_meta.values() if any(o["name"] == "wer" for o in m["outputs"])), {})
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
    for codec, by_codec in rows[rows["status"] == "ok"].groupby("codec", sort=False):
        books = codecs_meta.get(codec, {}).get("codebooks") or []
        if not books:
            continue
        sizes = [b["size"] for b in books]
        codes_by_utt = {}
        for uid in by_codec["utt_id"]:
            path = run_dir / "codes" / safe_name(codec) / f"{safe_name(uid)}.npz"
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


def _cell(r: pd.Series) -> str:
    if r["status"] == "ok":
        if np.isfinite(r["ci_low"]):
            return f"{r['mean']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
        return f"{r['mean']:.3f}"
    note = str(r["note"]) if isinstance(r["note"], str) else ""
    if r["status"] == "n/a" or not note:
        return r["status"]
    return f"{r['status']}: {note}"


def markdown(summary: pd.DataFrame, codebook: pd.DataFrame, metrics_meta: dict, codecs_meta: dict, run_id: str) -> str:
    lines = [f"# codecbench run {run_id}", "", "Mean and 95% bootstrap CI per codec; n = utterances with a value.", ""]
    for lang in [*sorted(x for x in summary["lang"].unique() if x != "all"), "all"]:
        sub = summary[summary["lang"] == lang]
        if sub.empty:
            continue
        cols = list(dict.fromkeys(sub["metric"]))
        lines += [f"## {lang}", "", "| codec | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for codec in dict.fromkeys(sub["codec"]):
            cells = []
            for c in cols:
                r = sub[(sub["codec"] == codec) & (sub["metric"] == c)]
                cells.append(_cell(r.iloc[0]).replace("|", "\\|") if len(r) else "")
            lines.append(f"| {codec} | " + " | ".join(cells) + " |")
        lines.append("")
    if not codebook.empty:
        pooled = codebook.groupby(["codec", "lang"])[["used_share", "entropy_bits", "perplexity"]].mean().reset_index()
        lines += ["## Codebook utilization (pooled, mean over codebooks)", "",
                  "| codec | lang | used share | entropy (bits) | perplexity |", "|---|---|---|---|---|"]
        for _, r in pooled.iterrows():
            lines.append(f"| {r['codec']} | {r['lang']} | {r['used_share']:.3f} | {r['entropy_bits']:.2f} | {r['perplexity']:.1f} |")
        lines.append("")
    lines += ["## Metrics", "", "| metric | library | version | mode | model | sample rate |", "|---|---|---|---|---|---|"]
    for name, m in metrics_meta.items():
        extra = f" (unavailable: {m['unavailable']})" if m.get("unavailable") else ""
        lines.append(f"| {name}{extra} | {m.get('library')} | {m.get('version')} | {m.get('mode') or ''} | "
                     f"{m.get('model') or ''} | {m.get('sample_rate') or 'source'} |")
    lines += ["", "## Codecs", "", "| codec | family | sample rate | frame rate | nominal bitrate | latent rate |",
              "|---|---|---|---|---|---|"]
    for name, c in codecs_meta.items():
        lines.append(f"| {name} | {c.get('family')} | {c.get('sample_rate')} | {c.get('frame_rate') or ''} | "
                     f"{c.get('nominal_bitrate') or ''} | {c.get('latent_rate') or ''} |")
    return "\n".join(lines) + "\n"


def write_summaries(run_dir: str | Path) -> pd.DataFrame:
    run_dir = Path(run_dir)
    rows = load_rows(run_dir)
    metrics_meta = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    codecs_path = run_dir / "codecs.json"
    codecs_meta = json.loads(codecs_path.read_text(encoding="utf-8")) if codecs_path.exists() else {}
    run_id = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))["run_id"]
    summary = summarize(rows, metrics_meta, codecs_meta)
    corpus = corpus_asr_rows(run_dir, rows, metrics_meta, codecs_meta)
    if corpus:
        summary = pd.concat([summary, pd.DataFrame(corpus, columns=SUMMARY_COLUMNS)], ignore_index=True)
    from codecbench.metrics.abx_corpus import abx_summary_rows

    abx = abx_summary_rows(run_dir, rows, metrics_meta, codecs_meta)
    if abx:
        summary = pd.concat([summary, pd.DataFrame(abx, columns=SUMMARY_COLUMNS)], ignore_index=True)
    codebook = codebook_table(run_dir, rows, codecs_meta)
    atomic_write_text(run_dir / "summary.csv", summary.to_csv(index=False))
    atomic_write_text(run_dir / "codebook.csv", codebook.to_csv(index=False))
    atomic_write_text(run_dir / "summary.md", markdown(summary, codebook, metrics_meta, codecs_meta, run_id))
    return summary
