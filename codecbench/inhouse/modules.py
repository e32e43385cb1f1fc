"""Frame-rate encoder and decoder: ConvNeXt blocks over code frames, STFT in, STFT magnitude + phase out.

Measurement-relevant choices: the encoder sees the log magnitude of a Hann STFT (``n_fft``,
``stft_hop``; zero padding at the edges, so any length works) and never the phase; the decoder
predicts log magnitude and phase per STFT frame and inverts them with ``torch.istft`` (Vocos-style),
so the waveform's phase is generated, not transmitted. At inference, ``phase_iters`` fast Griffin-Lim
iterations make that phase consistent with the predicted magnitude. Non-causal ('same' padding over
frames).
"""

from __future__ import annotations

import torch
from torch import nn

from codecbench.inhouse.config import ModelConfig


class ConvNeXtBlock(nn.Module):
    """Depthwise conv over frames -> LayerNorm -> MLP, scaled residual (ConvNeXt, as in Vocos)."""

    def __init__(self, dim: int, mlp_ratio: int, kernel: int, layer_scale: float):
        super().__init__()
        self.dw = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * mlp_ratio), nn.GELU(), nn.Linear(dim * mlp_ratio, dim))
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, D, F]
        h = self.mlp(self.norm(self.dw(x).transpose(1, 2)))
        return x + (self.gamma * h).transpose(1, 2)


class Backbone(nn.Module):
    """in_dim -> dim at the frame rate, ``n`` ConvNeXt blocks, LayerNorm -> [B, F, dim] (channels last)."""

    def __init__(self, in_dim: int, n: int, cfg: ModelConfig, in_kernel: int):
        super().__init__()
        self.inp = nn.Conv1d(in_dim, cfg.dim, in_kernel, padding=in_kernel // 2)
        self.blocks = nn.Sequential(*[ConvNeXtBlock(cfg.dim, cfg.mlp_ratio, cfg.kernel_size, 1.0 / max(n, 1))
                                      for _ in range(n)])
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.blocks(self.inp(x)).transpose(1, 2))


class Encoder(nn.Module):
    """[B, 1, T] (T a multiple of frame_hop) -> [B, bottleneck_dim, T / frame_hop]."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        bins = cfg.n_fft // 2 + 1
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)
        self.backbone = Backbone(bins * cfg.stft_per_frame, cfg.encoder_blocks, cfg, in_kernel=1)
        self.out = nn.Linear(cfg.dim, cfg.bottleneck_dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Log magnitudes of the STFT frames, ``stft_per_frame`` of them stacked per code frame."""
        cfg = self.cfg
        B, _, T = x.shape
        n_frames = T // cfg.frame_hop
        spec = torch.stft(x[:, 0].float(), cfg.n_fft, cfg.stft_hop, window=self.window, center=True,
                          pad_mode="constant", return_complex=True)
        logmag = spec.abs().clamp(min=1e-5).log()[..., : n_frames * cfg.stft_per_frame]  # [B, bins, k*F]
        bins = logmag.shape[1]
        return logmag.view(B, bins, n_frames, cfg.stft_per_frame).permute(0, 3, 1, 2).reshape(B, -1, n_frames)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.backbone(self.features(x))).transpose(1, 2)


class Decoder(nn.Module):
    """[B, in_dim, F] -> [B, 1, F * frame_hop] through predicted STFT magnitude and phase."""

    def __init__(self, cfg: ModelConfig, in_dim: int):
        super().__init__()
        self.cfg = cfg
        self.bins = cfg.n_fft // 2 + 1
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)
        self.backbone = Backbone(in_dim, cfg.decoder_blocks, cfg, in_kernel=3)
        self.head = nn.Linear(cfg.dim, cfg.stft_per_frame * 2 * self.bins)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        B, _, n_frames = z.shape
        h = self.head(self.backbone(z)).float()  # [B, F, k * 2 * bins]
        h = h.view(B, n_frames * cfg.stft_per_frame, 2, self.bins)
        logmag, phase = h[:, :, 0].clamp(max=6.0), h[:, :, 1]  # exp(6) ~ 400: a bound against blow-ups
        spec = torch.polar(logmag.exp(), phase).transpose(1, 2)  # [B, bins, k*F]
        spec = torch.cat([spec, spec[..., -1:]], dim=-1)  # one more frame: istft covers exactly k*F hops
        length = n_frames * cfg.frame_hop
        if not self.training and cfg.phase_iters > 0:
            spec = self.consistent_phase(spec, length, cfg.phase_iters)
        return self._istft(spec, length)[:, None]

    def _istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        return torch.istft(spec, self.cfg.n_fft, self.cfg.stft_hop, window=self.window, center=True, length=length)

    def consistent_phase(self, spec: torch.Tensor, length: int, iters: int, momentum: float = 0.99) -> torch.Tensor:
        """Fast Griffin-Lim (Perraudin, Balazs & Sondergaard 2013) started from the predicted phase:
        the magnitude is kept, the phase moved towards one a waveform can have (a predicted STFT is
        rarely consistent, and overlap-add of inconsistent frames smears it). Measured on the 16
        held-out Hindi clips with RVQ checkpoints at 32 iterations: PESQ-wb +0.07 to +0.15, STOI
        +0.005 to +0.008, mel distance slightly higher."""
        mag = spec.abs()
        prev = None
        for _ in range(iters):
            cur = torch.stft(self._istft(spec, length), self.cfg.n_fft, self.cfg.stft_hop, window=self.window,
                             center=True, pad_mode="constant", return_complex=True)  # any length, as the encoder
            target = cur if prev is None else cur + momentum * (cur - prev)
            prev = cur
            spec = torch.polar(mag, torch.angle(target))
        return spec
