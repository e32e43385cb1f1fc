"""Speaker similarity: cosine similarity of reference and reconstruction speaker embeddings.

Two backends, each its own metric (``batched``, GPU-capable):

- ``spk_sim_ecapa`` (default): ECAPA-TDNN trained on VoxCeleb 1+2, SpeechBrain's
  ``speechbrain/spkrec-ecapa-voxceleb``. Implemented here in plain torch (no speechbrain, no
  torchaudio): our ``EcapaTdnn`` uses SpeechBrain's parameter names and our ``SbFbank`` reproduces
  SpeechBrain's ``Fbank`` (80 mels, 16 kHz, 25 ms Hamming window, n_fft 400, hop 160, power
  spectrum, HTK-mel triangular filters, 10*log10 with amin 1e-10 and top_db 80), followed by
  sentence mean normalisation, exactly as ``EncoderClassifier.encode_batch`` does (embeddings are
  not passed through ``mean_var_norm_emb``, as in SpeechBrain's ``verify_batch``). The model folder
  comes from ``CODECBENCH_ECAPA_MODEL`` (a local folder in SpeechBrain's layout: hyperparams.yaml,
  embedding_model.ckpt, ...) or the hub id at a pinned revision. Without the weights the metric is
  unavailable, with the reason.
- ``spk_sim_ge2e``: Resemblyzer's GE2E speaker encoder (3-layer LSTM, 40 mels); its weights ship
  in the resemblyzer wheel (works offline). The network and the partial-utterance averaging are
  re-implemented here on resemblyzer's ``pretrained.pt`` so that we import nothing from
  resemblyzer: its package imports ``webrtcvad``, whose module needs ``pkg_resources`` (gone from
  recent setuptools). Consequence: resemblyzer's VAD silence trimming is not applied; reference
  and reconstruction are time-aligned, so both keep the same pauses. Volume is normalised to
  -30 dBFS (increase only) as resemblyzer does.

Both are in the default metric set: ECAPA is the reference figure when its weights are present (and
is reported unavailable, with the reason, when they are not); GE2E gives a number offline.

Batching never lets padding leak for GE2E (every partial is a full 1.6 s window; nothing is
padded across utterances). ECAPA pads a batch to its longest item and masks with relative
lengths like SpeechBrain; only the convolutions' reflect padding at the end of a shorter item
sees padded frames, which moves cosine similarities by < 1e-3 (``tests/test_metrics_speaker.py``);
items are sorted by length before batching to keep padding small.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from codecbench.audio import resample
from codecbench.metrics.base import (
    Failure,
    Metric,
    MetricFailure,
    MetricInfo,
    MetricInput,
    MetricUnavailable,
    Output,
    Values,
    fail_all,
    package_version,
)
from codecbench.models import ModelMissing, ModelSpec, offline, resolve_local_or_hub

SR = 16000
ECAPA_HUB_ID = "speechbrain/spkrec-ecapa-voxceleb"
# Commit of the hub repository pinned by two independent public projects; not verified from here
# (no hub access). Override with CODECBENCH_ECAPA_REVISION.
ECAPA_REVISION = "0f99f2d0ebe89ac095bcc5903c4dd8f72b367286"
ECAPA_FILES = ("hyperparams.yaml", "embedding_model.ckpt", "mean_var_norm_emb.ckpt", "classifier.ckpt",
               "label_encoder.txt")
MAX_BATCH = 16
MIN_SECONDS = 0.5


# ================================================================ SpeechBrain-compatible front end


def _hz_to_mel(hz):
    return 2595.0 * math.log10(1.0 + hz / 700.0)


class SbFbank:
    """SpeechBrain ``lobes.features.Fbank`` (deltas/context off) in plain torch."""

    def __init__(self, n_mels: int = 80, sample_rate: int = SR, n_fft: int = 400, win_length: float = 25,
                 hop_length: float = 10, f_min: float = 0, f_max: float | None = None, amin: float = 1e-10,
                 ref_value: float = 1.0, top_db: float = 80.0):
        import torch

        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.win = int(round(sample_rate / 1000.0 * win_length))
        self.hop = int(round(sample_rate / 1000.0 * hop_length))
        self.window = torch.hamming_window(self.win)
        f_max = f_max if f_max is not None else sample_rate / 2
        mel = torch.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2)
        hz = 700.0 * (10 ** (mel / 2595.0) - 1.0)
        band = (hz[1:] - hz[:-1])[:-1]
        f_central = hz[1:-1]
        all_freqs = torch.linspace(0, sample_rate // 2, n_fft // 2 + 1)
        slope = (all_freqs[None, :] - f_central[:, None]) / band[:, None]
        self.fbank = torch.clamp(torch.minimum(slope + 1.0, -slope + 1.0), min=0.0).T  # [n_stft, n_mels]
        self.amin = amin
        self.db_offset = 10.0 * math.log10(max(amin, ref_value))
        self.top_db = top_db

    def __call__(self, wavs):
        """[B, T] waves -> [B, frames, n_mels] log-mel filterbanks."""
        import torch

        spec = torch.stft(wavs, self.n_fft, self.hop, self.win, self.window.to(wavs.device), center=True,
                          pad_mode="constant", normalized=False, onesided=True, return_complex=True)
        power = (spec.real ** 2 + spec.imag ** 2).transpose(1, 2)  # [B, frames, n_stft]
        fb = power @ self.fbank.to(wavs.device)
        db = 10.0 * torch.log10(torch.clamp(fb, min=self.amin)) - self.db_offset
        floor = db.amax(dim=(-2, -1)) - self.top_db
        return torch.maximum(db, floor.view(-1, 1, 1))


def sentence_mean_norm(feats, lengths, std_norm: bool = False):
    """SpeechBrain ``InputNormalization(norm_type='sentence')`` with relative lengths."""
    import torch

    out = feats.clone()
    for i in range(feats.shape[0]):
        n = int(torch.round(lengths[i] * feats.shape[1]).item())
        seg = feats[i, :n]
        mean = seg.mean(dim=0)
        std = seg.std(dim=0).clamp(min=1e-10) if std_norm else 1.0
        out[i] = (feats[i] - mean) / std
    return out


# ================================================================ ECAPA-TDNN with SpeechBrain names


def _build_ecapa_classes():
    import torch
    import torch.nn.functional as F
    from torch import nn

    def length_mask(lengths, L, device):
        return (torch.arange(L, device=device)[None, :] < (lengths * L)[:, None]).float().unsqueeze(1)

    class Conv1d(nn.Module):
        """SpeechBrain nnet.CNN.Conv1d (skip_transpose): 'same' output, reflect padding."""

        def __init__(self, in_channels, out_channels, kernel_size, dilation=1, groups=1):
            super().__init__()
            self.pad = dilation * (kernel_size - 1) // 2
            self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation, groups=groups)

        def forward(self, x):
            if self.pad:
                x = F.pad(x, (self.pad, self.pad), mode="reflect")
            return self.conv(x)

    class BatchNorm1d(nn.Module):
        def __init__(self, input_size):
            super().__init__()
            self.norm = nn.BatchNorm1d(input_size, eps=1e-5, momentum=0.1)

        def forward(self, x):
            return self.norm(x)

    class TDNNBlock(nn.Module):
        def __init__(self, in_channels, out_channels, kernel_size, dilation, groups=1):
            super().__init__()
            self.conv = Conv1d(in_channels, out_channels, kernel_size, dilation, groups)
            self.activation = nn.ReLU()
            self.norm = BatchNorm1d(out_channels)

        def forward(self, x, lengths=None):
            return self.norm(self.activation(self.conv(x)))

    class Res2NetBlock(nn.Module):
        def __init__(self, in_channels, out_channels, scale=8, kernel_size=3, dilation=1):
            super().__init__()
            self.blocks = nn.ModuleList(
                [TDNNBlock(in_channels // scale, out_channels // scale, kernel_size, dilation) for _ in range(scale - 1)])
            self.scale = scale

        def forward(self, x):
            ys = []
            y_i = None
            for i, x_i in enumerate(torch.chunk(x, self.scale, dim=1)):
                if i == 0:
                    y_i = x_i
                elif i == 1:
                    y_i = self.blocks[i - 1](x_i)
                else:
                    y_i = self.blocks[i - 1](x_i + y_i)
                ys.append(y_i)
            return torch.cat(ys, dim=1)

    class SEBlock(nn.Module):
        def __init__(self, in_channels, se_channels, out_channels):
            super().__init__()
            self.conv1 = Conv1d(in_channels, se_channels, 1)
            self.relu = nn.ReLU()
            self.conv2 = Conv1d(se_channels, out_channels, 1)
            self.sigmoid = nn.Sigmoid()

        def forward(self, x, lengths=None):
            L = x.shape[-1]
            if lengths is not None:
                mask = length_mask(lengths, L, x.device)
                s = (x * mask).sum(dim=2, keepdim=True) / mask.sum(dim=2, keepdim=True)
            else:
                s = x.mean(dim=2, keepdim=True)
            return self.sigmoid(self.conv2(self.relu(self.conv1(s)))) * x

    class AttentiveStatisticsPooling(nn.Module):
        def __init__(self, channels, attention_channels=128, global_context=True):
            super().__init__()
            self.eps = 1e-12
            self.global_context = global_context
            self.tdnn = TDNNBlock(channels * 3 if global_context else channels, attention_channels, 1, 1)
            self.tanh = nn.Tanh()
            self.conv = Conv1d(attention_channels, channels, 1)

        def _stats(self, x, m):
            mean = (m * x).sum(2)
            std = torch.sqrt((m * (x - mean.unsqueeze(2)).pow(2)).sum(2).clamp(self.eps))
            return mean, std

        def forward(self, x, lengths=None):
            L = x.shape[-1]
            if lengths is None:
                lengths = torch.ones(x.shape[0], device=x.device)
            mask = length_mask(lengths, L, x.device)
            if self.global_context:
                mean, std = self._stats(x, mask / mask.sum(dim=2, keepdim=True))
                attn = torch.cat([x, mean.unsqueeze(2).repeat(1, 1, L), std.unsqueeze(2).repeat(1, 1, L)], dim=1)
            else:
                attn = x
            attn = self.conv(self.tanh(self.tdnn(attn)))
            attn = attn.masked_fill(mask == 0, float("-inf"))
            attn = F.softmax(attn, dim=2)
            mean, std = self._stats(x, attn)
            return torch.cat((mean, std), dim=1).unsqueeze(2)

    class SERes2NetBlock(nn.Module):
        def __init__(self, in_channels, out_channels, res2net_scale=8, se_channels=128, kernel_size=1,
                     dilation=1, groups=1):
            super().__init__()
            self.out_channels = out_channels
            self.tdnn1 = TDNNBlock(in_channels, out_channels, 1, 1, groups)
            self.res2net_block = Res2NetBlock(out_channels, out_channels, res2net_scale, kernel_size, dilation)
            self.tdnn2 = TDNNBlock(out_channels, out_channels, 1, 1, groups)
            self.se_block = SEBlock(out_channels, se_channels, out_channels)
            self.shortcut = Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else None

        def forward(self, x, lengths=None):
            residual = self.shortcut(x) if self.shortcut is not None else x
            x = self.tdnn2(self.res2net_block(self.tdnn1(x)))
            return self.se_block(x, lengths) + residual

    class EcapaTdnn(nn.Module):
        """ECAPA-TDNN with the module tree (hence state-dict keys) of SpeechBrain's ECAPA_TDNN."""

        def __init__(self, input_size, lin_neurons=192, channels=(512, 512, 512, 512, 1536),
                     kernel_sizes=(5, 3, 3, 3, 1), dilations=(1, 2, 3, 4, 1), attention_channels=128,
                     res2net_scale=8, se_channels=128, global_context=True, groups=(1, 1, 1, 1, 1)):
            super().__init__()
            channels, kernel_sizes, dilations, groups = list(channels), list(kernel_sizes), list(dilations), list(groups)
            self.blocks = nn.ModuleList([TDNNBlock(input_size, channels[0], kernel_sizes[0], dilations[0], groups[0])])
            for i in range(1, len(channels) - 1):
                self.blocks.append(SERes2NetBlock(channels[i - 1], channels[i], res2net_scale, se_channels,
                                                  kernel_sizes[i], dilations[i], groups[i]))
            self.mfa = TDNNBlock(channels[-2] * (len(channels) - 2), channels[-1], kernel_sizes[-1], dilations[-1],
                                 groups[-1])
            self.asp = AttentiveStatisticsPooling(channels[-1], attention_channels, global_context)
            self.asp_bn = BatchNorm1d(channels[-1] * 2)
            self.fc = Conv1d(channels[-1] * 2, lin_neurons, 1)

        def forward(self, x, lengths=None):
            """x: [B, frames, feats]; lengths: relative lengths in (0, 1]. Returns [B, 1, lin_neurons]."""
            x = x.transpose(1, 2)
            xl = []
            for layer in self.blocks:
                x = layer(x, lengths=lengths)
                xl.append(x)
            x = self.mfa(torch.cat(xl[1:], dim=1))
            x = self.asp(x, lengths=lengths)
            x = self.fc(self.asp_bn(x))
            return x.transpose(1, 2)

    return EcapaTdnn


