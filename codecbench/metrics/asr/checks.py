"""Reliability checks of one transcript: wrong script, repetition loops, empty output.

A transcript fails a check when more than ``WRONG_SCRIPT_THRESHOLD`` of its letters are in a script
the language does not use (e.g. Whisper base writes Hindi in Perso-Arabic or Latin script), when its
gzip compression ratio (one byte per character, so that every script is measured alike) exceeds
Whisper's repetition threshold, or when it has no letters or digits.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field

from codecbench.metrics import textnorm

WRONG_SCRIPT_THRESHOLD = 0.2  # share of letters outside the language's script(s)
COMPRESSION_RATIO_THRESHOLD = 2.4  # Whisper's repetition-loop threshold


def compression_ratio(text: str) -> float:
    """Characters / gzip size, with each distinct character of the text coded as one byte (high =
    repetition loop). Whisper compresses the UTF-8 bytes instead; there the repeated lead bytes of
    3-byte scripts inflate the ratio: 7 of the 523 correct Hindi sentences of
    ../shared/corpora/hindi-news-1h (200-280 characters) exceed 2.4 (up to 2.57); here all are <= 1.44. ASCII text scores the same up
    to gzip's Huffman tables (JFK: 1.18 as UTF-8, 1.27 here)."""
    if not text:
        return 0.0
    alphabet = sorted(set(text))
    if len(alphabet) > 256:
        data = text.encode("utf-8")
    else:
        code = {c: i for i, c in enumerate(alphabet)}
        data = bytes(code[c] for c in text)
    return len(data) / len(gzip.compress(data))


@dataclass
class Check:
    """Reliability figures of one transcript."""

    lang: str | None
    wrong_script_share: float | None
    script: str | None  # dominant script of the output
    compression_ratio: float
    empty: bool
    flags: list[str] = field(default_factory=list)  # "wrong_script", "repetition", "empty"

    def reason(self, who: str, model: str) -> str | None:
        """Why the transcript is unreliable when a check failed, else None."""
        if "empty" in self.flags:
            return f"{who} ASR ({model}) returned no text for {self.lang}"
        if "wrong_script" in self.flags:
            want = textnorm.expected_scripts(self.lang) or ()
            return (f"{who} ASR ({model}) wrote {textnorm.script_title(self.script)} script for "
                    f"{self.lang}, expected {'/'.join(textnorm.script_title(s) for s in want)} "
                    f"({100 * (self.wrong_script_share or 0):.0f}% of letters)")
        if "repetition" in self.flags:
            return (f"{who} ASR ({model}) output is a repetition loop for {self.lang} "
                    f"(compression ratio {self.compression_ratio:.1f} > {COMPRESSION_RATIO_THRESHOLD})")
        return None


def check_transcript(text: str, lang: str | None) -> Check:
    norm = textnorm.normalize(text)
    share = textnorm.wrong_script_share(norm, lang)
    ratio = compression_ratio(text.strip())
    empty = not any(textnorm.char_script(c) for c in norm) and not any(c.isdigit() for c in norm)
    flags = []
    if empty:
        flags.append("empty")
    if share is not None and share > WRONG_SCRIPT_THRESHOLD:
        flags.append("wrong_script")
    if ratio > COMPRESSION_RATIO_THRESHOLD:
        flags.append("repetition")
    return Check(lang, share, textnorm.dominant_script(norm), ratio, empty, flags)


