"""Levenshtein distance of token sequences, bit-parallel (Myers 1999, in Hyyrö's 2003 form for the
global distance).

A column of the dynamic programme is held as two bit vectors of vertical +1/-1 steps (one bit per
token of the first sequence, as one Python integer: arbitrary length, C speed), and each token of
the second sequence updates it in a fixed number of word operations. Unit costs; integers only, so
the result is the textbook recursion's exactly (``tests/test_tokens.py`` checks it against it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def levenshtein(a: Sequence[int] | np.ndarray, b: Sequence[int] | np.ndarray) -> int:
    """Edit distance of ``a`` and ``b`` (insertions, deletions, substitutions, each 1)."""
    m = len(a)
    if m == 0:
        return len(b)
    full = (1 << m) - 1
    top = 1 << (m - 1)
    peq: dict[int, int] = {}
    for i, c in enumerate(np.asarray(a).tolist()):
        peq[c] = peq.get(c, 0) | (1 << i)
    vp, vn, dist = full, 0, m
    for c in np.asarray(b).tolist():
        x = peq.get(c, 0) | vn
        d0 = ((((x & vp) + vp) & full) ^ vp) | x
        hp = vn | (~(d0 | vp) & full)
        hn = d0 & vp
        if hp & top:
            dist += 1
        elif hn & top:
            dist -= 1
        hp = ((hp << 1) | 1) & full
        hn = (hn << 1) & full
        vp = hn | (~(d0 | hp) & full)
        vn = hp & d0
    return dist
