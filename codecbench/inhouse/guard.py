"""Checks on an in-house checkpoint before anything is built from it (a config is untrusted input).

* ``read_config_json``: config.json at most ``MAX_CONFIG_BYTES`` (1 MiB) and valid UTF-8 JSON.
* ``check_model_dict``: every architecture field has the right type and lies within ``BOUNDS``
  (generous: 10-100x the shipped models), so a hostile config cannot ask for a 10 GB model.
* ``check_weights``: the model is built on torch's ``meta`` device (no memory), its parameter count
  bounded by ``MAX_PARAMETERS``, and its tensor names and shapes compared with the safetensors
  header (read with a bounded size) before a single real tensor is allocated.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

from codecbench.inhouse.config import KINDS, CheckpointMismatch, ModelConfig

MAX_CONFIG_BYTES = 1 << 20
MAX_HEADER_BYTES = 16 << 20
MAX_PARAMETERS = 500_000_000  # 2 GB of float32; the shipped models have ~1-10 M
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
}

DTYPES = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"}


def read_config_json(path: Path) -> Any:
    """config.json parsed, refusing files over MAX_CONFIG_BYTES and damaged text with one-line errors."""
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise CheckpointMismatch(f"{path}: {size} bytes; a checkpoint config is at most {MAX_CONFIG_BYTES} bytes")
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
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


def safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file (name -> dtype, shape, data_offsets), size-bounded and checked."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointMismatch(f"{path}: not a safetensors file (too short)")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER_BYTES or 8 + n > size:
            raise CheckpointMismatch(f"{path}: not a safetensors file (header of {n} bytes in a {size}-byte file)")
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointMismatch(f"{path}: safetensors header is not valid JSON") from exc
    if not isinstance(header, dict):
        raise CheckpointMismatch(f"{path}: safetensors header is not an object")
    data = size - 8 - n
    for name, t in header.items():
        if name == "__metadata__":
            continue
        ok = (isinstance(t, dict) and t.get("dtype") in DTYPES and isinstance(t.get("shape"), list)
              and all(isinstance(x, int) and x >= 0 for x in t["shape"]) and isinstance(t.get("data_offsets"), list)
              and len(t["data_offsets"]) == 2 and all(isinstance(x, int) for x in t["data_offsets"])
              and 0 <= t["data_offsets"][0] <= t["data_offsets"][1] <= data)
        if not ok:
            raise CheckpointMismatch(f"{path}: tensor {name!r} has a malformed entry in the safetensors header")
    return header


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
