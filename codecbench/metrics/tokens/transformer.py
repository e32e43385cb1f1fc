"""A small causal transformer over a codec's tokens (torch; the GPU when there is one).

Two layouts of the codebook levels (``pattern``):
- ``delay`` (MusicGen's delay pattern): level l is delayed by l steps, so step s holds level l of
  frame s - l; the input of step s is the sum of the level embeddings of step s - 1, and one head per
  level predicts that level's token of step s. All levels must share one frame rate.
- ``flat``: every token in time order (frame start, then level), one at a time; the input is the
  previous token (with its level's offset) plus an embedding of the level being predicted, and the
  output is restricted to that level's entries.
Both are proper factorisations of the token sequence's probability, so the bits are code lengths.

Training: ``steps`` AdamW steps on batches of random windows of ``window`` steps from the training
utterances (learned positions within a window; a window's first input is the real previous token, or
a begin token at the utterance start). Scoring: windows every ``window // 2`` steps, each scoring the
steps its predecessor did not (every step after the first window sees at least half a window of
context). Seeded (torch and the window draws); on the CPU with deterministic algorithms, so a run
repeats its figures on the same machine; on a GPU up to its kernels' rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codecbench.metrics.base import MetricUnavailable


@dataclass(frozen=True)
class TransformerSettings:
    pattern: str = "delay"
    d_model: int = 128
    layers: int = 2
    heads: int = 4
    window: int = 256
    steps: int = 300
    batch: int = 16
    lr: float = 3e-3
    seed: int = 0
    device: str = "auto"


def _torch():
    try:
        import torch
    except ImportError as exc:
        raise MetricUnavailable("the transformer LM needs torch: pip install torch") from exc
    return torch


def layout(utt: list[np.ndarray], sizes: list[int], rates: list[float], pattern: str) -> tuple[np.ndarray, np.ndarray]:
    """(inputs [S, C], targets [S, C]) of one utterance: C = levels (delay) or 1 (flat); target -1 where
    a step predicts nothing at that column. Inputs hold begin/pad ids past each level's entries."""
    if pattern == "delay":
        if len(set(rates)) > 1:
            raise ValueError("the delay pattern needs one frame rate for every level; use pattern flat")
        n_lv, t = len(utt), min(len(c) for c in utt)
        steps = t + n_lv - 1
        y = np.empty((steps, n_lv), dtype=np.int64)
        for lv, c in enumerate(utt):
            y[:, lv] = sizes[lv]  # "nothing here" (delay padding)
            y[lv:lv + t, lv] = np.asarray(c[:t])
        inputs = np.vstack([np.array([[s + 1 for s in sizes]]), y[:-1]])  # begin token = size + 1
        return inputs, np.where(y >= np.array(sizes)[None], -1, y)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    time = np.concatenate([np.arange(len(c)) / rates[lv] for lv, c in enumerate(utt)])
    level = np.concatenate([np.full(len(c), lv, dtype=np.int64) for lv, c in enumerate(utt)])
    tok = np.concatenate([offsets[lv] + np.asarray(c, dtype=np.int64) for lv, c in enumerate(utt)])
    order = np.lexsort((level, time))  # by frame start, then level
    tok, level = tok[order], level[order]
    inputs = np.stack([np.concatenate([[sum(sizes)], tok[:-1]]), level], axis=1)  # (previous token, level to predict)
    return inputs, tok[:, None]


