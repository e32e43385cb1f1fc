"""The stages of a run over one batch, knowing nothing of how they are scheduled:

    load (audio, checks) ─► reconstruct (codec, batched) ─► model metrics ─► signal metrics ─► sink
                            └ load_degraded (pair scoring: the user's degraded files instead) ┘

Each stage is a plain function; executors (``local.py``, ``ray_engine.py``) decide where and when
they run. A ``Work`` item is one (codec, utterance) and the metrics still to compute for it.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from codecbench import audio, inputs
from codecbench.files import temp_file
from codecbench.metrics.base import MetricInput, Values
from codecbench.safe_io import make_folder, writing
from codecbench.store import FAILURE_SUFFIX, KIND_SUFFIX, RunStore
from codecbench.types import CodecInfo, Failure, FailureKind, Reconstruction, Utterance


@dataclass
class Work:
    """One (codec, utterance) to do: the metrics to compute, and the row to extend (on resume)."""

    codec: str
    utt: Utterance
    metrics: tuple[str, ...]
    row: dict[str, Any] | None = None  # an earlier row whose unavailable values are being filled in
    wave: np.ndarray | None = None
    sr: int = 0
    x: MetricInput | None = None
    values: Values = field(default_factory=dict)


# -- load -------------------------------------------------------------------------------------------
class RecentFiles:
    """The last few reference files read through the input gate in one run (``codecbench.inputs``):
    pair lists repeat a reference for every system scored on it. An entry is used only while the
    file's size, modification time and inode are unchanged; each item gets a copy of the wave (a
    memory copy instead of decoding and checking the file again)."""

    def __init__(self, size: int = 16):
        self.size = size
        self._entries: dict[tuple, inputs.Checked] = {}

    def read(self, path: str) -> inputs.Checked:
        try:
            st = os.stat(path)
            key: tuple | None = (os.path.abspath(path), st.st_size, st.st_mtime_ns, st.st_ino)
        except OSError:
            key = None  # the gate says why
        if key is not None and key in self._entries:
            return self._entries[key]
        checked = inputs.read_reference(path)
        checked.wave.flags.writeable = False  # kept for the next item of this file: nobody may change it
        if key is not None and self.size > 0:
            if len(self._entries) >= self.size:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = checked
        return checked


def load_utterance(u: Utterance, min_duration: float, max_duration: float,
                   files: RecentFiles | None = None) -> tuple[np.ndarray, int]:
    """Mono audio at its source rate; raises ValueError with the reason when it cannot be scored
    (the one input gate: ``codecbench.inputs``)."""
    if "load_error" in u.extra:
        raise ValueError(u.extra["load_error"])
    if u.duration is not None and u.duration > max_duration:
        raise ValueError(f"too long: {u.duration:.1f} s > max_duration {max_duration:g} s")
    if u.audio is not None:
        checked = inputs.check_wave(u.audio, int(u.source_sr))
    else:
        checked = (files or RecentFiles(0)).read(u.path)
    reason = inputs.reference_reason(checked, min_duration, max_duration)
    if reason:
        raise ValueError(reason)
    u.extra["flags"] = checked.flags
    return checked.wave.copy(), checked.sr  # each item its own writable array; the cached one stays


def load(batch: list[Work], min_duration: float, max_duration: float,
         files: RecentFiles | None = None) -> tuple[list[Work], list[tuple[Work, str]]]:
    """(loaded items, failed items with their reasons); ``files``: the run's recently read files."""
    ok, failed = [], []
    for w in batch:
        try:
            w.wave, w.sr = load_utterance(w.utt, min_duration, max_duration, files)
            ok.append(w)
        except (ValueError, audio.AudioError) as exc:
            failed.append((w, str(exc)))
    return ok, failed


