"""Datasets: manifests, local corpus layouts, 🤗 datasets, Lhotse manifests and the built-in sets.

``load_dataset(spec, fmt="auto", ...)`` returns a ``Dataset`` (name + utterances). ``spec`` is a
manifest (.jsonl, .csv, .json list), a folder in a known layout (Common Voice, FLEURS, LibriSpeech
through Lhotse's recipe) or a plain folder of audio with same-name .txt transcripts, a 🤗 dataset
(``hf:NAME[:CONFIG][:SPLIT]`` or a ``save_to_disk`` folder: ``data/hf.py``), a Lhotse manifest
(``data/lhotse_manifests.py``); ``None`` means the embedded default set.
"""

from __future__ import annotations

from codecbench.data import loaders
from codecbench.data.loaders import Dataset, DatasetError, filter_langs

__all__ = ["Dataset", "DatasetError", "filter_langs", "load_dataset"]


def load_dataset(spec: str | None, fmt: str = "auto", lang: str | None = None, **options) -> Dataset:
    """Read a dataset; ``None`` is the embedded espeak-ng default set, ``contrasts:LANG`` the minimal
    pairs, ``conditions:PATH`` the clips of PATH under recording and channel conditions
    (``data.conditions``). ``options``: ``columns``, ``revision``, ``langs``, ``limit``
    (``loaders.load_dataset``)."""
    if spec is None:
        from codecbench.data.synthetic import default_dataset

        return default_dataset()
    if spec == "contrasts" or spec.startswith("contrasts:"):
        from codecbench.data.contrasts import contrast_dataset

        return contrast_dataset(spec)
    if spec.startswith("conditions:") or spec.startswith("conditions="):
        from codecbench.data.conditions import conditions_dataset

        return conditions_dataset(spec, load_dataset)
    return loaders.load_dataset(spec, fmt, lang, **options)
