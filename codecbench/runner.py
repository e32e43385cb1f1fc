"""Scheduling only: length-bucketed batches to codecs, per-item work to metric workers, rows to the store.

Codec inference runs in the main process (on the GPU when there is one); signal metrics run in a
pool of CPU worker processes at the same time; model-based (``batched``) metrics run in the main
process on whole batches. A row is appended to the run folder only when all its metrics are done,
so a run killed at any point resumes without recomputing or losing completed rows.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sys
import warnings
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from codecbench import __version__, audio
from codecbench.checks import check_reference, level_flags
from codecbench.codecs.base import resolve_device
from codecbench.codecs.registry import get_spec, load_codec, require_available
from codecbench.data import DatasetError, filter_langs, load_dataset
from codecbench.errors import CodecbenchError
from codecbench.files import temp_file
from codecbench.metrics.base import Failure, Metric, MetricInput, Values, fail_all, safe_compute
from codecbench.metrics.registry import get_metric, select
from codecbench.store import FAILURE_SUFFIX, KIND_SUFFIX, RunStore, safe_name
from codecbench.types import CodecInfo, Reconstruction, Utterance

DEFAULT_CODECS = ("opus-6kbps", "opus-12kbps", "opus-24kbps", "ours-rvq", "ours-fsq", "ours-vae")
MIN_DURATION = 0.3  # seconds; shorter utterances are recorded as failures


@dataclass
class RunConfig:
    codecs: list[str] | None = None
    dataset: str | None = None
    dataset_format: str = "auto"
    langs: list[str] | None = None
    metrics: list[str] | None = None
    limit: int | None = None
    batch_size: int = 8
    max_batch_seconds: float = 160.0
    workers: int | None = None
    device: str = "auto"
    save_audio: str = "4"
    run_id: str | None = None
    min_duration: float = MIN_DURATION
    extra: dict[str, Any] = field(default_factory=dict)


def default_codecs() -> list[str]:
    """The default codec set: every default codec that is registered and can run here."""
    from codecbench.codecs.registry import all_specs

    specs = all_specs()
    chosen = []
    for name in DEFAULT_CODECS:
        if name in specs:
            reason = specs[name].unavailable_reason()
            if reason is None:
                chosen.append(name)
            else:
                warnings.warn(f"default codec {name} skipped: {reason}", stacklevel=2)
    return chosen


def make_batches(utts: list[Utterance], batch_size: int, max_seconds: float) -> list[list[Utterance]]:
    """Length-bucketed batches: same source rate, sorted by duration, capped in items and seconds."""
    order = sorted(utts, key=lambda u: (u.source_sr or 0, u.duration or 0.0, u.id))
    batches: list[list[Utterance]] = []
    cur: list[Utterance] = []
    for u in order:
        longest = max([x.duration or 0.0 for x in cur] + [u.duration or 0.0])
        if cur and (len(cur) >= batch_size or cur[0].source_sr != u.source_sr or longest * (len(cur) + 1) > max_seconds):
            batches.append(cur)
            cur = []
        cur.append(u)
    if cur:
        batches.append(cur)
    return batches


def load_utterance(u: Utterance, min_duration: float) -> tuple[np.ndarray, int]:
    """Mono audio at its source rate; raises ValueError with the reason when unusable."""
    if "load_error" in u.extra:
        raise ValueError(u.extra["load_error"])
    if u.audio is not None:
        wave, sr = np.asarray(u.audio, dtype=np.float32), int(u.source_sr)
    else:
        wave, sr = audio.load(u.path)
    if not np.all(np.isfinite(wave)):
        raise ValueError("audio contains NaN or Inf samples")
    if len(wave) < min_duration * sr:
        raise ValueError(f"too short: {len(wave) / sr:.3f} s < {min_duration} s")
    reason = check_reference(wave, sr)  # codecbench.checks: AC-energy signal gate
    if reason:
        raise ValueError(reason)
    u.extra["flags"] = level_flags(wave)
    return wave, sr


# -- metric workers ------------------------------------------------------------------------------
_WORKER_METRICS: dict[str, Metric] = {}


def compute_metrics(names: list[str], x: MetricInput) -> Values:
    """Compute CPU metrics for one item (runs in a worker process, or inline)."""
    values: Values = {}
    for name in names:
        m = _WORKER_METRICS.get(name)
        if m is None:
            m = get_metric(name)
            m.setup("cpu")
            _WORKER_METRICS[name] = m
        values.update(safe_compute(m, x))
    return values


class _Inline:
    """A stand-in for the pool when workers=0: runs at submit time."""

    def submit(self, fn, *args) -> Future:
        f: Future = Future()
        f.set_result(fn(*args))
        return f

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


def _pool(workers: int):
    if workers <= 0:
        return _Inline()
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


# -- rows ----------------------------------------------------------------------------------------
def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _base_row(run_id: str, codec: str, u: Utterance, batch_size: int) -> dict[str, Any]:
    return {"run_id": run_id, "codec": codec, "utt_id": u.id, "lang": u.lang or "", "speaker": u.speaker or "",
            "duration": u.duration, "source_sr": u.source_sr, "batch_size": batch_size, "status": "ok", "error": "",
            "computed_at": "", "audio": "", "flags": u.extra.get("flags", "")}


def _fill(row: dict[str, Any], values: Values, outputs: list[str]) -> dict[str, Any]:
    for o in outputs:
        v = values.get(o, Failure.failed("not computed"))
        if isinstance(v, Failure):
            row[o], row[o + FAILURE_SUFFIX], row[o + KIND_SUFFIX] = float("nan"), v.reason, v.kind.value
        else:
            row[o], row[o + FAILURE_SUFFIX], row[o + KIND_SUFFIX] = float(v), "", ""
    row["computed_at"] = _now()
    return row


def _failed_row(row: dict[str, Any], reason: str, outputs: list[str]) -> dict[str, Any]:
    row["status"], row["error"] = "failed", reason
    return _fill(row, {o: Failure.failed(reason) for o in outputs}, outputs)


# -- the run -------------------------------------------------------------------------------------
def resolve(cfg: RunConfig):
    """Dataset, utterances, codec names and metrics for a config; user errors raise here, before any work."""
    ds = load_dataset(cfg.dataset, cfg.dataset_format)
    utts = filter_langs(ds, cfg.langs, cfg.limit)
    if not utts:
        raise DatasetError(f"dataset {ds.name!r} has no utterances to run")
    codecs = list(cfg.codecs) if cfg.codecs else default_codecs()
    if len(set(codecs)) != len(codecs):
        raise CodecbenchError(f"codec listed twice: {', '.join(k for k, n in Counter(codecs).items() if n > 1)}")
    for name in codecs:
        require_available(name)
    metrics = select(cfg.metrics)
    return ds, utts, codecs, metrics


def config_dict(cfg: RunConfig, ds, utts: list[Utterance], codecs: list[str], metrics: list[Metric]) -> dict[str, Any]:
    ids = hashlib.sha256("\n".join(u.id for u in utts).encode()).hexdigest()[:16]
    d = {
        "dataset": ds.source, "dataset_name": ds.name, "dataset_format": cfg.dataset_format,
        "langs": cfg.langs, "limit": cfg.limit, "codecs": codecs, "metrics": [m.name for m in metrics],
        "batch_size": cfg.batch_size, "max_batch_seconds": cfg.max_batch_seconds, "min_duration": cfg.min_duration,
        "save_audio": cfg.save_audio, "n_utterances": len(utts), "utterance_ids_sha256": ids, **cfg.extra,
    }
    digest = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:8]
    d["run_id"] = cfg.run_id or f"{safe_name(ds.name)}-{digest}"
    d["created_at"] = _now()
    d["codecbench_version"] = __version__
    return d


def _audio_keep(utts: list[Utterance], save_audio: str) -> set[str]:
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


def _save_codes(store: RunStore, codec: str, utt_id: str, codes: list[np.ndarray]) -> None:
    path = store.codes_path(codec, utt_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file(path.parent, suffix=".npz")
    os.close(fd)
    np.savez_compressed(tmp, *[np.asarray(c, dtype=np.int32) for c in codes])
    os.replace(tmp, path)


def run(cfg: RunConfig, out: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """Run (or resume) a benchmark; returns the run folder."""
    from codecbench.environment import capture
    from codecbench.summary import write_summaries

    ds, utts, codecs, metrics = resolve(cfg)
    config = config_dict(cfg, ds, utts, codecs, metrics)
    run_dir = Path(out) if out else Path("results") / config["run_id"]
    store = RunStore(run_dir)
    resuming = store.open(config)
    config = store.read_json("config.json")
    run_id = config["run_id"]
    store.repair()
    device = resolve_device(cfg.device)

    unavailable = {m.name: m.unavailable_reason() for m in metrics}
    store.write_json("environment.json", capture(device))
    store.write_json("dataset.json", [{k: v for k, v in asdict(u).items() if k != "audio"} for u in utts])
    store.write_json("metrics.json", {m.name: {**m.info().to_dict(), "unavailable": unavailable[m.name]} for m in metrics})
    codec_infos: dict[str, CodecInfo] = {name: get_spec(name).info for name in codecs}

    outputs = [o.name for m in metrics for o in m.info().outputs]
    runnable = [m for m in metrics if unavailable[m.name] is None]
    cpu_names = [m.name for m in runnable if not m.info().batched]
    batched = [m for m in runnable if m.info().batched]
    unavailable_values: Values = {}
    for m in metrics:
        if unavailable[m.name]:
            unavailable_values.update(fail_all(m, Failure.unavailable(unavailable[m.name])))
    for m in batched:
        m.setup(device, str(run_dir))

    done = store.completed()
    keep_audio = _audio_keep(utts, cfg.save_audio)
    total = len(codecs) * len(utts)
    workers = cfg.workers if cfg.workers is not None else max(1, (os.cpu_count() or 2) - 1)
    if resuming:
        print(f"resuming {run_dir}: {len(done)} of {total} rows already done", file=sys.stderr)

    from tqdm import tqdm

    bar = tqdm(total=total, initial=min(len(done), total), disable=not progress, unit="row", desc="codecbench",
               file=sys.stderr, dynamic_ncols=True)
    pool = _pool(workers)
    pending: list[tuple[dict[str, Any], Values, Future]] = []

    def drain(block: bool, limit: int = 0) -> None:
        nonlocal pending
        while pending:
            futures = [f for _, _, f in pending]
            if block and len(pending) > limit:
                wait(futures, return_when=FIRST_COMPLETED)
            finished = [(r, v, f) for r, v, f in pending if f.done()]
            if not finished:
                return
            pending = [p for p in pending if not p[2].done()]
            rows = []
            for row, values, fut in finished:
                try:
                    values = {**values, **fut.result()}
                except Exception as exc:  # a crashed worker fails only its rows
                    values = {**values, **{n: Failure.failed(f"metric worker failed: {exc}") for n in outputs if n not in values}}
                rows.append(_fill(row, values, outputs))
            store.append(rows)
            bar.update(len(rows))
            if not block or len(pending) <= limit:
                return

    try:
        for codec_name in codecs:
            todo = [u for u in utts if (codec_name, u.id) not in done]
            if not todo:
                continue
            bar.set_postfix_str(f"loading {codec_name}")
            codec = load_codec(codec_name, device)
            info = codec_infos[codec_name] = codec.info
            bar.set_postfix_str(codec_name)
            for batch in make_batches(todo, cfg.batch_size, cfg.max_batch_seconds):
                failed_rows, items = [], []
                for u in batch:
                    try:
                        wave, sr = load_utterance(u, cfg.min_duration)
                        items.append((u, wave, sr))
                    except (ValueError, audio.AudioError) as exc:
                        failed_rows.append(_failed_row(_base_row(run_id, codec_name, u, len(batch)), str(exc), outputs))
                if failed_rows:
                    store.append(failed_rows)
                    bar.update(len(failed_rows))
                if not items:
                    continue
                _process_batch(codec, codec_name, info, items, run_id, store, keep_audio, cpu_names, batched,
                               unavailable_values, outputs, pool, pending, bar)
                drain(block=True, limit=4 * max(1, workers) * cfg.batch_size)
            codec.close()
        drain(block=True, limit=0)
    finally:
        pool.shutdown(wait=True, cancel_futures=False)
        bar.close()

    store.write_json("codecs.json", {n: i.to_dict() for n, i in codec_infos.items()})
    store.write_parquet()
    write_summaries(run_dir)
    store.close()
    return run_dir


def _process_batch(codec, codec_name: str, info: CodecInfo, items, run_id: str, store: RunStore, keep_audio: set[str],
                   cpu_names: list[str], batched: list[Metric], unavailable_values: Values, outputs: list[str],
                   pool, pending: list, bar) -> None:
    utts = [u for u, _, _ in items]
    sr = items[0][2]
    wave, lengths = audio.pad_batch([w for _, w, _ in items])
    rows = [_base_row(run_id, codec_name, u, len(items)) for u in utts]
    try:
        rec: Reconstruction = codec.reconstruct(wave, lengths, sr)
    except Exception as exc:
        reason = f"codec failed: {type(exc).__name__}: {exc}"
        store.append([_failed_row(r, reason, outputs) for r in rows])
        bar.update(len(rows))
        return
    total_seconds = float(lengths.sum()) / sr
    xs, ok_rows = [], []
    for b, (u, ref, _) in enumerate(items):
        deg = rec.item(b)
        if not np.all(np.isfinite(deg)):
            store.append([_failed_row(rows[b], "codec output contains NaN or Inf", outputs)])
            bar.update(1)
            continue
        share = (len(ref) / sr) / total_seconds
        codes = rec.codes[b] if rec.codes is not None else None
        x = MetricInput(ref=ref, deg=deg, sample_rate=sr, utterance=_light(u), codec=info, codes=codes,
                        bits=None if rec.bits is None else float(rec.bits[b]),
                        encode_seconds=rec.encode_seconds * share, decode_seconds=rec.decode_seconds * share)
        if codes is not None:
            _save_codes(store, codec_name, u.id, codes)
        if u.id in keep_audio:
            path = store.audio_path(codec_name, u.id)
            audio.save(path, deg, sr, subtype="FLOAT")
            rows[b]["audio"] = path.relative_to(store.dir).as_posix()
        xs.append(x)
        ok_rows.append(rows[b])
    batch_values: list[Values] = [dict(unavailable_values) for _ in xs]
    for m in batched:
        try:
            results = m.compute_batch(xs)
        except Exception as exc:
            results = [fail_all(m, Failure.failed(f"{type(exc).__name__}: {exc}")) for _ in xs]
        for vals, res in zip(batch_values, results, strict=True):
            vals.update(res)
    for row, x, vals in zip(ok_rows, xs, batch_values, strict=True):
        pending.append((row, vals, pool.submit(compute_metrics, cpu_names, x)))


def _light(u: Utterance) -> Utterance:
    """The utterance without in-memory audio (cheap to send to workers)."""
    return Utterance(id=u.id, path=u.path, lang=u.lang, text=u.text, speaker=u.speaker, source_sr=u.source_sr,
                     duration=u.duration, extra=dict(u.extra))
