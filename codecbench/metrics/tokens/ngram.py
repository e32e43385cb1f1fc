"""An n-gram model of token streams with modified Kneser-Ney smoothing, in vectorised numpy.

Interpolated modified Kneser-Ney (Chen & Goodman 1998): the highest order counts occurrences, every
lower order counts distinct left extensions (continuation counts); each order discounts a count of
1, 2 or 3+ by D1, D2, D3+ (from the counts of counts of that order, Y = n1 / (n1 + 2 n2),
Dk = k - (k + 1) Y n(k+1) / nk, at most k; Y where that is not positive or nk is 0) and
gives the discounted mass to the next lower order; the lowest order backs off to the uniform
distribution over the vocabulary. A context never seen in training passes the lower order's
probability through unchanged. Every distribution sums to 1 over the vocabulary (tested).

Streams and targets: a stream is a sequence of token ids; ``targets`` marks the positions the model
predicts (and counts), all of whose ids lie in ``[first, first + vocab)``; the other positions are context only.
So one engine serves a codebook level on its own (the stream is the level) and a level inside the
flattened codebooks (the stream interleaves all levels, with level offsets; the targets are that
level's positions). Every stream starts with ``order - 1`` begin tokens (never predicted); no end
token is predicted (a frame stream has no end of sentence).

N-grams are numbered order by order (``Numbering``): the id of the k-gram ending at a position is a
dense index of (id of the (k-1)-gram ending there, the token k-1 places back), so keys never
overflow whatever the vocabulary and order; a test n-gram absent from training gets id -1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class _Order:
    count: np.ndarray  # per n-gram id: raw count (highest order) or continuation count
    ctx_total: np.ndarray  # per context id (an id of the order below): summed counts
    ctx_n: np.ndarray  # per context id: [n-grams with count 1, 2, 3+] (3 columns)
    discounts: np.ndarray  # D1, D2, D3+


def _discounts(count: np.ndarray) -> np.ndarray:
    """D1, D2, D3+ from the counts of counts (Chen & Goodman); a discount that the formula puts at or
    below 0 (small samples) or cannot give (no count of that size) is Y, and Y is 1/2 without singletons:
    every discount stays positive, so no token ever gets probability 0."""
    n = [int(np.sum(count == k)) for k in (1, 2, 3, 4)]
    y = n[0] / (n[0] + 2 * n[1]) if n[0] > 0 else 0.5
    out = []
    for k in (1, 2, 3):
        d = k - (k + 1) * y * n[k] / n[k - 1] if n[k - 1] > 0 else y
        out.append(min(d if d > 0 else y, float(k)))
    return np.array(out)


def _tokens(seqs: list[np.ndarray], order: int, bos: int) -> np.ndarray:
    """All streams concatenated, each after ``order - 1`` begin tokens."""
    pad = np.full(order - 1, bos, dtype=np.int64)
    if not seqs:
        return np.zeros(0, np.int64)
    return np.concatenate([np.concatenate([pad, np.asarray(s, dtype=np.int64)]) for s in seqs])


def _back(x: np.ndarray, k: int, fill: int) -> np.ndarray:
    """x shifted k places later (x[p - k] at p), ``fill`` before the start."""
    if k == 0:
        return x
    out = np.full_like(x, fill)
    out[k:] = x[:-k]
    return out


class Numbering:
    """The n-grams of a set of training streams, numbered order by order: the id of the k-gram ending at
    a position is a dense index of (id of the (k-1)-gram ending there, the token k-1 places back). It
    depends on the streams only, not on which positions a model predicts, so the models of several
    levels of the same interleaved streams share one (``fit(numbering=...)``)."""

    def __init__(self, seqs: list[np.ndarray], order: int, n_ids: int):
        self.order, self.n_ids = order, n_ids
        self.toks = _tokens(seqs, order, n_ids)
        if len(self.toks) and (self.toks.min() < 0 or self.toks.max() > n_ids):
            raise ValueError(f"a stream id lies outside [0, {n_ids})")
        self.keys: list[np.ndarray] = []
        self.ids = self._ids(self.toks, build=True)

    def _ids(self, toks: np.ndarray, build: bool = False) -> list[np.ndarray]:
        """Per order k = 1..n, the id of the k-gram ending at each position (-1: not in training, or
        running off the start)."""
        base = self.n_ids + 1
        ids: list[np.ndarray] = []
        for k in range(1, self.order + 1):
            tok = _back(toks, k - 1, -1)
            valid = tok >= 0 if k == 1 else (tok >= 0) & (ids[-1] >= 0)
            key = np.where(valid, tok if k == 1 else ids[-1] * base + tok, -1)
            if build:
                self.keys.append(np.unique(key[valid]))
            uniq = self.keys[k - 1]
            if not len(uniq):
                ids.append(np.full(len(key), -1, dtype=np.int64))
                continue
            pos = np.minimum(np.searchsorted(uniq, key), len(uniq) - 1)
            ids.append(np.where(valid & (uniq[pos] == key), pos, -1))
        return ids

    def number(self, seqs: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Held-out streams (begin tokens in front) and their n-gram ids in this numbering."""
        toks = _tokens(seqs, self.order, self.n_ids)
        if len(toks) and (toks.min() < 0 or toks.max() > self.n_ids):
            raise ValueError(f"a stream id lies outside [0, {self.n_ids})")
        return toks, self._ids(toks)


