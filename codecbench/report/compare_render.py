"""compare's outputs: the PR-comment markdown (short, the rest folded) and JUnit XML."""

from __future__ import annotations

import math
from collections import Counter
from xml.sax.saxutils import escape, quoteattr

from codecbench.report.cells import md_text
from codecbench.report.comparison import Comparison
from codecbench.report.runs import Run

MAX_SHOWN = 20  # rows of the visible table; the PR comment stays within ~40 lines, the rest is folded


def _fmt(v: float, digits: int = 3) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def _tick(text: str) -> str:
    """Text safe inside a markdown code span."""
    return str(text).replace("`", "'")



def _run_text(run: Run) -> str:
    rid = run._json("config.json", {}).get("run_id") or run.dir.name
    extra = [f"run `{_tick(rid)}`"] if rid != run.name else []
    extra += [f"rev `{_tick(run.revision)}`"] if run.revision else []
    return f"**{md_text(run.name)}**" + (f" ({', '.join(extra)})" if extra else "")


def _short(text: str, limit: int = 140) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def verdict(r: Comparison) -> str:
    if r.regressed:
        return "❌ " + r.reason
    if r.skipped:
        return "⏭️ skipped: " + r.skipped
    if r.warning:
        return "⚠️ " + r.warning
    return "✅" if r.gated else "info"


def markdown_summary(results: list[Comparison], base: Run, cand: Run, alpha: float, holm: bool = False,
                     unchecked: list[str] | None = None) -> str:
    """The PR comment: verdict, how many pairs were tested, what regressed or was skipped, the key rows;
    every row in folds. ``unchecked``: why the gate tested nothing (compare_verdict.unchecked): a failure."""
    from codecbench.report.compare_verdict import tested_counts

    unchecked = unchecked or []
    regressed = [r for r in results if r.regressed]
    gated = [r for r in results if r.gated]
    skipped = [r for r in gated if r.skipped]
    tested = [r for r in gated if r.tested]
    info = [r for r in results if not r.gated and (r.n > 0 or r.new_failures or r.skipped.startswith("not gated"))]
    head = "❌ regression" if regressed else "❌ nothing tested" if unchecked else "✅ no regression"
    counts = tested_counts(results)
    per_metric = ", ".join(f"{md_text(m)} {t}/{n}" for m, (t, n) in counts.items())
    per_lang = f" ({sum(t for t, _ in counts.values())} of {sum(n for _, n in counts.values())} per-language pairs)"
    lines = [f"### codecbench compare: {head}", "",
             f"Baseline {_run_text(base)} vs candidate {_run_text(cand)}. Paired per utterance; "
             f"{100 * (1 - alpha):.0f}% bootstrap CI of the difference (descriptive). Regression = worse by more "
             f"than the tolerance by a one-sided sign-flip test (p < {alpha:g}"
             + (", Holm-adjusted over the tested pairs" if holm else "") + "), new failures, or a gated metric "
             "missing from the candidate. p in the table: one-sided against the tolerance for gated pairs, two-sided "
             "against no difference for the others.",
             "", f"{len(gated)} gated pairs: {len(tested)} tested{per_lang}, {len(regressed)} regressed, {len(skipped)} "
             f"skipped, {sum(bool(r.warning) for r in gated)} warnings."
             + (f" Per-language pairs tested, per metric: {per_metric}." if per_metric else ""),
             ""]
    from codecbench.datachecks import messages, read

    data = list(dict.fromkeys(m for run in (base, cand) for m in messages(read(run.dir))))
    if data:
        lines += ["**Data checks:** " + "; ".join(md_text(m) for m in data[:4])
                  + (f"; {len(data) - 4} more in the runs' data_checks.json" if len(data) > 4 else ""), ""]
    if unchecked:
        lines += ["**The gate tested nothing for:** " + "; ".join(md_text(x) for x in unchecked), ""]
    if regressed:
        names = ", ".join(f"`{_tick(r.label)}`" for r in regressed[:8])
        lines += [f"**Regressed:** {names}" + (f" and {len(regressed) - 8} more" if len(regressed) > 8 else ""), ""]
    if skipped:
        by_reason: dict[str, set[str]] = {}
        for r in skipped:
            by_reason.setdefault(r.skipped, set()).add(r.metric)
        parts = [f"{', '.join(sorted(ms))} — {md_text(_short(why))}" for why, ms in list(by_reason.items())[:3]]
        more = f"; {len(by_reason) - 3} other reasons" if len(by_reason) > 3 else ""
        lines += [f"**Skipped ({len(skipped)}):** " + "; ".join(parts) + more, ""]
    key = [r for r in gated if r.regressed] + [r for r in gated if r.warning and not r.regressed]
    if key:
        lines += _table(key[:MAX_SHOWN])
        if len(key) > MAX_SHOWN:
            lines.append(f"… {len(key) - MAX_SHOWN} more in the folded tables.")
    elif gated:  # nothing to point at: one line per codec pair
        lines += ["| codec | gated pairs | passed | skipped |", "|---|---:|---:|---:|"]
        pairs = Counter((r.baseline_codec, r.candidate_codec) for r in gated)
        for (b, c), n in list(pairs.items())[:MAX_SHOWN]:
            sk = sum(1 for r in skipped if (r.baseline_codec, r.candidate_codec) == (b, c))
            lines.append(f"| {md_text(c if b == c else f'{b} → {c}')} | {n} | {n - sk} | {sk} |")
    else:
        lines.append("No gated metric.")
    for title, rows in ((f"All {len(gated)} gated pairs", gated), (f"Skipped ({len(skipped)})", skipped),
                        (f"Other metrics ({len(info)}, reported, not gated)", info)):
        if rows:
            lines += ["", f"<details><summary>{title}</summary>", "", *_table(rows), "", "</details>"]
    return "\n".join(lines) + "\n"


