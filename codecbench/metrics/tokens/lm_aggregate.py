"""The token LM's corpus-level figures (``TokenLM.aggregate``, on ``metric.score``; what they mean: ``lm.py``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from codecbench.errors import Unavailable
from codecbench.metrics.base import Metric
from codecbench.metrics.corpus import Aggregate, Corpus, Table
from codecbench.metrics.tokens.splits import Split, SplitError, split
from codecbench.metrics.tokens.stability import not_tokens
from codecbench.report.cells import fmt_number, value_text
from codecbench.rows import SummaryRow
from codecbench.stats import bootstrap_ratio_ci
from codecbench.types import CodebookLevel, CodecInfo

BPF, BPS, REDUNDANCY, UNIGRAM = "lm_bits_per_frame", "lm_bits_per_second", "lm_redundancy", "unigram_bits_per_frame"
TABLE_FILE, SPLIT_FILE = "token_lm.csv", "token_lm_split.csv"
ALL = "all"


@dataclass
class Scored:
    """One model's bits on the test utterances of one language."""

    utt_ids: list[str]
    bits: np.ndarray  # [utterances, levels]: LM bits of each level's tokens
    unigram: np.ndarray  # [utterances, levels]
    tokens: np.ndarray  # [utterances, levels]
    seconds: np.ndarray  # [utterances]


OUTPUTS = {BPF: (False, "bit/frame"), BPS: (False, "bit/s"), REDUNDANCY: (True, ""), UNIGRAM: (None, "bit/frame")}
TABLE_COLUMNS = ["codec", "train_lang", "test_lang", "level", "model", "n_train", "n_test", "tokens", "bits_per_token",
                 "bpt_ci_low", "bpt_ci_high", "bits_per_frame", "bpf_ci_low", "bpf_ci_high", "bits_per_second",
                 "bps_ci_low", "bps_ci_high", "nominal_bits_per_second", "redundancy", "unigram_bits_per_frame"]


def _codec_reason(meta: dict) -> str:
    info = CodecInfo(name="", family="", sample_rate=1, latent_dim=meta.get("latent_dim"),
                     codebooks=tuple(CodebookLevel(b["size"], b["frame_rate"]) for b in meta.get("codebooks") or []))
    return not_tokens(info) or ""


def _empty(corpus: Corpus, codec: str, lang: str, status: str, note: str) -> list[SummaryRow]:
    return [corpus.row(codec, lang, name, higher_is_better=hib, unit=unit, status=status, note=note)
            for name, (hib, unit) in OUTPUTS.items()]