class TokenTransformer:
    def __init__(self, sizes: list[int], rates: list[float], settings: TransformerSettings):
        self.sizes, self.rates, self.s = list(sizes), list(rates), settings
        self.device = "cpu"
        self.model = None

    def _build(self):
        torch = _torch()
        nn = torch.nn
        s, sizes = self.s, self.sizes

        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                if s.pattern == "delay":
                    self.emb = nn.ModuleList([nn.Embedding(k + 2, s.d_model) for k in sizes])
                    self.heads = nn.ModuleList([nn.Linear(s.d_model, k) for k in sizes])
                else:
                    self.tok = nn.Embedding(sum(sizes) + 1, s.d_model)
                    self.lvl = nn.Embedding(len(sizes), s.d_model)
                    self.out = nn.Linear(s.d_model, sum(sizes))
                    bounds = np.concatenate([[0], np.cumsum(sizes)])
                    allowed = torch.zeros(len(sizes), sum(sizes), dtype=torch.bool)
                    for lv in range(len(sizes)):
                        allowed[lv, bounds[lv]:bounds[lv + 1]] = True
                    self.register_buffer("allowed", allowed)  # the entries each level may predict
                self.pos = nn.Embedding(s.window, s.d_model)
                layer = nn.TransformerEncoderLayer(s.d_model, s.heads, 4 * s.d_model, dropout=0.0, batch_first=True,
                                                   norm_first=True)
                self.body = nn.TransformerEncoder(layer, s.layers, enable_nested_tensor=False)
                self.norm = nn.LayerNorm(s.d_model)

            def forward(self, x):  # x [B, W, C] -> per column log-probabilities (list of [B, W, K])
                if s.pattern == "delay":
                    h = sum(e(x[..., c]) for c, e in enumerate(self.emb))
                else:
                    h = self.tok(x[..., 0]) + self.lvl(x[..., 1])
                w = x.shape[1]
                h = h + self.pos(torch.arange(w, device=x.device))[None]
                mask = torch.triu(torch.full((w, w), float("-inf"), device=x.device), diagonal=1)
                h = self.norm(self.body(h, mask=mask, is_causal=True))
                if s.pattern == "delay":
                    return [torch.log_softmax(head(h), dim=-1) for head in self.heads]
                logits = self.out(h).masked_fill(~self.allowed[x[..., 1]], float("-inf"))
                return [torch.log_softmax(logits, dim=-1)]

        return Net()

    def _nll(self, net, x, y):
        """Per-position negative log-likelihood in nats [B, W, C] (0 where there is no target)."""
        torch = _torch()
        out = []
        for c, logp in enumerate(net(x)):
            tgt = y[..., c]
            got = logp.gather(-1, tgt.clamp(min=0)[..., None])[..., 0]
            out.append(torch.where(tgt >= 0, -got, torch.zeros_like(got)))
        return torch.stack(out, dim=-1)

    def _batch(self, pieces: list[tuple[np.ndarray, np.ndarray]]):
        torch = _torch()
        w = self.s.window
        c_in, c_out = pieces[0][0].shape[1], pieces[0][1].shape[1]
        x = np.zeros((len(pieces), w, c_in), dtype=np.int64)
        y = np.full((len(pieces), w, c_out), -1, dtype=np.int64)
        for b, (xi, yi) in enumerate(pieces):
            x[b, : len(xi)], y[b, : len(yi)] = xi, yi
        return torch.from_numpy(x).to(self.device), torch.from_numpy(y).to(self.device)

    def fit(self, utts: list[list[np.ndarray]]) -> TokenTransformer:
        torch = _torch()
        from codecbench.codecs.base import resolve_device

        self.device = resolve_device(self.s.device)
        data = [layout(u, self.sizes, self.rates, self.s.pattern) for u in utts]
        data = [d for d in data if len(d[0])]
        if not data:
            raise ValueError("no training tokens")
        deterministic = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(self.device == "cpu")
        try:
            torch.manual_seed(self.s.seed)
            net = self._build().to(self.device)
            opt = torch.optim.AdamW(net.parameters(), lr=self.s.lr, weight_decay=0.01)
            rng = np.random.default_rng(self.s.seed)
            lengths = np.array([len(d[0]) for d in data], dtype=np.float64)
            warm = max(1, self.s.steps // 10)
            for step in range(self.s.steps):
                for g in opt.param_groups:  # linear warm-up, then cosine decay
                    g["lr"] = self.s.lr * min(1.0, (step + 1) / warm) * 0.5 * (1 + np.cos(np.pi * step / self.s.steps))
                pick = rng.choice(len(data), size=self.s.batch, p=lengths / lengths.sum())
                pieces = []
                for i in pick:
                    xi, yi = data[i]
                    a = int(rng.integers(0, max(1, len(xi) - self.s.window + 1)))
                    pieces.append((xi[a:a + self.s.window], yi[a:a + self.s.window]))
                x, y = self._batch(pieces)
                nll = self._nll(net, x, y)
                loss = nll.sum() / (y >= 0).sum().clamp(min=1)
                opt.zero_grad()
                loss.backward()
                opt.step()
        finally:
            torch.use_deterministic_algorithms(deterministic)
        self.model = net.eval()
        return self

    def bits(self, utts: list[list[np.ndarray]]) -> list[np.ndarray]:
        """Per utterance, the bits of each level's tokens summed ([levels])."""
        torch = _torch()
        w, stride = self.s.window, max(1, self.s.window // 2)
        out = []
        for u in utts:
            x, y = layout(u, self.sizes, self.rates, self.s.pattern)
            level = np.arange(len(self.sizes))[None].repeat(len(y), 0) if self.s.pattern == "delay" else x[:, 1:2]
            total = np.zeros(len(self.sizes))
            a = 0
            while True:
                first = 0 if a == 0 else w - stride  # positions of this window not scored by the one before
                xb, yb = self._batch([(x[a:a + w], y[a:a + w])])
                with torch.inference_mode():
                    nll = self._nll(self.model, xb, yb)[0].double().cpu().numpy() / np.log(2.0)
                n = min(w, len(y) - a)
                np.add.at(total, level[a:a + n][first:].ravel(), nll[first:n].ravel())
                if a + w >= len(y):
                    break
                a += stride
            out.append(total)
        return out
