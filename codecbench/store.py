"""The run folder: config, environment, append-only rows, resume, Parquet.

Layout of ``results/<run-id>/``::

    config.json          resolved configuration (a resumed run must match it)
    environment.json     package versions, git revision, device, host
    dataset.json         the utterances (id, path, lang, text, speaker, source_sr, duration)
    codecs.json          CodecInfo of every codec in the run
    metrics.json         MetricInfo of every metric (with "unavailable" reasons)
    rows.jsonl           append-only, one JSON object per (codec, utterance); fsynced per batch
    utterances.parquet   the same rows as a table (rewritten atomically)
    summary.csv/.md      mean and 95% bootstrap CI per (codec, language, metric)
    codebook.csv         pooled codebook utilization per (codec, language, codebook level)
    timings.json         the last invocation's engine, wall time and busy seconds per stage
    shards.json          (merged runs) each shard's run id, folder and environment
    codes/<codec>/<utt>.npz     codes of token codecs (for pooled utilization)
    audio/<codec>/<utt>.wav     saved reconstructions (examples for reports and MUSHRA)

A row holds: run_id, codec, utt_id, lang, speaker, duration, source_sr, batch_size, status
("ok" | "failed"), error (why the whole row failed), computed_at, audio (relative path or ""),
and per metric output ``<name>`` (float, NaN when failed) plus ``<name>__failure`` (reason or "") and
``<name>__kind`` (a ``FailureKind`` value: failed, unavailable, unreliable, not_applicable; or "").
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from codecbench.errors import CodecbenchError

FAILURE_SUFFIX = "__failure"
KIND_SUFFIX = "__kind"
KEY_COLUMNS = ("run_id", "codec", "utt_id", "lang", "speaker", "duration", "source_sr", "batch_size",
               "status", "error", "computed_at", "audio")


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, ensure_ascii=False, default=str) + "\n")


def safe_name(name: str) -> str:
    """A file-system-safe form of a codec or utterance name."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("._") or "_"


class ConfigMismatch(CodecbenchError):
    """The run folder holds a run with a different configuration."""


class NotARunFolder(CodecbenchError, FileNotFoundError):
    """A path given as a run folder is not one."""


class RunStore:
    def __init__(self, run_dir: str | os.PathLike):
        self.dir = Path(run_dir)
        self.rows_path = self.dir / "rows.jsonl"

    # -- configuration --------------------------------------------------------------------------
    def open(self, config: dict[str, Any]) -> bool:
        """Create the folder or check it matches ``config``; True when resuming an earlier run."""
        cfg_path = self.dir / "config.json"
        if cfg_path.exists():
            old = json.loads(cfg_path.read_text(encoding="utf-8"))
            if _comparable(old) != _comparable(config):
                diff = sorted(k for k in set(old) | set(config) if old.get(k) != config.get(k) and k not in _VOLATILE)
                raise ConfigMismatch(
                    f"{self.dir} holds a run with a different configuration (differs in: {', '.join(diff)}); "
                    "use another --out or remove the folder"
                )
            return True
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(cfg_path, config)
        return False

    def write_text(self, name: str, text: str) -> None:
        atomic_write_text(self.dir / name, text)

    def write_json(self, name: str, obj: Any) -> None:
        atomic_write_json(self.dir / name, obj)

    def read_json(self, name: str) -> Any:
        return json.loads((self.dir / name).read_text(encoding="utf-8"))

    # -- rows -----------------------------------------------------------------------------------
    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        """Append complete rows durably: each is one line; a line cut by a crash is ignored on read."""
        lines = "".join(json.dumps(r, ensure_ascii=False, allow_nan=True) + "\n" for r in rows)
        if not lines:
            return
        with open(self.rows_path, "a", encoding="utf-8") as f:
            f.write(lines)
            f.flush()
            os.fsync(f.fileno())

    def rows(self) -> list[dict[str, Any]]:
        """All complete rows, the last occurrence of each (codec, utt_id) kept: a resumed run appends an
        updated row when it computes values that were unavailable before."""
        if not self.rows_path.exists():
            return []
        by_key: dict[tuple[str, str], dict[str, Any]] = {}
        with open(self.rows_path, encoding="utf-8") as f:
            for line in f:
                if not line.endswith("\n"):
                    break  # cut off by a crash mid-write
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                by_key[(row["codec"], row["utt_id"])] = row
        return list(by_key.values())

    def repair(self) -> None:
        """Drop a trailing partial line left by a crash, so appends start on a fresh line."""
        if not self.rows_path.exists():
            return
        data = self.rows_path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data[: data.rfind(b"\n") + 1]
            atomic_write_text(self.rows_path, keep.decode("utf-8"))

    def completed(self) -> set[tuple[str, str]]:
        return {(r["codec"], r["utt_id"]) for r in self.rows()}

    def write_parquet(self) -> Path:
        df = rows_frame(self.rows())
        path = self.dir / "utterances.parquet"
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".utterances.", suffix=".parquet")
        os.close(fd)
        try:
            df.to_parquet(tmp, index=False)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path

    # -- side records -------------------------------------------------------------------------
    def append_records(self, stream: str, records: Iterable[dict[str, Any]]) -> None:
        """Append side records (e.g. ASR transcripts and their checks) to ``<stream>.jsonl``, fsynced.

        Side records are written before the row they belong to; a run killed in between writes them
        again on resume, and ``records`` keeps the last one per key.
        """
        lines = "".join(json.dumps(r, ensure_ascii=False, allow_nan=True) + "\n" for r in records)
        if not lines:
            return
        with open(self.dir / f"{stream}.jsonl", "a", encoding="utf-8") as f:
            f.write(lines)
            f.flush()
            os.fsync(f.fileno())

    def records(self, stream: str, key: tuple[str, ...] = ("codec", "utt_id")) -> list[dict[str, Any]]:
        """Complete records of a side stream, the last per ``key``; torn or unreadable lines are skipped."""
        path = self.dir / f"{stream}.jsonl"
        if not path.exists():
            return []
        last: dict[tuple, dict[str, Any]] = {}
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.endswith("\n"):
                    break  # cut off by a crash mid-write
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(rec, dict):
                    last[tuple(rec.get(k) for k in key)] = rec
        return list(last.values())

    # -- artefacts ------------------------------------------------------------------------------
    def codes_path(self, codec: str, utt_id: str) -> Path:
        return self.dir / "codes" / safe_name(codec) / f"{safe_name(utt_id)}.npz"

    def audio_path(self, codec: str, utt_id: str) -> Path:
        return self.dir / "audio" / safe_name(codec) / f"{safe_name(utt_id)}.wav"


_VOLATILE = {"created_at", "codecbench_version"}


def _comparable(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in cfg.items() if k not in _VOLATILE}


def rows_frame(rows: list[dict[str, Any]]):
    """Rows as a DataFrame with the key columns first, then metric columns (value, failure)."""
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


def load_rows(run_dir: str | os.PathLike):
    """The rows of a run folder as a DataFrame (Parquet when present and current, else rows.jsonl)."""
    import pandas as pd

    d = Path(run_dir)
    pq, jl = d / "utterances.parquet", d / "rows.jsonl"
    if pq.exists() and (not jl.exists() or pq.stat().st_mtime >= jl.stat().st_mtime):
        return pd.read_parquet(pq)
    if jl.exists():
        return rows_frame(RunStore(d).rows())
    raise NotARunFolder(f"{d} is not a codecbench run folder (no utterances.parquet or rows.jsonl)")
