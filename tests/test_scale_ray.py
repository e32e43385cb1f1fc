"""The Ray Data engine: the same rows and values as the local engine, resume, and the errors a user
can fix. One local Ray instance (2 CPUs) serves the module and is shut down at its end."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest

from codecbench.cli import main
from codecbench.store import RunStore, load_rows

RUN = ["--codecs", "opus-6kbps,opus-12kbps", "--langs", "hi,en", "--metrics", "pesq_wb,stoi,si_sdr", "-q"]


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'codecbench[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             object_store_memory=256 * 1024**2)
    yield ray
    ray.shutdown()


def values(run_dir) -> pd.DataFrame:
    df = load_rows(run_dir)
    return df.drop(columns=["computed_at"]).sort_values(["codec", "utt_id"]).reset_index(drop=True)


def test_ray_engine_equals_local_engine_and_resumes(testdata, ray_instance, tmp_path):
    manifest = str(testdata / "manifest.json")
    ray_out, local_out = tmp_path / "ray", tmp_path / "local"
    assert main(["run", *RUN, "--dataset", manifest, "--engine", "ray", "--out", str(ray_out)]) == 0
    assert main(["run", *RUN, "--dataset", manifest, "--workers", "1", "--out", str(local_out)]) == 0
    a, b = values(ray_out), values(local_out)
    assert len(a) == 36 and a[["pesq_wb", "stoi", "si_sdr"]].notna().all().all()
    pd.testing.assert_frame_equal(a, b)  # same rows, same values, same batches (batch_size column)
    pd.testing.assert_frame_equal(pd.read_csv(ray_out / "summary.csv"), pd.read_csv(local_out / "summary.csv"))
    assert json.loads((ray_out / "timings.json").read_text())["engine"] == "ray"

    # resume: a run cut short keeps its rows and computes only the rest
    lines = (ray_out / "rows.jsonl").read_text().splitlines(keepends=True)
    (ray_out / "rows.jsonl").write_text("".join(lines[:10]) + lines[10][:25])  # and a torn last line
    kept = {(r["codec"], r["utt_id"]): r["computed_at"] for r in RunStore(ray_out).rows()}
    assert main(["run", *RUN, "--dataset", manifest, "--engine", "ray", "--out", str(ray_out)]) == 0
    rows = RunStore(ray_out).rows()
    assert len(rows) == 36 and all(r["computed_at"] == kept[k] for r in rows if (k := (r["codec"], r["utt_id"])) in kept)
    pd.testing.assert_frame_equal(values(ray_out).drop(columns=["batch_size"]), b.drop(columns=["batch_size"]))


def test_ray_engine_without_ray_is_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    from codecbench.pipeline.ray_engine import RayUnavailable, require_ray

    with pytest.raises(RayUnavailable, match=r"pip install 'codecbench\[ray\]'"):
        require_ray()
    code = main(["run", "--engine", "ray", "--codecs", "opus-6kbps", "--metrics", "si_sdr", "--limit", "1",
                 "--out", str(tmp_path / "r"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "codecbench[ray]" in err
    assert not (tmp_path / "r").exists()  # refused before any work


def test_ray_model_metric_actors_equal_local(testdata, ray_instance, tmp_path):
    """A model (batched) metric runs in its actor pool and gives the local engine's values."""
    args = ["run", "--codecs", "opus-12kbps", "--langs", "hi", "--limit", "3", "--metrics", "spk_sim_ge2e,si_sdr",
            "--dataset", str(testdata / "manifest.json"), "--batch-size", "2", "-q"]
    from codecbench.metrics.registry import get_metric

    if (reason := get_metric("spk_sim_ge2e").unavailable_reason()) is not None:
        pytest.skip(f"spk_sim_ge2e cannot run here: {reason}")
    assert main([*args, "--engine", "ray", "--out", str(tmp_path / "ray")]) == 0
    assert main([*args, "--workers", "1", "--out", str(tmp_path / "local")]) == 0
    a, b = values(tmp_path / "ray"), values(tmp_path / "local")
    assert len(a) == 3 and a["spk_sim_ge2e"].notna().all()
    pd.testing.assert_frame_equal(a, b)
    stages = json.loads((tmp_path / "ray" / "timings.json").read_text())["stage_seconds"]
    assert {"reconstruct", "model_metrics", "signal_metrics"} <= set(stages)


def test_ray_notices_go_to_the_runs_log(testdata, tmp_path):
    """A run that starts its own Ray: Ray's start-up notices (token authentication, core_worker.cc actor
    warnings) are in <run>/ray.log, not on the terminal; the results table still is."""
    import subprocess

    pytest.importorskip("ray", reason="Ray is not installed (pip install 'codecbench[ray]')")
    from cli_fixture import env

    out = tmp_path / "run"
    e = {k: v for k, v in env().items() if k != "RAY_AUTH_MODE"}
    p = subprocess.run([sys.executable, "-m", "codecbench", "run", "--engine", "ray", "--codecs", "opus-6kbps",
                        "--langs", "hi", "--limit", "2", "--metrics", "si_sdr", "--dataset",
                        str(testdata / "manifest.json"), "--out", str(out)],
                       capture_output=True, text=True, timeout=300, env=e, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    for ray_line in ("Token authentication", "core_worker", "ray._private", "(raylet)", "MapWorker"):
        assert ray_line not in p.stderr, p.stderr[-3000:]
    assert "opus-6kbps  hi" in p.stderr + p.stdout  # codecbench's own output (the results table) is untouched
    log = (out / "ray.log").read_text(encoding="utf-8")
    assert "Token authentication" in log or "core_worker" in log, log[-2000:]


def test_ray_log_block_keeps_codecbench_output(tmp_path, capfd):
    """The block itself, without Ray: a "ray.*" logger's record and a native write on file descriptor 2
    go to the log, codecbench's prints (through sys.stderr) to the terminal; all is restored after."""
    import logging
    import os

    from codecbench.pipeline.ray_log import ray_output_to_log

    before = logging.getLogger("ray").handlers[:]
    with ray_output_to_log(tmp_path) as path:
        logging.getLogger("ray.data.some").warning("a ray notice")
        logging.getLogger("ray").handlers.clear()  # what ray.init(configure_logging=False) does
        logging.getLogger("ray._private.worker").warning("after init")
        os.write(2, b"core_worker.cc: native notice\n")
        print("codecbench progress", file=sys.stderr)
    print("after the block", file=sys.stderr)
    err = capfd.readouterr().err
    assert "codecbench progress" in err and "after the block" in err
    assert "notice" not in err and "after init" not in err
    log = path.read_text(encoding="utf-8")
    assert "a ray notice" in log and "after init" in log and "core_worker.cc: native notice" in log
    assert logging.getLogger("ray").handlers == before and logging.lastResort is not None
    with pytest.raises(RuntimeError), ray_output_to_log(tmp_path):
        raise RuntimeError("boom")
    assert f"Ray's log: {path}" in capfd.readouterr().err
