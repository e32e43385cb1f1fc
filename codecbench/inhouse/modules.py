"""SEANet/DAC-style convolutional encoder and decoder (non-causal, 'same' padding)."""

from __future__ import annotations

import torch
from torch import nn

from codecbench.inhouse.config import ModelConfig


class Snake(nn.Module):
    """x + sin^2(alpha x) / alpha, one learnable alpha per channel (DAC)."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.alpha
        return x + (a + 1e-9).reciprocal() * torch.sin(a * x).pow(2)


def activation(cfg: ModelConfig, channels: int) -> nn.Module:
    if cfg.activation == "snake":
        return Snake(channels)
    if cfg.activation == "elu":
        return nn.ELU()
    raise ValueError(f"unknown activation {cfg.activation!r}; expected 'elu' or 'snake'")


def _conv(cin: int, cout: int, kernel: int, dilation: int = 1) -> nn.Conv1d:
    return nn.Conv1d(cin, cout, kernel, dilation=dilation, padding=(kernel - 1) * dilation // 2)


def apply_weight_norm(module: nn.Module) -> nn.Module:
    """Weight-normalise every convolution of ``module`` (in place)."""
    from torch.nn.utils.parametrizations import weight_norm

    for m in list(module.modules()):
        if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)):
            weight_norm(m)
    return module


class ResidualUnit(nn.Module):
    def __init__(self, channels: int, dilation: int, cfg: ModelConfig):
        super().__init__()
        self.block = nn.Sequential(activation(cfg, channels), _conv(channels, channels, cfg.kernel_size, dilation),
                                   activation(cfg, channels), _conv(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class EncoderBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, cfg: ModelConfig):
        super().__init__()
        units = [ResidualUnit(cin, d, cfg) for d in cfg.dilations]
        self.block = nn.Sequential(*units, activation(cfg, cin),
                                   nn.Conv1d(cin, cout, 2 * stride, stride=stride, padding=(stride + 1) // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class DecoderBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, cfg: ModelConfig):
        super().__init__()
        self.up = nn.Sequential(activation(cfg, cin), nn.ConvTranspose1d(cin, cout, 2 * stride, stride=stride,
                                                               padding=(stride + 1) // 2, output_padding=stride % 2))
        self.units = nn.Sequential(*[ResidualUnit(cout, d, cfg) for d in cfg.dilations])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.units(self.up(x))


def _widths(cfg: ModelConfig) -> list[int]:
    return [min(cfg.channels * 2**i, cfg.max_channels) for i in range(len(cfg.strides) + 1)]


class Encoder(nn.Module):
    """[B, 1, T] -> [B, bottleneck_dim, T / hop] (T a multiple of the hop)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        w = _widths(cfg)
        layers: list[nn.Module] = [_conv(1, w[0], cfg.kernel_size)]
        for i, s in enumerate(cfg.strides):
            layers.append(EncoderBlock(w[i], w[i + 1], s, cfg))
        layers += [activation(cfg, w[-1]), _conv(w[-1], cfg.bottleneck_dim, 3)]
        self.net = nn.Sequential(*layers)
        if cfg.weight_norm:
            apply_weight_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Decoder(nn.Module):
    """[B, latent_dim, F] -> [B, 1, F * hop]."""

    def __init__(self, cfg: ModelConfig, in_dim: int):
        super().__init__()
        w = _widths(cfg)[::-1]
        layers: list[nn.Module] = [_conv(in_dim, w[0], cfg.kernel_size)]
        for i, s in enumerate(reversed(cfg.strides)):
            layers.append(DecoderBlock(w[i], w[i + 1], s, cfg))
        layers += [activation(cfg, w[-1]), _conv(w[-1], 1, cfg.kernel_size), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        if cfg.weight_norm:
            apply_weight_norm(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)
