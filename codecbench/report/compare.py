"""``codecbench compare BASELINE CANDIDATE``: a paired, per-utterance regression gate for CI.

For each paired codec, language (and "all", pooling the languages, when there are several) and
metric output, the difference candidate - baseline is taken per utterance over the utterances both
runs scored, with a bootstrap CI of its mean (``1 - --alpha``; stratified by language for "all").

Gated metrics: those named in ``--max-drop``/``--max-rise``; when neither is given, every quality
metric of the baseline with a direction, tolerance 0 (bitrates, real-time factors and codebook usage
are reported, not gated). For each gated (pair, language, metric), in this order:

* unavailable or absent in the baseline: skipped, with the reason;
* values in the baseline but none in the candidate (column gone, or unavailable there): a
  regression ("a metric that disappears cannot pass the gate"), skipped with ``--allow-missing``;
* unreliable in either run's summary (e.g. ASR that cannot read the language): skipped, not gated;
* candidate failures on utterances the baseline scored: a regression (a lost score is never accepted);
* n = 0 (no utterance with a value in both runs) or n < ``--min-n``: skipped, with the reason;
* otherwise *tested*: a regression when the candidate is worse by MORE than the tolerance, decided
  by a one-sided paired sign-flip test of "mean difference beyond -tolerance" (H0: worse by at most
  the tolerance; codecbench.stats.margin_p) with p < ``--alpha``. The decision is the test, not the
  CI: the CI shown is descriptive. Worse beyond the tolerance without significance is a warning
  ("⚠️", only for a tolerance above 0), not a regression. With ``--holm`` the p-values of all tested
  pairs are Holm-adjusted first (family-wise error <= alpha over the gate).

The gate cannot pass by skipping: when no per-language pair of a metric named in ``--max-drop``/
``--max-rise`` was tested (or, for the default gate, no per-language pair at all), the gate fails
unless ``--allow-skipped``; the pooled "all" row does not count, as it cannot see a regression
confined to one language. Skipped pairs are JUnit ``<skipped>``, never passes.

``--power`` prints, instead of a verdict, the smallest worsening each gated pair would detect with
``--power-level`` (default 0.8) at the runs' n and the spread of their paired differences, and with
``--detect METRIC=CHANGE`` the n per language needed to detect that change (codecbench.stats).

The markdown (PR comment) shows the verdict, how many pairs were tested, what regressed or was
skipped and the key rows within ~40 lines; every row is in folded sections.
Exit status: 0 no regression, 1 regression or a gate that tested nothing (the pairs are named),
2 error (mismatched utterance sets, missing run files, unknown metric, no codec to pair).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from codecbench.report.compare_verdict import finalize
from codecbench.report.comparison import ALLOWED_MISSING, CompareError, Comparison, languages
from codecbench.report.runs import ALL_LANGS, COST_FAMILIES, Run
from codecbench.store import FAILURE_SUFFIX, KIND_SUFFIX
from codecbench.types import FailureKind


def parse_thresholds(text: str | None) -> dict[str, float]:
    """``pesq_wb=0.05,stoi=0.01`` -> {"pesq_wb": 0.05, "stoi": 0.01}."""
    out: dict[str, float] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        try:
            tol = float(value)
        except ValueError:
            tol = float("nan")
        if not sep or not name.strip() or not math.isfinite(tol) or tol < 0:
            raise CompareError(f"bad threshold {part!r}: expected METRIC=NON_NEGATIVE_NUMBER")
        out[name.strip()] = tol
    return out


def pair_codecs(base: Run, cand: Run, codecs: list[str] | None, baseline_codec: str | None,
                candidate_codec: str | None) -> list[tuple[str, str]]:
    """Which baseline codec is compared with which candidate codec."""
    b_codecs = set(base.rows()["codec"].unique())
    c_codecs = set(cand.rows()["codec"].unique())
    if baseline_codec or candidate_codec:
        if not (baseline_codec and candidate_codec):
            raise CompareError("--baseline-codec and --candidate-codec go together")
        if baseline_codec not in b_codecs:
            raise CompareError(f"baseline run has no codec {baseline_codec!r} (has: {', '.join(sorted(b_codecs))})")
        if candidate_codec not in c_codecs:
            raise CompareError(f"candidate run has no codec {candidate_codec!r} (has: {', '.join(sorted(c_codecs))})")
        return [(baseline_codec, candidate_codec)]
    if codecs:
        missing = [c for c in codecs if c not in b_codecs or c not in c_codecs]
        if missing:
            raise CompareError(f"codec(s) not in both runs: {', '.join(missing)}")
        return [(c, c) for c in codecs]
    common = sorted(b_codecs & c_codecs)
    if common:
        return [(c, c) for c in common]
    if len(b_codecs) == 1 and len(c_codecs) == 1:
        return [(next(iter(b_codecs)), next(iter(c_codecs)))]
    raise CompareError("the runs share no codec name; name the pair with --baseline-codec/--candidate-codec")


@dataclass
class _Gate:
    """What compare_runs needs besides the runs: tolerances and rules."""

    tolerances: dict[str, float]
    alpha: float
    min_n: int
    allow_missing: bool
    resamples: int


def compare_runs(base: Run, cand: Run, pairs: list[tuple[str, str]], max_drop: dict[str, float],
                 max_rise: dict[str, float], alpha: float = 0.05, metrics: list[str] | None = None,
                 resamples: int = 2000, min_n: int = 1, allow_missing: bool = False,
                 holm: bool = False) -> list[Comparison]:
    """Every (pair, language, metric) comparison with its verdict; raises CompareError when the runs
    do not match. ``holm``: tested pairs' p-values are Holm-adjusted over the gate."""
    outputs = {**cand.outputs(), **base.outputs()}
    for name in [*max_drop, *max_rise, *(metrics or [])]:
        if name not in outputs:
            raise CompareError(f"unknown metric {name!r} (known: {', '.join(sorted(outputs))})")
    for name in [*max_drop, *max_rise]:
        if outputs[name].higher_is_better is None:
            raise CompareError(f"metric {name!r} has no better direction; it cannot be gated")
    for name in max_drop:
        if not outputs[name].higher_is_better:
            raise CompareError(f"{name} is lower-is-better: use --max-rise {name}=... instead of --max-drop")
    for name in max_rise:
        if outputs[name].higher_is_better:
            raise CompareError(f"{name} is higher-is-better: use --max-drop {name}=... instead of --max-rise")
    if min_n < 1:
        raise CompareError("--min-n must be at least 1")
    if not 0 < alpha < 1:
        raise CompareError("--alpha must be between 0 and 1")
    brows, crows = base.gate_rows(), cand.gate_rows()  # rows + per-utterance values of corpus outputs
    directional = [k for k, o in outputs.items() if o.higher_is_better is not None]
    in_base = [k for k in directional if k in brows.columns or base.outputs().get(k)]
    quality = [k for k in in_base if outputs[k].metric not in COST_FAMILIES]
    gate = _Gate({**max_drop, **max_rise} or dict.fromkeys(quality, 0.0), alpha, min_n, allow_missing, resamples)
    names = metrics or sorted(set(in_base) | set(gate.tolerances)
                              | {k for k in directional if k in brows.columns and k in crows.columns})
    results: list[Comparison] = []
    for bcodec, ccodec in pairs:
        b = brows[brows["codec"] == bcodec].set_index("utt_id")
        c = crows[crows["codec"] == ccodec].set_index("utt_id")
        if set(b.index) != set(c.index):
            only_b, only_c = sorted(set(b.index) - set(c.index)), sorted(set(c.index) - set(b.index))
            raise CompareError(
                f"utterance sets differ for {bcodec} vs {ccodec}: {len(only_b)} only in baseline "
                f"({', '.join(only_b[:3])}{'...' if len(only_b) > 3 else ''}), {len(only_c)} only in candidate "
                f"({', '.join(only_c[:3])}{'...' if len(only_c) > 3 else ''})")
        c = c.loc[b.index]
        if not (b["lang"].astype(str).values == c["lang"].astype(str).values).all():
            raise CompareError(f"utterance languages differ between the runs for {bcodec} vs {ccodec}")
        langs = sorted(b["lang"].astype(str).unique())
        for name in names:
            for lang in languages(langs):
                sel = np.ones(len(b), bool) if lang == ALL_LANGS else (b["lang"].astype(str) == lang).values
                results.append(_compare_one(base, cand, b[sel], c[sel], (bcodec, ccodec), lang, name,
                                            bool(outputs[name].higher_is_better), gate))
    return finalize(results, alpha, holm)


