"""Read a run folder for reports, compare and MUSHRA (layout: codecbench/store.py); ``Run.partial``
says when it is not finished (still being written, or stopped)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codecbench.errors import CodecbenchError
from codecbench.store import (
    CODECS,
    CONFIG,
    CONFIG_YAML,
    DATASET,
    ENVIRONMENT,
    METRICS,
    SUMMARY_CSV,
    NotARunFolder,
    RunFolder,
)

ALL_LANGS = "all"


def cost_metrics() -> tuple[str, ...]:
    """Metrics that describe cost, not quality (``MetricInfo.cost``: bitrate, real-time factor, codebook
    usage): left out of quality plots and of compare's default gate."""
    from codecbench.metrics.registry import all_metrics

    return tuple(n for n, m in all_metrics().items() if m.info().cost)


def __getattr__(name: str) -> Any:
    if name == "COST_FAMILIES":  # the former constant: the metrics that declare themselves cost
        return cost_metrics()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class RunError(CodecbenchError):
    """A run folder is missing or lacks what a command needs."""


@dataclass(frozen=True)
class OutputMeta:
    """One metric output column and where it came from."""

    name: str
    metric: str
    higher_is_better: bool | None
    unit: str
    unavailable: str | None


@dataclass
class Run:
    """The parts of one run folder the report commands use (each loaded on first use)."""

    dir: Path
    label: str = ""  # --label RUN=NAME; the run id when not given
    keep: frozenset[str] | None = None  # utterance ids to keep (report --common-only); None: all
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def open(cls, path: str | os.PathLike) -> Run:
        try:
            return cls(RunFolder(path).check().dir)
        except NotARunFolder as exc:
            raise RunError(str(exc)) from None

    @property
    def folder(self) -> RunFolder:
        return RunFolder(self.dir)

    @property
    def name(self) -> str:
        """The label given on the command line, else the run id."""
        cfg = self._json(CONFIG, {})
        return self.label or str(cfg.get("run_id") or self.dir.name)

    def codec_target(self, label: str) -> tuple[str, dict[str, Any]]:
        """The codec behind a row label (``NAME[:ARG]`` and its options), from the run's config.yaml; the
        label itself for runs whose codecs have no labels."""
        from codecbench.config import BenchConfig

        path = self.dir / CONFIG_YAML
        cfg = BenchConfig.load(path) if path.is_file() else BenchConfig()
        entry = next((c for c in cfg.codecs or [] if c.key == label), None)
        return (entry.target, entry.options) if entry is not None else (label, {})

    @property
    def revision(self) -> str:
        """The git revision the run was made with ('abc123def0', '+dirty' when uncommitted), or ''."""
        git = self._json(ENVIRONMENT, {}).get("git") or {}
        rev = str(git.get("revision") or "")[:10]
        return rev + ("+dirty" if rev and git.get("dirty") else "")

    def _json(self, name: str, default: Any) -> Any:
        if name not in self._cache:
            self._cache[name] = self.folder.read_json(name, default)  # damage: one-line error
        return self._cache[name]

    @property
    def codecs(self) -> dict[str, dict[str, Any]]:
        return self._json(CODECS, {})

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        return self._json(METRICS, {})

    @property
    def dataset(self) -> list[dict[str, Any]]:
        return self._json(DATASET, [])

    @property
    def utterances(self) -> dict[str, dict[str, Any]]:
        return {u["id"]: u for u in self.dataset}

    def outputs(self) -> dict[str, OutputMeta]:
        """Every metric output column, by column name."""
        out: dict[str, OutputMeta] = {}
        for mname, m in self.metrics.items():
            for o in m.get("outputs", []):
                out[o["name"]] = OutputMeta(o["name"], mname, o.get("higher_is_better"), o.get("unit", ""),
                                            m.get("unavailable"))
        return out

    def rows(self):
        """Per-utterance rows (DataFrame; see codecbench.store.RunFolder.frame)."""
        if "rows" not in self._cache:
            rows = self.folder.frame()
            if self.keep is not None:
                rows = rows[rows["utt_id"].astype(str).isin(self.keep)].reset_index(drop=True)
            self._cache["rows"] = rows
        return self._cache["rows"]

    def restrict(self, utt_ids: set[str]) -> None:
        """Keep only these utterances: rows are filtered and the summary is recomputed from them."""
        self.keep = frozenset(utt_ids)
        for k in ("rows", "summary"):
            self._cache.pop(k, None)

    def utterance_ids(self) -> dict[str, set[str]]:
        """Unique utterance ids with a row, per language."""
        rows = self.rows()
        return {str(lang): set(g["utt_id"].astype(str)) for lang, g in rows.groupby("lang")}

    def summary(self):
        """summary.csv as a DataFrame; computed from the rows (not written) when a run stopped before it or
        is restricted to some utterances (per-output and corpus-level rows alike: ``summary.build``)."""
        if "summary" not in self._cache:
            import pandas as pd

            p = self.dir / SUMMARY_CSV
            if p.exists() and self.keep is None:
                df = pd.read_csv(p, keep_default_na=False, na_values=[""])
            else:  # a run that stopped before its summary, or restricted to common utterances
                from codecbench.summary import build

                df, _ = build(self.folder, self.rows(), self.metrics, self.codecs)
            for c in ("codec", "lang", "metric", "status", "note"):
                if c in df.columns:
                    df[c] = df[c].astype(object).where(df[c].notna(), "").astype(str)
            self._cache["summary"] = df
        return self._cache["summary"]

    def table(self, name: str):
        """A CSV file of the run folder (e.g. a metric aggregate's) as a DataFrame, or None when it is
        absent or empty."""
        import pandas as pd

        p = self.dir / name
        if not p.exists():
            return None
        df = pd.read_csv(p, keep_default_na=False, na_values=[""])
        return df if not df.empty else None

    def codebook(self):
        """codebook.csv (pooled codebook utilization), or None when the run has none."""
        return self.table("codebook.csv")

    def expected_rows(self) -> int | None:
        """Rows the run writes when complete (its codecs x utterances, in its shard), or None when the
        folder does not say (an older codecbench)."""
        cfg = self._json(CONFIG, {})
        codecs = (cfg.get("identity") or {}).get("codecs") if isinstance(cfg, dict) else None
        if not isinstance(codecs, (list, dict)) or not isinstance(self.dataset, list):  # dict: by label, in order
            return None
        codecs = list(codecs)
        from codecbench.pipeline.shards import part

        utts = [(str(u.get("id")), u.get("duration")) for u in self.dataset if isinstance(u, dict)]
        mine = part(cfg.get("shard"), [str(c) for c in codecs], utts, cfg.get("shard_costs"))
        return len(codecs) * len(utts) if mine is None else len(mine)

    def partial(self) -> list[str]:
        """Why this run's figures are partial, one sentence each (none for a finished run): a run
        still writing the folder (its lock is held), rows missing (a run stopped before its end), or
        no summary (stopped after its rows)."""
        from codecbench.lock import holder

        out = []
        pid = holder(self.dir)
        if pid is not None:
            out.append(f"run {self.name} is still being written (process {pid} holds its folder): its figures are "
                       "partial and will change")
        expected = self.expected_rows()
        have = len(self.folder.rows()) if self.folder.rows_path.exists() else len(self.rows())
        if expected is not None and have < expected:
            out.append(f"run {self.name} is incomplete: {have} of {expected} rows ({expected - have} missing); run "
                       "the same command again to finish it")
        elif pid is None and not (self.dir / SUMMARY_CSV).exists():
            out.append(f"run {self.name} stopped before writing its summary; run the same command again to finish it")
        return out

    def audio_file(self, rel: str) -> Path | None:
        """A saved reconstruction's path, or None when it was not saved or is gone."""
        if not rel or not isinstance(rel, str):
            return None
        p = (self.dir / rel).resolve()  # only inside the run folder, only regular files
        return p if p.is_relative_to(self.dir.resolve()) and p.is_file() else None

    def reference_file(self, utt_id: str) -> Path | None:
        """The reference's audio file, or None: not found, or the reference is not a whole file (a
        segment of a recording, a row of a 🤗 dataset's Arrow file: ``Utterance.source``)."""
        u = self.utterances.get(utt_id)
        if not u or not u.get("path") or u.get("source"):
            return None
        p = Path(u["path"])
        if not p.is_absolute():
            p = self.dir / p if (self.dir / p).exists() else p
        return p if p.exists() else None


