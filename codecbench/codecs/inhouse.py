"""In-house codecs (``ours-*``): our RVQ, FSQ and VAE models, from a bundled checkpoint or any compatible one.

* ``ours-rvq`` uses all quantizers; ``ours-rvq-<n>q`` the first n (quantizer dropout in training makes
  every prefix decodable), so the bitrate is chosen at inference.
* ``ours-fsq``: several independent FSQ codebooks. ``ours-vae``: continuous latent (no codes; the
  latent rate, latent_dim x frame rate, stands in for a bitrate).

``NAME:PATH`` loads any compatible checkpoint folder (``model.safetensors`` + ``config.json``), e.g.
``--codecs ours-rvq:path/to/ckpt``; without it the checkpoint shipped in
``codecbench/checkpoints/<name>/`` is used. Static metadata below is read from the bundled
``config.json`` (cheap JSON, no torch); a checkpoint given by path reports its own metadata once loaded.

Items are encoded and decoded one at a time at their own length, so a batch gives exactly the
outputs of its items run alone (padding never leaks into the valid frames).
"""

from __future__ import annotations

import hashlib
import json
import math
from functools import partial
from pathlib import Path

import numpy as np

from codecbench.codecs.base import Codec, CodecUnavailable, TorchCodec
from codecbench.codecs.registry import CodecSpec
from codecbench.inhouse.config import FORMAT_VERSION
from codecbench.inhouse.guard import MAX_CONFIG_BYTES
from codecbench.safe_io import UnsafeFile, hash_regular, read_bounded
from codecbench.types import CodebookLevel, CodecInfo, Encoded

FAMILY = "ours"
CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"
KIND_CHECKPOINT = {"rvq": "ours-rvq", "fsq": "ours-fsq", "vae": "ours-vae"}


def bundled_checkpoint(kind: str) -> Path:
    return CHECKPOINTS / KIND_CHECKPOINT[kind]


_REVISIONS: dict[tuple, str] = {}  # (folder, sizes and times of its files) -> revision


def checkpoint_revision(kind: str, arg: str | None) -> str | None:
    """12 hex digits of SHA-256 over a checkpoint's model config and weights: which checkpoint a run
    decoded with (part of its identity, so a changed checkpoint is a different run). None when the
    folder cannot be read (loading then says why)."""
    folder = Path(arg).expanduser() if arg else bundled_checkpoint(kind)
    files = (folder / "config.json", folder / "model.safetensors")
    try:
        key = (str(folder.resolve()), *[(st.st_size, st.st_mtime_ns) for st in (f.stat() for f in files)])
        if key not in _REVISIONS:
            model = _read_meta(folder).get("model")
            if model is None:
                return None
            h = hashlib.sha256(json.dumps(model, sort_keys=True).encode())
            hash_regular(files[1], h)  # a FIFO or a device is refused at once, never read
            _REVISIONS[key] = h.hexdigest()[:12]
    except (OSError, UnsafeFile):
        return None
    return _REVISIONS[key]


def bundled_missing(kind: str) -> str | None:
    """Why the shipped checkpoint cannot be used (NAME:PATH still works: the registry skips this check)."""
    folder = bundled_checkpoint(kind)
    missing = [f for f in ("model.safetensors", "config.json") if not (folder / f).exists()]
    if missing:
        return f"shipped checkpoint {folder} lacks {', '.join(missing)}; pass one as {KIND_CHECKPOINT[kind]}:PATH"
    return None


