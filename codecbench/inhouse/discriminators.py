"""Optional adversarial training: multi-period (HiFi-GAN) and multi-scale STFT (EnCodec) discriminators,
hinge losses and feature matching. Small channel counts, for CPU-sized models."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PeriodDiscriminator(nn.Module):
    def __init__(self, period: int, ch: int = 16):
        super().__init__()
        self.period = period
        chans = [1, ch, ch * 2, ch * 4, ch * 4]
        self.convs = nn.ModuleList(
            nn.Conv2d(chans[i], chans[i + 1], (5, 1), (3 if i < 3 else 1, 1), padding=(2, 0)) for i in range(4))
        self.out = nn.Conv2d(chans[-1], 1, (3, 1), padding=(1, 0))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        B, _, T = x.shape
        pad = (-T) % self.period
        x = F.pad(x, (0, pad), mode="reflect" if pad < T else "constant")
        x = x.view(B, 1, -1, self.period)
        feats = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
            feats.append(x)
        feats.append(self.out(x))
        return feats


class STFTDiscriminator(nn.Module):
    def __init__(self, n_fft: int, ch: int = 16):
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.convs = nn.ModuleList([
            nn.Conv2d(2, ch, (3, 9), padding=(1, 4)),
            nn.Conv2d(ch, ch, (3, 9), stride=(1, 2), padding=(1, 4)),
            nn.Conv2d(ch, ch, (3, 9), stride=(1, 2), padding=(1, 4)),
            nn.Conv2d(ch, ch, (3, 3), padding=(1, 1)),
        ])
        self.out = nn.Conv2d(ch, 1, (3, 3), padding=(1, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        spec = torch.stft(x.squeeze(1), self.n_fft, self.n_fft // 4, window=self.window, return_complex=True)
        h = torch.stack([spec.real, spec.imag], 1).transpose(2, 3)  # [B, 2, frames, freq]
        feats = []
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.1)
            feats.append(h)
        feats.append(self.out(h))
        return feats


class Discriminators(nn.Module):
    def __init__(self, periods=(2, 3, 5, 7, 11), n_ffts=(512, 1024, 2048), ch: int = 16):
        super().__init__()
        self.discs = nn.ModuleList([*(PeriodDiscriminator(p, ch) for p in periods),
                                    *(STFTDiscriminator(n, ch) for n in n_ffts)])

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        return [d(x) for d in self.discs]


def discriminator_loss(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> torch.Tensor:
    loss = real[0][-1].new_zeros(())
    for r, f in zip(real, fake, strict=True):
        loss = loss + F.relu(1 - r[-1]).mean() + F.relu(1 + f[-1]).mean()
    return loss / len(real)


def generator_losses(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(adversarial hinge loss, feature-matching L1) for the generator."""
    adv = fake[0][-1].new_zeros(())
    fm = fake[0][-1].new_zeros(())
    n_feats = 0
    for r, f in zip(real, fake, strict=True):
        adv = adv + F.relu(1 - f[-1]).mean()
        for fr, ff in zip(r[:-1], f[:-1], strict=True):
            fm = fm + F.l1_loss(ff, fr.detach()) / fr.detach().abs().mean().clamp(min=1e-5)
            n_feats += 1
    return adv / len(fake), fm / max(n_feats, 1)
