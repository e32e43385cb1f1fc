"""Experiment trackers: a finished run also logged to W&B and/or MLflow (``--log-to wandb,mlflow``,
``log_to`` in a config; not part of the run's identity: they change where figures go, never a value).

Everything comes from the run folder, nothing is recomputed:

* **config**: the resolved config (``config.yaml``), run id, dataset and codecbench version; W&B run
  config, MLflow params (nested keys flattened with dots; lists as JSON);
* **summary table**: ``summary.csv`` (a W&B Table ``summary``; MLflow ``summary.json`` table and
  the CSV);
* **per-language metrics**: every ``ok`` figure of summary.csv as ``METRIC/CODEC/LANG`` (the W&B
  run summary; MLflow metrics, each name part with characters MLflow refuses replaced by ``_``);
* **artefacts**: the report ``codecbench report`` writes (index.html, leaderboard.md/.tex, plots/),
  summary.md, config.yaml and data_checks.json.

Where: W&B honours its own environment (``WANDB_MODE=offline`` writes ``./wandb/offline-run-*``,
readable with ``wandb leet inspect``; ``WANDB_PROJECT``, ``WANDB_DIR``); MLflow logs to
``MLFLOW_TRACKING_URI``, default a local file store ``./mlruns`` (MLflow 3 opens a file store only
with ``MLFLOW_ALLOW_FILE_STORE=true``, which is set for one unless already set). The project / experiment is
``log_project`` (default ``codecbench``). A tracker that is not installed or fails is a one-line
warning on stderr: the run folder is complete either way. Each tracker's run id is kept in the run
folder's ``trackers.json``.
"""

from __future__ import annotations

import json
import math
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

TRACKERS_JSON = "trackers.json"
DEFAULT_PROJECT = "codecbench"
ARTEFACTS = ("summary.md", "summary.csv", "config.yaml", "data_checks.json")
MLFLOW_PARAM_MAX = 6000  # characters of one MLflow param value


def log_run(run_dir: str | Path, trackers: list[str], project: str | None = None) -> dict[str, str]:
    """Log the run folder to each tracker; returns tracker -> its run id (failures are warnings)."""
    from codecbench.store import RunFolder

    folder = RunFolder(run_dir)
    content = _content(folder)
    done: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="codecbench-report-") as tmp:
        content["report"] = _report(folder.dir, Path(tmp) / "report")
        for name in trackers:
            try:
                done[name] = LOGGERS[name](content, project or DEFAULT_PROJECT)
            except ImportError as exc:
                _warn(f"{name} is not installed, the run was not logged there ({exc.name or exc}; "
                      "pip install 'codecbench[trackers]')")
            except Exception as exc:  # a tracker's failure never loses the run: the folder is complete
                _warn(f"logging to {name} failed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
                      f"; the run folder {folder.dir} is complete")
    if done:
        previous = folder.read_json(TRACKERS_JSON, {})
        folder.write_json(TRACKERS_JSON, {**previous, **done})
    return done


def _warn(message: str) -> None:
    print(f"codecbench: warning: {message}", file=sys.stderr)


# -- what is logged --------------------------------------------------------------------------------
def _content(folder) -> dict[str, Any]:
    import pandas as pd
    import yaml

    from codecbench import __version__
    from codecbench.store import CONFIG, CONFIG_YAML, SUMMARY_CSV

    meta = folder.read_json(CONFIG)
    config = yaml.safe_load(folder.path(CONFIG_YAML).read_text(encoding="utf-8")) or {}
    summary = pd.read_csv(folder.path(SUMMARY_CSV), keep_default_na=False, na_values=[""])
    return {
        "run_id": meta["run_id"], "dir": folder.dir, "summary": summary,
        "config": {**config, "run_id": meta["run_id"], "dataset_name": meta.get("dataset_name"),
                   "n_utterances": meta.get("n_utterances"), "codecbench_version": __version__},
        "metrics": metric_values(summary),
        "files": [folder.path(n) for n in ARTEFACTS if folder.path(n).is_file()],
    }


def metric_values(summary) -> dict[str, float]:
    """``METRIC/CODEC/LANG`` -> mean, for every ``ok`` figure of summary.csv."""
    out = {}
    for r in summary.itertuples(index=False):
        if r.status == "ok" and isinstance(r.mean, (int, float)) and math.isfinite(r.mean):
            out["/".join(_part(str(p)) for p in (r.metric, r.codec, r.lang))] = float(r.mean)
    return out


def _part(name: str) -> str:
    """One part of a metric key: characters MLflow refuses, and slashes, as ``_``."""
    return re.sub(r"[^\w.\- ]", "_", name).strip() or "_"


def _report(run_dir: Path, out: Path) -> Path | None:
    """The run's report (``codecbench report``'s files), or None (a warning) when it cannot be built."""
    try:
        from codecbench.report.leaderboard import build_report

        build_report([str(run_dir)], out)
        return out
    except Exception as exc:  # matplotlib missing, a run without figures: the rest is still logged
        _warn(f"the report was not built for the trackers ({type(exc).__name__}: {exc})")
        return None


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config as ``a.b`` -> value text (lists and None as JSON), for MLflow params."""
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
    return out


# -- the trackers ----------------------------------------------------------------------------------
def _wandb(content: dict[str, Any], project: str) -> str:
    import wandb

    run = wandb.init(project=project, name=content["run_id"], config=content["config"], job_type="codecbench-run",
                     settings=wandb.Settings(console="off", silent=True))
    try:
        run.summary.update(content["metrics"])
        run.log({"summary": wandb.Table(dataframe=content["summary"].astype(object).where(
            content["summary"].notna(), None))})
        art = wandb.Artifact(f"report-{_part(content['run_id'])}", type="codecbench-report")
        if content["report"] is not None:
            art.add_dir(str(content["report"]), name="report")
        for f in content["files"]:
            art.add_file(str(f), name=f.name)
        run.log_artifact(art)
        return run.id
    finally:
        run.finish()


def _mlflow(content: dict[str, Any], project: str) -> str:
    import os

    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    uri = os.environ.get("MLFLOW_TRACKING_URI") or Path("mlruns").absolute().as_uri()
    if uri.startswith("file:") or "://" not in uri:
        # MLflow 3 keeps its file store (the one that needs no server or database) only on request
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(project)
    exp_id = exp.experiment_id if exp is not None else client.create_experiment(project)
    run = client.create_run(exp_id, run_name=content["run_id"], tags={"codecbench.run_dir": str(content["dir"])})
    run_id = run.info.run_id
    try:
        import time

        now = int(time.time() * 1000)
        params = [Param(k, v) for k, v in flatten(content["config"]).items() if len(v) <= MLFLOW_PARAM_MAX]
        long = [k for k, v in flatten(content["config"]).items() if len(v) > MLFLOW_PARAM_MAX]
        metrics = [Metric(k, v, now, 0) for k, v in content["metrics"].items()]
        for i in range(0, max(len(params), len(metrics)), 100):
            client.log_batch(run_id, metrics=metrics[i:i + 100], params=params[i:i + 100],
                             tags=[RunTag("codecbench.params_in_config_yaml", ",".join(long))] if long and i == 0 else [])
        client.log_table(run_id, data=content["summary"], artifact_file="summary.json")
        for f in content["files"]:
            client.log_artifact(run_id, str(f))
        if content["report"] is not None:
            client.log_artifacts(run_id, str(content["report"]), "report")
        client.set_terminated(run_id)
    except Exception:
        client.set_terminated(run_id, status="FAILED")
        raise
    return run_id


LOGGERS = {"wandb": _wandb, "mlflow": _mlflow}
