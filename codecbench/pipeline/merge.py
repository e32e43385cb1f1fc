"""``codecbench merge SHARD... --out RUN``: shard run folders (``--shard K/N``) into one run.

The shards must share one configuration (``config.json`` "identity": everything that can change a
value, the utterance ids included), one N and one split (``shard_costs``: codecbench/pipeline/shards.py);
each K from 1 to N exactly once; each shard complete (every (codec, utterance) of its part has a row)
and holding only rows of its part. Anything else is
refused with a message naming the shards. The merged run is what one unsharded run would have
written: the rows (``run_id`` set to the unsharded run id), the side records and per-item folders
every metric of the run declares (``Metric.streams``, ``Metric.folders``: ASR transcripts, ABX
features, ...), codes and kept audio, then the Parquet table and the summaries (with every metric's
corpus-level aggregate, over all shards' items). Rows differ from an unsharded run's only in
``batch_size`` (the codec batches a shard formed) and ``computed_at``.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from codecbench.config import identity_diff
from codecbench.errors import CodecbenchError
from codecbench.store import (
    AUDIO_DIR,
    CODECS,
    CODES_DIR,
    CONFIG,
    CONFIG_YAML,
    DATASET,
    ENVIRONMENT,
    METRICS,
    SHARDS,
    NotARunFolder,
    RunFolder,
    is_run_folder,
)


class MergeError(CodecbenchError):
    """Shards that do not make one run (other configs, overlaps, gaps, incomplete shards)."""


def _read(folder: Path) -> dict[str, Any]:
    if not is_run_folder(folder):
        raise NotARunFolder(f"{folder} is not a codecbench run folder")
    meta = RunFolder(folder).read_json(CONFIG)
    if "identity" not in meta:
        raise MergeError(f"{folder} holds a run from an older codecbench (no identity in config.json)")
    return meta


def check(folders: list[Path]) -> tuple[list[dict[str, Any]], int]:
    """The shards' config.json, ordered by K, and N; raises MergeError when they do not make one run."""
    metas = [_read(f) for f in folders]
    first = metas[0]
    for f, m in zip(folders[1:], metas[1:], strict=True):
        diff = identity_diff(first["identity"], m["identity"])
        if diff:
            raise MergeError(f"{f} and {folders[0]} are runs of different configurations (differ in: "
                             f"{', '.join(diff)}); only shards of one run merge")
    parts = [tuple(int(x) for x in (m.get("shard") or "1/1").split("/")) for m in metas]
    ns = sorted({n for _, n in parts})
    if len(ns) > 1:
        raise MergeError("the shards split the work differently (N = " + ", ".join(map(str, ns))
                         + "); give the K/N shards of one split")
    n = ns[0]
    seen: dict[int, Path] = {}
    for f, (k, _) in zip(folders, parts, strict=True):
        if k in seen:
            raise MergeError(f"overlapping shards: {seen[k]} and {f} are both shard {k}/{n}")
        seen[k] = f
    missing = [f"{k}/{n}" for k in range(1, n + 1) if k not in seen]
    if missing:
        raise MergeError(f"gap: shard(s) {', '.join(missing)} missing; give all {n} shards of the run")
    splits = {json.dumps(m.get("shard_costs"), sort_keys=True) for m in metas}
    if len(splits) > 1:  # the parts of differently estimated splits need not cover the work once
        raise MergeError("the shards were split with different cost estimates (shard_costs in config.json: "
                         "made by different codecbench versions); re-run them with one version")
    order = sorted(range(len(folders)), key=lambda i: parts[i][0])
    return [{**metas[i], "folder": folders[i], "k": parts[i][0]} for i in order], n


def _rows(shard: dict[str, Any], n: int, codecs: list[str], utts: list[tuple[str, float]]) -> list[dict[str, Any]]:
    """The shard's rows, checked: only its own part, and all of it."""
    from codecbench.pipeline.shards import part

    folder, k = shard["folder"], shard["k"]
    rows = RunFolder(folder).rows()
    mine = part(f"{k}/{n}", codecs, utts, shard.get("shard_costs")) or frozenset()
    utt_ids = [u for u, _ in utts]
    foreign = [r for r in rows if (r["codec"], r["utt_id"]) not in mine]
    if foreign:
        r = foreign[0]
        raise MergeError(f"{folder} (shard {k}/{n}) holds {len(foreign)} row(s) of other shards, e.g. "
                         f"({r['codec']}, {r['utt_id']}); overlapping shards are refused")
    have = {(r["codec"], r["utt_id"]) for r in rows}
    lacking = [(c, u) for c in codecs for u in utt_ids if (c, u) in mine and (c, u) not in have]
    if lacking:
        c, u = lacking[0]
        raise MergeError(f"gap: {folder} (shard {k}/{n}) lacks {len(lacking)} row(s), e.g. ({c}, {u}); finish it "
                         f"with `codecbench run --config {folder}/config.yaml --out {folder}`")
    return rows


