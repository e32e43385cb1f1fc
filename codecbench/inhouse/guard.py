"""Checks on an in-house checkpoint before anything is built from it (a config is untrusted input).

* ``read_config_json``: config.json a regular file of at most ``MAX_CONFIG_BYTES`` (1 MiB, counted
  while reading: a FIFO, /dev/zero or a sparse file fails at once) and valid UTF-8 JSON.
* ``check_model_dict``: every architecture field has the right type and lies within ``BOUNDS``
  (generous: 10-100x the shipped models), so a hostile config cannot ask for a 10 GB model; then
  the sizes derived from them (``check_derived``): the code frame rate, the STFT window against its
  hop, and an estimate of the memory one second of audio takes to decode.
* ``check_weights``: the model is built on torch's ``meta`` device (no memory), its parameter count
  bounded by ``MAX_PARAMETERS``, and its tensor names and shapes compared with the safetensors
  header (``safe_io.safetensors_header``: validated entry by entry) before a single real tensor is
  allocated.
"""

from __future__ import annotations

import json
import math
from dataclasses import fields
from pathlib import Path
from typing import Any

from codecbench import safe_io
from codecbench.inhouse.config import KINDS, CheckpointMismatch, ModelConfig

MAX_CONFIG_BYTES = 1 << 20
MAX_PARAMETERS = 500_000_000  # 2 GB of float32; the shipped models have ~1-10 M
# Derived sizes (the shipped models: 50 Hz codes, 100 Hz STFT, ~1.3 MB per second of audio decoded)
MAX_FRAME_RATE = 1000.0  # code frames per second
MAX_DECODE_BYTES_PER_SECOND = 64 << 20  # ~50x the shipped models
STFT_COPIES = 4  # complex spectrum, magnitude, phase, the Griffin-Lim iterate
# field: (type, low, high) for numbers; lists: (element type, low, high, max length)
BOUNDS: dict[str, tuple] = {
    "sample_rate": (int, 1000, 192000),
    "n_fft": (int, 16, 16384),
    "stft_hop": (int, 1, 8192),
    "frame_hop": (int, 1, 65536),
    "dim": (int, 1, 8192),
    "mlp_ratio": (int, 1, 16),
    "encoder_blocks": (int, 0, 64),
    "decoder_blocks": (int, 1, 64),
    "kernel_size": (int, 1, 63),
    "latent_dim": (int, 1, 4096),
    "n_quantizers": (int, 0, 128),
    "codebook_size": (int, 2, 1 << 20),
    "ema_decay": (float, 0.0, 1.0),
    "dead_code_threshold": (float, 0.0, 1e6),
    "quantizer_dropout": (float, 0.0, 1.0),
    "fsq_codebooks": (int, 1, 128),
    "fsq_levels": (list, 2, 1024, 12),
    "phase_iters": (int, 0, 512),
}


