"""Checks of the data a run scored, per language: the references' effective bandwidth and level (the
``ref_check`` data-check metric, codecbench/metrics/reference.py), and warnings when a figure cannot
mean what its name says on them.

* A reference is *band-limited* for a band of B Hz when its effective bandwidth is below
  ``BAND_SHARE`` x B (0.8: a wideband reference reaches 6.2-8 kHz at 16 kHz, a telephone one 3.4-4 kHz).
* A metric declares the band it rates (``MetricInfo.band_hz``: PESQ-wb 7 kHz, ViSQOL speech 8 kHz,
  ViSQOL audio 20 kHz, mel distance 8 kHz); codecs at 16 kHz or more are wideband (8 kHz).
* A language gets a warning when at least ``WARN_SHARE`` (a fifth) of its references are
  band-limited for a metric that produced values there, or for a wideband codec in the run: the
  score then rates, or the comparison tests, a band those references do not fill.
* A metric whose model was trained on other languages (``MetricInfo.trained_languages``, e.g.
  DNSMOS and UTMOS: English) gets a warning per language it scored outside them; each such row's
  ``flags`` and the summary's ``note`` say it too (codecbench.metrics.language).

The summary writes the result to ``data_checks.json`` and a "Data checks" section of summary.md;
``run``, ``report`` and ``compare`` repeat the warnings.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from codecbench.store import FAILURE_SUFFIX

BAND_SHARE = 0.8
WARN_SHARE = 0.2
WIDEBAND_CODEC_SR = 16000
WIDEBAND_HZ = 8000.0
FILE = "data_checks.json"
OUTPUTS = ("ref_bandwidth_hz", "ref_active_dbfs", "ref_rms_dbfs")


def _values(rows: pd.DataFrame, col: str) -> np.ndarray:
    if col not in rows.columns:
        return np.full(len(rows), np.nan)
    v = rows[col].to_numpy(dtype=np.float64, na_value=np.nan).copy()
    if col + FAILURE_SUFFIX in rows.columns:
        v[rows[col + FAILURE_SUFFIX].fillna("").astype(str).to_numpy() != ""] = np.nan
    return v


def _langs(rows: pd.DataFrame) -> list[str]:
    return sorted(str(x) for x in rows["lang"].dropna().unique())


def references(rows: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per language (and "all"): the references' effective bandwidth and levels, each utterance once."""
    if rows.empty or "ref_bandwidth_hz" not in rows.columns:
        return {}
    refs = rows.assign(_bw=_values(rows, "ref_bandwidth_hz")).sort_values("_bw", na_position="last")
    refs = refs.drop_duplicates("utt_id")
    out = {}
    for lang in [*_langs(refs), "all"]:
        sub = refs if lang == "all" else refs[refs["lang"].astype(str) == lang]
        stats: dict[str, Any] = {"n": int(np.isfinite(_values(sub, "ref_bandwidth_hz")).sum())}
        for col in OUTPUTS:
            v = _values(sub, col)
            v = v[np.isfinite(v)]
            stats[col] = ({"median": float(np.median(v)), "p10": float(np.percentile(v, 10)),
                           "p90": float(np.percentile(v, 90)), "min": float(v.min())} if v.size else None)
        out[lang] = stats
    return out


def _limited(rows: pd.DataFrame, lang: str, band: float) -> tuple[int, int, float]:
    """(references below BAND_SHARE x band, references measured, their median bandwidth) in ``lang``."""
    refs = rows if lang == "all" else rows[rows["lang"].astype(str) == lang]
    bw = _values(refs.drop_duplicates("utt_id"), "ref_bandwidth_hz")
    bw = bw[np.isfinite(bw)]
    return int((bw < BAND_SHARE * band).sum()), int(bw.size), float(np.median(bw)) if bw.size else math.nan


def _prefix(lang: str) -> str:
    """A warning's language prefix; none for rows without a language (a pair list without one)."""
    return f"{lang}: " if lang else ""


def _band_text(k: int, n: int, limit: float, median: float) -> str:
    return (f"{k} of {n} references have an effective bandwidth below {limit / 1000:.1f} kHz "
            f"(median {median / 1000:.1f} kHz)")


