"""Datasets: manifests, local corpus layouts and the embedded espeak-ng default set.

``load_dataset(spec, fmt="auto")`` returns a ``Dataset`` (name + utterances). ``spec`` is a manifest
(.jsonl, .csv, .json list), a folder in a known layout (Common Voice, FLEURS, LibriSpeech) or a
plain folder of audio with same-name .txt transcripts; ``None`` means the embedded default set.
"""

from __future__ import annotations

from codecbench.data.loaders import Dataset, DatasetError, filter_langs, load_dataset

__all__ = ["Dataset", "DatasetError", "filter_langs", "load_dataset"]