class KneserNey:
    """``fit`` on training streams, then ``bits`` of held-out ones (-log2 p per target position)."""

    def __init__(self, order: int = 3):
        if order < 1:
            raise ValueError("the n-gram order is at least 1")
        self.order = order
        self.vocab = 0  # the predicted distribution's size
        self.first = 0  # predicted ids lie in [first, first + vocab)
        self.numbering: Numbering | None = None
        self.orders: list[_Order] = []

    def _mask(self, toks: np.ndarray, targets: list[np.ndarray]) -> np.ndarray:
        mask = np.concatenate([np.zeros(0, bool)] + [np.concatenate([np.zeros(self.order - 1, bool), np.asarray(t, bool)])
                                                     for t in targets])
        if len(mask) != len(toks):
            raise ValueError("targets must match the streams' lengths")
        pred = toks[mask] - self.first
        if np.any(pred < 0) or np.any(pred >= self.vocab):
            raise ValueError(f"a predicted token lies outside [{self.first}, {self.first + self.vocab})")
        return mask

    def fit(self, seqs: list[np.ndarray], targets: list[np.ndarray], vocab: int, n_ids: int | None = None,
            first: int = 0, numbering: Numbering | None = None) -> KneserNey:
        """``vocab``: the size of the predicted distribution (predicted ids lie in [first, first + vocab));
        ``n_ids``: how many ids the streams use (context-only ids included; default ``first + vocab``);
        ``numbering``: these streams' ``Numbering`` when it is already made (same order and ids)."""
        self.vocab, self.first = int(vocab), int(first)
        n_ids = int(first + vocab if n_ids is None else n_ids)
        if numbering is None:
            numbering = Numbering(seqs, self.order, n_ids)
        elif (numbering.order, numbering.n_ids) != (self.order, n_ids):
            raise ValueError("the numbering is of another order or vocabulary")
        self.numbering = numbering
        mask = self._mask(numbering.toks, targets)
        if not mask.any():
            raise ValueError("no training tokens")
        ids, keys = numbering.ids, numbering.keys
        self.orders = []
        for k in range(1, self.order + 1):
            size = len(keys[k - 1])
            if k == self.order:  # raw counts of the n-grams at target positions
                count = np.bincount(ids[k - 1][mask], minlength=size).astype(np.float64)
            else:  # continuation counts: distinct (k+1)-grams at target positions, per k-gram suffix
                upper = np.unique(ids[k][mask])
                suffix = np.zeros(len(keys[k]), dtype=np.int64)
                suffix[ids[k][mask]] = ids[k - 1][mask]
                count = np.bincount(suffix[upper], minlength=size).astype(np.float64)
            gram = np.flatnonzero(count > 0)
            if k == 1:  # the unigrams' context is the empty one
                ctx, n_ctx = np.zeros(len(gram), dtype=np.int64), 1
            else:  # the context of the k-gram ending at p: the (k-1)-gram ending at p - 1
                ctx_of = np.full(size, -1, dtype=np.int64)
                ctx_of[ids[k - 1][mask]] = _back(ids[k - 2], 1, -1)[mask]
                ctx, n_ctx = ctx_of[gram], len(keys[k - 2])
            c = count[gram]
            ctx_n = np.zeros((n_ctx, 3))
            np.add.at(ctx_n, (ctx, np.minimum(c, 3).astype(np.int64) - 1), 1.0)
            self.orders.append(_Order(count, np.bincount(ctx, weights=c, minlength=n_ctx), ctx_n, _discounts(c)))
        return self

    def bits(self, seqs: list[np.ndarray], targets: list[np.ndarray],
             numbered: tuple[np.ndarray, list[np.ndarray]] | None = None) -> list[np.ndarray]:
        """-log2 p of each target token of each stream (one array per stream, in order); ``numbered``:
        ``self.numbering.number(seqs)`` when it is already made."""
        assert self.numbering is not None, "fit first"
        toks, full = numbered if numbered is not None else self.numbering.number(seqs)
        mask = self._mask(toks, targets)
        n = int(mask.sum())
        p = np.full(n, 1.0 / self.vocab)
        for k in range(1, self.order + 1):
            o = self.orders[k - 1]
            g = full[k - 1][mask]
            h = np.zeros(n, dtype=np.int64) if k == 1 else _back(full[k - 2], 1, -1)[mask]
            hh = np.maximum(h, 0)
            total = np.where(h >= 0, o.ctx_total[hh], 0.0)
            c = np.where(g >= 0, o.count[np.maximum(g, 0)], 0.0)
            d = o.discounts[np.clip(c, 1, 3).astype(np.int64) - 1] * (c > 0)
            mass = o.ctx_n[hh] @ o.discounts  # what the discounts give to the order below
            p = np.where(total > 0, (np.maximum(c - d, 0.0) + mass * p) / np.where(total > 0, total, 1.0), p)
        sizes = [int(np.asarray(t, bool).sum()) for t in targets]
        return np.split(-np.log2(p), np.cumsum(sizes)[:-1]) if sizes else []
