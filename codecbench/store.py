"""The run folder (``RunFolder``): the one place that knows its paths and writes its files.

Layout of ``results/<run-id>/``::

    config.json          resolved configuration (a resumed run must match it)
    config.yaml          the same, in the schema a user writes (``codecbench run --config`` repeats it)
    environment.json     package versions, git revision, device, host
    dataset.json         the utterances (id, path, lang, text, speaker, source_sr, duration)
    codecs.json          CodecInfo of every codec in the run
    metrics.json         MetricInfo of every metric (with "unavailable" reasons)
    rows.jsonl           append-only, one JSON object per (codec, utterance); fsynced per batch
    utterances.parquet   the same rows as a table (rewritten atomically)
    summary.csv/.md      mean and 95% bootstrap CI per (codec, language, metric), corpus-level rows
    timings.json         the last invocation's engine, wall time and profile: per stage and per metric
                         busy, CPU, idle and queue-wait seconds, peak RSS (``pipeline.monitor``)
    shards.json          (merged runs) each shard's run id, folder and environment
    unmatched.json       (pair scoring) ids found on one side only
    codes/<codec>/<utt>.npz     codes of token codecs
    audio/<codec>/<utt>.wav     saved reconstructions (examples for reports and MUSHRA)
    <stream>.jsonl       side records a metric declares (``Metric.streams``, e.g. asr_transcripts)
    <folder>/<codec>/<utt>.npz  per-item arrays a metric declares (``Metric.folders``, e.g. abx_features)
    <file>               corpus-level files of metric aggregates (e.g. codebook.csv, abx_triplets.parquet,
                         asr_reliability.json), written with the summary
    corpus_values/<metric>.csv  per-utterance values of a metric's corpus outputs (e.g. token_lm's bits on
                         held-out utterances), written with the summary, paired by compare
    <cache>/...          caches a metric keeps across resumes (e.g. asr_cache)
    .lock                an exclusive flock held by the run writing the folder (its pid inside)

File names of codecs and utterances come from ``file_stem``: a readable slug plus 12 hex digits of
the SHA-256 of the exact name, so ids such as ``spk1 utt``, ``spk1_utt`` and ``spk1/utt`` never share
a file. Every file is written atomically with the user's umask (``codecbench.files.atomic_write``), so
colleagues on a shared machine can read a run. A damaged ``rows.jsonl`` line or JSON file is a
one-line ``DamagedRunFolder`` error naming the file and line; skipped lines (cut off by a crash,
duplicates) are counted in a warning. Rows are ``codecbench.rows.Row`` (on disk: flat JSON objects).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import warnings
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from codecbench.errors import CodecbenchError, ConfigError
from codecbench.files import atomic_write, atomic_write_json, atomic_write_text
from codecbench.lock import FolderLock
from codecbench.rows import FAILURE_SUFFIX, KEY_COLUMNS, KIND_SUFFIX, Row, rows_frame
from codecbench.safe_io import make_folder, writing

__all__ = ["FAILURE_SUFFIX", "KEY_COLUMNS", "KIND_SUFFIX", "ConfigMismatch", "DamagedRunFolder", "NotARunFolder",
           "RunFolder", "RunStore", "atomic_write_json", "atomic_write_text", "file_stem", "is_run_folder",
           "load_rows", "read_json_file", "rows_frame", "safe_name"]

CONFIG, CONFIG_YAML, ENVIRONMENT, DATASET = "config.json", "config.yaml", "environment.json", "dataset.json"
CODECS, METRICS, ROWS, PARQUET = "codecs.json", "metrics.json", "rows.jsonl", "utterances.parquet"
SUMMARY_CSV, SUMMARY_MD, TIMINGS, SHARDS, UNMATCHED = ("summary.csv", "summary.md", "timings.json", "shards.json",
                                                      "unmatched.json")
CODES_DIR, AUDIO_DIR = "codes", "audio"  # per-item artefacts the pipeline itself saves
CORPUS_VALUES_DIR = "corpus_values"  # per-utterance values of corpus outputs (Aggregate.values)


def safe_name(name: str) -> str:
    """A file-system-safe, readable form of a name (not unique: see ``file_stem``)."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("._") or "_"


def file_stem(name: str) -> str:
    """The file name (without extension) of a codec or utterance: slug + 12 hex digits of SHA-256(name).

    48 bits of hash: a collision among a million names has odds of about 1 in 500 000; the dataset
    loaders reject one anyway (``codecbench.data.loaders``).
    """
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{safe_name(name)[:64]}-{digest}"


class NotARunFolder(CodecbenchError, FileNotFoundError):
    """A path given as a run folder is not one (or lacks a file the command needs)."""


class DamagedRunFolder(CodecbenchError):
    """A file of the run folder cannot be read (not UTF-8, not JSON, not the expected shape)."""


