"""The plan stage: a resolved config becomes utterances × codecs × fresh metric instances, a run id and
an opened run folder, with every user error raised before any work.

Pair scoring (``dataset_format: pairs``, set by ``degraded``) is a plan without a codec: the
utterances come from a ref/deg pair list (``codecbench.data.pairs``), each with its degraded file in
``extra["deg_path"]``; the one "codec" is the pairs' label (``pair_label``); ids found on one side
only are listed on stderr and in ``unmatched.json``.

The run id is ``<dataset>-<hash>`` of the config's identity (every option that can change a value)
and the utterance ids. A run folder keeps ``config.yaml`` (the resolved config, in the schema a user
writes) and ``config.json`` (run id, identity, counts). Running into an existing folder resumes it, or
extends it: more utterances (a higher ``limit``), languages or codecs keep every row already computed,
as long as each shared row would be computed the same way (``config.extension_diff``: the dataset,
metrics and their options, each codec's name, options and weights by label, ...). Anything else is
refused naming the differing keys, and so is a config that leaves out rows the folder holds.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from codecbench import __version__
from codecbench.codecs.registry import DEFAULT_CODECS, default_codecs  # noqa: F401 (their former home)
from codecbench.config import BenchConfig, ConfigError, extension_diff, upgrade_identity
from codecbench.data import DatasetError, filter_langs, load_dataset
from codecbench.data.loaders import Dataset, probe
from codecbench.data.pairs import pair_label  # noqa: F401 (its former home)
from codecbench.metrics.base import Metric
from codecbench.metrics.registry import create, data_check_names
from codecbench.store import (
    CONFIG,
    CONFIG_YAML,
    DATASET,
    ENVIRONMENT,
    METRICS,
    UNMATCHED,
    ConfigMismatch,
    RunFolder,
    safe_name,
)
from codecbench.types import CodecInfo, Utterance


@dataclass
class Plan:
    config: BenchConfig  # resolved
    run_id: str
    run_dir: Path
    utterances: list[Utterance]
    codecs: list[str]
    metrics: list[Metric]  # runnable, configured instances
    unavailable: dict[str, str] = field(default_factory=dict)  # metric name -> reason (not run now)
    not_applicable: dict[str, str] = field(default_factory=dict)  # metric name -> reason
    resuming: bool = False
    store: RunFolder | None = None  # opened and locked by make_plan; closed when the run ends
    shard_part: frozenset[tuple[str, str]] | None = None  # this shard's (codec, utt_id) pairs; None: all

    def in_shard(self, codec: str, utt_id: str) -> bool:
        return self.shard_part is None or (codec, utt_id) in self.shard_part

    def n_work(self) -> int:
        return sum(self.in_shard(c, u.id) for c in self.codecs for u in self.utterances)

    @property
    def pairs(self) -> bool:
        """Scoring given ref/deg pairs: the degraded side is loaded, no codec runs."""
        return self.config.dataset_format == "pairs"

    def codec_info(self, name: str) -> CodecInfo:
        if self.pairs:
            rates = sorted({u.source_sr for u in self.utterances if u.source_sr})
            kbps = (self.config.bitrate or {}).get(name)
            return CodecInfo(name=name, family="pairs", sample_rate=rates[-1] if rates else 0,
                             nominal_bitrate=None if kbps is None else 1000.0 * kbps,
                             description=f"degraded files given by the user ({self.config.degraded or self.config.dataset})")
        from codecbench.codecs.registry import get_spec

        return get_spec(self.config.codec(name).target).info


UNMATCHED_SHOWN = 10  # unmatched ids printed on stderr; all of them are in unmatched.json


def _pair_dataset(cfg: BenchConfig) -> tuple[Dataset, dict[str, list[str]]]:
    """The pairs as a dataset of reference utterances (degraded path in extra), and the unmatched ids."""
    from codecbench.data.pairs import load_pairs

    pairs = load_pairs(cfg.dataset or "", cfg.degraded)
    utts = []
    for item in pairs.items:
        u = item.utterance()
        u.path = str(Path(u.path or "").absolute())
        u.extra["deg_path"] = str(Path(u.extra["deg_path"]).absolute())
        utts.append(probe(u))
    unmatched = {"reference_only": pairs.unmatched_ref, "degraded_only": pairs.unmatched_deg}
    shown = 0
    for side, ids in (("reference", pairs.unmatched_ref), ("degraded", pairs.unmatched_deg)):
        for uid in ids:
            if shown < UNMATCHED_SHOWN:
                print(f"codecbench: unmatched: {uid} has no {'degraded' if side == 'reference' else 'reference'} "
                      f"file (only in the {side} list)", file=sys.stderr)
            shown += 1
    if shown > UNMATCHED_SHOWN:
        print(f"codecbench: unmatched: {shown - UNMATCHED_SHOWN} more ids (all listed in unmatched.json of the run "
              "folder)", file=sys.stderr)
    name = f"pairs-{(cfg.codec_keys or ['pairs'])[0]}"
    return Dataset(name, pairs.source, utts), unmatched


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def run_id_for(cfg: BenchConfig, dataset_name: str, utts: list[Utterance]) -> tuple[str, dict[str, Any]]:
    ids = hashlib.sha256("\n".join(u.id for u in utts).encode()).hexdigest()[:16]
    ident = {**cfg.identity(), "utterance_ids_sha256": ids}
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return cfg.run_id or f"{safe_name(dataset_name)}-{digest}", ident


def make_plan(cfg: BenchConfig, out: str | Path | None = None, explicit_metrics: bool = False) -> Plan:
    """Load the dataset, check codecs and metrics, open (or resume) the run folder.

    ``explicit_metrics``: the user named the metrics; one that cannot run here stops the run (exit 2).
    A default metric that cannot run is reported once on stderr and recorded as ``unavailable``.
    """
    from codecbench.codecs.registry import require_available

    unmatched = None
    if cfg.dataset_format == "pairs":
        ds, unmatched = _pair_dataset(cfg)
    else:
        ds = load_dataset(cfg.dataset, cfg.dataset_format, cfg.dataset_lang, columns=cfg.dataset_columns,
                          revision=cfg.dataset_revision, langs=cfg.langs, limit=cfg.limit)
        if ds.revision is not None and ds.revision != cfg.dataset_revision:  # pinned: part of the identity
            cfg = copy.copy(cfg)
            cfg.dataset_revision = ds.revision
    utts = filter_langs(ds, cfg.langs, cfg.limit)
    if not utts:
        raise DatasetError(f"dataset {ds.name!r} has no utterances to run")
    for entry in [] if unmatched is not None else cfg.codecs or []:
        require_available(entry.target)
    metrics = [create(s.name, s.options) for s in cfg.metrics or []]
    named = {m.name for m in metrics}
    metrics += [create(n) for n in data_check_names() if n not in named]  # every run checks its references
    unavailable = {m.name: r for m in metrics if (r := m.unavailable_reason())}
    if unavailable and explicit_metrics:
        name, reason = next(iter(unavailable.items()))
        raise ConfigError(f"metric {name} cannot run here: {reason}")
    for name, reason in unavailable.items():
        print(f"codecbench: warning: default metric {name} is unavailable and will be recorded as such: {reason}",
              file=sys.stderr)
    has_text = any((u.text or "").strip() for u in utts)
    not_applicable = {m.name: "the dataset has no transcripts" for m in metrics
                      if m.info().needs_text and not has_text and m.name not in unavailable}
    for name, reason in not_applicable.items():
        print(f"codecbench: note: {name} is not applicable: {reason}", file=sys.stderr)

    run_id, ident = run_id_for(cfg, ds.name, utts)
    costs = None
    if cfg.shard:
        from codecbench.pipeline.shards import codec_costs

        k, n = cfg.shard.split("/")
        run_id = f"{run_id}-shard{k}of{n}"
        costs = codec_costs(cfg.codecs or [], pairs=unmatched is not None)
    run_dir = Path(out) if out else Path("results") / run_id
    meta = {"run_id": run_id, "dataset_name": ds.name, "dataset": ds.source, "n_utterances": len(utts),
            "identity": ident, "shard": cfg.shard, "created_at": _now(), "codecbench_version": __version__,
            **({"shard_costs": costs} if costs else {})}
    store = RunFolder(run_dir)
    resuming = _open(store, meta, cfg, {(c, u.id) for c in cfg.codec_keys for u in utts})
    stored = store.read_json(CONFIG)
    plan = Plan(cfg, stored["run_id"], run_dir, utts, cfg.codec_keys,
                [m for m in metrics if m.name not in unavailable and m.name not in not_applicable],
                unavailable, not_applicable, resuming, store)
    if cfg.shard:
        plan.shard_part = _shard_part(plan, stored.get("shard_costs"))
    _write_metadata(store, plan, metrics)
    if unmatched is not None:
        store.write_json(UNMATCHED, unmatched)
    return plan


def _shard_part(plan: Plan, costs: dict[str, float] | None) -> frozenset[tuple[str, str]] | None:
    """This shard's pairs (split with the costs its folder recorded), announced with its share of the cost."""
    from codecbench.pipeline.shards import estimated_cost, part

    utts = [(u.id, u.duration) for u in plan.utterances]
    mine = part(plan.config.shard, plan.codecs, utts, costs)
    if costs and mine is not None:
        cost = {(c, u): estimated_cost(costs, c, d) for c in plan.codecs for u, d in utts}
        share = sum(cost[p] for p in mine) / max(sum(cost.values()), 1e-9)
        print(f"codecbench: shard {plan.config.shard}: {len(mine)} of {len(cost)} (codec, utterance) pairs, "
              f"{100 * share:.0f}% of the estimated cost", file=sys.stderr)
    return mine


