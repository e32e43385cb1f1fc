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