def band_warnings(rows: pd.DataFrame, metrics_meta: dict, codecs_meta: dict) -> list[str]:
    """Warnings per language for band-limited references under wideband metrics or codecs."""
    if rows.empty or "ref_bandwidth_hz" not in rows.columns:
        return []
    out = []
    for lang in _langs(rows):
        in_lang = rows[rows["lang"].astype(str) == lang]
        by_band: dict[float, list[str]] = {}
        for name, meta in metrics_meta.items():
            band = meta.get("band_hz")
            outs = [o["name"] for o in meta.get("outputs", [])]
            if band and not meta.get("unavailable") and any(np.isfinite(_values(in_lang, o)).any() for o in outs):
                by_band.setdefault(float(band), []).append(name)
        for band, names in sorted(by_band.items()):
            k, n, median = _limited(rows, lang, band)
            if n and k >= max(1, math.ceil(WARN_SHARE * n)):
                out.append(f"{_prefix(lang)}{_band_text(k, n, BAND_SHARE * band, median)}, but {', '.join(names)} "
                           f"rate{'s' if len(names) == 1 else ''} audio up to {band / 1000:g} kHz: on them "
                           "the score rates a band the reference does not fill")
        wide = sorted(c for c in in_lang["codec"].astype(str).unique()
                      if (codecs_meta.get(c, {}).get("sample_rate") or 0) >= WIDEBAND_CODEC_SR
                      and codecs_meta.get(c, {}).get("family") != "pairs")
        k, n, median = _limited(rows, lang, WIDEBAND_HZ)
        if wide and n and k >= max(1, math.ceil(WARN_SHARE * n)):
            out.append(f"{_prefix(lang)}{_band_text(k, n, BAND_SHARE * WIDEBAND_HZ, median)}: the 16 kHz+ codecs "
                       f"({', '.join(wide)}) are compared on them without any content above that band")
    return out


def language_notes(rows: pd.DataFrame, metrics_meta: dict) -> list[str]:
    """A note per (metric, language) scored outside the languages its model was trained on."""
    from codecbench.metrics.language import language_note

    out = []
    for name, meta in metrics_meta.items():
        langs = tuple(meta.get("trained_languages") or ())
        outs = [o["name"] for o in meta.get("outputs", [])]
        if not langs or meta.get("unavailable"):
            continue
        for lang in _langs(rows):
            in_lang = rows[rows["lang"].astype(str) == lang]
            n = int(max((np.isfinite(_values(in_lang, o)).sum() for o in outs), default=0))
            if n and language_note(name, langs, lang):
                out.append(f"{_prefix(lang)}{name} ({', '.join(outs)}) scored {n} rows, but its model was trained on "
                           f"{'/'.join(langs)} speech only: read it as out-of-domain there")
    return out


def check(rows: pd.DataFrame, metrics_meta: dict, codecs_meta: dict) -> dict[str, Any]:
    return {"definitions": {"band_share": BAND_SHARE, "warn_share": WARN_SHARE,
                            "bandwidth": "codecbench/metrics/reference.py"},
            "references": references(rows), "warnings": band_warnings(rows, metrics_meta, codecs_meta),
            "language_notes": language_notes(rows, metrics_meta)}


def read(run_dir: str | Path) -> dict[str, Any]:
    """A run's data checks ({} when it has none)."""
    from codecbench.store import read_json_file

    p = Path(run_dir) / FILE
    return read_json_file(p) if p.exists() else {}


def messages(checks: dict[str, Any]) -> list[str]:
    return [*checks.get("warnings", []), *checks.get("language_notes", [])]


def _spread(v: dict | None, scale: float = 1.0) -> str:
    return "–" if not v else f"{v['median'] * scale:.1f} [{v['p10'] * scale:.1f}, {v['p90'] * scale:.1f}]"


