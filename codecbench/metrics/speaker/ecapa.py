"""The SpeechBrain spkrec-ecapa-voxceleb embedding pipeline: Fbank -> sentence mean norm -> ECAPA."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from codecbench.metrics.speaker.fbank import SbFbank, sentence_mean_norm
from codecbench.metrics.speaker.hyperparams import read_hyperparams
from codecbench.models import ModelMissing

MAX_BATCH = 16


ECAPA_ARGS = ("input_size", "lin_neurons", "channels", "kernel_sizes", "dilations", "attention_channels",
              "res2net_scale", "se_channels", "global_context", "groups")
FBANK_ARGS = ("n_mels", "sample_rate", "n_fft", "win_length", "hop_length", "f_min", "f_max")


def _kwargs(block: dict[str, Any], allowed: tuple[str, ...], what: str) -> dict[str, Any]:
    ignored = {"__class__", "device", "activation", "dropout", "requires_grad"}
    unknown = set(block) - set(allowed) - ignored
    if unknown:
        raise ModelMissing(f"{what}: unsupported hyperparameters {sorted(unknown)} in hyperparams.yaml")
    return {k: v for k, v in block.items() if k in allowed}


class EcapaEncoder:
    """SpeechBrain spkrec-ecapa-voxceleb embedding pipeline: Fbank -> sentence mean norm -> ECAPA."""

    def __init__(self, folder: str | os.PathLike, device: str = "cpu"):
        import torch

        folder = Path(folder)
        missing = [f for f in ("hyperparams.yaml", "embedding_model.ckpt") if not (folder / f).exists()]
        if missing:
            raise ModelMissing(f"{folder} is not a SpeechBrain speaker model folder (missing {', '.join(missing)})")
        hp = read_hyperparams(folder / "hyperparams.yaml")
        feats = hp.get("compute_features") or {}
        if feats.get("__class__", "").split(".")[-1] != "Fbank" or feats.get("deltas") or feats.get("context"):
            raise ModelMissing(f"{folder}: only SpeechBrain Fbank features without deltas/context are supported")
        if feats.get("filter_shape", "triangular") != "triangular":
            raise ModelMissing(f"{folder}: only triangular mel filters are supported")
        extra = ("filter_shape", "deltas", "context", "left_frames", "right_frames")
        fb_args = {k: v for k, v in _kwargs(feats, FBANK_ARGS + extra, "Fbank").items() if k in FBANK_ARGS}
        self.fbank = SbFbank(**fb_args)
        norm = hp.get("mean_var_norm") or {"norm_type": "sentence", "std_norm": False}
        if norm.get("norm_type", "global") != "sentence":
            raise ModelMissing(f"{folder}: mean_var_norm must be sentence-level (got {norm.get('norm_type')})")
        self.std_norm = bool(norm.get("std_norm", True))
        self.mean_norm = bool(norm.get("mean_norm", True))
        emb = hp.get("embedding_model") or {}
        if emb.get("__class__", "").split(".")[-1] != "ECAPA_TDNN":
            raise ModelMissing(f"{folder}: embedding_model is {emb.get('__class__')!r}, not ECAPA_TDNN")
        from codecbench.metrics.speaker.ecapa_net import EcapaTdnn  # imports torch

        model = EcapaTdnn(**_kwargs(emb, ECAPA_ARGS, "ECAPA_TDNN"))
        state = torch.load(folder / "embedding_model.ckpt", map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
        self.model = model.eval().to(device)
        self.device = device
        self.sample_rate = self.fbank.sample_rate
        self.folder = folder

    def embed(self, waves: list[np.ndarray]) -> np.ndarray:
        """Embeddings [N, D] of 16 kHz waves, batched by similar length with relative-length masks."""
        import torch

        order = np.argsort([len(w) for w in waves])[::-1]
        out: list[np.ndarray | None] = [None] * len(waves)
        with torch.no_grad():
            for k in range(0, len(order), MAX_BATCH):
                idx = order[k:k + MAX_BATCH]
                longest = len(waves[idx[0]])
                batch = torch.zeros(len(idx), longest)
                for j, i in enumerate(idx):
                    batch[j, :len(waves[i])] = torch.from_numpy(np.asarray(waves[i], np.float32))
                lengths = torch.tensor([len(waves[i]) / longest for i in idx], dtype=torch.float32)
                batch, lengths = batch.to(self.device), lengths.to(self.device)
                feats = self.fbank(batch)
                if self.mean_norm:
                    feats = sentence_mean_norm(feats, lengths, self.std_norm)
                emb = self.model(feats, lengths)[:, 0, :].float().cpu().numpy()
                for j, i in enumerate(idx):
                    out[i] = emb[j]
        return np.stack(out)
