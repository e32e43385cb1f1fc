"""Training and test splits of a language's utterances for the token LM: whole utterances (or whole
speakers) on one side only, so no frame of a test utterance is ever seen in training.

The split depends only on the utterance ids (and speakers) of the language in the run, the test
share and the seed, never on a codec: every codec's LM is scored on the same test utterances. Groups
(utterances, or speakers with ``by="speaker"``) are ordered by SHA-256 of "<seed>:<group>", and the
first ``ceil(test_share * groups)`` (at least 1, at most all but one) are the test split.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass


class SplitError(ValueError):
    """A language cannot be split (fewer than two groups)."""


@dataclass(frozen=True)
class Split:
    train: frozenset[str]
    test: frozenset[str]

    def __post_init__(self) -> None:
        both = self.train & self.test
        if both:  # the one invariant everything else relies on
            raise AssertionError(f"utterances on both sides of a split: {sorted(both)[:3]}")

    def side(self, utt_id: str) -> str:
        return "test" if utt_id in self.test else "train" if utt_id in self.train else ""

    @staticmethod
    def union(splits: list[Split]) -> Split:
        return Split(frozenset().union(*(s.train for s in splits)), frozenset().union(*(s.test for s in splits)))


def split(utterances: list[tuple[str, str]], test_share: float, seed: int, by: str = "utterance") -> Split:
    """``utterances``: (id, speaker) of one language. Raises SplitError when there are fewer than two groups."""
    if not 0 < test_share < 1:
        raise SplitError(f"test_share must lie between 0 and 1, not {test_share}")
    group_of = {uid: (spk or uid) if by == "speaker" else uid for uid, spk in utterances}
    groups = sorted(set(group_of.values()), key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).hexdigest())
    if len(groups) < 2:
        what = "speakers" if by == "speaker" else "utterances"
        raise SplitError(f"needs at least 2 {what} in the language to hold some out ({len(groups)} here)")
    n_test = min(len(groups) - 1, max(1, math.ceil(test_share * len(groups))))
    test_groups = set(groups[:n_test])
    test = frozenset(u for u, g in group_of.items() if g in test_groups)
    return Split(frozenset(group_of) - test, test)
