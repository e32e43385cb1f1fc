"""Token predictability: how many bits per frame does a small LM trained on a codec's tokens need for
held-out speech of a language, against the codec's nominal bitrate?

Corpus-level only (``aggregate``, from the saved codes, ``codes/``). Per codec and language:
- split (``splits.py``): whole utterances (or speakers) into training and test, the same for every
  codec; the split is written to ``token_lm_split.csv``;
- model (``model``): ``ngram`` (modified Kneser-Ney, ``ngram.py``; ``context: level``, each level
  from its own history, or ``flat``, from the previous tokens of all levels in time order) or
  ``transformer`` (``transformer.py``; ``pattern: delay`` or ``flat``). Each is trained on the
  training split's codes and scores the test split's;
- figures, over the test utterances (bits and frames summed, then divided; 95% bootstrap CI over
  test utterances, ``stats.bootstrap_ratio_ci``): ``lm_bits_per_frame`` (a frame: one step of the
  codec's frame rate, all its levels), ``lm_bits_per_second``, ``lm_redundancy`` = 1 - LM bits/s ÷
  nominal bits/s (nominal: sum over levels of log2(entries) x frame rate: what the codes cost
  uncompressed), ``unigram_bits_per_frame`` (the same, for a context-free Kneser-Ney unigram model per
  level trained on the same split: what context buys is the difference); ``token_lm.csv`` has the
  same per codebook level (bits per token of the level, bits/s against the level's nominal rate);
- ``all`` pools the languages (one model on every training split, scored on every test split);
  ``cross_language``: each language's model also scores every other language's test split
  (``token_lm.csv`` rows whose ``train_lang`` differs from ``test_lang``).

Per-utterance values of the test utterances (``Aggregate.values``; training utterances have none)
are what ``codecbench compare`` pairs. A codec without discrete codes gets n/a rows with the reason;
a language with fewer than two utterances (speakers) cannot be split and gets n/a rows saying so.
"""

from __future__ import annotations

import numpy as np

from codecbench import __version__
from codecbench.metrics.base import Metric, MetricInfo, MetricInput, Option, Output
from codecbench.metrics.corpus import Aggregate, Corpus
from codecbench.metrics.tokens.lm_aggregate import BPF, BPS, REDUNDANCY, UNIGRAM, aggregate
from codecbench.metrics.tokens.ngram import KneserNey, Numbering
from codecbench.metrics.tokens.transformer import TokenTransformer, TransformerSettings, layout


