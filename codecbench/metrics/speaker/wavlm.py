"""WavLM speaker embeddings at 16 kHz: transformers' ``WavLMForXVector`` (``XvectorEncoder``, e.g.
microsoft/wavlm-base-plus-sv) and UniSpeech's ECAPA-TDNN on WavLM-large (``WavlmEcapaEncoder``,
``wavlm_ecapa_net``). Both expose ``embed(waves) -> [N, D]``.

Padding never reaches an embedding: a batch is zero-padded with an attention mask only for models
whose feature encoder normalises each frame on its own (``feat_extract_norm == "layer"``: frames
past an item's end are zeroed before the position convolution, masked in attention, and pooling /
the ECAPA head see the item's own frames); models with a group norm over time in their first layer
(wavlm-base-plus) run one item at a time, since padding would change their statistics.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from codecbench.models import ModelMissing

MAX_BATCH = 16


def _batches(waves: list[np.ndarray], size: int):
    """Index groups of similar length (longest first)."""
    order = np.argsort([len(w) for w in waves])[::-1]
    return [order[k:k + size] for k in range(0, len(order), size)]


def _pad(waves: list[np.ndarray], device: str):
    import torch

    lengths = torch.tensor([len(w) for w in waves])
    x = torch.zeros(len(waves), int(lengths.max()))
    mask = torch.zeros(len(waves), int(lengths.max()), dtype=torch.long)
    for j, w in enumerate(waves):
        x[j, :len(w)] = torch.from_numpy(np.asarray(w, np.float32))
        mask[j, :len(w)] = 1
    return x.to(device), mask.to(device), lengths


class XvectorEncoder:
    """transformers ``WavLMForXVector`` (or any ``AutoModelForAudioXVector``) from a hub-layout folder."""

    def __init__(self, folder: str | os.PathLike, device: str = "cpu"):
        from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioXVector

        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise ModelMissing(f"{folder} has no config.json (not a transformers x-vector model folder)")
        cfg = AutoConfig.from_pretrained(folder)
        if not any(a.endswith("ForXVector") for a in (cfg.architectures or [])):
            raise ModelMissing(f"{folder}: architectures {cfg.architectures} is not an x-vector model")
        self.model = AutoModelForAudioXVector.from_pretrained(folder).eval().to(device)
        self.fe = AutoFeatureExtractor.from_pretrained(folder)
        self.device = device
        self.batch = MAX_BATCH if getattr(cfg, "feat_extract_norm", "group") == "layer" else 1
        self.folder = folder

    def embed(self, waves: list[np.ndarray]) -> np.ndarray:
        import torch

        out: list[np.ndarray | None] = [None] * len(waves)
        with torch.inference_mode():
            for idx in _batches(waves, self.batch):
                feats = self.fe([np.asarray(waves[i], np.float32) for i in idx], sampling_rate=16000,
                                return_tensors="pt", padding=True, return_attention_mask=True)
                values = feats["input_values"].to(self.device)
                if len(idx) == 1:  # the model's own forward, nothing padded
                    emb = self.model(values).embeddings
                else:
                    emb = self._batched(values, feats["attention_mask"].to(self.device))
                for j, i in enumerate(idx):
                    out[i] = emb[j].float().cpu().numpy()
        return np.stack(out)

    def _batched(self, values, mask):
        """The backbone on the padded batch, the x-vector head on each item's own frames (transformers'
        batched head counts TDNN frames without their dilation, so its pooling would reach padding)."""
        import torch

        m = self.model
        res = m.wavlm(values, attention_mask=mask, output_hidden_states=m.config.use_weighted_layer_sum)
        if m.config.use_weighted_layer_sum:
            hs = torch.stack(res.hidden_states, dim=1)
            hs = (hs * torch.softmax(m.layer_weights, dim=-1).view(-1, 1, 1)).sum(dim=1)
        else:
            hs = res.last_hidden_state
        frames = m._get_feat_extract_output_lengths(mask.sum(-1)).tolist()
        embs = []
        for j, n in enumerate(frames):
            h = m.projector(hs[j:j + 1, :int(n)])
            for layer in m.tdnn:
                h = layer(h)
            embs.append(m.feature_extractor(torch.cat([h.mean(dim=1), h.std(dim=1)], dim=-1))[0])
        return torch.stack(embs)


class WavlmEcapaEncoder:
    """UniSpeech's ECAPA-TDNN on WavLM hidden states, from its checkpoint (``{"model": state dict}``,
    ``.pth`` read with ``weights_only=True``, or ``.safetensors`` with the same names)."""

    def __init__(self, path: str | os.PathLike, device: str = "cpu"):
        from transformers import WavLMModel

        from codecbench.metrics.speaker.wavlm_ecapa_net import (
            head_class,
            head_kwargs,
            wavlm_config,
            wavlm_state,
        )
        from codecbench.metrics.weights import load_state_dict

        state = load_state_dict(path, key="model")
        ws = wavlm_state(state)
        try:
            cfg = wavlm_config(ws)
            head_state = {k: v for k, v in state.items() if not k.startswith("feature_extract.")}
            head = head_class()(**head_kwargs(head_state))
        except (KeyError, ValueError) as exc:
            raise ModelMissing(f"{path} is not a UniSpeech ECAPA-TDNN-on-WavLM checkpoint (no {exc}); expected "
                               "feature_extract.model.* (WavLM), feature_weight, layer1..4, pooling, linear") from exc
        wavlm = WavLMModel(cfg)
        self._load(wavlm, ws, path, "WavLM", optional={"masked_spec_embed"})
        self._load(head, head_state, path, "ECAPA-TDNN head")
        self.wavlm, self.head = wavlm.eval().to(device), head.eval().to(device)
        layers = cfg.num_hidden_layers + 1
        if head.feature_weight.shape[0] != layers:
            raise ModelMissing(f"{path}: feature_weight has {head.feature_weight.shape[0]} entries, WavLM gives "
                               f"{layers} hidden states")
        self.normalize = cfg.feat_extract_norm == "layer"  # s3prl: WavLM-large normalises each wave, base does not
        self.batch = MAX_BATCH if cfg.feat_extract_norm == "layer" else 1
        self.device = device

    @staticmethod
    def _load(module, state, path, what, optional=frozenset()) -> None:
        try:
            missing, _ = module.load_state_dict(state, strict=False)
        except RuntimeError as exc:
            raise ModelMissing(f"{path}: {what} tensors do not fit: {str(exc).splitlines()[-1][:300]}") from exc
        missing = [k for k in missing if k not in optional]
        if missing:
            raise ModelMissing(f"{path}: {what} tensors missing from the checkpoint: {missing[:4]}")

    def embed(self, waves: list[np.ndarray]) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        out: list[np.ndarray | None] = [None] * len(waves)
        with torch.inference_mode():
            for idx in _batches(waves, self.batch):
                ws = [torch.from_numpy(np.asarray(waves[i], np.float32)) for i in idx]
                if self.normalize:
                    ws = [F.layer_norm(w, w.shape) for w in ws]
                x, mask, lengths = _pad([w.numpy() for w in ws], self.device)
                res = self.wavlm(x, attention_mask=mask, output_hidden_states=True)
                # the inputs of the layers and the final (layer-normed) output; transformers versions
                # differ in whether hidden_states[-1] is the last layer's raw output or the final one
                hs = torch.stack([*res.hidden_states[:-1], res.last_hidden_state])  # [layers + 1, B, frames, C]
                frames = self.wavlm._get_feat_extract_output_lengths(lengths).tolist()
                for j, i in enumerate(idx):
                    out[i] = self.head(hs[:, j:j + 1, :int(frames[j])])[0].float().cpu().numpy()
        return np.stack(out)