def markdown(checks: dict[str, Any]) -> list[str]:
    """summary.md's "Data checks" section."""
    from codecbench.report.cells import md_text

    refs = checks.get("references") or {}
    if not refs and not messages(checks):
        return []
    lines = ["## Data checks", "",
             "References, each utterance once: effective bandwidth (highest frequency within 40 dB of the "
             "speech-band level) and levels (dBFS; active: P.56-like), median [10th-90th percentile].", ""]
    if refs:
        lines += ["| lang | n | bandwidth (kHz) | lowest (kHz) | active level (dBFS) | RMS level (dBFS) |",
                  "|---|---:|---:|---:|---:|---:|"]
        for lang, s in refs.items():
            low = s.get("ref_bandwidth_hz")
            lowest = "–" if not low else f"{low['min'] / 1000:.1f}"
            lines.append(f"| {md_text(lang)} | {s['n']} | {_spread(low, 1e-3)} | {lowest} | "
                         f"{_spread(s.get('ref_active_dbfs'))} | {_spread(s.get('ref_rms_dbfs'))} |")
        lines.append("")
    lines += [f"- ⚠️ {md_text(m)}" for m in messages(checks)]
    return lines + ([""] if messages(checks) else [])


# -- MUSHRA anchors ---------------------------------------------------------------------------------
ANCHOR_BAND_MARGIN = 1.25  # an anchor cut below bandwidth / 1.25 removes at least the top fifth of the band
ANCHOR_MIN_REMOVED_DB = -40.0  # ... and must remove more than this share of the reference's energy


def anchor_check(ref: np.ndarray, sr: int, anchors: dict[str, np.ndarray], cutoffs: dict[str, float]) -> dict[str, Any]:
    """How much each low-pass anchor takes from a reference (both at the stimulus rate ``sr``):
    the removed energy relative to the reference (dB) and whether the anchor is (near-)transparent:
    the reference's effective bandwidth is below ``ANCHOR_BAND_MARGIN`` x the cut-off (the anchor
    removes less than the top fifth of the band the reference has) or the removed energy is below
    ``ANCHOR_MIN_REMOVED_DB``. A transparent anchor cannot anchor the rating scale (BS.1534-3 assumes
    full-band references: on 16 kHz speech the 7 kHz anchor removes only 7-8 kHz)."""
    from codecbench.metrics.reference import effective_bandwidth

    bw = effective_bandwidth(ref, sr)
    energy = float(np.sum(np.square(ref, dtype=np.float64)))
    out: dict[str, Any] = {"ref_bandwidth_hz": bw if math.isfinite(bw) else None, "anchors": {}}
    for key, wave in anchors.items():
        removed = float(np.sum(np.square(np.asarray(ref, np.float64) - wave)))
        db = 10.0 * math.log10(removed / energy) if removed > 0 and energy > 0 else -math.inf
        near = (math.isfinite(bw) and bw < ANCHOR_BAND_MARGIN * cutoffs[key]) or db < ANCHOR_MIN_REMOVED_DB
        out["anchors"][key] = {"cutoff_hz": cutoffs[key], "removed_db": db if math.isfinite(db) else None,
                               "near_transparent": bool(near)}  # None: nothing removed at all
    return out


def anchor_warnings(items: list[dict[str, Any]]) -> list[str]:
    """One warning per anchor that is (near-)transparent on some of the chosen items."""
    by_anchor: dict[str, list[dict[str, Any]]] = {}
    for it in items:
        for key, a in (it.get("anchor_check") or {}).get("anchors", {}).items():
            if a["near_transparent"]:
                by_anchor.setdefault(key, []).append(it)
    out = []
    for key, hits in by_anchor.items():
        cut = hits[0]["anchor_check"]["anchors"][key]["cutoff_hz"]
        bws = [b for h in hits if (b := h["anchor_check"]["ref_bandwidth_hz"]) is not None]
        removed = [r for h in hits if (r := h["anchor_check"]["anchors"][key]["removed_db"]) is not None]
        reach = f"their references reach {np.median(bws) / 1000:.1f} kHz (median effective bandwidth)" if bws else \
            "their references have no measurable band"
        took = f"it removes at most {max(removed):.0f} dB of their energy" if removed else "it removes nothing"
        out.append(f"MUSHRA anchor {key} ({cut / 1000:g} kHz low-pass) is (near-)transparent on {len(hits)} of "
                   f"{len(items)} items ({', '.join(h['id'] for h in hits[:6])}{', ...' if len(hits) > 6 else ''}): "
                   f"{reach}, {took}; it does not anchor the rating scale there")
    return out
