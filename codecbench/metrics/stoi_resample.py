"""Octave-compatible resampling for STOI, as a polyphase filter applied with small matrix products.

Octave's (and MATLAB's) ``resample`` designs a Kaiser-windowed sinc with 60 dB rejection; STOI's
reference code resamples with it, and pystoi reproduces it through ``scipy.signal.resample_poly``.
This module gives the same output (measured |diff| < 1e-12 against pystoi's resampler at 8-48 kHz)
without an upsampled buffer or per-sample Python: output row ``t`` (``r*up`` samples) is a sum of
products of ``[rows, r*down]`` views of the input with fixed ``[r*down, r*up]`` filter blocks, ``r``
chosen so that a row holds at least 64 input samples (wide products are what BLAS does fast), in
passes of 256 rows. Measured on a 5-s pair at 16 kHz (2-core shared machine, CPU time): 0.8 ms,
against 1.8-2.6 ms with rows of ``down`` samples (``r = 1``) and 6.2 ms for ``scipy.signal.resample_poly``.
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


ROW_SAMPLES = 64  # input samples per row of the products, at least (measured: rows of 8 ran 2.5x slower at 16 kHz)
CHUNK_ROWS = 256  # rows per pass over the blocks (measured at 16 and 48 kHz: whole-signal passes ran 1.3-1.8x slower)


@functools.lru_cache(maxsize=16)
def _polyphase_taps(up: int, down: int) -> tuple[np.ndarray, int]:
    """Filter of ``scipy.signal.resample_poly(x, up, down, window=h)`` as a ``[K, up]`` tap matrix.

    Output ``y[up*t + s] = sum_e x[down*t + e] * G[e - e_min, s]``; returns (G, e_min), K a multiple of ``down``.
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
    return g, e_min


@functools.lru_cache(maxsize=16)
def _polyphase_blocks(up: int, down: int) -> tuple[np.ndarray, int]:
    """The taps as ``[A, r*down, r*up]`` blocks: a row of ``r*down`` input samples gives ``r*up`` outputs.

    Grouping ``r`` output blocks per row (rows of at least ``ROW_SAMPLES`` inputs) turns many thin
    products into a few wide ones; the extra taps are zeros. Returns (blocks, e_min).
    """
    g, e_min = _polyphase_taps(up, down)
    r = -(-ROW_SAMPLES // down)
    n_blocks = -(-(len(g) + down * (r - 1)) // (down * r))
    grouped = np.zeros((n_blocks * down * r, r, up))
    for j in range(r):
        grouped[down * j:down * j + len(g), j] = g
    return grouped.reshape(n_blocks, down * r, r * up), e_min


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
    blocks, e_min = _polyphase_blocks(up, down)
    n_blocks, row_in, row_out = blocks.shape
    n_t = -(-n_out // row_out)
    xp = np.zeros((x.shape[0], (n_t + n_blocks) * row_in))
    if e_min <= 0:
        xp[:, -e_min:-e_min + n_in] = x
    else:
        xp[:, : n_in - e_min] = x[:, e_min:]
    y = _apply_blocks(xp.reshape(x.shape[0], -1, row_in), blocks, n_t)
    return y.reshape(x.shape[0], -1)[:, :n_out]


def _apply_blocks(rows: np.ndarray, blocks: np.ndarray, n_t: int) -> np.ndarray:
    """``y[:, t] = sum_a rows[:, t + a] @ blocks[a]`` for t < n_t, in chunks that stay in the CPU cache."""
    y = np.empty((rows.shape[0], n_t, blocks.shape[2]))
    part = np.empty((rows.shape[0], min(CHUNK_ROWS, n_t), blocks.shape[2]))
    for c in range(0, n_t, CHUNK_ROWS):
        m = min(CHUNK_ROWS, n_t - c)
        acc = y[:, c:c + m]
        np.matmul(rows[:, c:c + m], blocks[0], out=acc)
        for a in range(1, len(blocks)):
            np.matmul(rows[:, c + a:c + a + m], blocks[a], out=part[:, :m])
            acc += part[:, :m]
    return y


def output_length(n: int, fs_in: int, fs_out: int) -> int:
    g = math.gcd(fs_in, fs_out)
    return -(-n * (fs_out // g) // (fs_in // g))