def merge(folders: list[str | Path], out: str | Path) -> Path:
    """Check the shards and write the merged run folder; returns it."""
    from codecbench.summary import write_summaries

    folders = [Path(f) for f in folders]
    out = Path(out)
    if not folders:
        raise MergeError("no shard folders given")
    if any(out.resolve() == f.resolve() for f in folders):
        raise MergeError(f"--out {out} is one of the shards; write the merged run to a new folder")
    if out.exists() and any(out.iterdir()):
        raise MergeError(f"--out {out} exists and is not empty; give a new folder")
    shards, n = check(folders)
    first = shards[0]
    sources = [RunFolder(s["folder"]) for s in shards]
    base_id = re.sub(r"-shard\d+of\d+$", "", first["run_id"])
    utts = [(u["id"], u.get("duration")) for u in sources[0].read_json(DATASET)]
    codecs = list(first["identity"].get("codecs") or [])
    rows = [{**r, "run_id": base_id} for s in shards for r in _rows(s, n, codecs, utts)]

    out.mkdir(parents=True, exist_ok=True)
    store = RunFolder(out)
    meta = {k: v for k, v in first.items() if k not in ("folder", "k", "shard_costs")}
    store.write_json(CONFIG, {**meta, "run_id": base_id, "shard": None, "merged_from": [s["run_id"] for s in shards]})
    _write_config_yaml(sources[0], store)
    for name in (ENVIRONMENT, DATASET):
        store.write_json(name, sources[0].read_json(name))
    metrics_meta = _metrics_meta(shards)
    store.write_json(METRICS, metrics_meta)
    store.write_json(CODECS, {k: v for src in sources for k, v in src.read_json(CODECS, {}).items()})
    store.write_json(SHARDS, [{"shard": f"{s['k']}/{n}", "run_id": s["run_id"], "folder": str(s["folder"]),
                               "environment": src.read_json(ENVIRONMENT, {})} for s, src in zip(shards, sources,
                                                                                                strict=True)])
    streams, folders = _declared(metrics_meta)
    for stream in streams:
        store.append_records(stream, [r for src in sources for r in src.records(stream)])
    for name in (CODES_DIR, AUDIO_DIR, *folders):
        store.merge_folder(name, sources)
    store.append(rows)
    store.write_parquet()
    write_summaries(out)
    return out


def _declared(metrics_meta: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The side-record streams and per-item folders the run's metrics declare (those registered here)."""
    from codecbench.metrics.registry import configured

    streams: list[str] = []
    folders: list[str] = []
    for name, meta in metrics_meta.items():
        m = configured(name, meta.get("options"))
        if m is not None:
            streams += [s for s in m.streams if s not in streams]
            folders += [f for f in m.folders if f not in folders]
    return streams, folders


def _metrics_meta(shards: list[dict[str, Any]]) -> dict[str, Any]:
    """Shard 1's metrics.json; a metric unavailable in any shard is marked so (with that shard's reason)."""
    meta = RunFolder(shards[0]["folder"]).read_json(METRICS, {})
    for s in shards[1:]:
        for name, m in RunFolder(s["folder"]).read_json(METRICS, {}).items():
            if name in meta and m.get("unavailable") and not meta[name].get("unavailable"):
                meta[name]["unavailable"] = f"in shard {s['k']}: {m['unavailable']}"
    return meta


def _write_config_yaml(shard: RunFolder, store: RunFolder) -> None:
    """The shard's config.yaml without its shard key: re-running it reproduces the merged run."""
    import yaml

    path = shard.path(CONFIG_YAML)
    if path.exists():
        cfg = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        cfg["shard"] = None
        store.write_text(CONFIG_YAML, yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))


def cmd_merge(args: argparse.Namespace) -> int:
    print(merge(args.shards, args.out))
    return 0


def register(sub) -> None:
    p = sub.add_parser("merge", help="merge shard run folders (--shard K/N) into one run",
                       description="Checks that the shards share one configuration, with no overlap or gap, "
                                   "and writes the merged run (rows, side records, summaries).")
    p.add_argument("shards", nargs="+", metavar="SHARD", help="shard run folders")
    p.add_argument("--out", required=True, help="the merged run folder (new)")
    p.set_defaults(func=cmd_merge)