def read_json_file(path: Path) -> Any:
    """A run folder's JSON file; damage is a one-line ``DamagedRunFolder`` naming the file and line."""
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DamagedRunFolder(f"{path}: not valid UTF-8 at byte {exc.start}; restore or delete the file") from exc
    except json.JSONDecodeError as exc:
        raise DamagedRunFolder(f"{path} line {exc.lineno}: not valid JSON ({exc.msg}); restore or delete the file") from exc


def is_run_folder(path: str | os.PathLike) -> bool:
    """The one test of "is this a run folder": a folder holding config.json, rows.jsonl or utterances.parquet."""
    d = Path(path)
    return d.is_dir() and any((d / name).is_file() for name in (CONFIG, ROWS, PARQUET))


def _parse_row(raw: bytes, path: Path, lineno: int) -> dict[str, Any]:
    hint = "delete that line and run again (its row is recomputed)"
    try:
        row = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DamagedRunFolder(f"{path} line {lineno}: not valid UTF-8; {hint}") from exc
    except json.JSONDecodeError as exc:
        raise DamagedRunFolder(f"{path} line {lineno}: not valid JSON ({exc.msg}); {hint}") from exc
    if not isinstance(row, dict) or not isinstance(row.get("codec"), str) or not isinstance(row.get("utt_id"), str):
        raise DamagedRunFolder(f"{path} line {lineno}: not a row (a JSON object with codec and utt_id); {hint}")
    return row


def _append_lines(path: Path, objs: Iterable[dict[str, Any]]) -> None:
    """Append one JSON line per object and fsync: a crash leaves at most a torn last line."""
    lines = "".join(json.dumps(o, ensure_ascii=False, allow_nan=True) + "\n" for o in objs)
    if not lines:
        return
    with writing(path), open(path, "a", encoding="utf-8") as f:
        f.write(lines)
        f.flush()
        os.fsync(f.fileno())


def _complete_lines(path: Path, skipped: Counter | None = None):
    """(line number, bytes) of each complete, non-empty line; a torn last line and empty lines are
    counted in one warning (in ``skipped`` when given: the caller warns, with its own counts)."""
    if not path.exists():
        return
    own = skipped is None
    skipped = Counter() if skipped is None else skipped
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.endswith(b"\n"):
                skipped["cut off by a crash"] += 1
                break
            if not raw.strip():
                skipped["empty"] += 1
                continue
            yield lineno, raw
    if own:
        _warn_skipped(path, skipped, stacklevel=4)


def _warn_skipped(path: Path, skipped: Counter, stacklevel: int = 3) -> None:
    if skipped:
        what = ", ".join(f"{n} {why}" for why, n in skipped.items())
        warnings.warn(f"{path}: skipped {sum(skipped.values())} line(s): {what}", stacklevel=stacklevel)


