"""Compatibility patches for codec backends, applied to our own loaded model instances only.

SNAC (``snac`` 1.2.x): the decoder's ``NoiseBlock`` adds ``torch.randn(B, 1, T) * linear(x)``, a fresh
random draw on every call. Outputs would differ run to run and between batched and single
decoding. We replace the draw by one fixed Gaussian sequence indexed by time (seeded, the same for
every item), so reconstructions are reproducible and batch-independent; per item the noise is
still white N(0, 1), as in training. Patched per instance, so other SNAC users in the process are
untouched.
"""

from __future__ import annotations

import types

_CHUNK = 1 << 18
_NOISE: list = []  # [the sequence so far, as one tensor]


def fixed_noise(length: int, device, dtype):
    """The first ``length`` values of a fixed N(0, 1) sequence (chunk k drawn with seed k)."""
    import torch

    seq = _NOISE[0] if _NOISE else torch.empty(0)
    while seq.numel() < length:
        gen = torch.Generator().manual_seed(seq.numel() // _CHUNK)
        seq = torch.cat([seq, torch.randn(_CHUNK, generator=gen)])
    _NOISE[:] = [seq]
    return seq[:length].to(device=device, dtype=dtype)


def _noise_block_forward(self, x):
    noise = fixed_noise(x.shape[-1], x.device, x.dtype).view(1, 1, -1)
    return x + noise * self.linear(x)


def patch_snac_noise(model) -> int:
    """Make every NoiseBlock of ``model`` use the fixed sequence; returns how many were patched."""
    from snac.layers import NoiseBlock

    n = 0
    for m in model.modules():
        if isinstance(m, NoiseBlock):
            m.forward = types.MethodType(_noise_block_forward, m)
            n += 1
    return n
