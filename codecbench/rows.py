"""The two tables of a run folder as types: ``Row`` (rows.jsonl, one per (codec, utterance)) and
``SummaryRow`` (summary.csv, one per (codec, language, metric)), each with ``to_dict``/``from_dict``
giving exactly the on-disk form (after Lhotse's manifests).

A row's on-disk form is flat: the key columns (``KEY_COLUMNS``), then per metric output ``<name>``
(float, NaN when failed), ``<name>__failure`` (the reason or "") and ``<name>__kind`` (a
``FailureKind`` value or ""). In a ``Row`` those three columns are one entry of ``values``: a float,
or a ``Failure``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from codecbench.types import Failure, FailureKind

FAILURE_SUFFIX = "__failure"
KIND_SUFFIX = "__kind"
KEY_COLUMNS = ("run_id", "codec", "utt_id", "lang", "speaker", "duration", "source_sr", "batch_size",
               "status", "error", "computed_at", "audio", "flags", "length_note")


@dataclass
class Row:
    """One (codec, utterance) of a run: where it came from, whether it ran, and each output's value."""

    run_id: str = ""
    codec: str = ""
    utt_id: str = ""
    lang: str = ""
    speaker: str = ""
    duration: float | None = None
    source_sr: int | None = None
    batch_size: int | None = None
    status: str = "ok"  # "ok" | "failed" (the whole row: input or codec failure, see ``error``)
    error: str = ""
    computed_at: str = ""
    audio: str = ""  # the saved reconstruction, relative to the run folder, or ""
    flags: str = ""  # notes on the reference that do not fail it (checks.py)
    length_note: str = ""  # reference and degraded lengths differ beyond the tolerance (audio.py)
    values: dict[str, float | Failure] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # columns of a stored row that are neither (kept as they are)
    absent: tuple[str, ...] = field(default=(), repr=False)  # key columns the stored row did not have

    @property
    def key(self) -> tuple[str, str]:
        return self.codec, self.utt_id

    def set(self, values: dict[str, float | Failure], outputs: list[str]) -> Row:
        """Write the given outputs' values (a missing one is a failure: "not computed")."""
        for o in outputs:
            v = values.get(o, Failure.failed("not computed"))
            self.values[o] = v if isinstance(v, Failure) else float(v)
        return self

    def to_dict(self) -> dict[str, Any]:
        """The flat on-disk form (key columns, then value, failure, kind per output)."""
        d = {k: getattr(self, k) for k in KEY_COLUMNS if k not in self.absent}
        for name, v in self.values.items():
            if isinstance(v, Failure):
                d[name], d[name + FAILURE_SUFFIX], d[name + KIND_SUFFIX] = float("nan"), v.reason, v.kind.value
            else:
                d[name], d[name + FAILURE_SUFFIX], d[name + KIND_SUFFIX] = v, "", ""
        d.update(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Row:
        """A stored row (rows written before failure kinds existed: a reason alone is ``failed``)."""
        keys = {k: d[k] for k in KEY_COLUMNS if k in d}
        values: dict[str, float | Failure] = {}
        extra: dict[str, Any] = {}
        for name, v in d.items():
            if name in keys or name.endswith(FAILURE_SUFFIX) or name.endswith(KIND_SUFFIX):
                continue
            reason = d.get(name + FAILURE_SUFFIX) or ""
            if reason:
                values[name] = Failure(d.get(name + KIND_SUFFIX) or FailureKind.FAILED, str(reason))
            elif v is None or (isinstance(v, int | float) and not isinstance(v, bool)):
                values[name] = float("nan") if v is None else float(v)
            else:
                extra[name] = v
        for name, v in d.items():  # suffix columns without their value column
            if name.endswith((FAILURE_SUFFIX, KIND_SUFFIX)) and name.rsplit("__", 1)[0] not in values:
                extra[name] = v
        return cls(**keys, values=values, extra=extra, absent=tuple(k for k in KEY_COLUMNS if k not in d))

    def missing(self, outputs_of: dict[str, list[str]]) -> tuple[str, ...]:
        """Metrics this stored row still lacks: absent, or recorded as ``unavailable`` (not a completed value)."""
        if self.status == "failed":
            return ()

        def lacks(output: str) -> bool:
            v = self.values.get(output)
            return v is None or (isinstance(v, Failure) and v.kind is FailureKind.UNAVAILABLE)

        return tuple(m for m, outs in outputs_of.items() if any(lacks(o) for o in outs))


UNRELIABLE_SHARE = 0.2  # a group with at least this share of unreliable values gets no mean (status "unreliable")
SUMMARY_COLUMNS = ["codec", "lang", "metric", "n", "n_failed", "mean", "ci_low", "ci_high", "std", "status", "note",
                   "higher_is_better", "unit", "library", "version", "mode", "model", "metric_sample_rate",
                   "codec_family", "codec_nominal_bitrate", "codec_latent_rate"]


@dataclass
class SummaryRow:
    """One (codec, language, metric) figure of summary.csv, or why there is none (``status``, ``note``).

    Built in one place, ``SummaryRow.of``: per-utterance means (codecbench.summary) and corpus-level
    aggregates of metrics (``Metric.aggregate``) alike, so provenance columns are always the same.
    """

    codec: str
    lang: str
    metric: str
    n: int = 0
    n_failed: int = 0
    mean: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    std: float = math.nan
    status: str = "ok"  # ok | unreliable | unavailable | n/a | failed
    note: str = ""
    higher_is_better: bool | None = None
    unit: str = ""
    library: str | None = None
    version: str | None = None
    mode: str | None = None
    model: str | None = None
    metric_sample_rate: int | None = None
    codec_family: str | None = None
    codec_nominal_bitrate: float | None = None
    codec_latent_rate: float | None = None

    @classmethod
    def of(cls, codec: str, lang: str, metric: str, meta: dict[str, Any], codec_info: dict[str, Any],
           higher_is_better: bool | None = None, unit: str = "", mode: str | None = None, **figures: Any) -> SummaryRow:
        """A row with its provenance: ``meta`` is the metric's metrics.json entry, ``codec_info`` the
        codec's codecs.json entry; ``mode`` replaces the metric's own (e.g. "corpus-level")."""
        return cls(codec=codec, lang=lang, metric=metric, higher_is_better=higher_is_better, unit=unit,
                   library=meta.get("library"), version=meta.get("version"),
                   mode=meta.get("mode") if mode is None else mode, model=meta.get("model"),
                   metric_sample_rate=meta.get("sample_rate"), codec_family=codec_info.get("family"),
                   codec_nominal_bitrate=codec_info.get("nominal_bitrate"),
                   codec_latent_rate=codec_info.get("latent_rate"), **figures)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SummaryRow:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def summary_frame(rows: list[SummaryRow]):
    """Summary rows as a DataFrame with the columns of summary.csv, in order."""
    import pandas as pd

    return pd.DataFrame([r.to_dict() for r in rows], columns=SUMMARY_COLUMNS)


def rows_frame(rows: list[dict[str, Any]]):
    """Rows (on-disk form) as a DataFrame with the key columns first, then per output value, failure, kind."""
    import pandas as pd

    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=list(KEY_COLUMNS))
    metric_cols = [c for c in df.columns
                   if c not in KEY_COLUMNS and not c.endswith(FAILURE_SUFFIX) and not c.endswith(KIND_SUFFIX)]
    ordered = [c for c in KEY_COLUMNS if c in df.columns]
    for c in metric_cols:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
        fc = c + FAILURE_SUFFIX
        if fc not in df.columns:
            df[fc] = ""
        df[fc] = df[fc].fillna("").astype(str)
        kc = c + KIND_SUFFIX
        if kc not in df.columns:
            df[kc] = ""
        df[kc] = df[kc].fillna("").astype(str)
        df.loc[(df[fc] != "") & (df[kc] == ""), kc] = "failed"  # rows written before kinds existed
        ordered += [c, fc, kc]
    return df[ordered]
