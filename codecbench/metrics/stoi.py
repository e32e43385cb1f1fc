"""STOI and extended STOI, computed by ``codecbench.metrics.stoi_fast`` (equal to pystoi within 1e-6).

Both need equal lengths: the pair goes through ``codecbench.audio.align_lengths`` (start-aligned,
cropped to the shorter signal, as the MATLAB reference's conformance values were made). Both scores
come from one front end; the second metric of the pair reuses the first one's result through a
one-entry cache of the last pair, compared sample by sample (so it is right in any call order).
A reference with fewer than 30 non-silent frames has no STOI: that is a recorded failure (pystoi
would return 1e-5 with a warning).
"""

from __future__ import annotations

import numpy as np

from codecbench import __version__, audio
from codecbench.metrics.base import Metric, MetricFailure, MetricInfo, MetricInput, Output
from codecbench.metrics.stoi_fast import FS, StoiScores, StoiUndefined, stoi_scores

SILENCE_DBFS = -60.0

_last: tuple[int, np.ndarray, np.ndarray, StoiScores] | None = None  # one entry per process


def pair_scores(ref: np.ndarray, deg: np.ndarray, sample_rate: int) -> StoiScores:
    """STOI and ESTOI of an aligned pair, reusing the last result when the pair is the same (same
    rate and equal samples: compared, not hashed, so it is exact and cheaper than a hash)."""
    global _last
    if (_last is not None and _last[0] == sample_rate
            and np.array_equal(_last[1], ref) and np.array_equal(_last[2], deg)):
        return _last[3]
    scores = stoi_scores(ref, deg, sample_rate)
    _last = (sample_rate, ref.copy(), deg.copy(), scores)  # copies: a caller may reuse its buffers
    return scores


class Stoi(Metric):
    def __init__(self, extended: bool):
        self.extended = extended
        self.name = "estoi" if extended else "stoi"

    def info(self) -> MetricInfo:
        return MetricInfo(
            name=self.name, outputs=(Output(self.name, True, "", "extended STOI" if self.extended else "STOI"),),
            description=("Extended short-time objective intelligibility (Jensen & Taal 2016)" if self.extended
                         else "Short-time objective intelligibility (Taal et al. 2011)")
            + "; pair start-aligned and cropped to the shorter signal",
            sample_rate=FS, library="codecbench (pystoi-equal)", version=__version__,
            mode="extended" if self.extended else "classic",
        )

    def compute(self, x: MetricInput) -> dict[str, float]:
        ref, deg = audio.align_lengths(x.ref, x.deg)
        if audio.peak_dbfs(ref) < SILENCE_DBFS:
            raise MetricFailure(f"silent reference (peak below {SILENCE_DBFS} dBFS): STOI undefined")
        try:
            scores = pair_scores(ref, deg, x.sample_rate)
        except StoiUndefined as exc:
            raise MetricFailure(f"STOI undefined: {exc}") from exc
        return {self.name: scores.estoi if self.extended else scores.stoi}


def metrics() -> list[Metric]:
    return [Stoi(False), Stoi(True)]
