"""Reconstruction losses: waveform L1, multi-resolution STFT (spectral convergence + log magnitude)
and multi-resolution log-mel L1. Mel filters are computed here (no torchaudio)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from codecbench.metrics import spectral


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> torch.Tensor:
    """codecbench's mel filters (``codecbench.metrics.spectral.mel_filterbank``) as a float tensor."""
    return torch.from_numpy(spectral.mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax)).float()


def stft_mag(x: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor) -> torch.Tensor:
    """x [B, T] -> magnitude [B, n_fft // 2 + 1, frames]."""
    spec = torch.stft(x, n_fft, hop_length=hop, win_length=n_fft, window=window, return_complex=True, center=True)
    return spec.abs().clamp(min=1e-7)


class ReconstructionLoss(nn.Module):
    def __init__(self, sample_rate: int, stft_sizes=(256, 512, 1024, 2048), mel_sizes=((512, 64), (1024, 80), (2048, 128))):
        super().__init__()
        self.stft_sizes = tuple(stft_sizes)
        self.mel_sizes = tuple(mel_sizes)
        for n in {*self.stft_sizes, *(m[0] for m in self.mel_sizes)}:
            self.register_buffer(f"win_{n}", torch.hann_window(n), persistent=False)
        for n, m in self.mel_sizes:
            self.register_buffer(f"mel_{n}_{m}", mel_filterbank(sample_rate, n, m), persistent=False)

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """y, x [B, 1, T] (reconstruction, target) -> {'wave_l1', 'stft', 'mel'}."""
        y, x = y.squeeze(1), x.squeeze(1)
        out = {"wave_l1": F.l1_loss(y, x)}
        stft = y.new_zeros(())
        for n in self.stft_sizes:
            w = getattr(self, f"win_{n}")
            my, mx = stft_mag(y, n, n // 4, w), stft_mag(x, n, n // 4, w)
            sc = torch.linalg.norm(mx - my) / torch.linalg.norm(mx).clamp(min=1e-7)
            stft = stft + sc + F.l1_loss(my.log(), mx.log())
        out["stft"] = stft / len(self.stft_sizes)
        mel = y.new_zeros(())
        for n, m in self.mel_sizes:
            w, fb = getattr(self, f"win_{n}"), getattr(self, f"mel_{n}_{m}")
            my = (fb @ stft_mag(y, n, n // 4, w)).clamp(min=1e-5).log10()
            mx = (fb @ stft_mag(x, n, n // 4, w)).clamp(min=1e-5).log10()
            mel = mel + F.l1_loss(my, mx)
        out["mel"] = mel / len(self.mel_sizes)
        return out
