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
    .lock                an exclusive flock held by the run writing the folder (its pid inside)

File names of codecs and utterances come from ``file_stem``: a readable slug plus 12 hex digits of
the SHA-256 of the exact name, so ids such as ``spk1 utt``, ``spk1_utt`` and ``spk1/utt`` never share
a file. Everything is written with the user's umask (``codecbench.files.temp_file``), so colleagues
on a shared machine can read a run. A damaged ``rows.jsonl`` line or JSON file is a one-line
``DamagedRunFolder`` error naming the file and line; skipped lines (cut off by a crash, duplicates)
are counted in a warning.

A row holds: run_id, codec, utt_id, lang, speaker, duration, source_sr, batch_size, status
("ok" | "failed"), error (why the whole row failed), computed_at, audio (relative path or ""),
flags (notes on the reference that do not fail it, e.g. samples beyond full scale; see checks.py),
length_note (``audio.length_note``: reference and degraded lengths differ beyond the tolerance),
and per metric output ``<name>`` (float, NaN when failed) plus ``<name>__failure`` (reason or "") and
``<name>__kind`` (a ``FailureKind`` value: failed, unavailable, unreliable, not_applicable; or "").
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from codecbench.errors import CodecbenchError
from codecbench.files import temp_file
from codecbench.lock import FolderLock
from codecbench.safe_io import make_folder, writing

FAILURE_SUFFIX = "__failure"
KIND_SUFFIX = "__kind"
KEY_COLUMNS = ("run_id", "codec", "utt_id", "lang", "speaker", "duration", "source_sr", "batch_size",
               "status", "error", "computed_at", "audio", "flags", "length_note")


def atomic_write_text(path: Path, text: str) -> None:
    """Write through a temporary file and a rename; a full disk or read-only folder is a one-line
    ``safe_io.CannotWrite`` naming ``path``."""
    make_folder(path.parent)
    with writing(path):
        fd, tmp = temp_file(path.parent, prefix=f".{path.name}.")
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
    """A file-system-safe, readable form of a name (not unique: see ``file_stem``)."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("._") or "_"


def file_stem(name: str) -> str:
    """The file name (without extension) of a codec or utterance: slug + 12 hex digits of SHA-256(name).

    48 bits of hash: a collision among a million names has odds of about 1 in 500 000; the dataset
    loaders reject one anyway (``codecbench.data.loaders``).
    """
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{safe_name(name)[:64]}-{digest}"


class ConfigMismatch(CodecbenchError):
    """The run folder holds a run with a different configuration."""


class NotARunFolder(CodecbenchError, FileNotFoundError):
    """A path given as a run folder is not one."""


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


class RunStore:
    def __init__(self, run_dir: str | os.PathLike):
        self.dir = Path(run_dir)
        self.rows_path = self.dir / "rows.jsonl"
        self._lock = FolderLock(self.dir)

    # -- the folder -----------------------------------------------------------------------------
    def open(self, meta: dict[str, Any]) -> bool:
        """Create and lock the folder; write ``meta`` as config.json when new. True when it already held a
        run (the caller compares identities). The lock is held until ``close()`` or the process ends."""
        if self.dir.exists() and not self.dir.is_dir():
            raise NotARunFolder(f"{self.dir} is a file, not a run folder; give --out a folder")
        make_folder(self.dir)
        with writing(self.dir / ".lock"):
            self.lock()
        cfg_path = self.dir / "config.json"
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

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write_text(self, name: str, text: str) -> None:
        atomic_write_text(self.dir / name, text)

    def write_json(self, name: str, obj: Any) -> None:
        atomic_write_json(self.dir / name, obj)

    def read_json(self, name: str) -> Any:
        return read_json_file(self.dir / name)

    # -- rows -----------------------------------------------------------------------------------
    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        """Append complete rows durably: each is one line; a line cut by a crash is ignored on read."""
        _append_lines(self.rows_path, rows)

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
        path = self.dir / "utterances.parquet"
        with writing(path):
            fd, tmp = temp_file(self.dir, prefix=".utterances.", suffix=".parquet")
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
        _append_lines(self.dir / f"{stream}.jsonl", records)

    def records(self, stream: str, key: tuple[str, ...] = ("codec", "utt_id")) -> list[dict[str, Any]]:
        """Complete records of a side stream, the last per ``key``; unreadable lines are skipped (counted
        in a warning): side records describe values, they never hold them."""
        path = self.dir / f"{stream}.jsonl"
        last: dict[tuple, dict[str, Any]] = {}
        for _, raw in _complete_lines(path):
            try:
                rec = json.loads(raw.decode("utf-8", errors="replace"))
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict):
                last[tuple(rec.get(k) for k in key)] = rec
        return list(last.values())

    # -- artefacts ------------------------------------------------------------------------------
    def codes_path(self, codec: str, utt_id: str) -> Path:
        return self.dir / "codes" / file_stem(codec) / f"{file_stem(utt_id)}.npz"

    def audio_path(self, codec: str, utt_id: str) -> Path:
        return self.dir / "audio" / file_stem(codec) / f"{file_stem(utt_id)}.wav"


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
        try:
            return pd.read_parquet(pq)
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise DamagedRunFolder(f"{pq}: not readable as Parquet ({exc}); delete it to rebuild it from rows.jsonl") from exc
    if jl.exists():
        return rows_frame(RunStore(d).rows())
    raise NotARunFolder(f"{d} is not a codecbench run folder (no utterances.parquet or rows.jsonl)")