class TokenLM(Metric):
    name = "token_lm"
    options = {
        "model": Option("ngram", "ngram (modified Kneser-Ney, CPU, seconds) or transformer (torch; GPU when present)",
                        choices=("ngram", "transformer")),
        "order": Option(3, "ngram: order (context of order - 1 tokens)", int),
        "context": Option("level", "ngram: level (each codebook level from its own history) or flat (from the "
                          "previous tokens of all levels in time order)", choices=("level", "flat")),
        "pattern": Option("delay", "transformer: delay (MusicGen delay pattern) or flat (all tokens in time order)",
                          choices=("delay", "flat")),
        "d_model": Option(128, "transformer: width", int),
        "layers": Option(2, "transformer: layers", int),
        "heads": Option(4, "transformer: attention heads", int),
        "window": Option(256, "transformer: steps per training/scoring window", int),
        "steps": Option(300, "transformer: training steps", int),
        "batch": Option(16, "transformer: windows per training step", int),
        "lr": Option(3e-3, "transformer: peak learning rate (AdamW, warm-up then cosine)", float),
        "seed": Option(0, "transformer: seed of the weights and the window draws", int),
        "device": Option("auto", "transformer: auto (GPU when present), cpu or cuda[:N]"),
        "test_share": Option(0.25, "share of each language's utterances (speakers) held out for testing", float),
        "split_by": Option("utterance", "split unit: utterance or speaker", choices=("utterance", "speaker")),
        "split_seed": Option(0, "seed of the split", int),
        "cross_language": Option(False, "also score each language's test split with every other language's model", bool),
    }

    def info(self) -> MetricInfo:
        return MetricInfo(
            name=self.name, outputs=(),
            corpus_outputs=(
                Output(BPF, False, "bit/frame", "LM bits per frame on held-out utterances (all levels)"),
                Output(BPS, False, "bit/s", "LM bits per second on held-out utterances"),
                Output(REDUNDANCY, True, "", "1 - LM bits/s ÷ nominal bits/s"),
                Output(UNIGRAM, None, "bit/frame", "context-free (unigram) bits per frame on held-out utterances")),
            description="token predictability: bits of a small LM trained on a training split of each language's "
                        "codes, on its held-out utterances, against the nominal bitrate (corpus-level)",
            needs_reference=False, needs_codes=True, library="codecbench", version=__version__, mode=self.mode(),
            cost=True,
        )

    def mode(self, device: str | None = None) -> str:
        o = {**{k: v.default for k, v in self.options.items()}, **self.opts}
        if o["model"] == "ngram":
            return f"{o['order']}-gram modified Kneser-Ney, {o['context']} context"
        return (f"transformer {o['pattern']} d{o['d_model']}x{o['layers']} window {o['window']}, {o['steps']} steps"
                + (f" on {device}" if device else ""))

    def compute(self, x: MetricInput) -> dict:
        return {}  # corpus-level only: the aggregate reads the saved codes

    def aggregate(self, corpus: Corpus) -> Aggregate:
        return aggregate(self, corpus)

    def score(self, train: list[list[np.ndarray]], test: list[list[np.ndarray]], sizes: list[int],
              rates: list[float]) -> tuple[np.ndarray, np.ndarray, str]:
        """([test utterances, levels] LM bits, the same for the unigram model, the model as run)."""
        o = {**{k: v.default for k, v in self.options.items()}, **self.opts}
        unigram = _ngram(train, test, sizes, rates, 1, "level")
        if o["model"] == "ngram":
            return _ngram(train, test, sizes, rates, int(o["order"]), o["context"]), unigram, self.mode()
        settings = TransformerSettings(o["pattern"], int(o["d_model"]), int(o["layers"]), int(o["heads"]),
                                       int(o["window"]), int(o["steps"]), int(o["batch"]), float(o["lr"]),
                                       int(o["seed"]), str(o["device"]))
        lm = TokenTransformer(sizes, rates, settings).fit(train)
        return np.array(lm.bits(test)), unigram, self.mode(lm.device)


def _ngram(train: list[list[np.ndarray]], test: list[list[np.ndarray]], sizes: list[int], rates: list[float],
           order: int, context: str) -> np.ndarray:
    """[test utterances, levels] bits of an n-gram model per level."""
    out = np.zeros((len(test), len(sizes)))
    if context == "level":
        for lv, k in enumerate(sizes):
            tr = [u[lv] for u in train]
            te = [u[lv] for u in test]
            lm = KneserNey(order).fit(tr, [np.ones(len(s), bool) for s in tr], k)
            out[:, lv] = [b.sum() for b in lm.bits(te, [np.ones(len(s), bool) for s in te])]
        return out
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
    flat_tr = [layout(u, sizes, rates, "flat") for u in train]
    flat_te = [layout(u, sizes, rates, "flat") for u in test]
    numbering = Numbering([y[:, 0] for _, y in flat_tr], order, sum(sizes))  # shared by every level's model
    numbered = numbering.number([y[:, 0] for _, y in flat_te])
    for lv, k in enumerate(sizes):
        lm = KneserNey(order).fit([y[:, 0] for _, y in flat_tr], [x[:, 1] == lv for x, _ in flat_tr], k,
                                  n_ids=sum(sizes), first=int(offsets[lv]), numbering=numbering)
        bits = lm.bits([y[:, 0] for _, y in flat_te], [x[:, 1] == lv for x, _ in flat_te], numbered)
        out[:, lv] = [b.sum() for b in bits]
    return out
