"""``codecbench compare BASELINE CANDIDATE``: a paired, per-utterance regression gate for CI.

For each paired codec, language (and "all", pooling every language) and metric output, the
difference candidate - baseline is taken per utterance over the utterances both runs scored, with a
bootstrap CI of its mean and a two-sided sign-flip permutation p-value (codecbench.stats.paired_difference).

Regression rule, for each gated metric (those named in ``--max-drop``/``--max-rise``; when neither is
given, every quality metric with a direction, with tolerance 0 — cost metrics such as real-time factors
and bitrates are reported, not gated):

* the mean change is in the worse direction (drop for higher-is-better, rise for lower-is-better,
  from metrics.json) by MORE than the tolerance, AND the difference is significant (p < ``--alpha``); or
* the candidate failed utterances that the baseline scored (a lost score is never silently accepted).

A gated pair that is worse beyond its tolerance without significance (too few utterances, or noise)
is not a regression but is flagged "⚠️" in the summary and warned about on stderr.
No multiple-comparison correction is applied; lower ``--alpha`` when gating many pairs.
Exit status: 0 no regression, 1 regression (the pairs are named), 2 error (mismatched utterance
sets, missing run files, unknown metric, no codec to pair).
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from codecbench.errors import CodecbenchError
from codecbench.report.runs import ALL_LANGS, COST_FAMILIES, Run, RunError


class CompareError(CodecbenchError):
    """The runs cannot be compared (exit status 2)."""


@dataclass
class Comparison:
    baseline_codec: str
    candidate_codec: str
    lang: str
    metric: str
    higher_is_better: bool
    n: int
    baseline_mean: float
    candidate_mean: float
    mean_diff: float
    ci_low: float
    ci_high: float
    p_value: float
    new_failures: int
    tolerance: float | None  # None: reported, not gated
    regressed: bool
    reason: str
    warning: str = ""  # worse beyond the tolerance but not significant: not a regression, but said

    @property
    def label(self) -> str:
        codec = self.candidate_codec if self.baseline_codec == self.candidate_codec else \
            f"{self.baseline_codec}->{self.candidate_codec}"
        return f"{codec}/{self.lang}/{self.metric}"

    @property
    def worsening(self) -> float:
        """How much worse the candidate is (positive = worse), in the metric's units."""
        return -self.mean_diff if self.higher_is_better else self.mean_diff


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


def compare_runs(base: Run, cand: Run, pairs: list[tuple[str, str]], max_drop: dict[str, float],
                 max_rise: dict[str, float], alpha: float = 0.05, metrics: list[str] | None = None,
                 resamples: int = 2000) -> list[Comparison]:
    """Every (pair, language, metric) comparison; raises CompareError when the runs do not match."""
    from codecbench.stats import paired_difference

    outputs = {**cand.outputs(), **base.outputs()}
    directional = {k: o for k, o in outputs.items() if o.higher_is_better is not None}
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
    quality = [k for k, o in directional.items() if o.metric not in COST_FAMILIES]
    brows, crows = base.rows(), cand.rows()
    in_both = [k for k in directional if k in brows.columns and k in crows.columns]
    gated = {**max_drop, **max_rise} or dict.fromkeys((k for k in quality if k in in_both), 0.0)
    names = metrics or sorted(set(in_both) | set(gated))
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
            if name not in b.columns or name not in c.columns:
                missing_in = "baseline" if name not in b.columns else "candidate"
                raise CompareError(f"metric {name!r} is missing from the {missing_in} run's rows")
            hib = bool(outputs[name].higher_is_better)
            for lang in [*langs, ALL_LANGS]:
                sel = np.ones(len(b), bool) if lang == ALL_LANGS else (b["lang"].astype(str) == lang).values
                bv, cv = _values(b, name)[sel], _values(c, name)[sel]
                new_fail = int(np.sum(np.isfinite(bv) & ~np.isfinite(cv)))
                d = paired_difference(bv, cv, level=1.0 - alpha, resamples=resamples)
                ok = np.isfinite(bv) & np.isfinite(cv)
                tol = gated.get(name)
                comp = Comparison(bcodec, ccodec, lang, name, hib, int(d["n"]),
                                  float(np.mean(bv[ok])) if ok.any() else math.nan,
                                  float(np.mean(cv[ok])) if ok.any() else math.nan,
                                  d["mean_diff"], d["ci_low"], d["ci_high"], d["p_value"], new_fail, tol, False, "")
                if tol is not None:
                    reasons = []
                    if d["n"] > 0 and comp.worsening > tol and d["p_value"] < alpha:
                        word = "drop" if hib else "rise"
                        reasons.append(f"{word} {abs(comp.mean_diff):.4g} > {tol:g} (p={d['p_value']:.3g})")
                    if new_fail:
                        reasons.append(f"{new_fail} utterance(s) failed in the candidate only")
                    comp.regressed = bool(reasons)
                    comp.reason = "; ".join(reasons)
                    if d["n"] > 0 and comp.worsening > tol and not d["p_value"] < alpha:
                        small = d["n"] <= 16 and 2.0 / 2 ** d["n"] >= alpha
                        comp.warning = (f"worse by {comp.worsening:.4g} > {tol:g} but not significant (p={d['p_value']:.3g}"
                                        + (f"; n={d['n']} is too few to reach p < {alpha:g})" if small else ")"))
                results.append(comp)
    return results


