"""ASR reliability figures per (model, language), computed from the run's transcript records.

Each model (its label in the records: backend, id and revision) lists its languages, so a run with a
model per language gets each language's checks under the model that read it.

For each language: the uncompressed references (each utterance once) and each codec's reconstructions,
with the share of transcripts in a wrong script, in a repetition loop, empty, or unreliable at all.
Written to ``<run>/asr_reliability.json`` by the summary, so a resumed run's figures cover exactly its
scored utterances.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from codecbench.metrics import textnorm
from codecbench.metrics.asr.checks import COMPRESSION_RATIO_THRESHOLD, WRONG_SCRIPT_THRESHOLD


def _tally(checks: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(checks)
    flags = [set(c.get("flags") or ()) for c in checks]
    return {
        "n": n,
        "wrong_script_rate": sum("wrong_script" in f for f in flags) / n,
        "mean_wrong_script_letter_share": sum(c.get("wrong_script_share") or 0.0 for c in checks) / n,
        "repetition_rate": sum("repetition" in f for f in flags) / n,
        "empty_rate": sum("empty" in f for f in flags) / n,
        "unreliable_rate": sum(bool(f) for f in flags) / n,
    }


def reliability(records: list[dict[str, Any]]) -> dict[str, Any]:
    """``{model: {"model_id", "revision", "backend", "thresholds", "languages": {lang: {"reference" |
    codec: figures}}}}``."""
    refs: dict[tuple, dict] = {}
    hyps: dict[tuple, list] = defaultdict(list)
    about: dict[Any, dict[str, Any]] = {}
    for rec in records:
        model, lang = rec.get("model"), rec.get("lang") or "unknown"
        about.setdefault(model, {k: rec.get(k) for k in ("model_id", "revision", "backend")})
        refs[(model, lang, rec.get("utt_id"))] = rec.get("reference_check") or {}
        hyps[(model, lang, rec.get("codec") or "reconstruction")].append(rec.get("hypothesis_check") or {})
    out: dict[str, Any] = {}
    by_ref: dict[tuple, list] = defaultdict(list)
    for (model, lang, _), chk in refs.items():
        by_ref[(model, lang)].append(chk)
    for (model, lang), checks in by_ref.items():
        entry = out.setdefault(model, {**about[model], "thresholds": {"wrong_script_share": WRONG_SCRIPT_THRESHOLD,
                                                      "compression_ratio": COMPRESSION_RATIO_THRESHOLD},
                                       "languages": {}})
        entry["languages"].setdefault(lang, {})["reference"] = {
            **_tally(checks), "expected_scripts": list(textnorm.expected_scripts(lang) or [])}
    for (model, lang, codec), checks in hyps.items():
        out[model]["languages"].setdefault(lang, {})[codec] = _tally(checks)
    return out