class _Codec:
    """One codec's figures: summary rows, table rows and per-utterance values."""

    def __init__(self, metric: Metric, corpus: Corpus, codec: str, share_note: str):
        self.metric, self.corpus, self.codec, self.note = metric, corpus, codec, share_note
        meta = corpus.codecs.get(codec, {})
        books = meta.get("codebooks") or []
        self.sizes = [int(b["size"]) for b in books]
        self.rates = [float(b["frame_rate"]) for b in books]
        self.frame_rate = float(meta.get("frame_rate") or (self.rates[0] if self.rates else 0.0))
        self.nominal = nominal_bps(books) if books else float("nan")
        self.rows: list[SummaryRow] = []
        self.table: list[dict] = []
        self.values: list[dict] = []

    def run(self, codes: dict[str, list[np.ndarray]], train_lang: str, sp: Split,
            tests: dict[str, Split]) -> None:
        """Train on ``sp.train``; score the test split of ``train_lang`` and of each other language in ``tests``."""
        train = [codes[u] for u in sorted(sp.train) if u in codes]
        order = [(lang, u) for lang, s in tests.items() for u in sorted(s.test) if u in codes]
        missing = {lang: sum(u not in codes for u in s.test) for lang, s in tests.items()}
        if not train or not order:
            self._fail(train_lang, tests, "failed", f"no codes of the {'training' if not train else 'test'} utterances")
            return
        try:
            bits, unigram, mode = self.metric.score(train, [codes[u] for _, u in order], self.sizes, self.rates)
        except Unavailable as exc:
            self._fail(train_lang, tests, "unavailable", str(exc))
            return
        except Exception as exc:  # a figure that cannot be made is recorded with its reason, never a number
            self._fail(train_lang, tests, "failed", f"{type(exc).__name__}: {exc}")
            return
        for lang in tests:
            idx = [i for i, (lg, _) in enumerate(order) if lg == lang]
            if not idx:
                continue
            scored = Scored([order[i][1] for i in idx], bits[idx], unigram[idx],
                            np.array([[len(c) for c in codes[order[i][1]]] for i in idx], dtype=np.float64),
                            np.array([len(codes[order[i][1]][0]) / self.rates[0] for i in idx]))
            self._emit(train_lang, lang, scored, len(train), missing[lang], mode)

    def _fail(self, train_lang: str, tests: dict[str, Split], status: str, note: str) -> None:
        """Rows saying why there is no figure (cross-language scores have no rows: token_lm.csv only)."""
        if train_lang in tests:
            self.rows += _empty(self.corpus, self.codec, train_lang, status, note)

    def _emit(self, train_lang: str, lang: str, s: Scored, n_train: int, n_missing: int, mode: str) -> None:
        frames = s.seconds * self.frame_rate
        total, uni = s.bits.sum(axis=1), s.unigram.sum(axis=1)
        bpf, bps = ratio(total, frames), ratio(total, s.seconds)
        red = (1 - bps[0] / self.nominal, 1 - bps[2] / self.nominal, 1 - bps[1] / self.nominal)
        base = {"codec": self.codec, "train_lang": train_lang, "test_lang": lang, "model": mode, "n_train": n_train,
                "n_test": len(s.utt_ids)}
        self.table.append({**base, "level": ALL, **_cells(ratio(total, s.tokens.sum(axis=1)), bpf, bps),
                           "tokens": float(s.tokens.sum()), "nominal_bits_per_second": self.nominal,
                           "redundancy": red[0], "unigram_bits_per_frame": float(uni.sum() / frames.sum())})
        for lv in range(len(self.sizes)):
            lv_bps = ratio(s.bits[:, lv], s.seconds)
            lv_nominal = float(np.log2(self.sizes[lv]) * self.rates[lv])
            self.table.append({**base, "level": str(lv), **_cells(ratio(s.bits[:, lv], s.tokens[:, lv]), None, lv_bps),
                               "tokens": float(s.tokens[:, lv].sum()), "nominal_bits_per_second": lv_nominal,
                               "redundancy": 1 - lv_bps[0] / lv_nominal,
                               "unigram_bits_per_frame": float(s.unigram[:, lv].sum() / s.tokens[:, lv].sum())})
        if train_lang != lang:  # cross-language: token_lm.csv only
            return
        figures = {BPF: bpf, BPS: bps, REDUNDANCY: red, UNIGRAM: ratio(uni, frames)}
        for name, (mean, lo, hi) in figures.items():
            hib, unit = OUTPUTS[name]
            self.rows.append(self.corpus.row(self.codec, lang, name, higher_is_better=hib, unit=unit, mode=mode,
                                             n=len(s.utt_ids), n_failed=n_missing, mean=mean, ci_low=lo, ci_high=hi,
                                             status="ok", note=self.note))
        if lang != ALL:
            for i, u in enumerate(s.utt_ids):
                b = float(total[i])
                self.values.append({"codec": self.codec, "utt_id": u, BPF: b / frames[i], BPS: b / s.seconds[i],
                                    REDUNDANCY: 1 - b / s.seconds[i] / self.nominal, UNIGRAM: float(uni[i]) / frames[i]})


def _cells(bpt, bpf, bps) -> dict[str, float]:
    nan = (float("nan"),) * 3
    out = {}
    for prefix, short, v in (("bits_per_token", "bpt", bpt), ("bits_per_frame", "bpf", bpf or nan),
                             ("bits_per_second", "bps", bps)):
        out[prefix], out[f"{short}_ci_low"], out[f"{short}_ci_high"] = v
    return out


