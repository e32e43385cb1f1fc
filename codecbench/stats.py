"""Bootstrap confidence intervals, paired tests, multiple-comparison correction and power: the one
home for the statistics of summaries, reports, compare and the checkpoint cards.

Measurement decisions:

* CIs are percentile bootstraps of the mean (2000 resamples, fixed seed, values sorted first so the
  interval does not depend on row order). ``strata`` resamples within each stratum (a language), so
  a pooled interval keeps every language's share fixed, as the pooled mean does.
* Tests are paired sign-flip permutation tests of the mean difference: exact for n <= 16 (every
  sign pattern), else 10 000 random patterns with the (k + 1) / (N + 1) correction. Under the null
  the differences (shifted by the margin) are symmetric about 0: then the test's size is at most its
  nominal level at every n, which a percentile-bootstrap bound is not at small n.
* ``margin_p`` tests a difference *beyond a margin* (non-inferiority): H0 mean >= -margin against H1
  mean < -margin, on the differences shifted by the margin. compare decides regressions with it.
* ``holm`` adjusts a family of p-values (Holm 1979: step-down, strong control of the family-wise error).
* ``detectable_change`` / ``n_for_change``: the smallest true change a one-sided level-alpha test
  against a margin detects with the given power (normal approximation with t quantiles), and the n
  that reaches a target change.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0
EXACT_MAX_N = 16  # sign-flip tests enumerate all 2^n sign patterns up to this n
FLIPS = 10000  # random sign patterns above it


def bootstrap_ci(
    values: np.ndarray, level: float = 0.95, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
    strata: np.ndarray | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean. NaN bounds for fewer than two values. The values are sorted
    first, so the CI does not depend on the order rows were written in (worker completion, shards).
    ``strata`` (one label per value): resample within each stratum (a stratified bootstrap)."""
    x = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(x)
    if strata is not None:
        labels = np.asarray(strata, dtype=object)[ok]
        x = x[ok]
        groups = [np.sort(x[labels == s]) for s in sorted(set(labels.tolist()), key=str)]
        if len(groups) > 1:
            return _stratified_ci(groups, level, resamples, seed)
    x = np.sort(x[np.isfinite(x)])
    if len(x) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(resamples, len(x)))
    means = x[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def _stratified_ci(groups: list[np.ndarray], level: float, resamples: int, seed: int) -> tuple[float, float]:
    n = sum(len(g) for g in groups)
    if n < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    sums = np.zeros(resamples)
    for g in groups:
        sums += g[rng.integers(0, len(g), size=(resamples, len(g)))].sum(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(sums / n, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


@lru_cache(maxsize=EXACT_MAX_N + 1)
def _all_signs(n: int) -> np.ndarray:
    return (((np.arange(2**n)[:, None] >> np.arange(n)) & 1) * 2 - 1).astype(np.float64)


def sign_flip_p(d: np.ndarray, alternative: str = "two-sided", seed: int = DEFAULT_SEED) -> float:
    """Paired sign-flip permutation p-value of mean(d) against 0. ``alternative``: "two-sided",
    "less" (H1: mean < 0) or "greater". Exact for n <= 16, else 10 000 random flips (+1 corrected)."""
    d = np.asarray(d, dtype=np.float64)
    d = d[np.isfinite(d)]
    n = len(d)
    if n == 0:
        return float("nan")
    if np.all(d == 0):
        return 1.0
    if n <= EXACT_MAX_N:
        signs, exact = _all_signs(n), True
    else:
        signs, exact = np.random.default_rng(seed).choice([-1.0, 1.0], size=(FLIPS, n)), False
    flipped = (signs @ d) / n
    observed = float(d.mean())
    eps = 1e-12 * max(1.0, float(np.abs(d).max()))
    if alternative == "two-sided":
        hits = np.sum(np.abs(flipped) >= abs(observed) - eps)
    elif alternative == "less":
        hits = np.sum(flipped <= observed + eps)
    elif alternative == "greater":
        hits = np.sum(flipped >= observed - eps)
    else:
        raise ValueError(f"alternative must be two-sided, less or greater, not {alternative!r}")
    return float(hits / len(flipped)) if exact else float((hits + 1) / (len(flipped) + 1))


def bootstrap_ratio_ci(
    numerators: np.ndarray, denominators: np.ndarray, level: float = 0.95, resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> tuple[float, float]:
    """Percentile bootstrap CI of sum(numerators) / sum(denominators), resampling items (e.g. a corpus
    WER: word errors over reference words, utterances resampled). Items are sorted first, so the CI does
    not depend on their order; NaN bounds for fewer than two items."""
    pairs = np.asarray(sorted(zip(np.asarray(numerators, np.float64), np.asarray(denominators, np.float64),
                                  strict=True)), dtype=np.float64).reshape(-1, 2)
    if len(pairs) < 2 or pairs[:, 1].sum() <= 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(pairs), size=(resamples, len(pairs)))
    ratios = pairs[idx, 0].sum(axis=1) / np.maximum(pairs[idx, 1].sum(axis=1), 1e-300)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(ratios, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def paired_difference(
    baseline: np.ndarray, candidate: np.ndarray, level: float = 0.95, resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED, strata: np.ndarray | None = None,
) -> dict[str, float]:
    """Mean of candidate - baseline over pairs, its bootstrap CI, and a two-sided sign-flip p-value.
    ``strata`` (e.g. each pair's language): the CI resamples within strata."""
    a = np.asarray(baseline, dtype=np.float64)
    b = np.asarray(candidate, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    d = b[ok] - a[ok]
    n = len(d)
    if n == 0:
        return {"n": 0, "mean_diff": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "p_value": float("nan")}
    lo, hi = bootstrap_ci(d, level, resamples, seed, None if strata is None else np.asarray(strata, dtype=object)[ok])
    return {"n": n, "mean_diff": float(d.mean()), "ci_low": lo, "ci_high": hi, "p_value": sign_flip_p(d, seed=seed)}


def margin_p(diffs: np.ndarray, margin: float, seed: int = DEFAULT_SEED) -> float:
    """One-sided p-value that the mean difference is below ``-margin`` (worse by more than the
    margin, for differences oriented so that negative is worse): the sign-flip test of H0
    mean(d) >= -margin on ``d + margin``. With margin 0 it is the plain one-sided test."""
    d = np.asarray(diffs, dtype=np.float64)
    return sign_flip_p(d[np.isfinite(d)] + float(margin), alternative="less", seed=seed)


def holm(p_values: list[float]) -> list[float]:
    """Holm-adjusted p-values (same order; NaN stays NaN and is not counted in the family):
    p_adj(i) = max over j <= i of min(1, (m - j + 1) p(j)) for the ascending p(1..m)."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(len(p), np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    m = len(idx)
    running = 0.0
    for rank, i in enumerate(idx[np.argsort(p[idx], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


def _quantile_t(q: float, dof: int) -> float:
    from scipy import stats as sps

    return float(sps.t.ppf(q, dof)) if dof >= 1 else float("inf")


def detectable_change(sd: float, n: int, alpha: float = 0.05, power: float = 0.8, margin: float = 0.0) -> float:
    """The smallest true worsening (in the metric's units) that a one-sided level-``alpha`` test of
    "worse by more than ``margin``" detects with probability ``power``, at n paired values whose
    differences have standard deviation ``sd``: margin + (t(1-alpha) + t(power)) * sd / sqrt(n),
    t quantiles with n - 1 degrees of freedom. inf for n < 2."""
    if n < 2 or not math.isfinite(sd):
        return float("inf")
    return float(margin + (_quantile_t(1 - alpha, n - 1) + _quantile_t(power, n - 1)) * sd / math.sqrt(n))


def n_for_change(sd: float, change: float, alpha: float = 0.05, power: float = 0.8, margin: float = 0.0,
                 max_n: int = 1_000_000) -> int | None:
    """The smallest n at which ``detectable_change`` is at most ``change`` (None when the change is not
    beyond the margin or needs more than ``max_n`` values)."""
    if change <= margin or not math.isfinite(sd):
        return None
    if sd == 0:
        return 2
    z = _quantile_t(1 - alpha, 10**6) + _quantile_t(power, 10**6)
    n = max(2, int(math.ceil((z * sd / (change - margin)) ** 2)))  # normal approximation: a lower bound
    while n <= max_n and detectable_change(sd, n, alpha, power, margin) > change:
        n = n + max(1, n // 50)
    if n > max_n:
        return None
    while n > 2 and detectable_change(sd, n - 1, alpha, power, margin) <= change:  # step back to the smallest
        n -= 1
    return n
