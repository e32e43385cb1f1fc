"""The run pipeline: plan ─► load ─► reconstruct ─► model metrics ─► signal metrics ─► row, the stages
chained by one batch processor (``stages.BatchProcessor``) and scheduled by an executor (``local``: one
process plus a CPU pool; ``ray``: Ray Data), named in ``EXECUTORS``. See docs/architecture.md."""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path

from codecbench.config import BenchConfig
from codecbench.errors import CodecbenchError

# engine name -> its executor class (``module:Class``, imported only when that engine runs)
EXECUTORS = {"local": "codecbench.pipeline.local:LocalExecutor", "ray": "codecbench.pipeline.ray_engine:RayExecutor"}


def executor_class(engine: str):
    module, _, name = EXECUTORS[engine].partition(":")
    return getattr(importlib.import_module(module), name)


def run(cfg: BenchConfig, out: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """Run (or resume) a benchmark; returns the run folder."""
    from codecbench.pipeline.plan import make_plan
    from codecbench.pipeline.resolve import resolve
    from codecbench.store import RunFolder

    if cfg.offline:
        from codecbench.models import set_offline

        set_offline()
    resolved = resolve(cfg)
    executor = executor_class(resolved.engine)
    executor.preflight(resolved)  # before the run folder is made
    plan = make_plan(resolved, out, explicit_metrics=bool(resolved.require_metrics))
    try:
        # the summary's imports (pandas, ~0.25 s) load while the last items are scored, instead of
        # after the last row, when they would be all that runs
        executor(plan, progress, prefetch=("codecbench.summary",)).run()
        from codecbench.summary import write_summaries  # pandas: imported when needed, not before the work

        RunFolder(plan.run_dir).write_parquet()
        write_summaries(plan.run_dir)
    except CodecbenchError:
        # A user error found late (e.g. a codec checkpoint that does not load): leave no half-made
        # folder behind to block the corrected command.
        if not plan.resuming and not RunFolder(plan.run_dir).rows_path.exists():
            shutil.rmtree(plan.run_dir, ignore_errors=True)
        raise
    finally:
        if plan.store is not None:
            plan.store.close()
    return plan.run_dir
