"""Datasets: manifests, local corpus layouts and the embedded espeak-ng default set.

``load_dataset(spec, fmt="auto")`` returns a ``Dataset`` (name + utterances). ``spec`` is a manifest
(.jsonl, .csv, .json list), a folder in a known layout (Common Voice, FLEURS, LibriSpeech) or a
plain folder of audio with same-name .txt transcripts; ``None`` means the embedded default set.
"""

from __future__ import annotations

from codecbench.data import loaders
from codecbench.data.loaders import Dataset, DatasetError, filter_langs

__all__ = ["Dataset", "DatasetError", "filter_langs", "load_dataset"]


def load_dataset(spec: str | None, fmt: str = "auto", lang: str | None = None) -> Dataset:
    """Read a dataset; ``None`` is the embedded espeak-ng default set, ``contrasts:LANG`` the minimal pairs,
    ``conditions:PATH`` the clips of PATH under recording and channel conditions (``data.conditions``)."""
    if spec is None:
        from codecbench.data.synthetic import default_dataset

        return default_dataset()
    if spec == "contrasts" or spec.startswith("contrasts:"):
        from codecbench.data.contrasts import contrast_dataset

        return contrast_dataset(spec)
    if spec.startswith("conditions:") or spec.startswith("conditions="):
        from codecbench.data.conditions import conditions_dataset

        return conditions_dataset(spec)
    return loaders.load_dataset(spec, fmt, lang)
