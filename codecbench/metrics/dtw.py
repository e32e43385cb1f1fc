"""Vectorised dynamic time warping for ABX: many (a, b) feature-sequence pairs at once.

Frame distance: cosine distance ``1 - cos(a_i, b_j)`` (0 for identical directions, at most 2), or
for integer token frames [n, levels] the Hamming share ``mean_l(a_il != b_jl)`` (token-space ABX).
Recursion (symmetric, "symmetric2" weights): ``D[i, j] = min(D[i-1, j-1] + 2 d, D[i-1, j] + d,
D[i, j-1] + d)``. Every monotone path from (0, 0) to (n-1, m-1) then carries total weight n + m, so
``D[n-1, m-1] / (n + m)`` is the minimum over paths of the weighted mean frame distance: a
length-normalised, symmetric distance (the order of a and b does not matter).

The batch is processed anti-diagonal by anti-diagonal (every cell on one diagonal depends only on
the two previous diagonals), so the Python loop runs n + m times per chunk whatever the batch size.
"""

from __future__ import annotations

import numpy as np

CHUNK = 256  # pairs per vectorised block (bounds memory: CHUNK x n x m float64)


def cosine_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[..., n, m] cosine distances between the frames of a [..., n, F] and b [..., m, F]."""
    an = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    bn = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    return np.clip(1.0 - an @ np.swapaxes(bn, -1, -2), 0.0, 2.0)


def hamming_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[..., n, m] share of codebook levels whose tokens differ, for a [..., n, L] and b [..., m, L]."""
    return (a[..., :, None, :] != b[..., None, :, :]).mean(axis=-1)


COSTS = {"cosine": cosine_distances, "hamming": hamming_distances}


def dtw_from_costs(cost: np.ndarray, n: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Normalised DTW distance per item from padded frame costs [B, N, M] and true lengths n, m [B]."""
    bsz, big_n, big_m = cost.shape
    acc = np.full((bsz, big_n, big_m), np.inf)
    acc[:, 0, 0] = 2.0 * cost[:, 0, 0]
    for k in range(1, big_n + big_m - 1):
        i = np.arange(max(0, k - big_m + 1), min(k, big_n - 1) + 1)
        j = k - i
        best = np.full((bsz, len(i)), np.inf)
        diag = (i > 0) & (j > 0)
        best[:, diag] = acc[:, i[diag] - 1, j[diag] - 1] + 2.0 * cost[:, i[diag], j[diag]]
        up = i > 0
        best[:, up] = np.minimum(best[:, up], acc[:, i[up] - 1, j[up]] + cost[:, i[up], j[up]])
        left = j > 0
        best[:, left] = np.minimum(best[:, left], acc[:, i[left], j[left] - 1] + cost[:, i[left], j[left]])
        acc[:, i, j] = best
    return acc[np.arange(bsz), n - 1, m - 1] / (n + m)


def dtw_distances(pairs: list[tuple[np.ndarray, np.ndarray]], chunk: int = CHUNK, cost: str = "cosine") -> np.ndarray:
    """Normalised DTW distance (frame cost ``cosine`` or ``hamming``) for each (a [n, F], b [m, F]) pair.

    Pairs are sorted by size and padded per chunk, so similar lengths share a block.
    """
    out = np.empty(len(pairs))
    if not pairs:
        return out
    order = sorted(range(len(pairs)), key=lambda p: (len(pairs[p][0]), len(pairs[p][1])))
    for start in range(0, len(order), chunk):
        idx = order[start:start + chunk]
        n = np.array([len(pairs[p][0]) for p in idx])
        m = np.array([len(pairs[p][1]) for p in idx])
        if (n == 0).any() or (m == 0).any():
            raise ValueError("DTW of an empty feature sequence")
        dim = pairs[idx[0]][0].shape[1]
        dtype = pairs[idx[0]][0].dtype if cost == "hamming" else np.float64
        a = np.zeros((len(idx), n.max(), dim), dtype=dtype)
        b = np.zeros((len(idx), m.max(), dim), dtype=dtype)
        for r, p in enumerate(idx):
            a[r, : n[r]] = pairs[p][0]
            b[r, : m[r]] = pairs[p][1]
        out[idx] = dtw_from_costs(COSTS[cost](a, b), n, m)
    return out
