"""The run pipeline: plan ─► load ─► reconstruct ─► model metrics ─► signal metrics ─► sink, scheduled
by an executor (``local``: one process plus a CPU pool; ``ray``: Ray Data). See ARCHITECTURE.md."""

from __future__ import annotations

import os
from pathlib import Path

from codecbench.config import BenchConfig, resolve


def run(cfg: BenchConfig, out: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """Run (or resume) a benchmark; returns the run folder."""
    from codecbench.pipeline.plan import make_plan
    from codecbench.store import RunStore
    from codecbench.summary import write_summaries

    if cfg.offline:
        from codecbench.models import set_offline

        set_offline()
    resolved = resolve(cfg)
    if resolved.engine == "ray":
        from codecbench.pipeline.ray_engine import require_ray

        require_ray()  # before the run folder is made
    plan = make_plan(resolved, out, explicit_metrics=bool(resolved.require_metrics))
    if resolved.engine == "ray":
        from codecbench.pipeline.ray_engine import RayExecutor

        RayExecutor(plan, progress).run()
    else:
        from codecbench.pipeline.local import LocalExecutor

        LocalExecutor(plan, progress).run()
    RunStore(plan.run_dir).write_parquet()
    write_summaries(plan.run_dir)
    return plan.run_dir
