"""One comparison of ``codecbench compare`` (a codec pair, language and metric with its verdict), what
the gate's modules share (``compare``, ``compare_verdict``, ``compare_render``, ``contrast_gate``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from codecbench.errors import CodecbenchError
from codecbench.report.runs import ALL_LANGS

ALLOWED_MISSING = " (--allow-missing)"  # the end of a skip the user accepted by name


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
    p_value: float  # gated and tested: one-sided p of "worse by more than the tolerance"; else two-sided vs 0
    new_failures: int
    tolerance: float | None  # None: reported, not gated
    regressed: bool
    reason: str
    warning: str = ""  # worse beyond the tolerance but not significant: not a regression, but said
    skipped: str = ""  # why the pair has no verdict (n = 0, unavailable, --min-n, unreliable summary)
    tested: bool = False  # the verdict is the test's (a gated pair with enough values)
    failure: str = ""  # a regression whatever the test says (new failures, a metric gone, lost triplets)
    p_adjusted: float = math.nan  # Holm-adjusted p (--holm), else equal to p_value for tested pairs
    sd_diff: float = math.nan  # standard deviation of the per-utterance differences (for --power)
    quantity: str = ""  # what the metric measures, when the reason should say it (e.g. "contrast loss")

    @property
    def gated(self) -> bool:
        return self.tolerance is not None

    @property
    def label(self) -> str:
        codec = self.candidate_codec if self.baseline_codec == self.candidate_codec else \
            f"{self.baseline_codec}->{self.candidate_codec}"
        return f"{codec}/{self.lang}/{self.metric}"

    @property
    def worsening(self) -> float:
        """How much worse the candidate is (positive = worse), in the metric's units."""
        return -self.mean_diff if self.higher_is_better else self.mean_diff


def languages(langs: list[str]) -> list[str]:
    """The languages a comparison reports: each, then the pooled "all" only when there are several
    (with one language it would be the same pair counted twice)."""
    return [*langs, ALL_LANGS] if len(langs) > 1 else list(langs)
