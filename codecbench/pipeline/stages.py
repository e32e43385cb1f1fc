"""The stages of a run over one batch, knowing nothing of how they are scheduled:

    load (audio, checks) ─► reconstruct (codec, batched) ─► failed rows ─► base row ─► encoder metrics
                            └ load_degraded (pair scoring: the user's degraded files instead) ┘
    ─► model metrics ─► signal metrics ─► row

Encoder metrics (``MetricInfo.needs_encoder``) run inside the codec stage with the loaded codec.

Each stage is a plain function; ``BatchProcessor`` chains them for one run, and executors
(``local.py``, ``ray_engine.py``) only decide where and when its steps run. A ``Work`` item is one
(codec, utterance) and the metrics still to compute for it.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from codecbench import audio, inputs
from codecbench.metrics.base import Metric, MetricInput, Values
from codecbench.pipeline.evaluate import Costs, evaluate
from codecbench.rows import Row
from codecbench.store import RunFolder
from codecbench.types import CodecInfo, Failure, Reconstruction, Utterance


@dataclass
class Work:
    """One (codec, utterance) to do: the metrics to compute, and the row to extend (on resume)."""

    codec: str
    utt: Utterance
    metrics: tuple[str, ...]
    row: Row | None = None  # an earlier row whose unavailable values are being filled in
    wave: np.ndarray | None = None
    sr: int = 0
    x: MetricInput | None = None
    values: Values = field(default_factory=dict)
    out: Row | None = None  # the row being built (from the codec stage on)


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
    elif u.source is not None:
        from codecbench.data import sources

        checked = inputs.check_channels(*sources.read(u))
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
                     duration=u.duration, extra=dict(u.extra), source=u.source)


# -- rows -------------------------------------------------------------------------------------------
def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def base_row(run_id: str, w: Work, batch_size: int) -> Row:
    """The row of a work item before its values (an earlier row when filling in missing metrics)."""
    if w.row is not None:
        row = Row.from_dict(w.row.to_dict())
    else:
        u = w.utt
        row = Row(run_id=run_id, codec=w.codec, utt_id=u.id, lang=u.lang or "", speaker=u.speaker or "",
                  duration=u.duration, source_sr=u.source_sr, batch_size=batch_size, flags=u.extra.get("flags", ""),
                  length_note="" if w.x is None else audio.length_note(len(w.x.ref), len(w.x.deg), w.x.sample_rate))
    row.flags = language_flags(str(row.flags or ""), str(row.lang or ""), w.metrics)
    row.absent = tuple(k for k in row.absent if k != "flags")
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


def fill(row: Row, values: Values, outputs: list[str]) -> Row:
    """Write the given outputs' values into a row (value or failure) and stamp it."""
    row.set(values, outputs)
    row.computed_at = now()
    return row


def failed_row(run_id: str, w: Work, reason: str, outputs: list[str], batch_size: int) -> Row:
    row = base_row(run_id, w, batch_size)
    row.status, row.error = "failed", reason
    return fill(row, {o: Failure.failed(reason) for o in outputs}, outputs)


def missing_metrics(row: Row | dict[str, Any] | None, outputs_of: dict[str, list[str]]) -> tuple[str, ...]:
    """Metrics a stored row still lacks: absent, or recorded as ``unavailable`` (not a completed value)."""
    if row is None:
        return tuple(outputs_of)
    return (row if isinstance(row, Row) else Row.from_dict(row)).missing(outputs_of)


def save_artifacts(store: RunFolder, w: Work, keep_audio: bool, row: Row | dict[str, Any]) -> None:
    """Codes (for pooled codebook statistics and token-space ABX) and, for the kept examples, the
    reconstruction (its path goes into the row's ``audio``)."""
    x = w.x
    if x is None:
        return
    if x.codes is not None:
        store.save_codes(w.codec, w.utt.id, x.codes)
    if keep_audio:
        rel = store.save_audio(w.codec, w.utt.id, x.deg, x.sample_rate)
        if isinstance(row, Row):
            row.audio = rel
        else:
            row["audio"] = rel


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


# -- signal metrics, set up once per process ---------------------------------------------------------
_SIGNAL_METRICS: dict[tuple[str, str], list[Metric]] = {}


def signal_metrics(metrics: list[Metric], workdir: str, fresh: bool = False) -> list[Metric]:
    """The run's signal metrics set up in this process, once per process and run (local pool workers
    set them up when they start, ``fresh``: replacing an earlier run's; Ray tasks on first use)."""
    key = (workdir, ",".join(f"{m.name}:{sorted(m.opts.items())}" for m in metrics))
    ready = None if fresh else _SIGNAL_METRICS.get(key)
    if ready is None:
        for m in metrics:
            m.setup("cpu", workdir)
        ready = _SIGNAL_METRICS[key] = metrics
    return ready


def signal_values(metrics: list[Metric], names: tuple[str, ...], x: MetricInput, costs: Costs | None = None) -> Values:
    """The values of the signal metrics ``names`` (set up: ``signal_metrics``) for one item; ``costs``:
    each metric's busy and CPU seconds (``evaluate``)."""
    (values,) = evaluate([m for m in metrics if m.name in names], [x], costs)
    return values


