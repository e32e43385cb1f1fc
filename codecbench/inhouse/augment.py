"""Channel and level augmentation for ``codecbench train`` (batch-wise, in torch, on the training device).

The codec learns to reproduce what it is given, so an augmented crop is both its input and its target:
augmentation shows it audio as users record and transmit it, not a cleaner version of it. Per crop,
each effect is drawn independently with its probability, in this order (a recording chain):
reverberation -> additive noise -> peak level -> clipping -> channel (µ-law via 8 kHz, else band-limiting).

- reverberation: a synthetic room response (direct path + exponentially decaying noise, RT60 drawn
  from ``rt60``, wet share 0.1..0.5 of the direct energy);
- noise: Gaussian noise with a random spectral tilt (-6 dB/octave, brown, to +1.5 dB/octave) at an SNR
  drawn from ``snr_db`` (crop power over noise power);
- level: the crop scaled to a peak drawn from ``level_db`` (dBFS);
- clipping: hard clipping ``clip_db`` dB below the crop's peak;
- µ-law: anti-alias low-pass at 3.8 kHz, every second sample, 8-bit µ-law (µ = 255, the continuous law,
  not G.711's segments) and back to 16 kHz;
- band-limiting: low-pass with a cutoff drawn from ``lowpass_hz`` and, with probability ``highpass``, a
  high-pass at 50..350 Hz (raised-cosine transitions of 150..600 Hz, zero phase, in the frequency domain).

Low-bitrate codec round trips come from precomputed copies of the training audio (``CropDataset``'s
codec copies, ``--aug-codec``), not from here. Every parameter is part of the checkpoint's training
record (``training.augment`` in config.json). Random draws come from the trainer's numpy generator
(so ``--resume`` repeats them) and, for noise waveforms, from a torch generator it seeds.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from codecbench.inhouse.config import AugmentConfig

MU = 255.0


def _band_mask(freqs: torch.Tensor, cut: torch.Tensor, width: torch.Tensor, low: bool) -> torch.Tensor:
    """[B, F] raised-cosine mask: 1 in the pass band, 0 in the stop band, ``width`` Hz centred on ``cut``."""
    t = ((freqs[None] - cut[:, None]) / width[:, None] + 0.5).clamp(0.0, 1.0)
    rise = 0.5 - 0.5 * torch.cos(math.pi * t)  # 0 below the band edge, 1 above
    return 1.0 - rise if low else rise


class Augmenter:
    def __init__(self, cfg: AugmentConfig, sample_rate: int):
        self.cfg = cfg
        self.sr = sample_rate

    def _pick(self, rng: np.random.Generator, p: float, n: int) -> np.ndarray:
        return rng.random(n) < p if p > 0 else np.zeros(n, dtype=bool)

    def __call__(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """x [B, T] float32 -> augmented [B, T]; crops not drawn for an effect pass it unchanged."""
        cfg, B = self.cfg, x.shape[0]
        if not cfg.active or B == 0:
            return x
        gen = torch.Generator(device=x.device)
        gen.manual_seed(int(rng.integers(0, 2**62)))
        x = x.float()
        if (sel := self._pick(rng, cfg.reverb, B)).any():
            x = self._where(sel, self.reverberate(x[sel], rng.uniform(*cfg.rt60, sel.sum()), rng, gen), x)
        if (sel := self._pick(rng, cfg.noise, B)).any():
            x = self._where(sel, self.add_noise(x[sel], rng.uniform(*cfg.snr_db, sel.sum()),
                                                rng.uniform(-2.0, 0.5, sel.sum()), gen), x)
        if (sel := self._pick(rng, cfg.level, B)).any():
            x = self._where(sel, self.set_peak(x[sel], rng.uniform(*cfg.level_db, sel.sum())), x)
        if (sel := self._pick(rng, cfg.clip, B)).any():
            x = self._where(sel, self.clip(x[sel], rng.uniform(*cfg.clip_db, sel.sum())), x)
        mu = self._pick(rng, cfg.mulaw, B)
        if mu.any():
            x = self._where(mu, self.mulaw_8k(x[mu]), x)
        band = self._pick(rng, cfg.lowpass, B) & ~mu
        if band.any():
            n = int(band.sum())
            high = np.where(rng.random(n) < cfg.highpass, rng.uniform(50.0, 350.0, n), 0.0)
            x = self._where(band, self.band_limit(x[band], rng.uniform(*cfg.lowpass_hz, n), high,
                                                  rng.uniform(150.0, 600.0, n)), x)
        return x

    @staticmethod
    def _where(sel: np.ndarray, part: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        out = x.clone()
        out[torch.from_numpy(sel).to(x.device)] = part.to(x.dtype)
        return out

    def _t(self, v, like: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(np.asarray(v, dtype=np.float32), device=like.device)

    def reverberate(self, x: torch.Tensor, rt60: np.ndarray, rng: np.random.Generator, gen) -> torch.Tensor:
        n, T = x.shape
        L = min(T, int(0.6 * self.sr))
        t = torch.arange(L, device=x.device) / self.sr
        decay = torch.exp(-6.9078 * t[None] / self._t(rt60, x)[:, None])  # -60 dB at rt60
        tail = torch.randn(n, L, generator=gen, device=x.device) * decay
        tail[:, : int(0.002 * self.sr)] = 0.0  # the first reflections arrive after the direct path
        wet = self._t(np.sqrt(rng.uniform(0.1, 0.5, n)), x)
        rir = tail * (wet / tail.norm(dim=1).clamp(min=1e-8))[:, None]
        rir[:, 0] = 1.0
        size = T + L
        y = torch.fft.irfft(torch.fft.rfft(x, size) * torch.fft.rfft(rir, size), size)[:, :T]
        return y * (x.abs().amax(1) / y.abs().amax(1).clamp(min=1e-8))[:, None]  # keep the peak

    def add_noise(self, x: torch.Tensor, snr_db: np.ndarray, tilt: np.ndarray, gen) -> torch.Tensor:
        n, T = x.shape
        spec = torch.fft.rfft(torch.randn(n, T, generator=gen, device=x.device))
        f = torch.fft.rfftfreq(T, 1.0 / self.sr, device=x.device).clamp(min=20.0)
        spec = spec * (f[None] / 1000.0) ** (self._t(tilt, x)[:, None] / 2)  # power ~ f ** tilt
        noise = torch.fft.irfft(spec, T)
        p_sig = x.pow(2).mean(1).clamp(min=1e-10)
        p_noise = noise.pow(2).mean(1).clamp(min=1e-20)
        scale = torch.sqrt(p_sig / (p_noise * 10 ** (self._t(snr_db, x) / 10)))
        return x + noise * scale[:, None]

    def set_peak(self, x: torch.Tensor, peak_db: np.ndarray) -> torch.Tensor:
        peak = x.abs().amax(1).clamp(min=1e-6)
        return x * (10 ** (self._t(peak_db, x) / 20) / peak)[:, None]

    def clip(self, x: torch.Tensor, below_peak_db: np.ndarray) -> torch.Tensor:
        thr = (x.abs().amax(1) / 10 ** (self._t(below_peak_db, x) / 20))[:, None]
        return torch.minimum(torch.maximum(x, -thr), thr)

    def band_limit(self, x: torch.Tensor, low_hz: np.ndarray, high_hz: np.ndarray, width: np.ndarray) -> torch.Tensor:
        T = x.shape[1]
        f = torch.fft.rfftfreq(T, 1.0 / self.sr, device=x.device)
        w = self._t(width, x)
        mask = _band_mask(f, self._t(low_hz, x), w, low=True)
        hp = self._t(high_hz, x)
        mask = mask * torch.where(hp[:, None] > 0, _band_mask(f, hp, w.clamp(max=200.0), low=False), 1.0)
        return torch.fft.irfft(torch.fft.rfft(x) * mask, T)

    def mulaw_8k(self, x: torch.Tensor) -> torch.Tensor:
        n, T = x.shape
        f = torch.fft.rfftfreq(T, 1.0 / self.sr, device=x.device)
        lp = _band_mask(f, torch.full((n,), 3800.0, device=x.device), torch.full((n,), 300.0, device=x.device), True)
        y = torch.fft.irfft(torch.fft.rfft(x) * lp, T)[:, ::2].clamp(-1.0, 1.0)
        q = torch.sign(y) * torch.log1p(MU * y.abs()) / math.log1p(MU)
        q = torch.round(q * 127.5 - 0.5).clamp(-128, 127)  # 256 codes
        y = (q + 0.5) / 127.5
        y = torch.sign(y) * torch.expm1(y.abs() * math.log1p(MU)) / MU
        up = torch.zeros(n, y.shape[1] * 2, device=x.device)
        up[:, ::2] = y * 2.0  # zero insertion halves the level
        return torch.fft.irfft(torch.fft.rfft(up[:, :T]) * lp, T)
