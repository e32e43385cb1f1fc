"""Bottlenecks: residual VQ with EMA codebooks, finite scalar quantization, and a Gaussian (VAE) latent.

Each takes the encoder output ``z [B, D, F]`` and returns a ``BottleneckOut``: the decoder input,
the integer codes (``[B, n_codebooks, F]``, or None when continuous) and the auxiliary losses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class BottleneckOut:
    z_q: torch.Tensor  # decoder input [B, D, F]
    codes: torch.Tensor | None  # [B, K, F] int64
    losses: dict[str, torch.Tensor] = field(default_factory=dict)
    stats: dict[str, float] = field(default_factory=dict)


class EMACodebook(nn.Module):
    """One VQ codebook updated by exponential moving averages (k-means style), with dead-code restart.

    The codebook is initialised from the first training batch; entries whose EMA usage per step falls
    below ``dead_threshold`` are replaced by random vectors of the current batch.
    """

    def __init__(self, size: int, dim: int, decay: float, dead_threshold: float, eps: float = 1e-5):
        super().__init__()
        self.size, self.dim, self.decay, self.dead_threshold, self.eps = size, dim, decay, dead_threshold, eps
        self.register_buffer("embed", torch.randn(size, dim) * 0.1)
        self.register_buffer("cluster_size", torch.ones(size))
        self.register_buffer("embed_sum", self.embed.clone())
        self.register_buffer("initialized", torch.zeros(()))

    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, D] -> indices [N] of the nearest entries (squared Euclidean distance)."""
        e = self.embed
        dist = x.pow(2).sum(1, keepdim=True) - 2 * x @ e.t() + e.pow(2).sum(1)[None]
        return dist.argmin(1)

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        return F.embedding(idx, self.embed)

    @torch.no_grad()
    def _sample(self, x: torch.Tensor, n: int) -> torch.Tensor:
        if x.shape[0] >= n:
            return x[torch.randperm(x.shape[0], device=x.device)[:n]]
        return x[torch.randint(0, x.shape[0], (n,), device=x.device)] + 1e-3 * torch.randn(n, x.shape[1], device=x.device)

    @torch.no_grad()
    def update(self, x: torch.Tensor, idx: torch.Tensor) -> int:
        """EMA step on the batch [N, D] with its assignments; returns how many dead entries were restarted."""
        if not bool(self.initialized):
            init = self._sample(x, self.size)
            self.embed.copy_(init)
            self.embed_sum.copy_(init)
            self.cluster_size.fill_(1.0)
            self.initialized.fill_(1.0)
            return 0
        onehot = F.one_hot(idx, self.size).type(x.dtype)
        self.cluster_size.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(onehot.t() @ x, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (n + self.size * self.eps) * n
        self.embed.copy_(self.embed_sum / smoothed[:, None])
        dead = self.cluster_size < self.dead_threshold
        n_dead = int(dead.sum())
        if n_dead:
            fresh = self._sample(x, n_dead)
            self.embed[dead] = fresh
            self.embed_sum[dead] = fresh
            self.cluster_size[dead] = 1.0
        return n_dead


class ResidualVQ(nn.Module):
    """Residual VQ; training uses quantizer dropout so any prefix of the codebooks decodes."""

    def __init__(self, dim: int, n_quantizers: int, size: int, decay: float, dead_threshold: float, dropout: float):
        super().__init__()
        self.n_quantizers, self.dropout = n_quantizers, dropout
        self.codebooks = nn.ModuleList(EMACodebook(size, dim, decay, dead_threshold) for _ in range(n_quantizers))

    def forward(self, z: torch.Tensor, n_quantizers: int | None = None) -> BottleneckOut:
        B, D, T = z.shape
        n_q = self.n_quantizers if n_quantizers is None else n_quantizers
        if self.training and n_quantizers is None and torch.rand(()) < self.dropout:
            n_q = int(torch.randint(1, self.n_quantizers + 1, ()))
        x = z.permute(0, 2, 1).reshape(-1, D)
        residual = x
        quantized = torch.zeros_like(x)
        codes, commit, restarted = [], x.new_zeros(()), 0
        for cb in self.codebooks[:n_q]:
            r = residual.detach()
            idx = cb.nearest(r)
            if self.training:
                restarted += cb.update(r, idx)
            q = cb.lookup(idx)
            commit = commit + F.mse_loss(residual, q.detach())
            quantized = quantized + q
            residual = residual - q.detach()
            codes.append(idx.view(B, T))
        z_q = x + (quantized - x).detach()  # straight-through
        z_q = z_q.view(B, T, D).permute(0, 2, 1)
        return BottleneckOut(z_q, torch.stack(codes, 1), {"commit": commit},
                             {"n_q": float(n_q), "restarted": float(restarted)})

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [B, K, F] (any K <= n_quantizers) -> [B, D, F]."""
        out = sum(cb.lookup(codes[:, k]) for k, cb in enumerate(self.codebooks[: codes.shape[1]]))
        return out.permute(0, 2, 1)


class FSQ(nn.Module):
    """Finite scalar quantization (Mentzer et al. 2023): ``n_codebooks`` independent groups of
    ``len(levels)`` channels, each channel bounded and rounded to its number of levels."""

    def __init__(self, levels: tuple[int, ...], n_codebooks: int):
        super().__init__()
        self.n_codebooks, self.group = n_codebooks, len(levels)
        lv = torch.tensor(levels, dtype=torch.float32)
        basis = torch.cumprod(torch.tensor([1, *levels[:-1]]), 0)
        self.register_buffer("levels", lv, persistent=False)
        self.register_buffer("basis", basis, persistent=False)

    def _bound(self, z: torch.Tensor) -> torch.Tensor:
        half_l = (self.levels - 1) * (1 + 1e-3) / 2
        offset = torch.where(self.levels % 2 == 0, 0.5, 0.0)
        shift = torch.atanh(offset / half_l)
        return torch.tanh(z + shift) * half_l - offset

    def forward(self, z: torch.Tensor) -> BottleneckOut:
        B, D, T = z.shape
        g = z.view(B, self.n_codebooks, self.group, T).permute(0, 1, 3, 2)  # [B, K, F, group]
        b = self._bound(g)
        r = b + (torch.round(b) - b).detach()
        half = torch.div(self.levels, 2, rounding_mode="floor")
        z_q = (r / half).permute(0, 1, 3, 2).reshape(B, D, T)
        digits = (torch.round(b) + half).long()
        codes = (digits * self.basis).sum(-1)  # [B, K, F]
        return BottleneckOut(z_q, codes)

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        B, K, T = codes.shape
        digits = torch.remainder(torch.div(codes[..., None], self.basis, rounding_mode="floor"), self.levels.long())
        half = torch.div(self.levels, 2, rounding_mode="floor")
        vals = (digits.float() - half) / half
        return vals.permute(0, 1, 3, 2).reshape(B, K * self.group, T)


class GaussianLatent(nn.Module):
    """VAE bottleneck: mean and log-variance per channel; samples while training, the mean otherwise."""

    def forward(self, z: torch.Tensor) -> BottleneckOut:
        mean, logvar = z.chunk(2, dim=1)
        logvar = logvar.clamp(-30.0, 20.0)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(1).mean()
        out = mean + torch.randn_like(mean) * (0.5 * logvar).exp() if self.training else mean
        return BottleneckOut(out, None, {"kl": kl})
