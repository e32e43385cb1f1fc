"""Resemblyzer's GE2E speaker encoder re-implemented on its pretrained.pt (nothing imported from
resemblyzer, whose package needs webrtcvad and pkg_resources)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from codecbench.models import ModelMissing

SR = 16000


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

        ckpt = torch.load(weights or resemblyzer_weights(), map_location="cpu", weights_only=True)
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
