"""Per-(codec, language, metric) summaries with 95% bootstrap CIs, and pooled codebook utilization.

summary.csv columns: codec, lang, metric, n, n_failed, mean, ci_low, ci_high, std, status, note,
higher_is_better, unit, library, version, mode, model, metric_sample_rate, codec_family,
codec_nominal_bitrate, codec_latent_rate. ``lang == "all"`` pools every language.

status: "ok"; "unreliable" when at least UNRELIABLE_SHARE of the rows were flagged unreliable
(reason prefixed "unreliable: ", e.g. wrong-script ASR) — then no mean is reported; "n/a" when the
metric does not apply to the codec; "failed" when no row produced a value. ``note`` holds the most
common failure reason.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from codecbench.metrics.codebook import pooled_utilization
from codecbench.stats import bootstrap_ci
from codecbench.store import FAILURE_SUFFIX, atomic_write_text, load_rows, safe_name

UNRELIABLE_SHARE = 0.2
SUMMARY_COLUMNS = ["codec", "lang", "metric", "n", "n_failed", "mean", "ci_low", "ci_high", "std", "status", "note",
                   "higher_is_better", "unit", "library", "version", "mode", "model", "metric_sample_rate",
                   "codec_family", "codec_nominal_bitrate", "codec_latent_rate"]


def _status(values: np.ndarray, reasons: list[str]) -> tuple[str, str]:
    note = Counter(reasons).most_common(1)[0][0] if reasons else ""
    total = len(values)
    unreliable = sum(r.startswith("unreliable") for r in reasons)
    if total and unreliable / total >= UNRELIABLE_SHARE:
        return "unreliable", Counter(r for r in reasons if r.startswith("unreliable")).most_common(1)[0][0]
    if np.isfinite(values).sum() == 0:
        if reasons and all(r.startswith("not applicable") for r in reasons):
            return "n/a", note
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
                    reasons = [r for r in sub[col + FAILURE_SUFFIX].fillna("").astype(str) if r]
                    status, note = _status(vals, reasons)
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
    if r["status"] == "n/a" or not r["note"]:
        return r["status"]
    return f"{r['status']}: {r['note']}"


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
    codebook = codebook_table(run_dir, rows, codecs_meta)
    atomic_write_text(run_dir / "summary.csv", summary.to_csv(index=False))
    atomic_write_text(run_dir / "codebook.csv", codebook.to_csv(index=False))
    atomic_write_text(run_dir / "summary.md", markdown(summary, codebook, metrics_meta, codecs_meta, run_id))
    return summary