# -- the batch processor ----------------------------------------------------------------------------
@dataclass
class BatchProcessor:
    """One run's chain of stages over a batch of one codec:

        load ─► reconstruct ─► failed rows ─► base row (+ codes, kept audio) ─► encoder metrics
        ─► model metrics ─► signal metrics ─► row

    Executors call its steps where they choose (the local engine: codec stage in the main thread,
    model metrics in a thread, signal metrics in a process pool; Ray: actors and tasks), so a run's
    rows are the same on every engine. Pair scoring is the same chain with the degraded files in
    place of the codec (``codec=None``). Picklable: Ray ships it to its actors. ``seconds`` arguments
    collect each stage's busy time.
    """

    run_id: str
    run_dir: str
    outputs_of: dict[str, list[str]]  # every metric of the run -> its output columns
    fixed: Values  # the outputs of metrics that cannot run now (unavailable, not applicable)
    keep_audio: frozenset[str]  # utterance ids whose reconstructions are saved
    min_duration: float
    max_duration: float
    encoder_metrics: tuple[Metric, ...] = ()  # set up; run in the codec stage (MetricInfo.needs_encoder)

    @property
    def all_outputs(self) -> list[str]:
        return [o for outs in self.outputs_of.values() for o in outs]

    def outputs(self, w: Work) -> list[str]:
        """The outputs this work writes: all of them for a new row, the missing metrics' for an update."""
        if w.row is None:
            return self.all_outputs
        return [o for m in w.metrics for o in self.outputs_of[m]]

    def codec_stage(self, codec: Any, info: CodecInfo, batch: list[Work], files: RecentFiles | None = None,
                    seconds: dict[str, float] | None = None) -> tuple[list[Work], list[Row]]:
        """Load and reconstruct one batch (``codec`` None: load the degraded files). Returns the items
        that go on to the metrics, each with its base row, codes and kept audio saved, and the rows of
        the items that failed here."""
        n = len(batch)
        t = time.perf_counter()
        loaded, failed = load(batch, self.min_duration, self.max_duration, files)
        t1 = time.perf_counter()
        if codec is None:
            items, codec_failed = load_degraded(info, loaded, self.max_duration)
        else:
            items, codec_failed = reconstruct(codec, info, loaded) if loaded else ([], [])
        _add(seconds, "load", t1 - t)
        _add(seconds, "reconstruct", time.perf_counter() - t1)
        rows = [failed_row(self.run_id, w, reason, self.all_outputs, n) for w, reason in failed + codec_failed]
        folder = RunFolder(self.run_dir)
        for w in items:
            w.out = base_row(self.run_id, w, n)
            save_artifacts(folder, w, w.utt.id in self.keep_audio and w.row is None, w.out)
            w.values = dict(self.fixed) if w.row is None else {}
        if codec is not None:
            self.encoder_stage(codec, items, seconds)
        return items, rows

    def encoder_stage(self, codec: Any, items: list[Work], seconds: dict[str, float] | None = None) -> None:
        """The metrics that re-encode audio (``MetricInfo.needs_encoder``: token stability) with the loaded
        codec, where it is loaded; the encoder is taken off the inputs before they move on (to threads,
        worker processes or Ray tasks)."""
        metrics = [m for m in self.encoder_metrics if items and m.name in items[0].metrics]
        if not metrics:
            return
        t = time.perf_counter()
        xs = [w.x for w in items]
        for x in xs:
            x.encode = codec.encode_items
        try:
            for w, values in zip(items, evaluate(metrics, xs), strict=True):
                w.values.update(values)
        finally:
            for x in xs:
                x.encode = None
        _add(seconds, "encoder_metrics", time.perf_counter() - t)

    def model_stage(self, metrics: list[Metric], items: list[Work], seconds: dict[str, float] | None = None,
                    costs: Costs | None = None, announce: Callable[[str], None] | None = None) -> None:
        """The model metrics (batched: ASR, speaker, DNSMOS) of the items' batch, into their values
        (``costs``, ``announce``: see ``evaluate``)."""
        if not items:
            return
        t = time.perf_counter()
        model = [m for m in metrics if m.name in items[0].metrics]
        for w, values in zip(items, evaluate(model, [w.x for w in items], costs, announce), strict=True):
            w.values.update(values)
        if model:
            _add(seconds, "model_metrics", time.perf_counter() - t)

    @staticmethod
    def signal_names(metrics: list[Metric], w: Work) -> tuple[str, ...]:
        return tuple(m.name for m in metrics if m.name in w.metrics)

    def signal_stage(self, metrics: list[Metric], items: list[Work], seconds: dict[str, float] | None = None,
                     costs: Costs | None = None) -> None:
        """The signal metrics of each item, in this process (``metrics``: set up by ``signal_metrics``)."""
        t = time.perf_counter()
        for w in items:
            w.values.update(signal_values(metrics, self.signal_names(metrics, w), w.x, costs))
        _add(seconds, "signal_metrics", time.perf_counter() - t)

    def row(self, w: Work, values: Values | None = None) -> Row:
        """The finished row of an item (``values``: its values, when not gathered in ``w.values``)."""
        return fill(w.out, w.values if values is None else values, self.outputs(w))


def _add(seconds: dict[str, float] | None, stage: str, s: float) -> None:
    if seconds is not None:
        seconds[stage] = seconds.get(stage, 0.0) + s
