"""Token stability: do meaning-irrelevant changes of the input change a codec's tokens?

Per utterance, the original and each perturbation (``perturb.py``: time shifts of 1 sample and half
a hop, gain -6/+6 dB, white noise at 40/30 dB SNR, a 16 -> 44.1 -> 16 kHz round trip) are encoded by
the run's codec as one batch, in the codec stage (``MetricInfo.needs_encoder``). The unit edit
distance (UED) of a codebook level is the Levenshtein distance between the perturbed and the
original tokens (after aligning frames for shifts) divided by the original's length; over all
levels it is the summed distances over the summed lengths (every token weighs the same). The
original is encoded again beside its perturbations, not taken from the reconstruction's batch, so
both sides see the same padding.

Row outputs: ``ued_<perturbation>`` (all levels) and ``ued_mean`` (mean over the perturbations run).
Per level, the distances go to the ``token_stability`` stream; the aggregate gives per (codec,
language, perturbation, level) the mean UED with its bootstrap CI over utterances
(``token_stability.csv``) and a summary.md table. Lower is better;
0 is a codec whose tokens ignore the perturbation.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from codecbench import __version__
from codecbench.errors import ConfigError
from codecbench.metrics.base import Metric, MetricFailure, MetricInfo, MetricInput, Option, Output
from codecbench.metrics.corpus import Aggregate, Corpus, Table
from codecbench.metrics.tokens.edit import levenshtein
from codecbench.metrics.tokens.perturb import DESCRIPTIONS, PERTURBATIONS, align, parse, perturb
from codecbench.stats import bootstrap_ci
from codecbench.store import RunFolder
from codecbench.types import Failure, FailureKind

STREAM = "token_stability"
TABLE_FILE = "token_stability.csv"
MEAN = "ued_mean"
TABLE_COLUMNS = ["codec", "lang", "perturbation", "level", "n", "ued", "ci_low", "ci_high"]


def output(name: str) -> str:
    return f"ued_{name}"


def not_tokens(codec) -> str | None:
    """Why a codec has no tokens to compare (Opus, a VAE), or None."""
    if codec is None:
        return "no codec"
    if codec.codebooks:
        return None
    return "continuous codec (latents, no discrete codes)" if codec.latent_dim else "classical codec without " \
        "discrete codebooks (its bitstream is not a token sequence)"


class TokenStability(Metric):
    name = "token_stability"
    streams = (STREAM,)
    options = {
        "perturbations": Option("all", f"comma list of perturbations to apply, or all ({', '.join(PERTURBATIONS)})"),
        "shift_samples": Option(1, "shift_sample: delay in samples at the codec's rate", int),
        "shift_hop_fraction": Option(0.5, "shift_half_hop: delay as a fraction of the codec's frame hop", float),
        "gain_down_db": Option(-6.0, "gain_down: gain in dB", float),
        "gain_up_db": Option(6.0, "gain_up: gain in dB", float),
        "noise_faint_snr_db": Option(40.0, "noise_faint: white-noise SNR in dB", float),
        "noise_audible_snr_db": Option(30.0, "noise_audible: white-noise SNR in dB", float),
        "resample_via_hz": Option(44100, "resample: the round trip's middle rate (Hz)", int),
        "seed": Option(0, "seed of the noise (with the utterance id)", int),
    }

    def __init__(self) -> None:
        self.run_dir: Path | None = None

    def configure(self, opts):
        new = super().configure(opts)
        try:
            parse(new.opts.get("perturbations", "all"))
        except ValueError as exc:
            raise ConfigError(f"token_stability.perturbations: {exc}") from None
        return new

    @property
    def chosen(self) -> tuple[str, ...]:
        return parse(self.opts.get("perturbations", "all"))

    def info(self) -> MetricInfo:
        return MetricInfo(
            name=self.name,
            outputs=(Output(MEAN, False, "", "unit edit distance, mean over the perturbations run"),
                     *(Output(output(p), False, "", f"unit edit distance under {DESCRIPTIONS[p]}")
                       for p in PERTURBATIONS)),
            description="token stability: unit edit distance (Levenshtein / length) of the codec's tokens under "
                        "meaning-preserving perturbations, all levels (per level: token_stability.csv)",
            needs_reference=False, needs_codes=True, needs_encoder=True, library="codecbench", version=__version__,
            mode="levenshtein/length; shifts aligned by whole frames", cost=True,
        )

    def setup(self, device: str = "cpu", workdir: str | None = None) -> None:
        self.run_dir = Path(workdir) if workdir else None

    def compute(self, x: MetricInput) -> dict[str, float | Failure]:
        reason = not_tokens(x.codec)
        if reason:
            raise MetricFailure(reason, FailureKind.NOT_APPLICABLE)
        if x.encode is None:
            raise MetricFailure("needs the codec's encoder (computed in a run's codec stage)", FailureKind.NOT_APPLICABLE)
        chosen = self.chosen
        info = x.codec
        frame_rate = info.frame_rate or info.codebooks[0].frame_rate
        original, perturbed = perturb(x.ref, x.sample_rate, info.sample_rate, frame_rate, chosen, self.opts,
                                      x.utterance.id)
        codes = x.encode([original, *(p.wave for p in perturbed)], info.sample_rate)
        base = codes[0]
        lengths = [len(c) for c in base]
        if sum(lengths) == 0:
            raise MetricFailure("the codec gave no frames for this utterance")
        hops = [info.sample_rate / lvl.frame_rate for lvl in info.codebooks]
        distances = {p.name: [levenshtein(orig, align(got, p.shift, hop, len(orig)))
                              for orig, got, hop in zip(base, c, hops, strict=True)]
                     for p, c in zip(perturbed, codes[1:], strict=True)}
        if self.run_dir is not None:
            RunFolder(self.run_dir).append_records(STREAM, [{"codec": info.name, "utt_id": x.utterance.id,
                                                             "lengths": lengths, "distances": distances}])
        out: dict[str, float | Failure] = {output(p): Failure.not_applicable("not among token_stability.perturbations")
                                           for p in PERTURBATIONS if p not in chosen}
        for p, d in distances.items():
            out[output(p)] = sum(d) / sum(lengths)
        out[MEAN] = float(np.mean([out[output(p)] for p in chosen]))
        return out

    def aggregate(self, corpus: Corpus) -> Aggregate:
        return aggregate(corpus)


def per_level(corpus: Corpus) -> dict[tuple[str, str, str, int], list[float]]:
    """Per (codec, language incl. "all", perturbation, level): the utterances' UEDs of that level."""
    rows = corpus.rows
    if rows.empty:
        return {}
    lang_of = {(c, u): lang for c, u, lang in zip(rows["codec"], rows["utt_id"], rows["lang"].fillna(""), strict=True)}
    out: dict[tuple[str, str, str, int], list[float]] = defaultdict(list)
    for r in sorted(corpus.records.get(STREAM, []), key=lambda r: (str(r.get("codec")), str(r.get("utt_id")))):
        lang = lang_of.get((r.get("codec"), r.get("utt_id")))
        if lang is None:
            continue
        for p, dists in (r.get("distances") or {}).items():
            for level, (d, n) in enumerate(zip(dists, r.get("lengths") or [], strict=False)):
                if n:
                    for key_lang in dict.fromkeys([lang, "all"] if lang else ["all"]):
                        out[(r["codec"], key_lang, p, level)].append(d / n)
    return out