def _values(rows, name: str) -> np.ndarray:
    """A metric column as floats, NaN wherever the row records a failure reason (failed or unreliable)."""
    v = rows[name].to_numpy(dtype=np.float64, na_value=np.nan).copy()
    fc = name + "__failure"
    if fc in rows.columns:
        v[rows[fc].fillna("").astype(str).to_numpy() != ""] = np.nan
    return v


def _fmt(v: float, digits: int = 3) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def markdown_summary(results: list[Comparison], base: Run, cand: Run, alpha: float) -> str:
    regressed = [r for r in results if r.regressed]
    head = (f"### codecbench compare: {'❌ regression' if regressed else '✅ no regression'}\n\n"
            f"Baseline `{_tick(base.name)}` vs candidate `{_tick(cand.name)}`; paired per utterance, "
            f"{100 * (1 - alpha):.0f}% bootstrap CI of the difference, sign-flip permutation p-value; "
            f"regression = worse by more than the tolerance with p < {alpha:g}, or new failures.\n\n")
    if regressed:
        head += "**Regressed:** " + ", ".join(f"`{_tick(r.label)}`" for r in regressed) + "\n\n"
    gated = [r for r in results if r.tolerance is not None]
    info = [r for r in results if r.tolerance is None and (r.n > 0 or r.new_failures)]
    out = head + _md_table(gated) if gated else head + "No gated metric.\n"
    if info:
        out += ("\n<details><summary>Other metrics (reported, not gated)</summary>\n\n" + _md_table(info)
                + "\n</details>\n")
    return out


def _md_table(results: list[Comparison]) -> str:
    lines = ["| codec | lang | metric | n | baseline | candidate | Δ [CI] | p | tolerance | verdict |",
             "|---|---|---|---:|---:|---:|---|---:|---:|---|"]
    for r in results:
        codec = r.candidate_codec if r.baseline_codec == r.candidate_codec else f"{r.baseline_codec} → {r.candidate_codec}"
        arrow = "↑" if r.higher_is_better else "↓"
        tol = "–" if r.tolerance is None else f"{r.tolerance:g}"
        verdict = ("❌ " + r.reason) if r.regressed else ("⚠️ " + r.warning) if r.warning else \
            ("✅" if r.tolerance is not None else "info")
        lines.append(f"| {_md(codec)} | {_md(r.lang)} | {_md(r.metric)} {arrow} | {r.n} | {_fmt(r.baseline_mean)} | "
                     f"{_fmt(r.candidate_mean)} | {_fmt(r.mean_diff, 4)} [{_fmt(r.ci_low, 4)}, {_fmt(r.ci_high, 4)}] | "
                     f"{_fmt(r.p_value, 3)} | {tol} | {_md(verdict)} |")
    return "\n".join(lines) + "\n"


