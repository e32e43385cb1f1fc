"""Plumbing shared by the pretrained codec families (EnCodec, DAC, Mimi, SNAC).

Where weights come from, in this order:

1. ``NAME:/path/to/folder`` on the command line (a folder in the hub repository's layout);
2. ``$CODECBENCH_MODELS_DIR/<model>/`` when that folder exists (``<model>`` as in ``codecbench models``,
   e.g. ``encodec-24k``);
3. the Hugging Face cache at the pinned revision (``codecbench models download <model>`` fills it;
   ``HF_HUB_OFFLINE=1`` keeps every load local).

Availability (``CodecSpec.check``) looks only at the local cache and never touches the network: a
codec whose weights are not cached says so and names the prefetch command.

Batching: causal models (EnCodec 24 kHz decoding, Mimi) run a padded batch as one tensor; non-causal
ones run each group of equal-length items as one tensor (``groups``), which is what their reference
libraries compute for each file alone. What each adapter does to the audio, against its reference
library, is listed in docs/codecs.md.
"""

from __future__ import annotations

import importlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codecbench.codecs.base import CodecError, CodecUnavailable

INSTALL_HINT = "pip install 'codecbench[codecs]'"
MODELS_DIR_ENV = "CODECBENCH_MODELS_DIR"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def import_backend(module: str, codec: str):
    """Import a heavy backend, or raise CodecUnavailable with the install hint."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise CodecUnavailable(f"codec {codec!r} needs the Python package '{module.split('.')[0]}' ({INSTALL_HINT}): {exc}") from exc


@dataclass(frozen=True)
class Weights:
    """One hub repository of weights (at a pinned revision where known) used by codec variants.

    ``files``: what a folder must hold: ``config.json`` and one weight file of ``weight_files``.
    """

    name: str  # model name for `codecbench models` (e.g. "encodec-24k")
    hub_id: str
    revision: str | None
    description: str
    weight_files: tuple[str, ...] = WEIGHT_FILES

    @property
    def allow_patterns(self) -> tuple[str, ...]:
        return ("config.json", *self.weight_files)

    def model_spec(self, used_by: tuple[str, ...]):
        from codecbench.models import ModelSpec

        return ModelSpec(name=self.name, description=self.description, used_by=used_by, hub_id=self.hub_id,
                         revision=self.revision, allow_patterns=self.allow_patterns)

    def prefetch_hint(self, variant: str) -> str:
        return (f"run `codecbench models download {self.name}` where the hub is reachable, "
                f"or pass {variant}:/path/to/folder, or set ${MODELS_DIR_ENV} (folder {self.name}/ inside)")

    def env_folder(self) -> Path | None:
        root = os.environ.get(MODELS_DIR_ENV)
        if root and (Path(root) / self.name).is_dir():
            return Path(root) / self.name
        return None

    def cached(self) -> bool:
        """True when the weights are on this machine (env folder or hub cache); never uses the network."""
        folder = self.env_folder()
        if folder is not None:
            return folder_complete(folder, self.weight_files)
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return False

        def hit(filename: str) -> bool:
            return isinstance(try_to_load_from_cache(self.hub_id, filename, revision=self.revision), str)

        return hit("config.json") and any(hit(f) for f in self.weight_files)

    def check(self, variant: str) -> str | None:
        """Availability reason for CodecSpec.check (None when the weights are local)."""
        if self.cached():
            return None
        return f"weights not cached (codecbench models download {self.name}; or {variant}:/path/to/folder)"

    def resolve(self, arg: str | None, variant: str) -> Path:
        """A local folder with config.json and the weights (see the module docstring for the order)."""
        if arg:
            folder = Path(arg).expanduser()
            if not folder.is_dir():
                raise CodecUnavailable(f"codec {variant!r}: weights folder {folder} does not exist")
        elif (env := self.env_folder()) is not None:
            folder = env
        else:
            from codecbench.models import ModelMissing, resolve_local_or_hub

            try:
                folder = Path(resolve_local_or_hub(self.hub_id, self.revision, self.allow_patterns))
            except ModelMissing as exc:
                raise CodecUnavailable(f"codec {variant!r}: weights of {self.name} ({self.hub_id}@{self.revision or 'main'}) "
                                       f"are not available: {self.prefetch_hint(variant)}") from exc
        if not folder_complete(folder, self.weight_files):
            raise CodecUnavailable(f"codec {variant!r}: {folder} lacks config.json or a weight file "
                                   f"({' / '.join(self.weight_files)})")
        check_folder(folder, self.weight_files, variant)
        return folder


def folder_complete(folder: Path, weight_files: tuple[str, ...]) -> bool:
    """config.json and a weight file are there (what they are is ``check_folder``'s to say)."""
    return os.path.lexists(folder / "config.json") and any(os.path.lexists(folder / f) for f in weight_files)


MAX_CONFIG_BYTES = 1 << 20


def check_folder(folder: Path, weight_files: tuple[str, ...], variant: str) -> None:
    """The folder's files before a library opens them: regular files only (a FIFO or a link to
    /dev/zero would hang or fill memory), config.json a JSON object of at most ``MAX_CONFIG_BYTES``
    counted while reading, and a safetensors file's header validated (``safe_io``)."""
    from codecbench.safe_io import UnsafeFile, open_regular, read_bounded, safetensors_header

    try:
        raw = read_bounded(folder / "config.json", MAX_CONFIG_BYTES, "model config")
        try:
            if not isinstance(json.loads(raw.decode("utf-8")), dict):
                raise ValueError("not an object")
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError included
            raise UnsafeFile(f"{folder / 'config.json'}: not valid JSON ({str(exc).splitlines()[0]})") from None
        for name in weight_files:
            path = folder / name
            if not os.path.lexists(path):
                continue
            if name.endswith(".safetensors"):
                safetensors_header(path)
            else:
                os.close(open_regular(path, "weights"))
    except UnsafeFile as exc:
        raise CodecUnavailable(f"codec {variant!r}: {exc}") from None


def require_equal(variant: str, what: str, expected, actual) -> None:
    """The loaded model must match the static metadata we advertise; a silent mismatch would mislabel numbers."""
    if isinstance(expected, float) or isinstance(actual, float):
        same = math.isclose(float(expected), float(actual), rel_tol=1e-9)
    else:
        same = expected == actual
    if not same:
        raise CodecError(f"codec {variant!r}: loaded weights have {what}={actual!r}, expected {expected!r}; "
                         "wrong folder or a changed upstream checkpoint")


def padded_length(max_len: int, multiple: int) -> int:
    """The longest item rounded up to ``multiple`` (at least one multiple)."""
    return max(1, math.ceil(int(max_len) / multiple)) * multiple


def pad_batch_tensor(x, lengths: np.ndarray, multiple: int):
    """Zero-pad ``x`` [B, C, T] on the right to ``padded_length`` (items are already zero beyond their
    length: the base pads with zeros). For causal models only: every item then sees the same zeros
    after its end as it would alone, and valid frames get the same codes batched or alone."""
    import torch

    target = padded_length(int(np.max(lengths, initial=1)), multiple)
    if target < x.shape[-1]:
        raise ValueError("batch longer than its padded length")
    return torch.nn.functional.pad(x, (0, target - x.shape[-1]))


def valid_frames(lengths: np.ndarray, samples_per_frame: int) -> np.ndarray:
    """Frames that hold audio of each item: ceil(length / samples_per_frame)."""
    return np.ceil(np.asarray(lengths, dtype=np.float64) / samples_per_frame).astype(np.int64)


def groups(keys) -> list[np.ndarray]:
    """Indices of the items that share a key (e.g. a padded length), one array per key, in key order.

    Non-causal models see the end of their input (convolution padding, attention windows, normalisation
    over the whole input): their reference processes each file alone, so an item's output depends on
    where its tensor ends. Running each group of equal-length items as one tensor reproduces that exactly,
    batched or not (codecbench.parity checks it against the reference libraries)."""
    keys = np.asarray(keys)
    return [np.flatnonzero(keys == k) for k in np.unique(keys)]