def _p_text(r: Comparison) -> str:
    if r.tested and math.isfinite(r.p_adjusted) and r.p_adjusted != r.p_value:
        return f"{_fmt(r.p_value, 3)} (adj. {_fmt(r.p_adjusted, 3)})"
    return _fmt(r.p_value, 3)


def _table(results: list[Comparison]) -> list[str]:
    lines = ["| codec | lang | metric | n | baseline | candidate | Δ [CI] | p | tol. | verdict |",
             "|---|---|---|---:|---:|---:|---|---:|---:|---|"]
    for r in results:
        codec = r.candidate_codec if r.baseline_codec == r.candidate_codec else f"{r.baseline_codec} → {r.candidate_codec}"
        arrow = "↑" if r.higher_is_better else "↓"
        tol = "–" if r.tolerance is None else f"{r.tolerance:g}"
        lines.append(f"| {md_text(codec)} | {md_text(r.lang)} | {md_text(r.metric)} {arrow} | {r.n} | {_fmt(r.baseline_mean)} | "
                     f"{_fmt(r.candidate_mean)} | {_fmt(r.mean_diff, 4)} [{_fmt(r.ci_low, 4)}, {_fmt(r.ci_high, 4)}] | "
                     f"{_p_text(r)} | {tol} | {md_text(verdict(r))} |")
    return lines


def junit_xml(results: list[Comparison], unchecked: list[str] | None = None) -> str:
    """One test case per gated pair: a failure when it regressed, skipped (with the reason) when skipped;
    one failing case per line of ``unchecked`` (a gated metric of which nothing was tested)."""
    gated = [r for r in results if r.gated]
    unchecked = unchecked or []
    failures = sum(r.regressed for r in gated) + len(unchecked)
    skipped = sum(bool(r.skipped) and not r.regressed for r in gated)
    counts = f'tests="{len(gated) + len(unchecked)}" failures="{failures}" skipped="{skipped}"'
    out = ['<?xml version="1.0" encoding="UTF-8"?>', f'<testsuites name="codecbench-compare" {counts}>',
           f'  <testsuite name="codecbench-compare" {counts} errors="0">']
    for r in gated:
        codec = r.candidate_codec if r.baseline_codec == r.candidate_codec else f"{r.baseline_codec}->{r.candidate_codec}"
        detail = (f"baseline {_fmt(r.baseline_mean)}, candidate {_fmt(r.candidate_mean)}, diff {_fmt(r.mean_diff, 4)} "
                  f"[{_fmt(r.ci_low, 4)}, {_fmt(r.ci_high, 4)}], p={_p_text(r)}, n={r.n}, tolerance {r.tolerance:g}")
        out.append(f"    <testcase classname={quoteattr('codecbench.' + codec)} name={quoteattr(f'{r.lang}/{r.metric}')}>")
        if r.regressed:
            out.append(f"      <failure message={quoteattr(r.reason)}>{escape(detail)}</failure>")
        elif r.skipped:
            out.append(f"      <skipped message={quoteattr(r.skipped)}/>")
        else:
            note = f" (warning: {r.warning})" if r.warning else ""
            out.append(f"      <system-out>{escape(detail + note)}</system-out>")
        out.append("    </testcase>")
    for line in unchecked:
        name = line.split(":", 1)[0] if ":" in line else "gate"
        out += [f"    <testcase classname=\"codecbench.gate\" name={quoteattr(name + ': tested')}>",
                f"      <failure message={quoteattr(line)}/>", "    </testcase>"]
    out += ["  </testsuite>", "</testsuites>"]
    return "\n".join(out) + "\n"