def _compare_one(base: Run, cand: Run, b, c, pair: tuple[str, str], lang: str, name: str, hib: bool,
                 gate: _Gate) -> Comparison:
    """One (pair, language, metric) comparison: its figures and, for a gated pair, whether it is
    skipped, a regression regardless of the test, or tested (the verdict: compare_verdict.finalize)."""
    from codecbench.stats import margin_p, paired_difference

    bv, bk = _values(b, name), _kinds(b, name)
    cv, ck = _values(c, name), _kinds(c, name)
    new_fail = int(np.sum(np.isfinite(bv) & (ck == FailureKind.FAILED.value)))
    strata = b["lang"].astype(str).to_numpy() if lang == ALL_LANGS else None
    d = paired_difference(bv, cv, level=1.0 - gate.alpha, resamples=gate.resamples, strata=strata)
    ok = np.isfinite(bv) & np.isfinite(cv)
    tol = gate.tolerances.get(name)
    diffs = cv[ok] - bv[ok]
    comp = Comparison(pair[0], pair[1], lang, name, hib, int(d["n"]),
                      float(np.mean(bv[ok])) if ok.any() else math.nan, float(np.mean(cv[ok])) if ok.any() else math.nan,
                      d["mean_diff"], d["ci_low"], d["ci_high"], d["p_value"], new_fail, tol, False, "",
                      sd_diff=float(np.std(diffs, ddof=1)) if len(diffs) > 1 else math.nan)
    b_gone = _gone(base, b, name, bk)
    c_gone = _gone(cand, c, name, ck)
    unreliable = _unreliable(base, pair[0], lang, name, "baseline") or _unreliable(cand, pair[1], lang, name, "candidate")
    if b_gone:
        comp.skipped = f"baseline: {b_gone}"
    elif c_gone and np.isfinite(bv).any():
        if tol is not None and not gate.allow_missing:
            comp.failure = f"missing from the candidate ({c_gone}); --allow-missing accepts this"
        else:
            comp.skipped = f"candidate: {c_gone}" + (ALLOWED_MISSING if tol is not None else "")
    elif unreliable:
        comp.skipped = f"not gated: {unreliable}"
    elif new_fail and tol is not None:
        comp.failure = f"{new_fail} utterance(s) failed in the candidate only"
    elif d["n"] == 0:
        comp.skipped = "n = 0: no utterance has a value in both runs"
    elif d["n"] < gate.min_n:
        comp.skipped = f"n = {d['n']} < --min-n {gate.min_n}"
    elif tol is not None:
        comp.tested = True
        comp.p_value = margin_p(diffs if hib else -diffs, tol)
    return comp


