"""Checkpoint I/O: a folder with ``model.safetensors`` and ``config.json`` (no pickle anywhere).

``config.json`` holds ``{"format", "version", "model": ModelConfig, "training": {...}}``. Loading
builds the model from the config and requires every tensor to match in name and shape; any
mismatch raises ``CheckpointMismatch`` naming the offending tensors. Shipped weights are stored as
float16 (half the size; the model computes in float32 after loading); the trainer's own state for
``--resume`` stays float32.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from codecbench.inhouse.config import FORMAT, FORMAT_VERSION, CheckpointMismatch, ModelConfig
from codecbench.inhouse.guard import check_model_dict, check_weights, read_config_json, require_same_tensors
from codecbench.inhouse.model import InhouseModel

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    from safetensors.torch import save_file

    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file (its header already validated by ``inhouse.guard``)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as exc:  # the file changed under us, or the library disagrees
        raise CheckpointMismatch(f"{path}: cannot read the weights: {exc}".replace("\n", " ")) from exc


def save_checkpoint(model: InhouseModel, folder: str | os.PathLike, training: dict[str, Any] | None = None) -> Path:
    """Write ``model.safetensors`` + ``config.json`` into ``folder`` (created)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    weights = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    save_tensors(out / MODEL_FILE, weights, {"format": FORMAT, "kind": model.cfg.kind, "dtype": "float16"})
    write_json(out / CONFIG_FILE, {"format": FORMAT, "version": FORMAT_VERSION,
                                   "model": model.cfg.to_dict(), "training": training or {}})
    return out


def read_config(folder: str | os.PathLike) -> tuple[ModelConfig, dict[str, Any]]:
    """The model config and training record of a checkpoint folder."""
    path = Path(folder) / CONFIG_FILE
    if not os.path.lexists(path):  # anything else (a FIFO, a device) is refused by read_config_json
        raise CheckpointMismatch(f"no {CONFIG_FILE} in {folder} (an in-house checkpoint is a folder with "
                                f"{MODEL_FILE} and {CONFIG_FILE})")
    meta = read_config_json(path)  # size-bounded (inhouse.guard)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("model"), dict):
        raise CheckpointMismatch(f"{path}: not an in-house codec config (expected \"format\": \"{FORMAT}\" "
                                 "and a \"model\" object)")
    if meta.get("version") != FORMAT_VERSION:
        raise CheckpointMismatch(f"{path}: config version {meta.get('version')!r}; this codecbench reads "
                                 f"version {FORMAT_VERSION}")
    check_model_dict(meta["model"], path)  # types and bounds before anything is built (inhouse.guard)
    return ModelConfig.from_dict(meta["model"]), meta.get("training", {})


def load_state_strict(model: torch.nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    """load_state_dict that explains name/shape mismatches in one clear message."""
    own = model.state_dict()
    require_same_tensors({k: tuple(v.shape) for k, v in own.items()}, {k: tuple(v.shape) for k, v in state.items()},
                         where)
    own_dtype = {k: v.dtype for k, v in own.items()}
    model.load_state_dict({k: v.to(own_dtype[k]) for k, v in state.items()}, strict=True)


def load_checkpoint(folder: str | os.PathLike, kind: str | None = None, device: str = "cpu") -> InhouseModel:
    """Build the model from ``config.json`` and load ``model.safetensors``; eval mode on ``device``.

    ``kind`` ('rvq', 'fsq', 'vae'), when given, must match the checkpoint's kind.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointMismatch(f"in-house checkpoint folder not found: {folder}")
    cfg, _ = read_config(folder)
    if kind is not None and cfg.kind != kind:
        raise CheckpointMismatch(f"{folder}: checkpoint is a {cfg.kind!r} model, expected a {kind!r} model")
    weights = folder / MODEL_FILE
    if not os.path.lexists(weights):  # not a regular file: refused by check_weights, naming the kind
        raise CheckpointMismatch(f"no {MODEL_FILE} in {folder}")
    check_weights(cfg, weights, str(folder))  # meta-device model vs safetensors header (inhouse.guard)
    model = InhouseModel(cfg)
    load_state_strict(model, load_tensors(weights), str(folder))
    return model.to(device).eval()


# -- optimizer state <-> flat tensors + JSON (no pickle) --------------------------------------------
def flatten_optimizer(opt, prefix: str) -> tuple[dict, dict]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if hasattr(v, "shape"):
                tensors[f"{prefix}.{idx}.{k}"] = v
            else:
                scalars[f"{idx}.{k}"] = v
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def unflatten_optimizer(opt, prefix: str, tensors: dict, meta: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, t in tensors.items():
        if name.startswith(prefix + "."):
            idx, key = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(idx), {})[key] = t
    for name, v in meta.get("scalars", {}).items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = v
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in meta["param_groups"]]
    opt.load_state_dict({"state": state, "param_groups": groups})