def read_config_json(path: Path) -> Any:
    """config.json parsed, refusing anything but a regular file of at most MAX_CONFIG_BYTES and
    damaged text with one-line errors."""
    try:
        raw = safe_io.read_bounded(path, MAX_CONFIG_BYTES, "checkpoint config")
    except safe_io.UnsafeFile as exc:
        raise CheckpointMismatch(str(exc)) from None
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CheckpointMismatch(f"{path}: not valid UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise CheckpointMismatch(f"{path}: not valid JSON ({exc})") from exc


def _number_ok(v: Any, typ: type) -> bool:
    if isinstance(v, bool):
        return False
    if typ is int:
        return isinstance(v, int)
    return isinstance(v, (int, float)) and math.isfinite(v)


def check_model_dict(d: dict[str, Any], where: str | Path) -> None:
    """Types and bounds of a ``"model"`` object; raises CheckpointMismatch naming the field."""
    if d.get("kind", "rvq") not in KINDS:
        raise CheckpointMismatch(f"{where}: model kind {d.get('kind')!r} is not one of {', '.join(KINDS)}")
    if not isinstance(d.get("extra", {}), dict):
        raise CheckpointMismatch(f"{where}: extra must be an object")
    for name, bound in BOUNDS.items():
        if name not in d:
            continue
        v = d[name]
        if bound[0] is list:
            _, lo, hi, n = bound
            if not isinstance(v, list) or not 1 <= len(v) <= n or not all(_number_ok(x, int) and lo <= x <= hi for x in v):
                raise CheckpointMismatch(f"{where}: {name} must be a list of 1-{n} integers in [{lo}, {hi}], got {v!r:.80}")
        else:
            typ, lo, hi = bound
            if not _number_ok(v, typ) or not lo <= v <= hi:
                raise CheckpointMismatch(f"{where}: {name} must be {'an integer' if typ is int else 'a number'} "
                                         f"in [{lo}, {hi}], got {v!r:.80}")
    if math.prod(d.get("fsq_levels", [1])) > 1 << 20:
        raise CheckpointMismatch(f"{where}: fsq_levels give more than {1 << 20} codes per codebook")
    check_derived({**{f.name: f.default for f in fields(ModelConfig) if isinstance(f.default, (int, float))}, **d},
                  where)


def check_derived(d: dict[str, Any], where: str | Path) -> None:
    """Sizes that follow from several fields: each field can be within its bounds while together they
    ask for a 16 kHz STFT of 16384 bins (1 GB per second of audio)."""
    sr, n_fft, stft_hop, frame_hop = d["sample_rate"], d["n_fft"], d["stft_hop"], d["frame_hop"]
    if stft_hop > n_fft:
        raise CheckpointMismatch(f"{where}: n_fft ({n_fft}) must be at least stft_hop ({stft_hop}): the inverse STFT "
                                 "needs overlapping windows")
    frame_rate = sr / frame_hop
    if frame_rate > MAX_FRAME_RATE:
        raise CheckpointMismatch(f"{where}: code frame rate sample_rate / frame_hop = {frame_rate:g} Hz is above "
                                 f"{MAX_FRAME_RATE:g} Hz")
    stft_rate, bins = sr / stft_hop, n_fft // 2 + 1
    need = stft_rate * bins * 8 * STFT_COPIES + frame_rate * d["dim"] * d["mlp_ratio"] * 4 * 2
    if need > MAX_DECODE_BYTES_PER_SECOND:
        raise CheckpointMismatch(
            f"{where}: decoding would need about {need / 2**20:,.0f} MiB of memory per second of audio (STFT of "
            f"{stft_rate:g} frames/s x {bins} bins from stft_hop {stft_hop}, n_fft {n_fft}); at most "
            f"{MAX_DECODE_BYTES_PER_SECOND >> 20} MiB")


def safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file, validated (``safe_io.safetensors_header``)."""
    try:
        return safe_io.safetensors_header(path)
    except safe_io.UnsafeFile as exc:
        raise CheckpointMismatch(str(exc)) from None


def check_weights(cfg: ModelConfig, weights: Path, where: str) -> None:
    """Compare the (meta-device) model of ``cfg`` with the safetensors header; nothing real is allocated."""
    import torch

    from codecbench.inhouse.model import InhouseModel

    with torch.device("meta"):
        own = {k: tuple(v.shape) for k, v in InhouseModel(cfg).state_dict().items()}
    total = sum(math.prod(s) for s in own.values())
    if total > MAX_PARAMETERS:
        raise CheckpointMismatch(f"{where}: the config describes {total:,} parameters (at most {MAX_PARAMETERS:,})")
    header = safetensors_header(weights)
    require_same_tensors(own, {k: tuple(v["shape"]) for k, v in header.items() if k != "__metadata__"}, where)


def require_same_tensors(own: dict[str, tuple], theirs: dict[str, tuple], where: str) -> None:
    """The model's tensor names and shapes (``own``) against a checkpoint's: one clear message if they differ."""
    missing = sorted(set(own) - set(theirs))
    unexpected = sorted(set(theirs) - set(own))
    shapes = [f"{k}: checkpoint {theirs[k]} vs config {own[k]}" for k in own if k in theirs and theirs[k] != own[k]]
    if missing or unexpected or shapes:
        parts = []
        if shapes:
            parts.append(f"{len(shapes)} shape mismatch(es), e.g. {'; '.join(shapes[:3])}")
        if missing:
            parts.append(f"{len(missing)} tensor(s) missing, e.g. {', '.join(missing[:3])}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensor(s), e.g. {', '.join(unexpected[:3])}")
        raise CheckpointMismatch(f"{where}: weights do not match the model config: " + "; ".join(parts))
