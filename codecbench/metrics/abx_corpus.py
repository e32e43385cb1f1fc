"""Corpus-level minimal-pair ABX: triplets, error rates, contrast loss, summary rows.

Tokens are utterances whose manifest entry has ``word``, ``contrast`` and ``pair`` (the two words of
a minimal pair share ``pair``; ``speaker`` tells voices apart). Triplets, for each word w of a pair
(w, w'): A a token of w, X a token of w from another speaker than A, B a token of w' from A's
speaker (the usual across-speaker ABX: A and B share a voice, X does not). Both directions count.

The triplet errs when d(B, X) < d(A, X); a tie counts 1/2. The error rate of a group is the mean over
its triplets (every triplet weighs the same). Per (codec, language, contrast class, and ``all``
pooling the language's classes) the summary gets:
- ``abx_floor:<class>``: error on the original audio (what the features can tell apart at all);
- ``abx_error:<class>``: error on the codec's reconstructions (A, B and X all reconstructed);
- ``abx_loss:<class>``: error minus floor on the same triplets (paired bootstrap CI, codecbench.stats).
- ``abx_token_error:<class>`` (token codecs): the same triplets in the codec's token space — what a
  speech LM sees. Frames are the codec's saved codes (``codes/``; the levels at the first level's
  frame rate), cut to the reference's speech span; frame distance = share of levels whose tokens
  differ; same DTW. No codec hook is needed: the tokens themselves are compared, not their
  codebook embeddings.
Each codec uses only its tokens with features (a failed item drops its triplets from the floor
too, so floor and error stay paired). Per-triplet results go to ``abx_triplets.parquet`` (compare's
gate), written with the summary by the run folder.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from codecbench.metrics.corpus import Aggregate, Corpus
from codecbench.metrics.dtw import dtw_distances
from codecbench.rows import SummaryRow
from codecbench.stats import bootstrap_ci, paired_difference
from codecbench.store import RunFolder

TRIPLETS_FILE = "abx_triplets.parquet"
KINDS = ("abx_floor", "abx_error", "abx_loss", "abx_token_error")
ALL = "all"


@dataclass(frozen=True)
class Token:
    id: str
    lang: str
    word: str
    contrast: str
    pair: str
    speaker: str


def tokens_from_dataset(dataset: list[dict]) -> list[Token]:
    """Tokens of the utterances (dataset.json records) that carry word, contrast and pair."""
    out = []
    for u in dataset:
        ex = u.get("extra") or {}
        if all(ex.get(k) not in (None, "") for k in ("word", "contrast", "pair")):
            out.append(Token(u["id"], u.get("lang") or "", str(ex["word"]), str(ex["contrast"]), str(ex["pair"]),
                             str(u.get("speaker") or "")))
    return out


def make_triplets(tokens: list[Token]) -> list[tuple[Token, Token, Token]]:
    """Every (A, B, X) of the design above; pairs that do not hold exactly two words are skipped."""
    by_pair: dict[str, dict[str, list[Token]]] = defaultdict(lambda: defaultdict(list))
    for t in tokens:
        by_pair[t.pair][t.word].append(t)
    out = []
    for pair in sorted(by_pair):
        words = by_pair[pair]
        if len(words) != 2:
            continue
        w1, w2 = sorted(words)
        for w, partner in ((w1, w2), (w2, w1)):
            for a in words[w]:
                bs = [b for b in words[partner] if b.speaker == a.speaker]
                for x in words[w]:
                    if x.speaker != a.speaker:
                        out.extend((a, b, x) for b in bs)
    return out


def triplet_errors(triplets: list[tuple[Token, Token, Token]], feats: dict[str, np.ndarray],
                   cache: dict[tuple[str, str], float] | None = None, cost: str = "cosine") -> np.ndarray:
    """0 / 0.5 / 1 per triplet; DTW distances are computed once per token pair (and kept in ``cache``)."""
    cache = {} if cache is None else cache
    keys = {tuple(sorted((p.id, x.id))) for a, b, x in triplets for p in (a, b)}
    todo = sorted(k for k in keys if k not in cache)
    for k, d in zip(todo, dtw_distances([(feats[i], feats[j]) for i, j in todo], cost=cost), strict=True):
        cache[k] = float(d)
    d_ax = np.array([cache[tuple(sorted((a.id, x.id)))] for a, _, x in triplets])
    d_bx = np.array([cache[tuple(sorted((b.id, x.id)))] for _, b, x in triplets])
    return np.where(d_bx < d_ax, 1.0, np.where(d_bx == d_ax, 0.5, 0.0))


def _row(corpus: Corpus, codec: str, lang: str, metric: str, n: int, mean: float, lo: float, hi: float, std: float,
         status: str, note: str) -> SummaryRow:
    return corpus.row(codec, lang, metric, higher_is_better=False, unit="error rate",
                      mode=f"{corpus.meta.get('mode')}, corpus-level over triplets", n=n, mean=mean, ci_low=lo,
                      ci_high=hi, std=std, status=status, note=note)


def group_rows(corpus: Corpus, codec: str, lang: str, contrast: str, e_orig: np.ndarray, e_cod: np.ndarray,
               e_tok: np.ndarray) -> list[SummaryRow]:
    """The floor, error, loss (and token-space error) rows of one (codec, language, contrast class)."""
    out = []
    n = len(e_orig)
    tok = e_tok[np.isfinite(e_tok)]
    groups = [("abx_floor", e_orig), ("abx_error", e_cod)] + ([("abx_token_error", tok)] if len(tok) else [])
    for kind, vals in groups:
        lo, hi = bootstrap_ci(vals)
        out.append(_row(corpus, codec, lang, f"{kind}:{contrast}", len(vals), float(vals.mean()), lo, hi,
                        float(vals.std(ddof=1)) if len(vals) > 1 else np.nan, "ok", ""))
    d = paired_difference(e_orig, e_cod)
    out.append(_row(corpus, codec, lang, f"abx_loss:{contrast}", n, d["mean_diff"], d["ci_low"], d["ci_high"],
                    float((e_cod - e_orig).std(ddof=1)) if n > 1 else np.nan, "ok",
                    f"paired sign-flip p={d['p_value']:.3g}"))
    return out


def token_frames(run_dir: Path, codec: str, utt_id: str, span: np.ndarray, frame_rate: float) -> np.ndarray | None:
    """The codec's saved codes [frames, levels] within the speech span, or None when there are none."""
    levels = RunFolder(run_dir).codes(codec, utt_id)
    if not levels or not len(levels[0]):
        return None
    codes = np.stack([c for c in levels if len(c) == len(levels[0])], axis=1)
    seg = codes[int(span[0] * frame_rate): math.ceil(span[1] * frame_rate)]
    return seg if len(seg) else None


