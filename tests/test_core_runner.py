"""The runner end to end: rows and summaries, batched == single, resume after kill -9, bad inputs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from codecbench import audio
from codecbench.cli import main
from codecbench.codecs.registry import register
from codecbench.config import BenchConfig
from codecbench.pipeline import run
from codecbench.store import RunStore, load_rows
from tests.helpers import mulaw_spec, nan_spec, speechlike

ROOT = Path(__file__).resolve().parents[1]
SIGNAL_METRICS = ["pesq_wb", "pesq_nb", "stoi", "estoi", "mel_distance", "si_sdr", "bitrate", "codebook", "rtf"]


@pytest.fixture(scope="module", autouse=True)
def _test_codecs():
    register(mulaw_spec())
    register(nan_spec())


def write_manifest(folder: Path, items: list[tuple[str, str, np.ndarray | bytes | None, int]]) -> Path:
    """items: (id, lang, audio or raw bytes or None for a missing file, sample rate)."""
    lines = []
    for uid, lang, data, sr in items:
        path = folder / f"{uid}.wav"
        if isinstance(data, bytes):
            path.write_bytes(data)
        elif data is not None:
            audio.save(path, data, sr)
        lines.append({"id": uid, "path": path.name, "lang": lang, "text": "t", "speaker": uid[:2]})
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return manifest


@pytest.fixture
def synth_manifest(tmp_path) -> Path:
    items = [(f"{lang}{i}", lang, speechlike(0.8 + 0.37 * i, sr, seed=i), sr)
             for i in range(5) for lang, sr in (("hi", 16000), ("ta", 22050))]
    return write_manifest(tmp_path, items)


def _metric_values(df: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in df.columns if c not in ("batch_size", "computed_at", "run_id", "rtf_encode", "rtf_decode")]
    return df[cols].sort_values(["codec", "utt_id"]).reset_index(drop=True)


def test_shared_manifest_two_opus_codecs_hi_en(testdata, tmp_path):
    out = tmp_path / "run"
    code = main(["run", "--codecs", "opus-6kbps,opus-12kbps", "--dataset", str(testdata / "manifest.json"),
                 "--langs", "hi,en", "--out", str(out), "--quiet", "--metrics", "pesq_wb,pesq_nb,stoi,estoi,bitrate"])
    assert code == 0
    rows = pd.read_parquet(out / "utterances.parquet")
    assert len(rows) == 36 and set(rows["codec"]) == {"opus-6kbps", "opus-12kbps"}
    assert rows[["pesq_wb", "pesq_nb", "stoi", "estoi"]].notna().all().all()
    assert (rows["source_sr"] == 16000).sum() + (rows["source_sr"] != 16000).sum() == 36
    summary = pd.read_csv(out / "summary.csv")
    assert {"hi", "en", "all"} <= set(summary["lang"])
    pesq = summary[(summary.metric == "pesq_wb") & (summary.lang != "all")]
    assert len(pesq) == 4 and (pesq["status"] == "ok").all() and (pesq["ci_low"] <= pesq["mean"]).all()
    # a better bitrate gives better scores on real speech
    means = pesq.groupby("codec")["mean"].mean()
    assert means["opus-12kbps"] > means["opus-6kbps"]
    for name in ("config.json", "environment.json", "metrics.json", "codecs.json", "dataset.json", "summary.md"):
        assert (out / name).exists(), name
    env = json.loads((out / "environment.json").read_text())
    assert env["packages"]["pesq"] and env["device"] and env["libopus"]


def test_batched_and_single_runs_give_identical_metrics(synth_manifest, tmp_path):
    cfg = dict(codecs=["opus-12kbps", "example-mulaw-8k"], dataset=str(synth_manifest), metrics=SIGNAL_METRICS, workers=0)
    single = run(BenchConfig(batch_size=1, **cfg), out=tmp_path / "single", progress=False)
    batched = run(BenchConfig(batch_size=8, **cfg), out=tmp_path / "batched", progress=False)
    a, b = _metric_values(load_rows(single)), _metric_values(load_rows(batched))
    assert len(a) == 20 and (load_rows(batched)["batch_size"] > 1).any()
    pd.testing.assert_frame_equal(a, b)


def test_codebook_utilization_is_pooled_per_language(synth_manifest, tmp_path):
    out = run(BenchConfig(codecs=["example-mulaw-8k"], dataset=str(synth_manifest), metrics=["codebook"], workers=0),
              out=tmp_path / "cb", progress=False)
    cb = pd.read_csv(out / "codebook.csv")
    assert set(cb["lang"]) == {"hi", "ta", "all"} and (cb["size"] == 256).all()
    assert ((cb["used_share"] > 0) & (cb["used_share"] <= 1)).all()
    assert (cb["perplexity"] <= 256).all() and (cb["entropy_bits"] <= 8).all()
    assert len(list(RunStore(out).codes_path("example-mulaw-8k", "x").parent.glob("*.npz"))) == 10


def test_bad_inputs_become_recorded_failures(tmp_path):
    good = speechlike(1.5, 16000)
    items = [("ok1", "hi", good, 16000), ("ok2", "hi", speechlike(1.2, 16000, seed=3), 16000),
             ("missing", "hi", None, 16000), ("corrupt", "hi", b"RIFF\x00\x00garbage" * 10, 16000),
             ("silent", "hi", np.zeros(16000, dtype=np.float32), 16000),
             ("short", "hi", good[:800], 16000)]
    manifest = write_manifest(tmp_path, items)
    out = run(BenchConfig(codecs=["opus-12kbps", "test-nan"], dataset=str(manifest), metrics=["pesq_wb", "stoi"],
                        workers=0), out=tmp_path / "run", progress=False)
    rows = load_rows(out).set_index(["codec", "utt_id"])
    assert len(rows) == 12
    errors = rows["error"]
    assert "missing file" in errors[("opus-12kbps", "missing")]
    assert "cannot decode" in errors[("opus-12kbps", "corrupt")] or "Error" in errors[("opus-12kbps", "corrupt")]
    assert "silent" in errors[("opus-12kbps", "silent")]
    assert "too short" in errors[("opus-12kbps", "short")]
    for uid in ("ok1", "ok2"):
        assert rows.loc[("opus-12kbps", uid), "status"] == "ok" and np.isfinite(rows.loc[("opus-12kbps", uid), "pesq_wb"])
    nan_rows = rows.loc["test-nan"]
    assert (nan_rows["error"] == "codec output contains NaN or Inf").sum() >= 1
    failed = rows[rows["status"] == "failed"]
    assert failed["pesq_wb"].isna().all() and (failed["pesq_wb__failure"] != "").all()
    summary = pd.read_csv(out / "summary.csv")
    opus = summary[(summary.codec == "opus-12kbps") & (summary.metric == "pesq_wb") & (summary.lang == "hi")].iloc[0]
    assert opus["n"] == 2 and opus["n_failed"] == 4


def test_interrupted_run_resumes_without_loss_or_recompute(tmp_path):
    items = [(f"u{i:02d}", "hi", speechlike(1.0 + 0.1 * i, 16000, seed=i), 16000) for i in range(10)]
    manifest = write_manifest(tmp_path, items)
    out = tmp_path / "run"
    args = ["run", "--codecs", "opus-6kbps,opus-12kbps", "--dataset", str(manifest), "--out", str(out),
            "--metrics", "pesq_wb,pesq_nb,stoi,estoi,mel_distance", "--workers", "0", "--batch-size", "2", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "codecbench", *args], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows_file = out / "rows.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if rows_file.exists() and len(rows_file.read_text().splitlines()) >= 5:
            break
        if proc.poll() is not None:
            pytest.fail("the run finished before it could be interrupted")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {(r["codec"], r["utt_id"]): r["computed_at"] for r in RunStore(out).rows()}
    assert 5 <= len(before) < 20
    assert not (out / "utterances.parquet").exists()
    # a torn last line, as a kill during a write leaves it
    with open(rows_file, "a") as f:
        f.write('{"codec": "opus-6kbps", "utt_id": "u0')
    assert main(args) == 0
    rows = RunStore(out).rows()
    keys = [(r["codec"], r["utt_id"]) for r in rows]
    assert len(keys) == 20 and len(set(keys)) == 20
    after = {(r["codec"], r["utt_id"]): r["computed_at"] for r in rows}
    assert all(after[k] == v for k, v in before.items())  # completed rows were not recomputed
    assert len(pd.read_parquet(out / "utterances.parquet")) == 20
    assert main(args) == 0  # a finished run re-run is a no-op
    assert len(RunStore(out).rows()) == 20


def test_resume_refuses_a_different_configuration(synth_manifest, tmp_path):
    out = tmp_path / "run"
    run(BenchConfig(codecs=["example-mulaw-8k"], dataset=str(synth_manifest), metrics=["si_sdr"], workers=0), out=out, progress=False)
    code = main(["run", "--codecs", "example-mulaw-8k", "--dataset", str(synth_manifest), "--metrics", "stoi", "--out", str(out), "-q"])
    assert code == 2


def test_user_errors_are_one_line(synth_manifest, capsys):
    assert main(["run", "--dataset", str(synth_manifest), "--langs", "hi,xx", "--codecs", "example-mulaw-8k"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "xx" in err and "hi, ta" in err
    assert main(["run", "--dataset", str(synth_manifest), "--codecs", "opus-7kbps"]) == 2
    assert "unknown codec" in capsys.readouterr().err
    assert main(["run", "--dataset", "/nonexistent/manifest.jsonl"]) == 2


def test_default_job_on_embedded_dataset(tmp_path, monkeypatch):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/install-system-deps installs it)")
    monkeypatch.setenv("CODECBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    out = run(BenchConfig(codecs=["opus-12kbps"], limit=1, metrics=["pesq_wb", "stoi"], workers=0), progress=False)
    assert out.parent == Path("results")
    summary = pd.read_csv(out / "summary.csv")
    assert {"en", "hi", "ta"} <= set(summary["lang"])
    rows = load_rows(out)
    assert (rows["source_sr"] == 22050).all() and rows["pesq_wb"].notna().all()
