"""Bootstrap confidence intervals and paired tests: used by summaries, reports and compare."""

from __future__ import annotations

import numpy as np

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0


def bootstrap_ci(
    values: np.ndarray, level: float = 0.95, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean. NaN bounds for fewer than two values. The values are sorted
    first, so the CI does not depend on the order rows were written in (worker completion, shards)."""
    x = np.asarray(values, dtype=np.float64)
    x = np.sort(x[np.isfinite(x)])
    if len(x) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(resamples, len(x)))
    means = x[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


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
    seed: int = DEFAULT_SEED,
) -> dict[str, float]:
    """Mean of candidate - baseline over pairs, its bootstrap CI, and a two-sided p-value.

    The p-value is from a paired sign-flip permutation test (exact for n <= 16, else 10 000 flips).
    """
    a = np.asarray(baseline, dtype=np.float64)
    b = np.asarray(candidate, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    d = b[ok] - a[ok]
    n = len(d)
    if n == 0:
        return {"n": 0, "mean_diff": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "p_value": float("nan")}
    lo, hi = bootstrap_ci(d, level, resamples, seed)
    observed = abs(d.mean())
    if np.all(d == 0):
        p = 1.0
    elif n <= 16:
        signs = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1) * 2 - 1
        p = float(np.mean(np.abs((signs * d).mean(axis=1)) >= observed - 1e-12))
    else:
        rng = np.random.default_rng(seed)
        signs = rng.choice([-1.0, 1.0], size=(10000, n))
        p = float((np.sum(np.abs((signs * d).mean(axis=1)) >= observed - 1e-12) + 1) / (10000 + 1))
    return {"n": n, "mean_diff": float(d.mean()), "ci_low": lo, "ci_high": hi, "p_value": p}
