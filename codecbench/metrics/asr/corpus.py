"""The ``wer`` metric's corpus-level figures (``Metric.aggregate``), from its transcript records.

- ``wer_corpus``, ``cer_corpus``, ``dwer_corpus``, ``dcer_corpus`` per (codec, language) and per codec
  (``all``): errors summed over all words (characters) of the group, divided by its reference words
  (``errors.corpus_error_rates``), so long utterances weigh more than in the mean of per-utterance
  WER. No CI. Utterances whose reference ASR was unreliable are left out and counted in ``n_failed``;
  when they are at least ``UNRELIABLE_SHARE`` of the group, the row is ``unreliable``, without a value;
- ``asr_reliability.json``: reliability figures per model and language (``reliability.py``), so a
  resumed run's figures cover exactly its scored utterances.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from codecbench.metrics.corpus import Aggregate, Corpus
from codecbench.rows import UNRELIABLE_SHARE, SummaryRow

CORPUS_OUTPUTS = {"wer": "wer_corpus", "cer": "cer_corpus", "dwer": "dwer_corpus", "dcer": "dcer_corpus"}
RELIABILITY_FILE = "asr_reliability.json"


def corpus_rows(records: list[dict[str, Any]], meta: dict[str, Any], codecs: dict[str, dict[str, Any]]) -> list[SummaryRow]:
    """Corpus-level WER/CER/dWER/dCER summary rows per (codec, language) and per codec (``all``)."""
    from codecbench.metrics.asr.errors import corpus_error_rates

    if not records:
        return []
    rates = corpus_error_rates(records) | corpus_error_rates([{**r, "lang": "all"} for r in records])
    out = []
    for (codec, lang), res in rates.items():
        n, bad = res["n"], res["n_unreliable"]
        for key, metric in CORPUS_OUTPUTS.items():
            value = res.get(key)
            if n and bad / n >= UNRELIABLE_SHARE:
                status, note = "unreliable", f"reference ASR unreliable on {bad} of {n} utterances ({RELIABILITY_FILE})"
            elif value is None:
                status, note = "failed", "no transcripts with reference words"
            else:
                status, note = "ok", f"{bad} of {n} utterances left out (unreliable reference ASR)" if bad else ""
            out.append(SummaryRow.of(codec, lang, metric, meta, codecs.get(codec, {}), higher_is_better=False,
                                     mode="corpus-level", n=n - bad, n_failed=bad,
                                     mean=value if status == "ok" else np.nan, status=status, note=note))
    return out


def aggregate(corpus: Corpus, stream: str) -> Aggregate:
    """The corpus rows and the reliability file, from the transcript records of the rows in the corpus."""
    from codecbench.metrics.asr.reliability import reliability

    records = corpus.records.get(stream, [])
    if not records:
        return Aggregate()
    return Aggregate(rows=corpus_rows(records, corpus.meta, corpus.codecs),
                     files={RELIABILITY_FILE: reliability(records)})
