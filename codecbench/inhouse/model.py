"""The in-house codec module: encoder -> bottleneck (RVQ | FSQ | VAE) -> decoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from codecbench.inhouse.config import ModelConfig
from codecbench.inhouse.modules import Decoder, Encoder
from codecbench.inhouse.quantizers import FSQ, BottleneckOut, GaussianLatent, ResidualVQ


class InhouseModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        if cfg.kind == "rvq":
            self.bottleneck = ResidualVQ(cfg.latent_dim, cfg.n_quantizers, cfg.codebook_size, cfg.ema_decay,
                                         cfg.dead_code_threshold, cfg.quantizer_dropout)
            dec_in = cfg.latent_dim
        elif cfg.kind == "fsq":
            self.bottleneck = FSQ(cfg.fsq_levels, cfg.fsq_codebooks)
            dec_in = cfg.bottleneck_dim
        else:
            self.bottleneck = GaussianLatent()
            dec_in = cfg.latent_dim
        self.decoder = Decoder(cfg, dec_in)

    @property
    def hop_length(self) -> int:
        return self.cfg.hop_length

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """Right-pad [B, 1, T] with zeros to a multiple of the hop."""
        rem = (-x.shape[-1]) % self.hop_length
        return F.pad(x, (0, rem)) if rem else x

    def encode(self, x: torch.Tensor, n_quantizers: int | None = None) -> BottleneckOut:
        """x [B, 1, T] -> bottleneck output for ceil(T / hop) frames."""
        z = self.encoder(self.pad(x))
        if self.cfg.kind == "rvq":
            return self.bottleneck(z, n_quantizers)
        return self.bottleneck(z)

    def decode_latent(self, z_q: torch.Tensor) -> torch.Tensor:
        return self.decoder(z_q)

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [B, K, F] -> wave [B, 1, F * hop]."""
        return self.decoder(self.bottleneck.decode_codes(codes))

    def forward(self, x: torch.Tensor, n_quantizers: int | None = None) -> tuple[torch.Tensor, BottleneckOut]:
        """Training: decode the straight-through latent (gradients reach the encoder). Inference: decode
        the codes through ``decode_codes``, the one path a codec user takes, so that ``forward`` and
        encode -> codes -> decode agree bit for bit on any CPU (the straight-through latent equals the
        codebook lookup only up to float rounding, which the decoder's Griffin-Lim refinement amplifies)."""
        out = self.encode(x, n_quantizers)
        if self.training or out.codes is None:
            y = self.decoder(out.z_q)
        else:
            y = self.decode_codes(out.codes)
        return y[..., : x.shape[-1]], out