_ECAPA_CLASS = None


def ecapa_class():
    """The EcapaTdnn class (built lazily so that importing this module does not import torch)."""
    global _ECAPA_CLASS
    if _ECAPA_CLASS is None:
        _ECAPA_CLASS = _build_ecapa_classes()
    return _ECAPA_CLASS


# ================================================================ SpeechBrain hyperparams.yaml


def read_hyperparams(path: str | os.PathLike) -> dict[str, Any]:
    """HyperPyYAML read without speechbrain: ``!new:``/``!name:`` tags become dicts with a
    ``__class__`` key, ``!ref <name>`` references to top-level keys are resolved."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def tagged(loader, tag_suffix, node):
        if isinstance(node, yaml.MappingNode):
            value = loader.construct_mapping(node, deep=True)
        elif isinstance(node, yaml.SequenceNode):
            value = {"__args__": loader.construct_sequence(node, deep=True)}
        else:
            value = {"__args__": loader.construct_scalar(node)}
        return {"__class__": tag_suffix, **value}

    def ref(loader, node):
        return {"__ref__": loader.construct_scalar(node)}

    Loader.add_multi_constructor("!new:", tagged)
    Loader.add_multi_constructor("!name:", tagged)
    Loader.add_multi_constructor("!apply:", tagged)
    Loader.add_constructor("!ref", ref)
    Loader.add_constructor("!copy", ref)
    Loader.add_constructor("!PLACEHOLDER", lambda loader, node: None)
    raw = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=Loader) or {}

    def resolve(v, depth=0):
        if depth > 20:
            raise ValueError("!ref cycle in hyperparams.yaml")
        if isinstance(v, dict) and "__ref__" in v and len(v) == 1:
            text = str(v["__ref__"]).strip()
            whole = re.fullmatch(r"<([^<>]+)>", text)
            if whole:
                return resolve(raw.get(whole.group(1).split("[")[0]), depth + 1)
            return re.sub(r"<([^<>]+)>", lambda m: str(resolve(raw.get(m.group(1)), depth + 1)), text)
        if isinstance(v, dict):
            return {k: resolve(x, depth + 1) for k, x in v.items()}
        if isinstance(v, list):
            return [resolve(x, depth + 1) for x in v]
        return v

    return {k: resolve(v) for k, v in raw.items() if k not in ("modules", "pretrainer")}


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
        model = ecapa_class()(**_kwargs(emb, ECAPA_ARGS, "ECAPA_TDNN"))
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


# ================================================================ Resemblyzer GE2E


def resemblyzer_weights() -> Path:
    spec = importlib.util.find_spec("resemblyzer")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing("GE2E weights ship in the 'resemblyzer' package: pip install resemblyzer")
    path = Path(list(spec.submodule_search_locations)[0]) / "pretrained.pt"
    if not path.exists():
        raise ModelMissing(f"resemblyzer is installed but {path} is missing: reinstall resemblyzer")
    return path


class Ge2eEncoder:
    """Resemblyzer's VoiceEncoder (LSTM 3x256 on 40 mels, 1.6 s partials at 1.3 per second)."""

    partial_frames = 160
    hop = 160  # 10 ms
    rate = 1.3
    min_coverage = 0.75

    def __init__(self, device: str = "cpu", weights: str | os.PathLike | None = None):
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.lstm = nn.LSTM(40, 256, 3, batch_first=True)
                self.linear = nn.Linear(256, 256)
                self.relu = nn.ReLU()

            def forward(self, mels):
                _, (hidden, _) = self.lstm(mels)
                raw = self.relu(self.linear(hidden[-1]))
                return raw / torch.norm(raw, dim=1, keepdim=True)

        ckpt = torch.load(weights or resemblyzer_weights(), map_location="cpu", weights_only=False)
        net = Net()
        # the training-only GE2E similarity scale/bias are not part of the encoder
        state = {k: v for k, v in ckpt["model_state"].items() if not k.startswith("similarity_")}
        net.load_state_dict(state, strict=True)
        self.net = net.eval().to(device)
        self.device = device

    @staticmethod
    def normalize_volume(wave: np.ndarray, target_dbfs: float = -30.0) -> np.ndarray:
        rms = float(np.sqrt(np.mean((wave.astype(np.float64) * 32767) ** 2)))
        if rms == 0:
            return wave
        change = target_dbfs - 20 * np.log10(rms / 32767)
        return wave if change < 0 else (wave * 10 ** (change / 20)).astype(np.float32)

    def _slices(self, n_samples: int) -> list[tuple[int, int]]:
        n_frames = int(np.ceil((n_samples + 1) / self.hop))
        step = int(np.round((SR / self.rate) / self.hop))
        steps = max(1, n_frames - self.partial_frames + step + 1)
        mel_slices = [(i, i + self.partial_frames) for i in range(0, steps, step)]
        start = mel_slices[-1][0] * self.hop
        coverage = (n_samples - start) / (self.partial_frames * self.hop)
        if coverage < self.min_coverage and len(mel_slices) > 1:
            mel_slices = mel_slices[:-1]
        return mel_slices

    def mel(self, wave: np.ndarray) -> np.ndarray:
        import librosa

        m = librosa.feature.melspectrogram(y=wave, sr=SR, n_fft=400, hop_length=160, n_mels=40)
        return m.astype(np.float32).T

    def embed(self, waves: list[np.ndarray], normalize_volume: bool = True) -> np.ndarray:
        """Utterance embeddings [N, 256]: mean of the partial embeddings, L2-normalised."""
        import torch

        partials, owner = [], []
        for i, w in enumerate(waves):
            w = np.asarray(w, np.float32)
            if normalize_volume:
                w = self.normalize_volume(w)
            slices = self._slices(len(w))
            need = slices[-1][1] * self.hop
            if need >= len(w):
                w = np.pad(w, (0, need - len(w)))
            m = self.mel(w)
            for a, b in slices:
                partials.append(m[a:b])
                owner.append(i)
        with torch.no_grad():
            emb = self.net(torch.from_numpy(np.stack(partials)).to(self.device)).cpu().numpy()
        owner_arr = np.array(owner)
        out = []
        for i in range(len(waves)):
            raw = emb[owner_arr == i].mean(axis=0)
            out.append(raw / np.linalg.norm(raw))
        return np.stack(out)


