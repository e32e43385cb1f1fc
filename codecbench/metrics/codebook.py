"""Codebook utilization of token codecs: per utterance, and pooled per (codec, language).

For each codebook level: share of its entries used, entropy of the code distribution in bits, and
perplexity (2 ** entropy). Pooled figures (the metric's aggregate: codebook.csv, and a table in
summary.md) count the saved codes (``codes/``) over every utterance of a language; each SNAC-style
level is counted on its own frames.
"""

from __future__ import annotations

import numpy as np

from codecbench import __version__
from codecbench.metrics.base import Metric, MetricFailure, MetricInfo, MetricInput, Output
from codecbench.metrics.corpus import Aggregate, Corpus, Table
from codecbench.types import FailureKind

TABLE_FILE = "codebook.csv"
TABLE_COLUMNS = ["codec", "lang", "level", "size", "frame_rate", "n_codes", "used_share", "entropy_bits", "perplexity",
                 "n_utterances"]


def level_stats(codes: np.ndarray, size: int) -> dict[str, float]:
    """Usage of one codebook from its codes (any shape)."""
    codes = np.asarray(codes).ravel()
    if codes.size == 0:
        return {"n_codes": 0, "used_share": float("nan"), "entropy_bits": float("nan"), "perplexity": float("nan")}
    counts = np.bincount(codes.astype(np.int64), minlength=size)[:size]
    p = counts[counts > 0] / codes.size
    entropy = float(-(p * np.log2(p)).sum())
    return {"n_codes": int(codes.size), "used_share": float((counts > 0).sum() / size),
            "entropy_bits": entropy, "perplexity": float(2.0**entropy)}


def pooled_utilization(per_utterance: list[list[np.ndarray]], sizes: list[int]) -> list[dict[str, float]]:
    """Per-level stats over all utterances' codes pooled together."""
    out = []
    for level, size in enumerate(sizes):
        parts = [u[level] for u in per_utterance if u is not None and len(u) > level]
        codes = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        out.append({"level": level, "size": size, **level_stats(codes, size)})
    return out


class CodebookUsage(Metric):
    name = "codebook"

    def info(self) -> MetricInfo:
        return MetricInfo(
            name=self.name,
            outputs=(Output("codebook_used_share", True, "", "mean over codebooks of the share of entries used"),
                     Output("codebook_entropy_bits", True, "bit", "mean over codebooks of the code entropy")),
            description="Codebook utilization per utterance (pooled per language in codebook.csv)",
            needs_reference=False, needs_codes=True, library="codecbench", version=__version__, cost=True,
        )

    def aggregate(self, corpus: Corpus) -> Aggregate:
        return aggregate(corpus)

    def compute(self, x: MetricInput) -> dict[str, float]:
        if x.codec is None or not x.codec.codebooks:
            kind = "continuous" if x.codec is not None and x.codec.latent_dim else "classical"
            raise MetricFailure(f"{kind} codec without discrete codebooks", FailureKind.NOT_APPLICABLE)
        if x.codes is None:
            raise MetricFailure("codec returned no codes")
        stats = [level_stats(c, lvl.size) for c, lvl in zip(x.codes, x.codec.codebooks, strict=True)]
        return {"codebook_used_share": float(np.mean([s["used_share"] for s in stats])),
                "codebook_entropy_bits": float(np.mean([s["entropy_bits"] for s in stats]))}


def pooled_table(corpus: Corpus):
    """Pooled utilization per (codec, language incl. 'all', codebook level) from the saved codes."""
    import pandas as pd

    out = []
    rows = corpus.rows
    for codec, by_codec in rows[rows["status"] == "ok"].groupby("codec", sort=False):
        books = corpus.codecs.get(codec, {}).get("codebooks") or []
        if not books:
            continue
        sizes = [b["size"] for b in books]
        codes_by_utt = {uid: c for uid in by_codec["utt_id"] if (c := corpus.folder.codes(codec, uid)) is not None}
        langs = sorted(x for x in by_codec["lang"].unique() if x)
        for lang in [*langs, "all"]:
            ids = by_codec["utt_id"] if lang == "all" else by_codec.loc[by_codec["lang"] == lang, "utt_id"]
            per_utt = [codes_by_utt[u] for u in ids if u in codes_by_utt]
            if not per_utt:
                continue
            for stats in pooled_utilization(per_utt, sizes):
                out.append({"codec": codec, "lang": lang, "level": stats["level"], "size": stats["size"],
                            "frame_rate": books[stats["level"]].get("frame_rate"), "n_codes": stats["n_codes"],
                            "used_share": stats["used_share"], "entropy_bits": stats["entropy_bits"],
                            "perplexity": stats["perplexity"], "n_utterances": len(per_utt)})
    return pd.DataFrame(out, columns=TABLE_COLUMNS)


def summary_table(table) -> Table:
    """summary.md's view of the pooled table: the mean over codebooks per (codec, language)."""
    pooled = table.groupby(["codec", "lang"])[["used_share", "entropy_bits", "perplexity"]].mean().reset_index()
    return Table("Codebook utilization (pooled, mean over codebooks)",
                 ["codec", "lang", "used share", "entropy (bits)", "perplexity"],
                 [[str(r["codec"]), str(r["lang"]), f"{r['used_share']:.3f}", f"{r['entropy_bits']:.2f}",
                   f"{r['perplexity']:.1f}"] for _, r in pooled.iterrows()])


def aggregate(corpus: Corpus) -> Aggregate:
    if "status" not in corpus.rows.columns:
        return Aggregate()
    table = pooled_table(corpus)
    return Aggregate(files={TABLE_FILE: table}, tables=[summary_table(table)] if not table.empty else [])


def metrics() -> list[Metric]:
    return [CodebookUsage()]