def _gone(run: Run, rows, name: str, kinds: np.ndarray) -> str:
    """Why a run has no values of ``name`` at all ('' when it has some or failed on its own)."""
    meta = run.outputs().get(name)
    if meta is not None and meta.unavailable:
        return f"unavailable: {meta.unavailable}"
    if name not in rows.columns:
        return "not in the run"
    if len(kinds) and (kinds == FailureKind.UNAVAILABLE.value).all():
        reasons = rows[name + FAILURE_SUFFIX].fillna("").astype(str)
        return f"unavailable: {reasons.iloc[0]}"
    return ""


def _unreliable(run: Run, codec: str, lang: str, name: str, which: str) -> str:
    """The summary's reason when it calls (codec, lang, name) unreliable, else ''."""
    if "compare_unreliable" not in run._cache:  # indexed once per run: compare asks for every pair
        s = run.summary()
        hit = s[s["status"] == "unreliable"]
        run._cache["compare_unreliable"] = {
            (str(r.codec), str(r.lang), str(r.metric)): str(r.note) for r in hit.itertuples(index=False)}
    note = run._cache["compare_unreliable"].get((codec, lang, name))
    return f"unreliable in the {which} summary ({note})" if note is not None else ""


def _values(rows, name: str) -> np.ndarray:
    """A metric column as floats, NaN wherever the row records a failure reason (failed or unreliable)."""
    if name not in rows.columns:
        return np.full(len(rows), np.nan)
    v = rows[name].to_numpy(dtype=np.float64, na_value=np.nan).copy()
    fc = name + FAILURE_SUFFIX
    if fc in rows.columns:
        v[rows[fc].fillna("").astype(str).to_numpy() != ""] = np.nan
    return v


def _kinds(rows, name: str) -> np.ndarray:
    """Failure kind per row ('' for a value; 'failed' for a reason without a recorded kind)."""
    if name not in rows.columns:
        return np.full(len(rows), FailureKind.UNAVAILABLE.value, dtype=object)
    reasons = rows[name + FAILURE_SUFFIX].fillna("").astype(str) if name + FAILURE_SUFFIX in rows.columns else \
        rows[name].map(lambda _: "")
    kinds = rows[name + KIND_SUFFIX].fillna("").astype(str) if name + KIND_SUFFIX in rows.columns else reasons.map(lambda _: "")
    out = np.where(reasons.to_numpy() == "", "", kinds.to_numpy())
    out[(reasons.to_numpy() != "") & (out == "")] = FailureKind.FAILED.value
    return out.astype(object)
