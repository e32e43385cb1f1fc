"""The abstract codec: resampling to/from the native rate and output-length alignment live here, once.

A codec family implements two methods at its native sample rate on a padded batch:

* ``encode_native(wave[B, T], lengths) -> Encoded``
* ``decode_native(encoded, lengths) -> wave[B, T']``

and everything else (``reconstruct``, ``encode``, ``decode`` at any input rate, timing, per-item
code cropping, length alignment) comes from this base class.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod

import numpy as np

from codecbench import audio
from codecbench.device import resolve_device  # noqa: F401 (its former home; codec loaders use it)
from codecbench.errors import Unavailable
from codecbench.types import CodecInfo, Encoded, Reconstruction


class CodecError(Exception):
    """A codec failed on a batch (the reconstruct stage records it per utterance)."""


CodecUnavailable = Unavailable  # a codec cannot run here: missing package, library or weights


class Codec(ABC):
    """One codec variant, ready to run. ``info`` holds its static metadata."""

    def __init__(self, info: CodecInfo, device: str = "cpu"):
        self.info = info
        self.device = resolve_device(device)

    # -- to implement, at the native rate ---------------------------------------------------------
    @abstractmethod
    def encode_native(self, wave: np.ndarray, lengths: np.ndarray) -> Encoded:
        """Encode a padded batch [B, T] (float32, native rate); lengths are valid samples per item."""

    @abstractmethod
    def decode_native(self, encoded: Encoded, lengths: np.ndarray) -> np.ndarray:
        """Decode to [B, T'] at the native rate; ``lengths`` are the native input lengths."""

    # -- provided ---------------------------------------------------------------------------------
    def _to_native(self, wave: np.ndarray, lengths: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
        items = [audio.resample(w, sample_rate, self.info.sample_rate) for w in audio.unpad_batch(wave, lengths)]
        return audio.pad_batch(items)

    def _from_native(self, out: np.ndarray, native_lengths: np.ndarray, lengths: np.ndarray, sample_rate: int) -> np.ndarray:
        if out.ndim != 2 or out.shape[0] != len(lengths):
            raise CodecError(f"{self.info.name}: decoder returned shape {out.shape}, expected [{len(lengths)}, T]")
        items = []
        for b, (n_native, n) in enumerate(zip(native_lengths, lengths, strict=True)):
            y = audio.fit_length(np.asarray(out[b], dtype=np.float32), int(n_native))
            y = audio.resample(y, self.info.sample_rate, sample_rate)
            items.append(audio.fit_length(y, int(n)))
        return audio.pad_batch(items)[0]

    def encode(self, wave: np.ndarray, lengths: np.ndarray, sample_rate: int) -> tuple[Encoded, np.ndarray]:
        """Encode a batch at any rate; returns the codes and the native lengths decode needs."""
        batch, native_lengths = self._to_native(_as_batch(wave), np.asarray(lengths), sample_rate)
        return self.encode_native(batch, native_lengths), native_lengths

    def decode(self, encoded: Encoded, native_lengths: np.ndarray, lengths: np.ndarray, sample_rate: int) -> np.ndarray:
        """Decode to ``sample_rate``, each item cropped or zero-padded to its input length."""
        out = self.decode_native(encoded, native_lengths)
        return self._from_native(out, native_lengths, np.asarray(lengths), sample_rate)

    def reconstruct(self, wave: np.ndarray, lengths: np.ndarray, sample_rate: int) -> Reconstruction:
        """Encode and decode a padded batch [B, T]; output has the input's rate and lengths."""
        wave = _as_batch(wave)
        lengths = np.asarray(lengths, dtype=np.int64)
        batch, native_lengths = self._to_native(wave, lengths, sample_rate)
        t0 = time.perf_counter()
        encoded = self.encode_native(batch, native_lengths)
        t1 = time.perf_counter()
        out = self.decode_native(encoded, native_lengths)
        t2 = time.perf_counter()
        aligned = self._from_native(out, native_lengths, lengths, sample_rate)
        codes = None
        if encoded.codes is not None:
            codes = [encoded.item_codes(b) for b in range(len(lengths))]
        return Reconstruction(
            wave=aligned,
            lengths=lengths,
            sample_rate=sample_rate,
            codes=codes,
            bits=None if encoded.bits is None else np.asarray(encoded.bits, dtype=np.float64),
            encode_seconds=t1 - t0,
            decode_seconds=t2 - t1,
        )

    def close(self) -> None:
        """Release models/handles. The default does nothing."""


def _as_batch(wave: np.ndarray) -> np.ndarray:
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim == 1:
        wave = wave[None]
    if wave.ndim != 2:
        raise ValueError(f"expected a batch [B, T], got shape {wave.shape}")
    return wave


class TorchCodec(Codec):
    """Base for torch models: numpy in/out, inference mode, the chosen device.

    Subclasses implement ``_encode(x[B, 1, T] tensor, lengths) -> Encoded`` and
    ``_decode(encoded, lengths) -> tensor[B, T'] or [B, 1, T']``.
    """

    def encode_native(self, wave: np.ndarray, lengths: np.ndarray) -> Encoded:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(wave)).to(self.device)[:, None, :]
            enc = self._encode(x, lengths)
            _sync(self.device)
        return enc

    def decode_native(self, encoded: Encoded, lengths: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            y = self._decode(encoded, lengths)
            _sync(self.device)
        y = y.detach().float().cpu().numpy()
        return y.reshape(y.shape[0], -1) if y.ndim == 3 and y.shape[1] == 1 else y

    @abstractmethod
    def _encode(self, x, lengths: np.ndarray) -> Encoded: ...

    @abstractmethod
    def _decode(self, encoded: Encoded, lengths: np.ndarray): ...


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