def make_batches(work: list[Work], batch_size: int, max_seconds: float) -> list[list[Work]]:
    """Length-bucketed batches of one codec: same source rate and metric set, longest first (so the
    metric pool ends on short items and no worker finishes long before the others; a batch too big
    for memory fails first), capped in items and in padded seconds."""
    order = sorted(work, key=lambda w: (w.metrics, w.utt.source_sr or 0, -(w.utt.duration or 0.0), w.utt.id))
    batches: list[list[Work]] = []
    cur: list[Work] = []
    for w in order:
        longest = max([x.utt.duration or 0.0 for x in cur] + [w.utt.duration or 0.0])
        if cur and (len(cur) >= batch_size or cur[0].utt.source_sr != w.utt.source_sr or cur[0].metrics != w.metrics
                    or longest * (len(cur) + 1) > max_seconds):
            batches.append(cur)
            cur = []
        cur.append(w)
    if cur:
        batches.append(cur)
    return batches


# -- reconstruct ------------------------------------------------------------------------------------
def reconstruct(codec, info: CodecInfo, items: list[Work]) -> tuple[list[Work], list[tuple[Work, str]]]:
    """Run the codec on a loaded batch (one source rate); fills each item's MetricInput. A stored row that
    lacks only data checks (they read the reference alone: a run folder from before they existed) is
    filled in without running the codec again."""
    from codecbench.metrics.registry import data_check_names

    checks = set(data_check_names())
    ref_only = [w for w in items if w.row is not None and w.metrics and set(w.metrics) <= checks]
    for w in ref_only:
        w.x = MetricInput(ref=w.wave, deg=w.wave, sample_rate=w.sr, utterance=light(w.utt), codec=info)
    items = [w for w in items if all(w is not r for r in ref_only)]
    if not items:
        return ref_only, []
    done, failed = _reconstruct(codec, info, items)
    return ref_only + done, failed


def _reconstruct(codec, info: CodecInfo, items: list[Work]) -> tuple[list[Work], list[tuple[Work, str]]]:
    sr = items[0].sr
    wave, lengths = audio.pad_batch([w.wave for w in items])
    try:
        rec: Reconstruction = codec.reconstruct(wave, lengths, sr)
    except Exception as exc:
        reason = f"codec failed: {type(exc).__name__}: {exc}"
        return [], [(w, reason) for w in items]
    total_seconds = float(lengths.sum()) / sr
    ok, failed = [], []
    for b, w in enumerate(items):
        deg = rec.item(b)
        if not np.all(np.isfinite(deg)):
            failed.append((w, "codec output contains NaN or Inf"))
            continue
        share = (len(w.wave) / sr) / total_seconds
        w.x = MetricInput(ref=w.wave, deg=deg, sample_rate=sr, utterance=light(w.utt), codec=info,
                          codes=rec.codes[b] if rec.codes is not None else None,
                          bits=None if rec.bits is None else float(rec.bits[b]),
                          encode_seconds=rec.encode_seconds * share, decode_seconds=rec.decode_seconds * share)
        ok.append(w)
    return ok, failed


def load_degraded(info: CodecInfo, items: list[Work], max_duration: float) -> tuple[list[Work], list[tuple[Work, str]]]:
    """Pair scoring's stand-in for ``reconstruct``: each item's degraded file (``extra["deg_path"]``),
    resampled to the reference's rate (``audio.resample``). Lengths stay as given: self-aligning
    metrics (PESQ, ViSQOL) score them so; equal-length metrics align them (``audio.align_lengths``) and
    the row's ``length_note`` records a difference beyond the tolerance."""
    ok, failed = [], []
    for w in items:
        try:
            deg, sr_deg = inputs.read_degraded(w.utt.extra["deg_path"], max_duration)
        except (ValueError, audio.AudioError) as exc:
            failed.append((w, f"degraded file: {exc}"))
            continue
        w.x = MetricInput(ref=w.wave, deg=audio.resample(deg, sr_deg, w.sr), sample_rate=w.sr,
                          utterance=light(w.utt), codec=info)
        ok.append(w)
    return ok, failed


def light(u: Utterance) -> Utterance:
    """The utterance without in-memory audio (cheap to send to workers)."""
    return Utterance(id=u.id, path=u.path, lang=u.lang, text=u.text, speaker=u.speaker, source_sr=u.source_sr,
                     duration=u.duration, extra=dict(u.extra))