def _tick(text: str) -> str:
    """Text safe inside a markdown code span."""
    return str(text).replace("`", "'")


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def junit_xml(results: list[Comparison]) -> str:
    gated = [r for r in results if r.tolerance is not None]
    failures = sum(r.regressed for r in gated)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<testsuites name="codecbench-compare" tests="{len(gated)}" failures="{failures}">',
           f'  <testsuite name="codecbench-compare" tests="{len(gated)}" failures="{failures}" errors="0">']
    for r in gated:
        codec = r.candidate_codec if r.baseline_codec == r.candidate_codec else f"{r.baseline_codec}->{r.candidate_codec}"
        detail = (f"baseline {_fmt(r.baseline_mean)}, candidate {_fmt(r.candidate_mean)}, diff {_fmt(r.mean_diff, 4)} "
                  f"[{_fmt(r.ci_low, 4)}, {_fmt(r.ci_high, 4)}], p={_fmt(r.p_value)}, n={r.n}, tolerance {r.tolerance:g}")
        out.append(f"    <testcase classname={quoteattr('codecbench.' + codec)} name={quoteattr(f'{r.lang}/{r.metric}')}>")
        if r.regressed:
            out.append(f"      <failure message={quoteattr(r.reason)}>{escape(detail)}</failure>")
        else:
            note = f" (warning: {r.warning})" if r.warning else ""
            out.append(f"      <system-out>{escape(detail + note)}</system-out>")
        out.append("    </testcase>")
    out += ["  </testsuite>", "</testsuites>"]
    return "\n".join(out) + "\n"


def cmd_compare(args: argparse.Namespace) -> int:
    try:
        base, cand = Run.open(args.baseline), Run.open(args.candidate)
        pairs = pair_codecs(base, cand, args.codec, args.baseline_codec, args.candidate_codec)
        max_drop, max_rise = parse_thresholds(args.max_drop), parse_thresholds(args.max_rise)
        contrast_rise = {k: v for k, v in max_rise.items() if k.startswith("abx_loss:")}  # minimal-pair ABX gate
        max_rise = {k: v for k, v in max_rise.items() if k not in contrast_rise}
        results = compare_runs(base, cand, pairs, max_drop, max_rise,
                               alpha=args.alpha, metrics=args.metrics, resamples=args.resamples)
        if contrast_rise:
            from codecbench.report.contrast_gate import gate_contrast_loss

            results = gate_contrast_loss(base, cand, pairs, contrast_rise, results, not (max_drop or max_rise),
                                         alpha=args.alpha, resamples=args.resamples)
    except (CompareError, RunError, FileNotFoundError, ValueError, KeyError) as exc:
        print(f"codecbench compare: error: {exc}", file=sys.stderr)
        return 2
    md = markdown_summary(results, base, cand, args.alpha)
    print(md)
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(md, encoding="utf-8")
    if args.junit:
        Path(args.junit).parent.mkdir(parents=True, exist_ok=True)
        Path(args.junit).write_text(junit_xml(results), encoding="utf-8")
    for r in results:
        if r.warning:
            print(f"warning: {r.label}: {r.warning}", file=sys.stderr)
    regressed = [r for r in results if r.regressed]
    if regressed:
        print("regression in: " + ", ".join(f"{r.label} ({r.reason})" for r in regressed), file=sys.stderr)
        return 1
    return 0


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compare", help="paired per-utterance comparison of two runs; exit 1 on a regression (CI gate)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("baseline", help="baseline run folder")
    p.add_argument("candidate", help="candidate run folder")
    p.add_argument("--codec", type=_csv, default=None, help="comma-separated codec names present in both runs "
                   "(default: every codec name the runs share, or the only codec of each)")
    p.add_argument("--baseline-codec", default=None, help="codec of the baseline run to compare ...")
    p.add_argument("--candidate-codec", default=None, help="... with this codec of the candidate run")
    p.add_argument("--metrics", type=_csv, default=None, help="metric outputs to report (default: all with a direction)")
    p.add_argument("--max-drop", default=None, help="tolerated drops of higher-is-better metrics, e.g. pesq_wb=0.05,stoi=0.01")
    p.add_argument("--max-rise", default=None, help="tolerated rises of lower-is-better metrics, e.g. wer=0.02; "
                   "abx_loss:CONTRAST=0.05 (or abx_loss:all) gates minimal-pair contrast loss (docs/abx.md)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of the permutation test (default 0.05)")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples for the CI (default 2000)")
    p.add_argument("--markdown", default=None, help="also write the markdown summary (PR comment) here")
    p.add_argument("--junit", default=None, help="write JUnit XML here (one test case per gated pair)")
    p.set_defaults(func=cmd_compare)