# ================================================================ the metric


def ecapa_source() -> tuple[str, str | None]:
    src = os.environ.get("CODECBENCH_ECAPA_MODEL", ECAPA_HUB_ID)
    rev = None if os.path.isdir(src) else os.environ.get("CODECBENCH_ECAPA_REVISION", ECAPA_REVISION)
    return src, rev


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


class SpeakerSimilarity(Metric):
    """``backend='ecapa'`` (spk_sim_ecapa) or ``backend='ge2e'`` (spk_sim_ge2e)."""

    def __init__(self, backend: str = "ecapa", source: str | None = None):
        if backend not in ("ecapa", "ge2e"):
            raise ValueError(backend)
        self.backend = backend
        self.name = f"spk_sim_{backend}"
        self._source = source
        self._encoder: Any = None
        self._device = "cpu"
        self._reason: str | None | bool = False

    def _ecapa_source(self) -> tuple[str, str | None]:
        if self._source:
            return self._source, None if os.path.isdir(self._source) else ECAPA_REVISION
        return ecapa_source()

    def info(self) -> MetricInfo:
        if self.backend == "ecapa":
            src, rev = self._ecapa_source()
            model = src if os.path.isdir(src) else f"{src}@{(rev or 'main')[:12]}"
            lib, version, desc = "codecbench (SpeechBrain-compatible ECAPA-TDNN)", package_version("torch"), \
                "ECAPA-TDNN (VoxCeleb) cosine similarity, reference vs reconstruction"
            mode = "fbank80 + sentence mean norm, cosine"
        else:
            model, lib, version = "resemblyzer pretrained.pt (GE2E)", "resemblyzer", package_version("resemblyzer")
            desc = "Resemblyzer GE2E cosine similarity, reference vs reconstruction (no VAD trimming)"
            mode = "40 mels, 1.6 s partials, cosine"
        return MetricInfo(
            name=self.name,
            outputs=(Output(self.name, True, "cosine", desc),),
            description=desc,
            needs_reference=True,
            device="gpu",
            sample_rate=SR,
            library=lib,
            version=version,
            model=model,
            mode=mode,
            batched=True,
            default=True,  # ECAPA when its weights are there (else "unavailable" + reason); GE2E always works
        )

    def unavailable_reason(self) -> str | None:
        if self._reason is False:
            self._reason = self._check()
        return self._reason  # type: ignore[return-value]

    def _check(self) -> str | None:
        if importlib.util.find_spec("torch") is None:
            return "needs torch"
        if self.backend == "ge2e":
            if importlib.util.find_spec("librosa") is None:
                return "GE2E needs librosa: pip install resemblyzer"
            try:
                resemblyzer_weights()
            except ModelMissing as exc:
                return str(exc)
            return None
        if importlib.util.find_spec("yaml") is None:
            return "ECAPA needs pyyaml: pip install pyyaml"
        try:
            self._folder()
        except ModelMissing as exc:
            return str(exc)
        return None

    def _folder(self) -> str:
        src, rev = self._ecapa_source()
        try:
            folder = resolve_local_or_hub(src, rev, ECAPA_FILES)
        except ModelMissing as exc:
            how = ("run `codecbench models download ecapa-voxceleb` where the hub is reachable, or set "
                   "CODECBENCH_ECAPA_MODEL to a local folder in SpeechBrain's layout")
            raise ModelMissing(f"ECAPA-TDNN weights {src}@{rev} are not available"
                               f"{' (offline)' if offline() else ''}: {how}") from exc
        for f in ("hyperparams.yaml", "embedding_model.ckpt"):
            if not os.path.exists(os.path.join(folder, f)):
                raise ModelMissing(f"{folder} has no {f} (not a SpeechBrain speaker model folder)")
        return folder

    def setup(self, device: str = "cpu", workdir: str | None = None) -> None:
        if device != self._device:
            self._device = device
            self._encoder = None

    def _load(self):
        if self._encoder is None:
            reason = self.unavailable_reason()
            if reason:
                raise MetricUnavailable(reason)
            if self.backend == "ge2e":
                self._encoder = Ge2eEncoder(self._device)
            else:
                self._encoder = EcapaEncoder(self._folder(), self._device)
        return self._encoder

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_encoder"] = None
        return state

    def embed(self, waves: list[np.ndarray], sample_rate: int) -> np.ndarray:
        return self._load().embed([resample(np.asarray(w, np.float32), sample_rate, SR) for w in waves])

    def compute(self, x: MetricInput) -> Values:
        (res,) = self.compute_batch([x])
        v = res[self.name]
        if isinstance(v, Failure):
            raise MetricFailure(v.reason, v.kind)
        return res

    def compute_batch(self, xs: list[MetricInput]) -> list[Values]:
        out: list[Values | None] = [None] * len(xs)
        ok = []
        for i, x in enumerate(xs):
            if len(x.ref) < MIN_SECONDS * x.sample_rate:
                out[i] = fail_all(self, f"too short for a speaker embedding ({x.duration:.2f} s < {MIN_SECONDS} s)")
            elif not np.any(x.ref) or not np.any(x.deg):
                out[i] = fail_all(self, "reference or reconstruction is digital silence")
            else:
                ok.append(i)
        if ok:
            try:
                waves = [xs[i].ref for i in ok] + [xs[i].deg for i in ok]
                emb = self.embed(waves, xs[ok[0]].sample_rate) if len({xs[i].sample_rate for i in ok}) == 1 else \
                    np.concatenate([self.embed([xs[i].ref], xs[i].sample_rate) for i in ok]
                                   + [self.embed([xs[i].deg], xs[i].sample_rate) for i in ok])
                n = len(ok)
                for j, i in enumerate(ok):
                    out[i] = {self.name: cosine(emb[j], emb[n + j])}
            except MetricFailure as exc:
                for i in ok:
                    out[i] = fail_all(self, str(exc))
        return [o if o is not None else fail_all(self, "not computed") for o in out]


def metrics() -> list[Metric]:
    return [SpeakerSimilarity("ecapa"), SpeakerSimilarity("ge2e")]


def models() -> list[ModelSpec]:
    return [
        ModelSpec("ecapa-voxceleb", "SpeechBrain ECAPA-TDNN speaker embeddings (VoxCeleb 1+2), revision pinned "
                  "from public projects", ("spk_sim_ecapa",), hub_id=ECAPA_HUB_ID, revision=ECAPA_REVISION,
                  allow_patterns=ECAPA_FILES),
        ModelSpec("resemblyzer-ge2e", "Resemblyzer GE2E speaker encoder (pretrained.pt in the wheel)",
                  ("spk_sim_ge2e",), bundled_in="resemblyzer",
                  fetch=lambda _cache=None: resemblyzer_weights().parent),
    ]
