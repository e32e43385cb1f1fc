"""The run pipeline: plan ─► load ─► reconstruct ─► model metrics ─► signal metrics ─► sink, scheduled
by an executor (``local``: one process plus a CPU pool; ``ray``: Ray Data). See ARCHITECTURE.md."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from codecbench.config import BenchConfig, resolve
from codecbench.errors import CodecbenchError


def run(cfg: BenchConfig, out: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """Run (or resume) a benchmark; returns the run folder."""
    from codecbench.pipeline.plan import make_plan
    from codecbench.store import RunStore

    if cfg.offline:
        from codecbench.models import set_offline

        set_offline()
    resolved = resolve(cfg)
    if resolved.engine == "ray" and resolved.dataset_format == "pairs":
        from codecbench.config import ConfigError

        raise ConfigError("pair scoring runs on the local engine (engine: local); shard it with --shard K/N")
    if resolved.engine == "ray":
        from codecbench.pipeline.ray_engine import require_ray

        require_ray()  # before the run folder is made
    if resolved.engine == "local" and int(resolved.workers or 0) > 0:
        from codecbench.metrics.registry import data_check_names, get_metric
        from codecbench.pipeline.workers import start_server

        names = [*(s.name for s in resolved.metrics or []), *data_check_names()]
        signal_modules = list(dict.fromkeys(type(m).__module__ for m in map(get_metric, names) if not m.info().batched))
        if signal_modules:
            start_server(signal_modules)  # its imports run while the run is planned
    plan = make_plan(resolved, out, explicit_metrics=bool(resolved.require_metrics))
    try:
        if resolved.engine == "ray":
            from codecbench.pipeline.ray_engine import RayExecutor

            RayExecutor(plan, progress).run()
        else:
            from codecbench.pipeline.local import LocalExecutor

            # the summary's imports (pandas, ~0.25 s) load while the pool scores the last items,
            # instead of after the last row, when they would be all that runs
            LocalExecutor(plan, progress, prefetch=("codecbench.summary",)).run()
        from codecbench.summary import write_summaries  # pandas: imported when needed, not before the work

        RunStore(plan.run_dir).write_parquet()
        write_summaries(plan.run_dir)
    except CodecbenchError:
        # A user error found late (e.g. a codec checkpoint that does not load): leave no half-made
        # folder behind to block the corrected command.
        if not plan.resuming and not (plan.run_dir / "rows.jsonl").exists():
            shutil.rmtree(plan.run_dir, ignore_errors=True)
        raise
    finally:
        if plan.store is not None:
            plan.store.close()
    return plan.run_dir
