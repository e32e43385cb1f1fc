"""``codecbench compare``'s command line: options, outputs (markdown, JUnit, stderr) and exit status.
What the comparison and its verdicts are: codecbench/report/compare.py and compare_verdict.py."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codecbench.report import compare
from codecbench.report.compare import compare_runs, pair_codecs, parse_thresholds
from codecbench.report.comparison import CompareError
from codecbench.report.runs import Run, RunError, parse_labels
from codecbench.schema import Number, Whole

MIN_RESAMPLES = 100


def cmd_compare(args: argparse.Namespace) -> int:
    from codecbench.report.compare_verdict import finalize, power_markdown, unchecked

    try:
        base, cand = Run.open(args.baseline), Run.open(args.candidate)
        parse_labels(args.label, [base, cand])
        pairs = pair_codecs(base, cand, args.codec, args.baseline_codec, args.candidate_codec)
        max_drop, max_rise = parse_thresholds(args.max_drop), parse_thresholds(args.max_rise)
        detect = parse_thresholds(args.detect)
        contrast_rise = {k: v for k, v in max_rise.items() if k.startswith("abx_loss:")}  # minimal-pair ABX gate
        max_rise = {k: v for k, v in max_rise.items() if k not in contrast_rise}
        results = compare_runs(base, cand, pairs, max_drop, max_rise, alpha=args.alpha, metrics=args.metrics,
                               resamples=args.resamples, min_n=args.min_n, allow_missing=args.allow_missing,
                               holm=args.holm)
        if contrast_rise:
            from codecbench.report.contrast_gate import gate_contrast_loss

            results = gate_contrast_loss(base, cand, pairs, contrast_rise, results, not (max_drop or max_rise),
                                         alpha=args.alpha, resamples=args.resamples)
            results = finalize(results, args.alpha, args.holm)
        unknown = sorted(set(detect) - {r.metric for r in results if r.gated})
        if unknown:
            raise CompareError(f"--detect names metric(s) the gate does not gate: {', '.join(unknown)}")
    except (CompareError, RunError, FileNotFoundError, ValueError, KeyError) as exc:
        print(f"codecbench compare: error: {exc}", file=sys.stderr)
        return 2
    if args.power:
        print(power_markdown(results, args.alpha, args.power_level, args.holm, detect))
        return 0
    from codecbench.report.compare_render import junit_xml, markdown_summary

    explicit = {*max_drop, *max_rise, *contrast_rise}
    empty = [] if args.allow_skipped else unchecked(results, explicit)
    md = markdown_summary(results, base, cand, args.alpha, holm=args.holm, unchecked=empty)
    print(md)
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(md, encoding="utf-8")
    if args.junit:
        Path(args.junit).parent.mkdir(parents=True, exist_ok=True)
        Path(args.junit).write_text(junit_xml(results, empty), encoding="utf-8")
    warnings = [r for r in results if r.warning]
    for r in warnings[:10]:
        print(f"warning: {r.label}: {r.warning}", file=sys.stderr)
    if len(warnings) > 10:
        print(f"warning: {len(warnings) - 10} more pairs worse beyond their tolerance without significance", file=sys.stderr)
    skipped = [r for r in results if r.gated and r.skipped]
    if skipped:
        print(f"skipped {len(skipped)} gated pair(s), e.g. {skipped[0].label}: {skipped[0].skipped}", file=sys.stderr)
    for line in empty:
        print(f"gate failed: {line}", file=sys.stderr)
    regressed = [r for r in results if r.regressed]
    if regressed:
        print("regression in: " + ", ".join(f"{r.label} ({r.reason})" for r in regressed), file=sys.stderr)
    return 1 if regressed or empty else 0


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compare", help="paired per-utterance comparison of two runs; exit 1 on a regression (CI gate)",
        description=compare.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    p.add_argument("--min-n", type=Whole(1), default=1,
                   help="pairs with fewer utterances scored in both runs are skipped, not gated (default 1)")
    p.add_argument("--allow-missing", action="store_true",
                   help="a gated metric missing from the candidate is skipped instead of failing the gate")
    p.add_argument("--allow-skipped", action="store_true",
                   help="pass a gate in which a gated metric had no per-language pair tested (default: it fails)")
    p.add_argument("--holm", action="store_true",
                   help="Holm-adjust the p-values of all tested pairs (family-wise error <= --alpha over the gate)")
    p.add_argument("--label", action="append", default=None, metavar="RUN=NAME",
                   help="name a run in the output (RUN: its folder or run id); repeatable")
    p.add_argument("--alpha", type=Number(0, 1, above=True, below=True), default=0.05,
                   help="level of the one-sided test against the tolerance, and 1 - the CI level (default 0.05)")
    p.add_argument("--resamples", type=Whole(MIN_RESAMPLES), default=2000,
                   help=f"bootstrap resamples for the CI (default 2000; at least {MIN_RESAMPLES}: the CI's tails need them)")
    p.add_argument("--power", action="store_true",
                   help="print the smallest worsening each gated pair detects at the runs' n and spread (no verdict)")
    p.add_argument("--power-level", type=Number(0, 1, above=True, below=True), default=0.8, help="with --power: the detection probability (default 0.8)")
    p.add_argument("--detect", default=None, metavar="METRIC=CHANGE",
                   help="with --power: changes that must be caught, e.g. pesq_wb=0.1; prints the n needed per language")
    p.add_argument("--markdown", default=None, help="also write the markdown summary (PR comment) here")
    p.add_argument("--junit", default=None, help="write JUnit XML here (one test case per gated pair)")
    p.set_defaults(func=cmd_compare)