def info_from_config(name: str, model: dict, n_quantizers: int | None = None, description: str = "") -> CodecInfo:
    """CodecInfo from a checkpoint's ``model`` config dict (no torch needed)."""
    sr = int(model["sample_rate"])
    frame_rate = sr / int(model["frame_hop"])
    kind = model["kind"]
    if kind == "rvq":
        n = int(model["n_quantizers"] if n_quantizers is None else n_quantizers)
        sizes = [int(model["codebook_size"])] * n
    elif kind == "fsq":
        sizes = [math.prod(model["fsq_levels"])] * int(model["fsq_codebooks"])
    else:
        sizes = []
    return CodecInfo(
        name=name, family=FAMILY, sample_rate=sr, frame_rate=frame_rate,
        codebooks=tuple(CodebookLevel(s, frame_rate) for s in sizes),
        latent_dim=int(model["latent_dim"]) if kind == "vae" else None,
        nominal_bitrate=frame_rate * sum(math.log2(s) for s in sizes) if sizes else None,
        description=description,
    )


def _read_meta(folder: Path) -> dict:
    """config.json of a checkpoint folder ({} when unreadable: the loader reports that properly)."""
    try:
        meta = json.loads(read_bounded(folder / "config.json", MAX_CONFIG_BYTES))
    except (OSError, ValueError, UnsafeFile):
        return {}
    return meta if isinstance(meta, dict) else {}


def verdict(meta: dict) -> str:
    """The checkpoint's measured standings, each with its evidence (test set, n, mean difference with CI
    and p: codecbench.claims), as ``bench/inhouse_vs_opus.py --write-cards`` records them."""
    from codecbench.claims import standings_text

    texts = standings_text(meta.get("evaluation"))
    return "; ".join(texts) if texts else "not evaluated against Opus (run bench/inhouse_vs_opus.py)"


# Architecture of the shipped checkpoints, used for static metadata if config.json is missing.
_FALLBACK = {
    "rvq": {"kind": "rvq", "sample_rate": 16000, "frame_hop": 320, "n_quantizers": 16, "codebook_size": 256,
            "latent_dim": 64},
    "fsq": {"kind": "fsq", "sample_rate": 16000, "frame_hop": 320, "fsq_levels": [8, 5, 5, 5],
            "fsq_codebooks": 12, "latent_dim": 64},
    "vae": {"kind": "vae", "sample_rate": 16000, "frame_hop": 320, "latent_dim": 64},
}