def aggregate(metric: Metric, corpus: Corpus) -> Aggregate:
    import pandas as pd

    rows = corpus.rows
    if rows.empty or "status" not in rows.columns:
        return Aggregate()
    o = {**{k: v.default for k, v in metric.options.items()}, **metric.opts}
    splits = splits_of(corpus, float(o["test_share"]), int(o["split_seed"]), str(o["split_by"]))
    valid = {lang: s for lang, s in splits.items() if isinstance(s, Split)}
    note = (f"LM trained on each language's training split, scored on its held-out {float(o['test_share']):.0%} of "
            f"{o['split_by']}s (token_lm_split.csv)")
    out_rows: list[SummaryRow] = []
    table: list[dict] = []
    values: list[dict] = []
    ok = rows[rows["status"] == "ok"]
    for codec in dict.fromkeys(rows["codec"]):
        reason = _codec_reason(corpus.codecs.get(codec, {}))
        if reason:
            for lang in [*splits, ALL]:
                out_rows += _empty(corpus, codec, lang, "n/a", reason)
            continue
        c = _Codec(metric, corpus, codec, note)
        codes = {u: k for u in ok.loc[ok["codec"] == codec, "utt_id"].astype(str)
                 if (k := corpus.folder.codes(codec, u)) is not None}
        for lang, sp in splits.items():
            if isinstance(sp, str):
                out_rows += _empty(corpus, codec, lang, "n/a", sp)
                continue
            others = {x: s for x, s in valid.items() if x != lang} if o["cross_language"] else {}
            c.run(codes, lang, sp, {lang: sp, **others})
        if len(valid) > 1:
            pooled = Split.union(list(valid.values()))
            c.run(codes, ALL, pooled, {ALL: pooled})
        elif valid:  # one language: "all" is that language
            lang = next(iter(valid))
            c.rows += [SummaryRow.from_dict({**r.to_dict(), "lang": ALL}) for r in c.rows if r.lang == lang]
        out_rows += c.rows
        table += c.table
        values += c.values
    out_rows = [r for r in out_rows if r.lang]  # utterances without a language count in "all" only
    split_rows = [{"lang": lang, "utt_id": u, "split": side} for lang, s in sorted(valid.items())
                  for side, ids in (("train", s.train), ("test", s.test)) for u in sorted(ids)]
    frame = pd.DataFrame(table, columns=TABLE_COLUMNS)
    files = {TABLE_FILE: frame, SPLIT_FILE: pd.DataFrame(split_rows, columns=["lang", "utt_id", "split"])}
    return Aggregate(rows=out_rows, files=files, tables=[table_of(frame)] if not frame.empty else [],
                     values=pd.DataFrame(values, columns=["codec", "utt_id", BPF, BPS, REDUNDANCY, UNIGRAM]))


def nominal_bps(books: list[dict]) -> float:
    return float(sum(math.log2(b["size"]) * b["frame_rate"] for b in books))


def ratio(num: np.ndarray, den: np.ndarray) -> tuple[float, float, float]:
    """sum(num) / sum(den) with its bootstrap CI over items."""
    lo, hi = bootstrap_ratio_ci(num, den)
    return float(num.sum() / den.sum()), lo, hi


def splits_of(corpus: Corpus, share: float, seed: int, by: str) -> dict[str, Split | str]:
    """Per language: its split, or why it has none."""
    rows = corpus.rows
    out: dict[str, Split | str] = {}
    speakers = rows.drop_duplicates("utt_id")
    for lang, g in speakers.groupby(speakers["lang"].fillna("").astype(str), sort=True):
        spk = g["speaker"].fillna("").astype(str) if "speaker" in g else [""] * len(g)
        try:
            out[lang] = split(list(zip(g["utt_id"].astype(str), spk, strict=True)), share, seed, by)
        except SplitError as exc:
            out[lang] = str(exc)
    return out


def table_of(frame) -> Table:
    """summary.md: per codec and language, LM bits against the nominal bitrate."""
    rows = []
    own = frame[frame["level"] == "all"]
    for _, r in own.iterrows():
        lang = r["test_lang"] if r["train_lang"] == r["test_lang"] else f"{r['test_lang']} (model: {r['train_lang']})"
        n = int(r["n_test"])
        rows.append([str(r["codec"]), str(lang), value_text(r["nominal_bits_per_second"], None, None, 0, "bit/s"),
                     value_text(r["bits_per_second"], r["bps_ci_low"], r["bps_ci_high"], n, "bit/s"),
                     fmt_number(r["redundancy"]), value_text(r["bits_per_frame"], r["bpf_ci_low"], r["bpf_ci_high"], n),
                     fmt_number(r["unigram_bits_per_frame"]), f"{int(r['n_train'])}/{n}"])
    return Table("Token LM: bits on held-out utterances against the nominal bitrate (lower bits: more predictable)",
                 ["codec", "lang", "nominal kbps", "LM kbps [95% CI]", "redundancy", "LM bits/frame",
                  "unigram bits/frame", "train/test utts"], rows)
