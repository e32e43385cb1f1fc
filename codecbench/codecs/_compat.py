"""Compatibility patches for codec backends, applied to our own loaded model instances only.

SNAC (``snac`` 1.2.x): the decoder's ``NoiseBlock`` adds ``torch.randn(B, 1, T) * linear(x)``, a fresh
draw from torch's global generator on every call, so outputs differ run to run and with the batch.
We keep the same computation but draw, for each item, from its own generator seeded with the
codec's ``noise_seed``, in the order the blocks run: an item decoded alone gets exactly the noise
that ``torch.manual_seed(noise_seed); SNAC.decode(codes)`` draws on the CPU, batched or not, on any
run. (Drawn on the CPU and moved to the model's device: on a GPU the library would draw from the
CUDA generator instead.) Patched per instance, so other SNAC users in the process are untouched.
"""

from __future__ import annotations

import types


class SeededNoise:
    """The generators of the items being decoded (set by the codec around each decoder call)."""

    def __init__(self, seed: int):
        self.seed = seed
        self.generators: list = []

    def start(self, items: int) -> None:
        import torch

        self.generators = [torch.Generator().manual_seed(self.seed) for _ in range(items)]

    def draw(self, x):
        import torch

        b, _, t = x.shape
        if len(self.generators) != b:
            raise RuntimeError(f"SNAC noise: {len(self.generators)} generators for a batch of {b}")
        noise = torch.cat([torch.randn((1, 1, t), generator=g) for g in self.generators])
        return noise.to(device=x.device, dtype=x.dtype)


def _noise_block_forward(self, x):
    n = self._codecbench_noise.draw(x) * self.linear(x)
    return x + n


def patch_snac_noise(model, noise: SeededNoise) -> int:
    """Make every NoiseBlock of ``model`` draw from ``noise``; returns how many were patched."""
    from snac.layers import NoiseBlock

    n = 0
    for m in model.modules():
        if isinstance(m, NoiseBlock):
            m._codecbench_noise = noise
            m.forward = types.MethodType(_noise_block_forward, m)
            n += 1
    return n
