"""Claims with their evidence: how a standing ("A against B") is recorded and written.

A standing is never a bare "beats": it names the test set (and whether it was drawn from a training
corpus), n, and for each metric the mean paired difference candidate - baseline with its 95%
bootstrap CI and the two-sided sign-flip p (codecbench.stats.paired_difference). Its wording
follows the test at ``alpha``: "better" / "worse" when p < alpha, "no significant difference"
otherwise. The checkpoint cards (``config.json`` ``evaluation.standings``, written by
``bench/inhouse_vs_opus.py``), ``codecbench codecs`` and the reports write standings through this
module only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

ALPHA = 0.05
NO_DIFFERENCE = "no significant difference"


@dataclass(frozen=True)
class EvalSet:
    """What a standing was measured on."""

    name: str  # e.g. "../shared/testdata/hi (hindi-news-1h utterances 0-15)"
    n: int
    langs: tuple[str, ...] = ()
    training_corpus: str = ""  # the corpus the model was trained on, when the set was drawn from it
    held_out: bool = True  # the set's own items were left out of training
    note: str = ""  # what else a reader must know about the set (e.g. band-limited clips: codecbench.datachecks)

    def describe(self) -> str:
        langs = f" {'/'.join(self.langs)}" if self.langs else ""
        text = f"{self.n}{langs} clips of {self.name}"
        if self.training_corpus:
            held = "held out of training but" if self.held_out else "USED IN TRAINING and"
            text += (f"; {held} drawn from the training corpus {self.training_corpus} (same sources and "
                     "recording conditions: not an independent test set)")
        return text + (f"; {self.note}" if self.note else "")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalSet:
        return cls(str(d["name"]), int(d["n"]), tuple(d.get("langs") or ()), str(d.get("training_corpus") or ""),
                   bool(d.get("held_out", True)), str(d.get("note") or ""))


@dataclass(frozen=True)
class Difference:
    """One metric's paired difference candidate - baseline on a test set."""

    metric: str  # output column, e.g. pesq_wb
    label: str  # as written, e.g. PESQ-wb
    higher_is_better: bool
    n: int
    mean_diff: float
    ci_low: float
    ci_high: float
    p_value: float
    level: float = 0.95

    @classmethod
    def from_scores(cls, metric: str, label: str, higher_is_better: bool, baseline: np.ndarray,
                    candidate: np.ndarray) -> Difference:
        from codecbench.stats import paired_difference

        d = paired_difference(baseline, candidate)
        return cls(metric, label, higher_is_better, int(d["n"]), d["mean_diff"], d["ci_low"], d["ci_high"], d["p_value"])

    def outcome(self, alpha: float = ALPHA) -> str:
        """'better', 'worse' or 'no significant difference' (the candidate's, by the two-sided test)."""
        if not (math.isfinite(self.p_value) and self.p_value < alpha):
            return NO_DIFFERENCE
        return "better" if (self.mean_diff > 0) == self.higher_is_better else "worse"

    def evidence(self) -> str:
        """'PESQ-wb +0.102 [-0.035, +0.220], p = 0.159'."""
        f = "+.3f" if max(abs(self.ci_low), abs(self.ci_high), abs(self.mean_diff)) < 1 else "+.2f"
        p = "p < 0.001" if self.p_value < 0.001 else f"p = {self.p_value:.3f}"
        return f"{self.label} {self.mean_diff:{f}} [{self.ci_low:{f}}, {self.ci_high:{f}}], {p}"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Difference:
        return cls(str(d["metric"]), str(d.get("label") or d["metric"]), bool(d["higher_is_better"]), int(d["n"]),
                   float(d["mean_diff"]), float(d["ci_low"]), float(d["ci_high"]), float(d["p_value"]),
                   float(d.get("level", 0.95)))


@dataclass(frozen=True)
class Standing:
    """A candidate against a baseline on one test set, metric by metric."""

    candidate: str
    baseline: str
    test_set: EvalSet
    differences: tuple[Difference, ...] = field(default_factory=tuple)
    alpha: float = ALPHA

    def verdict(self) -> str:
        """'better than B on X; no significant difference on Y' (from the tests only)."""
        groups: dict[str, list[str]] = {}
        for d in self.differences:
            groups.setdefault(d.outcome(self.alpha), []).append(d.label)
        parts = []
        for word in ("better", "worse", NO_DIFFERENCE):
            if word in groups:
                what = " or ".join(groups[word]) if word == NO_DIFFERENCE else " and ".join(groups[word])
                parts.append(f"{word} {'from' if word == NO_DIFFERENCE else 'than'} {self.baseline} on {what}"
                             if not parts else f"{word} on {what}")
        return "; ".join(parts) if parts else f"no metric compared with {self.baseline}"

    def text(self) -> str:
        """The verdict with its evidence: test set, n, differences with CI and p."""
        evidence = "; ".join(d.evidence() for d in self.differences)
        level = self.differences[0].level if self.differences else 0.95
        return (f"{self.verdict()} ({self.candidate} - {self.baseline}, mean paired difference "
                f"[{100 * level:.0f}% CI], two-sided sign-flip p, alpha {self.alpha:g}: {evidence}; on "
                f"{self.test_set.describe()})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Standing:
        return cls(str(d["candidate"]), str(d["baseline"]), EvalSet.from_dict(d["test_set"]),
                   tuple(Difference.from_dict(x) for x in d.get("differences") or ()), float(d.get("alpha", ALPHA)))


def standings_text(evaluation: Any) -> list[str]:
    """The standings of a checkpoint card's ``evaluation``, each with its evidence; a claim recorded
    without evidence (an old free-text verdict) is not repeated."""
    if not isinstance(evaluation, dict):
        return []
    out = []
    for s in evaluation.get("standings") or ():
        try:
            out.append(Standing.from_dict(s).text())
        except (KeyError, TypeError, ValueError):
            out.append("a standing recorded without its evidence (re-run bench/inhouse_vs_opus.py --write-cards)")
    if not out and evaluation.get("verdict"):
        out.append("evaluation recorded without its evidence (test set, n, CI, p): not repeated; re-run "
                   "bench/inhouse_vs_opus.py --write-cards")
    return out