class JsonCache:
    """A folder of small JSON files keyed by path parts (e.g. ASR reference transcripts), kept across
    resumes; an unreadable entry is a miss."""

    def __init__(self, folder: Path):
        self.folder = folder

    def path(self, *parts: str) -> Path:
        return self.folder.joinpath(*parts[:-1], f"{parts[-1]}.json")

    def get(self, *parts: str) -> Any:
        try:
            return json.loads(self.path(*parts).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def put(self, *parts: str, value: Any) -> None:
        atomic_write_json(self.path(*parts), value)


class RunFolder:
    """A run folder: its paths, its atomic writes (umask honoured), its rows and side outputs."""

    def __init__(self, run_dir: str | os.PathLike):
        self.dir = Path(run_dir)
        self.rows_path = self.dir / ROWS
        self._lock = FolderLock(self.dir)

    def path(self, name: str) -> Path:
        """A file or folder of the run folder by its name (``summary.csv``, ``codes``, ...)."""
        return self.dir / name

    def exists(self, name: str) -> bool:
        return (self.dir / name).exists()

    def check(self) -> RunFolder:
        """This folder, or a one-line ``NotARunFolder`` when it is not a run folder."""
        if not self.dir.is_dir():
            raise NotARunFolder(f"no run folder at {self.dir}")
        if not is_run_folder(self.dir):
            raise NotARunFolder(f"{self.dir} is not a codecbench run folder (no {CONFIG}, {ROWS} or {PARQUET})")
        return self

    # -- opening and locking --------------------------------------------------------------------
    def open(self, meta: dict[str, Any]) -> bool:
        """Create and lock the folder; write ``meta`` as config.json when new. True when it already held a
        run (the caller compares identities). The lock is held until ``close()`` or the process ends."""
        if self.dir.exists() and not self.dir.is_dir():
            raise NotARunFolder(f"{self.dir} is a file, not a run folder; give --out a folder")
        make_folder(self.dir)
        with writing(self.dir / ".lock"):
            self.lock()
        cfg_path = self.dir / CONFIG
        if cfg_path.exists():
            try:
                old = read_json_file(cfg_path)
            except DamagedRunFolder:
                self.close()
                raise
            if not isinstance(old, dict):
                self.close()
                raise DamagedRunFolder(f"{cfg_path}: not a JSON object; restore or delete the file")
            return True
        atomic_write_json(cfg_path, meta)
        return False

    def lock(self) -> None:
        """Take the folder's exclusive lock (``codecbench.lock``); another holder is a one-line ``FolderLocked``."""
        self._lock.acquire()

    def close(self) -> None:
        """Release the lock."""
        self._lock.release()

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- whole files ----------------------------------------------------------------------------
    def write_text(self, name: str, text: str) -> None:
        atomic_write_text(self.dir / name, text)

    def write_json(self, name: str, obj: Any) -> None:
        atomic_write_json(self.dir / name, obj)

    def write_file(self, name: str, content: Any) -> None:
        """One file by the kind of ``content``: a DataFrame as .csv or .parquet (by the name's suffix),
        text as is, anything else as JSON."""
        if hasattr(content, "to_parquet") and name.endswith(".parquet"):
            atomic_write(self.dir / name, lambda tmp: content.to_parquet(tmp, index=False))
        elif hasattr(content, "to_csv"):
            self.write_text(name, content.to_csv(index=False))
        elif isinstance(content, str):
            self.write_text(name, content)
        else:
            self.write_json(name, content)

    def write_corpus_values(self, metric: str, frame: Any) -> None:
        """Per-utterance values of a metric's corpus outputs (``Aggregate.values``), replacing earlier ones."""
        self.write_file(f"{CORPUS_VALUES_DIR}/{file_stem(metric)}.csv", frame)

    def corpus_values(self, metric: str):
        """The per-utterance values of a metric's corpus outputs (DataFrame), or None when there are none."""
        import pandas as pd

        path = self.dir / CORPUS_VALUES_DIR / f"{file_stem(metric)}.csv"
        if not path.exists():
            return None
        return pd.read_csv(path, dtype={"codec": str, "utt_id": str}, keep_default_na=False, na_values=[""])

    def read_json(self, name: str, default: Any = ...) -> Any:
        """A JSON file of the folder; a missing one is ``default`` when given, else ``NotARunFolder``."""
        path = self.dir / name
        if not path.exists():
            if default is not ...:
                return default
            raise NotARunFolder(f"{self.dir} lacks {name}: not a complete codecbench run folder")
        return read_json_file(path)

    # -- rows -----------------------------------------------------------------------------------
    def append(self, rows: Iterable[Row | dict[str, Any]]) -> None:
        """Append complete rows durably: each is one line; a line cut by a crash is ignored on read."""
        _append_lines(self.rows_path, (r.to_dict() if isinstance(r, Row) else r for r in rows))

    def rows(self) -> list[dict[str, Any]]:
        """All complete rows, the last occurrence of each (codec, utt_id) kept (a resumed run appends an
        updated row when it computes values that were unavailable before); skipped lines (cut off by a
        crash, empty, a byte-identical repeat of the row before it) are counted in a warning, and a
        damaged line is a one-line ``DamagedRunFolder`` naming it."""
        by_key: dict[tuple[str, str], dict[str, Any]] = {}
        digest: dict[tuple[str, str], bytes] = {}
        skipped: Counter = Counter()
        for lineno, raw in _complete_lines(self.rows_path, skipped):
            row = _parse_row(raw, self.rows_path, lineno)
            key, d = (row["codec"], row["utt_id"]), hashlib.blake2b(raw.strip(), digest_size=16).digest()
            if digest.get(key) == d:  # the same line again (a copy appended twice), not an update
                skipped["duplicate"] += 1
                continue
            by_key[key], digest[key] = row, d
        _warn_skipped(self.rows_path, skipped)
        return list(by_key.values())

    def typed_rows(self) -> list[Row]:
        """``rows()`` as ``Row`` objects."""
        return [Row.from_dict(r) for r in self.rows()]

    def repair(self) -> None:
        """Drop a trailing partial line left by a crash, so appends start on a fresh line."""
        if not self.rows_path.exists():
            return
        data = self.rows_path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data[: data.rfind(b"\n") + 1]
            atomic_write_text(self.rows_path, keep.decode("utf-8"))

    def write_parquet(self) -> Path:
        df = rows_frame(self.rows())
        path = self.dir / PARQUET
        atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False))
        return path

    def frame(self):
        """The rows as a DataFrame (Parquet when present and current, else rows.jsonl)."""
        import pandas as pd

        pq, jl = self.dir / PARQUET, self.rows_path
        if pq.exists() and (not jl.exists() or pq.stat().st_mtime >= jl.stat().st_mtime):
            try:
                return pd.read_parquet(pq)
            except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
                raise DamagedRunFolder(f"{pq}: not readable as Parquet ({exc}); delete it to rebuild it from "
                                       f"{ROWS}") from exc
        if jl.exists():
            return rows_frame(self.rows())
        raise NotARunFolder(f"{self.dir} is not a codecbench run folder (no {PARQUET} or {ROWS})")

    # -- side records -------------------------------------------------------------------------
    def stream_path(self, stream: str) -> Path:
        return self.dir / f"{stream}.jsonl"

    def append_records(self, stream: str, records: Iterable[dict[str, Any]]) -> None:
        """Append side records (e.g. ASR transcripts and their checks) to ``<stream>.jsonl``, fsynced.

        Side records are written before the row they belong to; a run killed in between writes them
        again on resume, and ``records`` keeps the last one per key.
        """
        _append_lines(self.stream_path(stream), records)

    def records(self, stream: str, key: tuple[str, ...] = ("codec", "utt_id")) -> list[dict[str, Any]]:
        """Complete records of a side stream, the last per ``key``; unreadable lines are skipped (counted
        in a warning): side records describe values, they never hold them."""
        last: dict[tuple, dict[str, Any]] = {}
        for _, raw in _complete_lines(self.stream_path(stream)):
            try:
                rec = json.loads(raw.decode("utf-8", errors="replace"))
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict):
                last[tuple(rec.get(k) for k in key)] = rec
        return list(last.values())

    # -- per-item artefacts ---------------------------------------------------------------------
    def artifact_path(self, folder: str, codec: str, utt_id: str, suffix: str = ".npz") -> Path:
        """``<folder>/<codec>/<utt><suffix>`` (names through ``file_stem``)."""
        return self.dir / folder / file_stem(codec) / f"{file_stem(utt_id)}{suffix}"

    def save_arrays(self, folder: str, codec: str, utt_id: str, *arrays: Any, compressed: bool = False,
                    **named: Any) -> Path:
        """One item's arrays as ``<folder>/<codec>/<utt>.npz`` (positional: ``arr_0``, ``arr_1``, ...)."""
        import numpy as np

        path = self.artifact_path(folder, codec, utt_id)
        save = np.savez_compressed if compressed else np.savez
        atomic_write(path, lambda tmp: save(tmp, *arrays, **named))
        return path

    def load_arrays(self, folder: str, codec: str, utt_id: str) -> dict[str, Any] | None:
        """An item's saved arrays by name, or None when there are none."""
        import numpy as np

        path = self.artifact_path(folder, codec, utt_id)
        if not path.exists():
            return None
        with np.load(path) as z:
            return {k: z[k] for k in z.files}

    def codes_path(self, codec: str, utt_id: str) -> Path:
        return self.artifact_path(CODES_DIR, codec, utt_id)

    def audio_path(self, codec: str, utt_id: str) -> Path:
        return self.artifact_path(AUDIO_DIR, codec, utt_id, ".wav")

    def save_codes(self, codec: str, utt_id: str, codes: list[Any]) -> None:
        """A token codec's codes of one item, one int32 array per codebook level."""
        import numpy as np

        self.save_arrays(CODES_DIR, codec, utt_id, *[np.asarray(c, dtype=np.int32) for c in codes], compressed=True)

    def codes(self, codec: str, utt_id: str) -> list[Any] | None:
        """The saved codes of one item (one array per level), or None."""
        arrays = self.load_arrays(CODES_DIR, codec, utt_id)
        return None if arrays is None else [arrays[f"arr_{i}"] for i in range(len(arrays))]

    def save_audio(self, codec: str, utt_id: str, wave: Any, sample_rate: int) -> str:
        """A kept reconstruction (float WAV); returns its path relative to the folder (the row's ``audio``)."""
        from codecbench import audio

        path = self.audio_path(codec, utt_id)
        audio.save(path, wave, sample_rate, subtype="FLOAT")
        return path.relative_to(self.dir).as_posix()

    def cache(self, name: str) -> JsonCache:
        return JsonCache(self.dir / name)

    # -- merging --------------------------------------------------------------------------------
    def merge_folder(self, name: str, sources: list[RunFolder]) -> None:
        """Copy the per-item folder ``name`` of every source into this folder (shards hold disjoint items)."""
        for src in sources:
            if (src.dir / name).is_dir():
                shutil.copytree(src.dir / name, self.dir / name, dirs_exist_ok=True)


RunStore = RunFolder  # the former name


def load_rows(run_dir: str | os.PathLike):
    """The rows of a run folder as a DataFrame (Parquet when present and current, else rows.jsonl)."""
    return RunFolder(run_dir).frame()


ConfigMismatch = ConfigError  # the run folder holds a run with a different configuration