def aggregate(corpus: Corpus) -> Aggregate:
    """token_stability.csv (every codec, language, perturbation and level, with CIs) and summary.md's
    table of the pooled languages; the per-perturbation summary rows come from the row values."""
    import pandas as pd

    groups = per_level(corpus)
    if not groups:
        return Aggregate()
    table = []
    for (codec, lang, p, level), vals in sorted(groups.items()):
        v = np.asarray(vals, dtype=np.float64)
        lo, hi = bootstrap_ci(v)
        table.append({"codec": codec, "lang": lang, "perturbation": p, "level": level, "n": len(v),
                      "ued": float(v.mean()), "ci_low": lo, "ci_high": hi})
    frame = pd.DataFrame(table, columns=TABLE_COLUMNS)
    return Aggregate(files={TABLE_FILE: frame}, tables=[summary_table(frame)])


def summary_table(frame) -> Table:
    """summary.md: per codec and perturbation, the UED of each level over all languages (per language:
    token_stability.csv)."""
    out = []
    pooled = frame[frame["lang"] == "all"]
    for (codec, p), g in pooled.groupby(["codec", "perturbation"], sort=False):
        g = g.sort_values("level")
        out.append([str(codec), str(p), str(int(g["n"].max())), " ".join(f"{v:.2f}" for v in g["ued"])])
    order = {p: i for i, p in enumerate(PERTURBATIONS)}
    out.sort(key=lambda r: (r[0], order.get(r[1], 99)))
    return Table("Token stability per codebook level, all languages (unit edit distance, mean over utterances; "
                 "lower is more stable; per language with CIs: token_stability.csv)",
                 ["codec", "perturbation", "n", "UED per level (level 0 first)"], out, align="llrl")
