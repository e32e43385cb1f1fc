"""Octave-compatible resampling for STOI, as a polyphase filter applied with small matrix products.

Octave's (and MATLAB's) ``resample`` designs a Kaiser-windowed sinc with 60 dB rejection; STOI's
reference code resamples with it, and pystoi reproduces it through ``scipy.signal.resample_poly``.
This module gives the same output (measured |diff| < 1e-12 against pystoi's resampler at 8-48 kHz)
without an upsampled buffer or per-sample Python: output block ``t`` (``up`` samples) is a sum of
products of ``[rows, down]`` views of the input with fixed ``[down, up]`` filter blocks.
"""

from __future__ import annotations

import functools
import math

import numpy as np


@functools.lru_cache(maxsize=16)
def _octave_filter(up: int, down: int) -> np.ndarray:
    """Anti-aliasing FIR of Octave's ``resample`` (Kaiser-windowed sinc, 60 dB rejection), unit sum."""
    cutoff = 1.0 / (2 * max(up, down))
    rejection_db = 60.0
    half = int(math.ceil((rejection_db - 8) / (28.714 * cutoff / 10)))
    t = np.arange(-half, half + 1)
    ideal = 2 * up * cutoff * np.sinc(2 * cutoff * t)
    beta = 0.1102 * (rejection_db - 8.7)
    h = np.kaiser(2 * half + 1, beta) * ideal
    return h / np.sum(h)


@functools.lru_cache(maxsize=16)
def _polyphase_matrix(up: int, down: int) -> tuple[np.ndarray, int, int]:
    """Filter of ``scipy.signal.resample_poly(x, up, down, window=h)`` as ``[A, down, up]`` blocks.

    Output ``y[up*t + s] = sum_e x[down*t + e] * G[e, s]``; returns (G in blocks of ``down`` rows,
    first input offset e_min, number of blocks A).
    """
    h = _octave_filter(up, down) * up
    half = (len(h) - 1) // 2
    pre_pad = down - half % down
    h = np.concatenate([np.zeros(pre_pad), h])
    skip = (half + pre_pad) // down  # output samples resample_poly drops from the front
    lh = len(h)
    e_min = min(-((lh - 1 - (s + skip) * down) // up) for s in range(up))
    e_max = max(((s + skip) * down) // up for s in range(up))
    blocks = -(-(e_max - e_min + 1) // down)
    g = np.zeros((blocks * down, up))
    for s in range(up):
        for row in range(blocks * down):
            k = (s + skip) * down - up * (row + e_min)
            if 0 <= k < lh:
                g[row, s] = h[k]
    return g.reshape(blocks, down, up), e_min, blocks


def resample_batch(x: np.ndarray, fs_in: int, fs_out: int) -> np.ndarray:
    """Resample rows of ``x`` [B, T] (zero beyond each item's end) like Octave's ``resample``.

    Returns [B, ceil(T * up / down)] in float64; crop each row to its own ``output_length``.
    """
    g = math.gcd(fs_in, fs_out)
    up, down = fs_out // g, fs_in // g
    x = np.asarray(x, dtype=np.float64)
    if up == down:
        return x.copy()
    n_in = x.shape[1]
    n_out = -(-n_in * up // down)
    blocks, e_min, n_blocks = _polyphase_matrix(up, down)
    n_t = -(-n_out // up)
    rows = n_t + n_blocks
    xp = np.zeros((x.shape[0], rows * down))
    if e_min <= 0:
        xp[:, -e_min:-e_min + n_in] = x
    else:
        xp[:, : n_in - e_min] = x[:, e_min:]
    xp = xp.reshape(x.shape[0], rows, down)
    y = xp[:, 0:n_t] @ blocks[0]
    for a in range(1, n_blocks):
        y += xp[:, a:a + n_t] @ blocks[a]
    return y.reshape(x.shape[0], -1)[:, :n_out]


def output_length(n: int, fs_in: int, fs_out: int) -> int:
    g = math.gcd(fs_in, fs_out)
    return -(-n * (fs_out // g) // (fs_in // g))