class InhouseCodec(TorchCodec):
    """One loaded in-house model; ``n_quantizers`` restricts an RVQ model to its first n codebooks."""

    def __init__(self, info: CodecInfo, model, device: str = "cpu", n_quantizers: int | None = None):
        super().__init__(info, device)
        self.model = model.to(self.device).eval()
        self.n_quantizers = n_quantizers

    def _frames(self, n: int) -> int:
        return -(-int(n) // self.model.hop_length)

    def _encode(self, x, lengths: np.ndarray) -> Encoded:
        per_item = []
        for b, n in enumerate(lengths):
            per_item.append(self.model.encode(x[b : b + 1, :, : int(n)], self.n_quantizers))
        frames = np.array([self._frames(n) for n in lengths], dtype=np.int64)
        if self.model.cfg.kind == "vae":
            return Encoded(codes=None, frames=None, state=[o.z_q for o in per_item])
        n_books = per_item[0].codes.shape[1]
        codes = [np.zeros((len(lengths), int(frames.max(initial=0))), dtype=np.int64) for _ in range(n_books)]
        for b, o in enumerate(per_item):
            c = o.codes[0].cpu().numpy()
            for k in range(n_books):
                codes[k][b, : c.shape[1]] = c[k]
        return Encoded(codes=codes, frames=[frames.copy() for _ in range(n_books)])

    def _decode(self, encoded: Encoded, lengths: np.ndarray):
        import torch

        waves = []
        for b, n in enumerate(lengths):
            if encoded.codes is None:
                y = self.model.decode_latent(encoded.state[b])
            else:
                f = int(encoded.frames[0][b])
                codes = torch.from_numpy(np.stack([c[b, :f] for c in encoded.codes]))[None].to(self.device)
                y = self.model.decode_codes(codes)
            waves.append(y[0, 0, : int(n)])
        out = torch.zeros(len(lengths), int(max(lengths, default=0)), device=self.device)
        for b, w in enumerate(waves):
            out[b, : w.shape[0]] = w
        return out


def load(kind: str, name: str, n_quantizers: int | None, arg: str | None, device: str) -> Codec:
    """Load the bundled checkpoint for ``kind``, or the folder ``arg``; checks kind and quantizer count."""
    from codecbench.inhouse.checkpoint import load_checkpoint
    from codecbench.inhouse.config import CheckpointMismatch

    folder = Path(arg).expanduser() if arg else bundled_checkpoint(kind)
    if not arg and not (folder / "model.safetensors").is_file():
        raise CodecUnavailable(f"{name}: the bundled checkpoint is missing at {folder}; reinstall codecbench or "
                               f"pass one: --codecs {name}:path/to/checkpoint")
    model = load_checkpoint(folder, kind=kind, device="cpu")
    cfg = model.cfg
    if n_quantizers is not None and not 1 <= n_quantizers <= cfg.n_quantizers:
        raise CheckpointMismatch(f"{name} needs {n_quantizers} quantizers; checkpoint {folder} has {cfg.n_quantizers}")
    description = _describe(kind, n_quantizers, verdict(_read_meta(folder)), folder if arg else None)
    info = info_from_config(name, cfg.to_dict(), n_quantizers, description=description)
    return InhouseCodec(info, model, device, n_quantizers)


def _describe(kind: str, n_quantizers: int | None, standing: str, folder: Path | None = None) -> str:
    what = {"rvq": "RVQ (EMA codebooks, quantizer dropout)", "fsq": "FSQ (independent FSQ codebooks)",
            "vae": "VAE (continuous Gaussian latent)"}[kind]
    what = f"in-house {what} codec: log-STFT encoder, ConvNeXt decoder with iSTFT head"
    if n_quantizers is not None:
        what += f", first {n_quantizers} quantizers"
    where = f"checkpoint {folder}" if folder else "bundled checkpoint, or NAME:PATH"
    return f"{what}; {where}; {standing}"


def specs() -> list[CodecSpec]:
    out = []
    for kind in ("rvq", "fsq", "vae"):
        meta = _read_meta(bundled_checkpoint(kind))
        current = meta.get("version") == FORMAT_VERSION and isinstance(meta.get("model"), dict)
        model = meta["model"] if current else _FALLBACK[kind]  # an outdated config fails properly on load
        standing = verdict(meta)
        name = KIND_CHECKPOINT[kind]
        variants: list[tuple[str, int | None]] = [(name, None)]
        if kind == "rvq":
            variants += [(f"{name}-{n}q", n) for n in range(int(model["n_quantizers"]), 0, -1)]
        for vname, n_q in variants:
            out.append(CodecSpec(
                info=info_from_config(vname, model, n_q, _describe(kind, n_q, standing)),
                load=partial(load, kind, vname, n_q),
                requires=("torch", "safetensors"),
                install_hint="pip install torch safetensors",
                accepts_arg=True,
                check=partial(bundled_missing, kind),  # skipped for NAME:PATH
                revision=partial(checkpoint_revision, kind),
            ))
    return out


def standing_notes() -> list[str]:
    """One line per standing of each bundled checkpoint, with its evidence (for ``codecbench codecs``)."""
    from codecbench.claims import standings_text

    lines = []
    for k in ("rvq", "fsq", "vae"):
        texts = standings_text(_read_meta(bundled_checkpoint(k)).get("evaluation"))
        lines += [f"{KIND_CHECKPOINT[k]}: {t}" for t in texts] or [f"{KIND_CHECKPOINT[k]}: not evaluated against Opus"]
    return lines


def models() -> list:
    """The in-house checkpoints ship inside codecbench (codecbench/checkpoints/); nothing to download."""
    from codecbench.models import ModelSpec

    return [ModelSpec(name=KIND_CHECKPOINT[k], description=f"in-house {k.upper()} codec checkpoint (bundled)",
                      used_by=(KIND_CHECKPOINT[k],), bundled_in="codecbench") for k in ("rvq", "fsq", "vae")]
