"""compare's verdicts over all pairs: the test against the tolerance (optionally Holm-adjusted), the
gate that tested nothing, and the power table (``--power``). Statistics: codecbench.stats."""

from __future__ import annotations

import math
from collections import defaultdict

from codecbench.report.cells import md_text
from codecbench.report.comparison import ALLOWED_MISSING, Comparison
from codecbench.report.runs import ALL_LANGS
from codecbench.stats import EXACT_MAX_N, detectable_change, holm, n_for_change


def finalize(results: list[Comparison], alpha: float, use_holm: bool = False) -> list[Comparison]:
    """Set each gated pair's verdict (idempotent: called again when pairs are added).

    A tested pair regresses when its one-sided p (Holm-adjusted over every tested pair with
    ``use_holm``) is below ``alpha``; one worse beyond its tolerance without that gets a warning
    (tolerance > 0 only: with tolerance 0 a non-significant change is noise, not news). A pair with a
    ``failure`` (new failures, a metric gone) regresses whatever the test says."""
    tested = [r for r in results if r.tested]
    adjusted = holm([r.p_value for r in tested]) if use_holm else [r.p_value for r in tested]
    for r, q in zip(tested, adjusted, strict=True):
        r.p_adjusted = q
    for r in results:
        reasons = [r.failure] if r.failure else []
        r.warning = ""
        if r.tested and r.gated:
            p_text = f"one-sided p={r.p_value:.3g}" + (f", Holm {r.p_adjusted:.3g}" if use_holm else "")
            if r.p_adjusted < alpha:
                word = ("drop" if r.higher_is_better else "rise") if not r.quantity else \
                    f"{r.quantity} {'dropped' if r.higher_is_better else 'rose'}"
                reasons.append(f"{word} {abs(r.mean_diff):.4g} beyond the tolerance {r.tolerance:g} ({p_text})")
            elif r.worsening > r.tolerance and r.tolerance > 0:
                few = 2.0 ** -r.n >= alpha and r.n <= EXACT_MAX_N  # even the most extreme signs cannot reach alpha
                r.warning = (f"worse by {r.worsening:.4g} > {r.tolerance:g} but not significantly beyond it ({p_text}"
                             + (f"; n={r.n} is too few to reach p < {alpha:g})" if few else ")"))
        r.regressed, r.reason = bool(reasons), "; ".join(reasons)
    return results


def unchecked(results: list[Comparison], explicit: set[str]) -> list[str]:
    """Why the gate tested nothing, one line per case ([] when it tested something).

    ``explicit``: metrics named with a tolerance; each must have a tested (or regressed) per-language
    pair, or be missing from the candidate under ``--allow-missing``. The default gate (none named) must have one per-language pair at all. The pooled "all" row
    is not counted when there are several languages: it cannot see a regression in one of them."""
    gated = [r for r in results if r.gated]

    def checked(r: Comparison) -> bool:  # a metric missing under --allow-missing was accepted by name
        return r.tested or r.regressed or r.skipped.endswith(ALLOWED_MISSING)

    by_metric: dict[str, list[Comparison]] = defaultdict(list)
    for r in gated:
        if r.lang != ALL_LANGS:  # with one language there is no "all" row (compare.languages)
            by_metric[r.metric].append(r)
    lines = []
    if explicit:
        for name in sorted(explicit):
            rs = by_metric.get(name, [])
            if not any(checked(r) for r in rs):
                lines.append(f"{name}: none of its {len(rs)} per-language pair(s) was tested ({_why(rs)}); "
                             "--allow-skipped accepts this")
    elif gated and not any(checked(r) for rs in by_metric.values() for r in rs):
        n = sum(len(rs) for rs in by_metric.values())
        lines.append(f"none of the {n} per-language pair(s) of the default gate was tested "
                     f"({_why([r for rs in by_metric.values() for r in rs])}); --allow-skipped accepts this")
    return lines


def _why(rs: list[Comparison]) -> str:
    reasons = list(dict.fromkeys(r.skipped for r in rs if r.skipped))
    if not reasons:
        return "no pairs"
    return "; ".join(reasons[:2]) + (f"; {len(reasons) - 2} other reasons" if len(reasons) > 2 else "")


def tested_counts(results: list[Comparison]) -> dict[str, tuple[int, int]]:
    """Per gated metric: (per-language pairs tested or regressed, per-language gated pairs)."""
    out: dict[str, list[int]] = {}
    for r in results:
        if r.gated and r.lang != ALL_LANGS:
            c = out.setdefault(r.metric, [0, 0])
            c[0] += int(r.tested or r.regressed)
            c[1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def power_markdown(results: list[Comparison], alpha: float, power: float, use_holm: bool,
                   detect: dict[str, float]) -> str:
    """The power table: per gated pair, the smallest worsening detected with probability ``power`` at its
    n and spread, and the n per language that detects each ``detect`` change."""
    rows = [r for r in results if r.gated and r.n >= 2 and math.isfinite(r.sd_diff)]
    m = max(1, sum(1 for r in results if r.tested)) if use_holm else 1
    level = alpha / m
    lines = [f"### codecbench compare --power: smallest worsening detected with probability {power:g}", "",
             f"One-sided sign-flip test of \"worse by more than the tolerance\" at level {level:.3g}"
             + (f" (alpha {alpha:g} / {m} tested pairs: Holm's first step)" if use_holm else "")
             + "; sd: standard deviation of the per-utterance differences between the two runs "
             "(t approximation, codecbench.stats.detectable_change). Use two runs of *different* checkpoints: "
             "a codec run twice on the same audio has no spread to learn from.", "",
             "| codec | lang | metric | n | sd(Δ) | tol. | detectable worsening |" + (" n needed to detect |" if detect else ""),
             "|---|---|---|---:|---:|---:|---:|" + ("---:|" if detect else "")]
    for r in rows:
        codec = r.candidate_codec if r.baseline_codec == r.candidate_codec else f"{r.baseline_codec} → {r.candidate_codec}"
        mde = detectable_change(r.sd_diff, r.n, level, power, r.tolerance or 0.0)
        cells = [md_text(codec), md_text(r.lang), md_text(r.metric), str(r.n), f"{r.sd_diff:.4g}", f"{r.tolerance:g}",
                 f"{mde:.4g}"]
        if detect:
            want = detect.get(r.metric)
            need = n_for_change(r.sd_diff, want, level, power, r.tolerance or 0.0) if want is not None else None
            cells.append("–" if want is None else f"{want:g}: " + ("not beyond the tolerance" if want <= (r.tolerance or 0)
                                                                  else "> 10^6" if need is None else str(need)))
        lines.append("| " + " | ".join(cells) + " |")
    if not rows:
        lines.append("(no gated pair with two or more paired values)")
    return "\n".join(lines) + "\n"