def is_number(v: Any) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def parse_labels(items: list[str] | None, runs: list[Run]) -> None:
    """Apply ``--label RUN=NAME`` (RUN: the folder as given, its name or its run id) to ``runs``."""
    for item in items or []:
        key, sep, label = item.partition("=")
        if not sep or not key or not label.strip():
            raise RunError(f"bad --label {item!r}: expected RUN=NAME")
        hits = [r for r in runs if key in (str(r.dir), r.dir.name, r.name)]
        if not hits:
            raise RunError(f"--label {item!r}: no run {key!r} among {', '.join(str(r.dir) for r in runs)}")
        for r in hits:
            r.label = label.strip()


def check_utterance_sets(runs: list[Run], common_only: bool = False, allow_mixed: bool = False) -> str:
    """Refuse runs over different utterance sets (their means are not comparable), unless
    ``common_only`` (every run restricted to the utterances all of them have) or ``allow_mixed``
    (returns the note the page shows). Returns '' when the sets agree."""
    if len(runs) < 2:
        return ""
    sets = [set().union(*r.utterance_ids().values()) for r in runs]
    if all(s == sets[0] for s in sets):
        return ""
    common = set.intersection(*sets)
    desc = "; ".join(f"{r.name}: {len(s)} utterances, {len(s - common)} not in every run" for r, s in zip(runs, sets,
                                                                                                      strict=True))
    if common_only:
        if not common:
            raise RunError(f"the runs share no utterance ({desc})")
        for r in runs:
            r.restrict(common)
        return ""
    if allow_mixed:
        return (f"Mixed utterance sets ({desc}): means of different runs are over different utterances and not "
                "comparable; no best value is marked.")
    raise RunError(f"the runs cover different utterance sets ({desc}); use --common-only to score the "
                   f"{len(common)} utterances they share, or --allow-mixed to report them as they are (marked)")
