"""What the MUSHRA modules share: the hidden reference's and anchors' stimulus names, the training
page's id, an item's record (``mushra_items.json``) and the error they raise."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from codecbench.errors import CodecbenchError

REFERENCE = "reference"  # webMUSHRA's name for the hidden reference in its results
ANCHORS = {"anchor35": 3500.0, "anchor70": 7000.0}
TRAINING = "training"  # id of the training page (and its stimulus folder); its ratings are never scored


class MushraError(CodecbenchError):
    """The stimuli cannot be made or the ratings cannot be read (exit status 2)."""


@dataclass
class Item:
    id: str
    utt_id: str
    lang: str
    text: str
    stimuli: dict[str, str] = field(default_factory=dict)  # stimulus key -> condition (codec / anchor / reference)
    files: dict[str, str] = field(default_factory=dict)  # stimulus key -> path relative to DIR
    loudness_before: dict[str, float] = field(default_factory=dict)
    loudness_after: dict[str, float] = field(default_factory=dict)
    clip_gain_db: float = 0.0
    reencoded: list[str] = field(default_factory=list)
    anchor_check: dict[str, Any] = field(default_factory=dict)  # codecbench.datachecks.anchor_check