def codec_triplets(run_dir: Path, codec: str, tokens: list[Token], ok_ids: set[str], orig_cache: dict,
                   frame_rate: float | None = None, *, features: str) -> pd.DataFrame:
    """Per-triplet errors on the originals, on one codec's reconstructions and (token codecs: the
    frame rate of the first codebook given) on its tokens (NaN where a token has no codes);
    ``features``: the run folder's folder of the ``abx`` metric's per-item features."""
    ref, deg, codes = {}, {}, {}
    folder = RunFolder(run_dir)
    for t in tokens:
        arrays = folder.load_arrays(features, codec, t.id) if t.id in ok_ids else None
        if arrays is not None:
            ref[t.id], deg[t.id], span = arrays["ref"], arrays["deg"], arrays["span"]
            if frame_rate:
                frames = token_frames(run_dir, codec, t.id, span, frame_rate)
                if frames is not None:
                    codes[t.id] = frames
    triplets = make_triplets([t for t in tokens if t.id in ref])
    e_orig = triplet_errors(triplets, ref, orig_cache)
    e_cod = triplet_errors(triplets, deg)
    e_tok = np.full(len(triplets), np.nan)
    with_codes = [k for k, (a, b, x) in enumerate(triplets) if a.id in codes and b.id in codes and x.id in codes]
    if with_codes:
        e_tok[with_codes] = triplet_errors([triplets[k] for k in with_codes], codes, cost="hamming")
    return pd.DataFrame({"codec": codec, "lang": [a.lang for a, _, _ in triplets],
                         "contrast": [a.contrast for a, _, _ in triplets], "pair": [a.pair for a, _, _ in triplets],
                         "a": [a.id for a, _, _ in triplets], "b": [b.id for _, b, _ in triplets],
                         "x": [x.id for _, _, x in triplets], "err_original": e_orig, "err_codec": e_cod,
                         "err_tokens": e_tok})


def aggregate(corpus: Corpus, output: str, features: str) -> Aggregate:
    """The summary rows of every ABX group and the per-triplet table (``abx_triplets.parquet``), from the
    rows' per-item ``output`` (which items have features) and the features saved in ``features``."""
    rows = corpus.rows
    if output not in rows.columns:
        return Aggregate()
    tokens = tokens_from_dataset(corpus.dataset)
    if not tokens:
        return Aggregate()
    langs = sorted({t.lang for t in tokens})
    out: list[SummaryRow] = []
    frames, orig_cache = [], {}
    for codec, sub in rows.groupby("codec", sort=False):
        ok_ids = set(sub.loc[np.isfinite(sub[output].to_numpy(dtype=np.float64)), "utt_id"])
        books = corpus.codecs.get(codec, {}).get("codebooks") or []
        tri = codec_triplets(corpus.folder.dir, codec, tokens, ok_ids, orig_cache,
                             books[0].get("frame_rate") if books else None, features=features)
        frames.append(tri)
        for lang in [*langs, ALL]:
            by_lang = tri if lang == ALL else tri[tri["lang"] == lang]
            classes = [] if lang == ALL else sorted(by_lang["contrast"].unique())
            for contrast in [*classes, ALL]:
                g = by_lang if contrast == ALL else by_lang[by_lang["contrast"] == contrast]
                if len(g):
                    out += group_rows(corpus, codec, lang, contrast, g["err_original"].to_numpy(),
                                      g["err_codec"].to_numpy(), g["err_tokens"].to_numpy(dtype=float))
                elif lang != ALL:
                    note = ("no triplets: needs minimal pairs (word, contrast, pair) with tokens from at least two "
                            "speakers, each speaker saying both words, and abx features for them")
                    out += [_row(corpus, codec, lang, f"{k}:{ALL}", 0, np.nan, np.nan, np.nan, np.nan, "failed", note)
                            for k in KINDS[:3]]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return Aggregate(rows=out, files={TRIPLETS_FILE: table})