def _open(store: RunFolder, meta: dict[str, Any], cfg: BenchConfig, planned: set[tuple[str, str]]) -> bool:
    """Create and lock the run folder, or check that it holds this run (or one it extends); True when
    resuming. ``planned``: the (codec, utterance id) rows of this configuration."""
    if not store.open(meta):
        store.write_text(CONFIG_YAML, cfg.to_yaml())
        return False
    old = store.read_json(CONFIG)
    if "identity" not in old:
        store.close()
        raise ConfigMismatch(f"{store.dir} holds a run from an older codecbench (no identity in config.json); "
                             "use another --out")
    diff = extension_diff(old["identity"], meta["identity"])
    if diff:
        store.close()
        raise ConfigMismatch(f"{store.dir} holds a run with a different configuration (differs in: "
                             f"{', '.join(diff)}); use another --out or remove the folder")
    if upgrade_identity(old["identity"]) != meta["identity"]:
        _extend(store, old, meta, planned)
    store.write_text(CONFIG_YAML, cfg.to_yaml())  # execution keys (workers, ...) may change
    return True


def _extend(store: RunFolder, old: dict[str, Any], meta: dict[str, Any], planned: set[tuple[str, str]]) -> None:
    """A run folder grown by utterances, languages or codecs: its rows must all be in the new plan (a run
    only grows), a shard keeps its split; config.json then records the new identity."""
    def refuse(why: str) -> ConfigMismatch:
        store.close()
        return ConfigMismatch(f"{store.dir} {why}; use another --out or remove the folder")

    if old.get("shard") or meta.get("shard"):
        raise refuse(f"holds shard {old.get('shard') or 'of no split'} of a run over other utterances or codecs "
                     "(shards are not extended: extend the merged run)")
    outside = sorted({(r["codec"], r["utt_id"]) for r in store.rows()} - planned)
    if outside:
        codecs = sorted({c for c, _ in outside})
        raise refuse(f"holds a run with a different configuration: {len(outside)} of its rows are not in this one "
                     f"(codecs: {', '.join(codecs[:5])}{', ...' if len(codecs) > 5 else ''}; e.g. utterance "
                     f"{outside[0][1]}), and a run folder only grows by utterances, languages and codecs")
    print(f"codecbench: extending {store.dir}: {old.get('n_utterances')} -> {meta['n_utterances']} utterances, "
          f"{len(old['identity'].get('codecs') or [])} -> {len(meta['identity']['codecs'])} codecs; the rows "
          "already computed are kept", file=sys.stderr)
    store.write_json(CONFIG, {**old, **{k: meta[k] for k in ("identity", "dataset", "n_utterances")},
                              "extended_at": meta["created_at"]})


def _write_metadata(store: RunFolder, plan: Plan, metrics: list[Metric]) -> None:
    from codecbench.environment import capture

    store.write_json(ENVIRONMENT, capture(plan.config.device, metrics=metrics))
    store.write_json(DATASET, [{k: v for k, v in asdict(u).items() if k != "audio"} for u in plan.utterances])
    meta = {}
    for m in metrics:
        meta[m.name] = {**m.info().to_dict(), "options": m.opts,
                        "unavailable": plan.unavailable.get(m.name), "not_applicable": plan.not_applicable.get(m.name)}
    store.write_json(METRICS, meta)
