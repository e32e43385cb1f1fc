"""``compare --max-rise abx_loss:CONTRAST=TOL``: gate on minimal-pair contrast loss.

Both runs' ``abx_triplets.parquet`` (codecbench.metrics.abx_corpus) are paired triplet by triplet
(same language, contrast, pair and A/B/X utterance ids). Per paired codec, language (and "all") and
gated contrast class (``all`` pools every class), the per-triplet contrast loss (codec error − error on
the original) is compared: candidate − baseline, with its bootstrap CI and sign-flip p-value
(codecbench.stats.paired_difference). Regression, as for every compare gate: the loss rose by more
than the tolerance by the one-sided test against the tolerance (p < alpha; codecbench.stats.margin_p,
verdict in compare_verdict.finalize), or triplets the baseline scored are missing from the candidate.
The pooled "all" language row is reported only when there are several languages.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from codecbench.report.comparison import CompareError, Comparison, languages
from codecbench.report.runs import ALL_LANGS, Run

TRIPLET_KEY = ["lang", "contrast", "pair", "a", "b", "x"]


def _triplets(run: Run) -> pd.DataFrame:
    from codecbench.metrics.abx_corpus import TRIPLETS_FILE

    path = run.dir / TRIPLETS_FILE
    if not path.exists():
        raise CompareError(f"{run.dir} has no {TRIPLETS_FILE}: run it with --metrics abx to gate on contrast loss")
    return pd.read_parquet(path)


def _comparison(bcodec: str, ccodec: str, lang: str, name: str, tol: float, lb: np.ndarray, lc: np.ndarray,
                lost: int, alpha: float, resamples: int, strata: np.ndarray | None = None) -> Comparison:
    from codecbench.stats import margin_p, paired_difference

    d = paired_difference(lb, lc, level=1.0 - alpha, resamples=resamples, strata=strata)
    diffs = lc - lb
    comp = Comparison(bcodec, ccodec, lang, name, False, int(d["n"]), float(lb.mean()) if len(lb) else math.nan,
                      float(lc.mean()) if len(lc) else math.nan, d["mean_diff"], d["ci_low"], d["ci_high"],
                      d["p_value"], lost, tol, False, "", quantity="contrast loss", sd_diff=float(np.std(diffs, ddof=1)) if len(diffs) > 1 else math.nan)
    if d["n"] > 0:
        comp.tested, comp.p_value = True, margin_p(-diffs, tol)  # a rise of the loss is worse
    else:
        comp.skipped = "n = 0: no triplet scored in both runs"
    if lost:
        comp.failure = f"{lost} triplet(s) of the baseline missing in the candidate"
    return comp


def gate_contrast_loss(base: Run, cand: Run, pairs: list[tuple[str, str]], tolerances: dict[str, float],
                       results: list[Comparison], only_these: bool, alpha: float = 0.05,
                       resamples: int = 2000) -> list[Comparison]:
    """``results`` plus one gated comparison per (pair, language, abx_loss:CONTRAST tolerance).

    ``only_these``: no other threshold was given, so compare's other metrics are reported, not gated.
    """
    if only_these:
        results = [replace(r, tolerance=None, regressed=False, reason="", warning="", failure="", tested=False)
                   for r in results]
    bt, ct = _triplets(base), _triplets(cand)
    out = list(results)
    for bcodec, ccodec in pairs:
        b, c = bt[bt["codec"] == bcodec], ct[ct["codec"] == ccodec]
        merged = b.merge(c, on=TRIPLET_KEY, how="left", suffixes=("_b", "_c"), indicator=True)
        for name, tol in tolerances.items():
            contrast = name.split(":", 1)[1]
            if contrast != "all" and contrast not in set(b["contrast"]):
                known = ", ".join(sorted(set(b["contrast"]))) or "none"
                raise CompareError(f"no contrast class {contrast!r} in the baseline's ABX triplets (has: {known})")
            sel = merged if contrast == "all" else merged[merged["contrast"] == contrast]
            for lang in languages(sorted(sel["lang"].unique())):
                g = sel if lang == ALL_LANGS else sel[sel["lang"] == lang]
                both = g[g["_merge"] == "both"]
                lb = (both["err_codec_b"] - both["err_original_b"]).to_numpy(dtype=float)
                lc = (both["err_codec_c"] - both["err_original_c"]).to_numpy(dtype=float)
                strata = both["lang"].astype(str).to_numpy() if lang == ALL_LANGS else None
                out.append(_comparison(bcodec, ccodec, lang, name, tol, lb, lc, int((g["_merge"] != "both").sum()),
                                       alpha, resamples, strata))
    return out