# -- sink -------------------------------------------------------------------------------------------
def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def base_row(run_id: str, w: Work, batch_size: int) -> dict[str, Any]:
    if w.row is not None:
        row = dict(w.row)
    else:
        u = w.utt
        row = {"run_id": run_id, "codec": w.codec, "utt_id": u.id, "lang": u.lang or "", "speaker": u.speaker or "",
               "duration": u.duration, "source_sr": u.source_sr, "batch_size": batch_size, "status": "ok", "error": "",
               "computed_at": "", "audio": "", "flags": u.extra.get("flags", ""),
               "length_note": "" if w.x is None else audio.length_note(len(w.x.ref), len(w.x.deg), w.x.sample_rate)}
    row["flags"] = language_flags(str(row.get("flags") or ""), str(row.get("lang") or ""), w.metrics)
    return row


def language_flags(flags: str, lang: str, metrics: tuple[str, ...]) -> str:
    """``flags`` plus a note per metric whose model was trained on other languages than the row's
    (``MetricInfo.trained_languages``, codecbench.metrics.language): the value is kept, and the row says
    it lies outside the model's training languages (a flag, never a silence). Notes are not repeated."""
    from codecbench.metrics.language import language_note
    from codecbench.metrics.registry import trained_languages

    notes = [f for f in flags.split("; ") if f]
    for name in metrics:
        note = language_note(name, trained_languages(name), lang)
        if note and note not in notes:
            notes.append(note)
    return "; ".join(notes)


def fill(row: dict[str, Any], values: Values, outputs: list[str]) -> dict[str, Any]:
    """Write the given outputs' values into a row (value, failure reason, failure kind)."""
    for o in outputs:
        v = values.get(o, Failure.failed("not computed"))
        if isinstance(v, Failure):
            row[o], row[o + FAILURE_SUFFIX], row[o + KIND_SUFFIX] = float("nan"), v.reason, v.kind.value
        else:
            row[o], row[o + FAILURE_SUFFIX], row[o + KIND_SUFFIX] = float(v), "", ""
    row["computed_at"] = now()
    return row


def failed_row(run_id: str, w: Work, reason: str, outputs: list[str], batch_size: int) -> dict[str, Any]:
    row = base_row(run_id, w, batch_size)
    row["status"], row["error"] = "failed", reason
    return fill(row, {o: Failure.failed(reason) for o in outputs}, outputs)


def missing_metrics(row: dict[str, Any] | None, outputs_of: dict[str, list[str]]) -> tuple[str, ...]:
    """Metrics a stored row still lacks: absent, or recorded as ``unavailable`` (not a completed value)."""
    if row is None:
        return tuple(outputs_of)
    if row.get("status") == "failed":
        return ()
    return tuple(m for m, outs in outputs_of.items()
                 if any(o not in row or row.get(o + KIND_SUFFIX) == FailureKind.UNAVAILABLE.value for o in outs))


def save_artifacts(store: RunStore, w: Work, keep_audio: bool, row: dict[str, Any]) -> None:
    """Codes (for pooled codebook statistics) and, for the kept examples, the reconstruction."""
    x = w.x
    if x is None:
        return
    if x.codes is not None:
        path = store.codes_path(w.codec, w.utt.id)
        make_folder(path.parent)
        with writing(path):
            fd, tmp = temp_file(path.parent, suffix=".npz")
            os.close(fd)
            np.savez_compressed(tmp, *[np.asarray(c, dtype=np.int32) for c in x.codes])
            os.replace(tmp, path)
    if keep_audio:
        path = store.audio_path(w.codec, w.utt.id)
        audio.save(path, x.deg, x.sample_rate, subtype="FLOAT")
        row["audio"] = path.relative_to(store.dir).as_posix()


def audio_keep(utts: list[Utterance], save_audio: str) -> set[str]:
    """Utterance ids whose reconstructions are saved: the first N per language, all, or none."""
    if save_audio == "all":
        return {u.id for u in utts}
    if save_audio in ("none", "0", ""):
        return set()
    n = int(save_audio)
    counts: Counter = Counter()
    keep = set()
    for u in utts:
        if counts[u.lang] < n:
            counts[u.lang] += 1
            keep.add(u.id)
    return keep
