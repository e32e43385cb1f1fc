"""Word and character error counts, and corpus-level WER/CER/dWER/dCER from transcript records.

Texts are compared after ``textnorm.normalize`` (script-preserving: vowel signs, viramas and nuktas
kept). Corpus-level rates sum errors over all words of a group, so long utterances weigh more than
in the mean of per-utterance WER.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from codecbench.metrics import textnorm
from codecbench.metrics.base import MetricFailure

TRANSCRIPTS = "asr_transcripts"  # side-record stream of the run store (asr_transcripts.jsonl)


@dataclass(frozen=True)
class ErrorCounts:
    word_errors: int
    words: int
    char_errors: int
    chars: int

    @property
    def wer(self) -> float:
        return self.word_errors / self.words

    @property
    def cer(self) -> float:
        return self.char_errors / self.chars


def error_counts(reference: str, hypothesis: str) -> ErrorCounts:
    """Word and character edit counts between two *normalised* texts (reference must be non-empty)."""
    import jiwer

    if not reference.strip():
        raise MetricFailure("reference transcript is empty after normalisation")
    hyp = hypothesis if hypothesis.strip() else ""
    w = jiwer.process_words(reference, hyp)
    c = jiwer.process_characters(reference, hyp)
    words = w.hits + w.substitutions + w.deletions
    chars = c.hits + c.substitutions + c.deletions
    return ErrorCounts(w.substitutions + w.deletions + w.insertions, words,
                       c.substitutions + c.deletions + c.insertions, chars)


def corpus_wer_cer(references: Iterable[str], hypotheses: Iterable[str]) -> dict[str, float]:
    """Corpus-level WER/CER of raw texts: errors summed over all words (characters) / reference
    words (characters), after ``textnorm.normalize``. Empty references are skipped."""
    we = w = ce = c = 0
    n = 0
    for ref, hyp in zip(references, hypotheses, strict=True):
        r = textnorm.normalize(ref)
        if not r:
            continue
        e = error_counts(r, textnorm.normalize(hyp))
        we, w, ce, c, n = we + e.word_errors, w + e.words, ce + e.char_errors, c + e.chars, n + 1
    if n == 0:
        raise ValueError("no non-empty reference")
    return {"wer": we / w, "cer": ce / c, "n": n, "words": w, "chars": c}


def load_transcripts(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Transcript records of a run, the last per (codec, utt_id) (a resumed run appends again)."""
    from codecbench.store import RunFolder

    return RunFolder(run_dir).records(TRANSCRIPTS)


def corpus_error_rates(source: str | os.PathLike | Iterable[dict[str, Any]],
                       by: tuple[str, ...] = ("codec", "lang")) -> dict[tuple, dict[str, Any]]:
    """Corpus-level WER/CER/dWER/dCER per group (default: per codec and language).

    ``source`` is a run folder (reads ``asr_transcripts.jsonl``) or records of that file. Errors
    and reference words/characters are summed over the group's utterances, then divided (so long
    utterances weigh more, unlike the mean of per-utterance WER). Utterances whose reference ASR was
    unreliable are left out of dwer/dcer *and* wer/cer, and counted in ``n_unreliable``.
    Returns ``{group: {"wer", "cer", "dwer", "dcer" (float or None), "n", "n_unreliable", "words"}}``.
    """
    records = load_transcripts(source) if isinstance(source, (str, os.PathLike)) else list(source)
    acc: dict[tuple, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    utts: dict[tuple, set] = defaultdict(set)
    unreliable: dict[tuple, set] = defaultdict(set)
    for rec in records:
        key = tuple(rec.get(k) for k in by)
        utts[key].add((rec.get("codec"), rec.get("utt_id")))
        if rec.get("reference_unreliable"):
            unreliable[key].add((rec.get("codec"), rec.get("utt_id")))
            continue
        for kind in ("wer", "dwer"):
            counts = rec.get(f"{kind}_counts")
            if counts:
                g = acc[key]
                g[f"{kind}_we"] += counts["word_errors"]
                g[f"{kind}_w"] += counts["words"]
                g[f"{kind}_ce"] += counts["char_errors"]
                g[f"{kind}_c"] += counts["chars"]
    out: dict[tuple, dict[str, Any]] = {}
    for key in utts:
        g = acc[key]
        res: dict[str, Any] = {"n": len(utts[key]), "n_unreliable": len(unreliable[key]), "words": int(g["wer_w"])}
        for kind, (w, c) in {"wer": ("wer", "cer"), "dwer": ("dwer", "dcer")}.items():
            res[w] = g[f"{kind}_we"] / g[f"{kind}_w"] if g[f"{kind}_w"] else None
            res[c] = g[f"{kind}_ce"] / g[f"{kind}_c"] if g[f"{kind}_c"] else None
        out[key] = res
    return out


