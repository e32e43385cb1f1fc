"""Read a finished run folder for reports, compare and MUSHRA (layout: codecbench/store.py)."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codecbench.errors import CodecbenchError

ALL_LANGS = "all"
# Metric families that describe cost, not quality: left out of quality plots and of compare's default gate.
# Codebook usage describes the code, not the sound: it is reported, not gated or plotted as quality.
COST_FAMILIES = ("bitrate", "rtf", "throughput", "codebook")


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
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def open(cls, path: str | os.PathLike) -> Run:
        d = Path(path)
        if not d.is_dir():
            raise RunError(f"no run folder at {d}")
        if not ((d / "rows.jsonl").exists() or (d / "utterances.parquet").exists()):
            raise RunError(f"{d} is not a codecbench run folder (no rows.jsonl or utterances.parquet)")
        return cls(d)

    @property
    def name(self) -> str:
        """The label given on the command line, else the run id."""
        cfg = self._json("config.json", {})
        return self.label or str(cfg.get("run_id") or self.dir.name)

    @property
    def revision(self) -> str:
        """The git revision the run was made with ('abc123def0', '+dirty' when uncommitted), or ''."""
        git = self._json("environment.json", {}).get("git") or {}
        rev = str(git.get("revision") or "")[:10]
        return rev + ("+dirty" if rev and git.get("dirty") else "")

    def _json(self, name: str, default: Any) -> Any:
        if name not in self._cache:
            p = self.dir / name
            self._cache[name] = json.loads(p.read_text(encoding="utf-8")) if p.exists() else default
        return self._cache[name]

    @property
    def codecs(self) -> dict[str, dict[str, Any]]:
        return self._json("codecs.json", {})

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        return self._json("metrics.json", {})

    @property
    def dataset(self) -> list[dict[str, Any]]:
        return self._json("dataset.json", [])

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
        """Per-utterance rows (DataFrame; see codecbench.store.load_rows)."""
        if "rows" not in self._cache:
            from codecbench.store import load_rows

            self._cache["rows"] = load_rows(self.dir)
        return self._cache["rows"]

    def summary(self):
        """summary.csv as a DataFrame; computed from the rows (not written) when a run stopped before it."""
        if "summary" not in self._cache:
            import pandas as pd

            p = self.dir / "summary.csv"
            if p.exists():
                df = pd.read_csv(p, keep_default_na=False, na_values=[""])
            else:
                try:
                    from codecbench.summary import summarize
                except ImportError as exc:
                    raise RunError(f"{self.dir} has no summary.csv") from exc
                df = summarize(self.rows(), self.metrics, self.codecs)
            for c in ("codec", "lang", "metric", "status", "note"):
                if c in df.columns:
                    df[c] = df[c].astype(object).where(df[c].notna(), "").astype(str)
            self._cache["summary"] = df
        return self._cache["summary"]

    def codebook(self):
        """codebook.csv as a DataFrame, or None when the run has no token codecs."""
        import pandas as pd

        p = self.dir / "codebook.csv"
        if not p.exists():
            return None
        df = pd.read_csv(p, keep_default_na=False, na_values=[""])
        return df if not df.empty else None

    def audio_file(self, rel: str) -> Path | None:
        """A saved reconstruction's path, or None when it was not saved or is gone."""
        if not rel or not isinstance(rel, str):
            return None
        p = self.dir / rel
        return p if p.exists() else None

    def reference_file(self, utt_id: str) -> Path | None:
        u = self.utterances.get(utt_id)
        if not u or not u.get("path"):
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
