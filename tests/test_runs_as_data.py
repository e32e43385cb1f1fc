"""Runs as data, end to end: a YAML config with a local Whisper folder runs; its run folder's config.yaml
re-runs as a no-op resume; another ASR option is refused; unavailable values are filled in once the
model appears (and nothing else is recomputed); kill -9 during an ASR run resumes with complete side
records; a named metric that cannot run stops the run before any work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codecbench.cli import main
from codecbench.config import BenchConfig
from codecbench.data import load_dataset
from codecbench.metrics.asr.errors import TRANSCRIPTS
from codecbench.pipeline import run
from codecbench.pipeline.plan import run_id_for
from codecbench.pipeline.resolve import resolve
from codecbench.store import RunStore
from tests.helpers import speechlike, write_random_ecapa

ROOT = Path(__file__).resolve().parents[1]


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_yaml_config_with_local_whisper_runs_and_resumes_exactly(testdata, whisper_base_dir, tmp_path, capsys):
    bench = tmp_path / "bench.yaml"
    bench.write_text(f"dataset: {testdata / 'manifest.json'}\nlangs: [en]\nlimit: 2\ncodecs: [opus-12kbps]\n"
                     f"metrics: [pesq_wb, {{name: wer, model: {whisper_base_dir}}}]\nworkers: 0\n")
    out = tmp_path / "run"
    assert main(["run", "--config", str(bench), "--out", str(out), "-q"]) == 0
    rows = RunStore(out).rows()
    assert len(rows) == 2 and all(r["wer__kind"] == "" and r["pesq_wb__kind"] == "" for r in rows)
    saved = (out / "config.yaml").read_text()
    assert f"model: {whisper_base_dir}" in saved and "beam: 5" in saved and "compute_type: int8" in saved
    meta = json.loads((out / "metrics.json").read_text())
    assert meta["wer"]["options"]["model"] == str(whisper_base_dir) and meta["wer"]["model"] == str(whisper_base_dir)
    before = (out / "rows.jsonl").read_text()
    # the run folder's config.yaml repeats the run: a no-op resume
    assert main(["run", "--config", str(out / "config.yaml"), "--out", str(out), "-q"]) == 0
    assert (out / "rows.jsonl").read_text() == before
    capsys.readouterr()
    # another ASR option is another run: refused, naming the key
    assert main(["run", "--config", str(out / "config.yaml"), "--out", str(out), "-q",
                 "--metric-opt", "wer.beam=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "metrics.wer.beam" in err
    # without --out, a different option gives a different run id
    ds = load_dataset(str(testdata / "manifest.json"))
    ids = [run_id_for(resolve(BenchConfig.load(out / "config.yaml").with_metric_options([f"wer.beam={b}"])),
                      ds.name, ds.utterances)[0] for b in (5, 1)]
    assert ids[0] != ids[1]


def _synth_manifest(folder: Path, n: int = 3) -> Path:
    from codecbench import audio

    lines = []
    for i in range(n):
        audio.save(folder / f"u{i}.wav", speechlike(1.0 + 0.2 * i, 16000, seed=i), 16000)
        lines.append(json.dumps({"id": f"u{i}", "path": f"u{i}.wav", "lang": "en", "speaker": f"s{i}"}))
    (folder / "m.jsonl").write_text("\n".join(lines) + "\n")
    return folder / "m.jsonl"


def test_unavailable_values_are_filled_in_when_the_model_appears(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    manifest = _synth_manifest(tmp_path)
    ecapa = tmp_path / "ecapa"  # not there yet
    cfg = BenchConfig(dataset=str(manifest), codecs=["opus-12kbps"], workers=0, require_metrics=False,
                      metrics=["si_sdr", {"name": "spk_sim_ecapa", "source": str(ecapa)}])
    out = tmp_path / "run"
    run(cfg, out=out, progress=False)
    assert "default metric spk_sim_ecapa is unavailable" in capsys.readouterr().err
    first = {r["utt_id"]: r for r in RunStore(out).rows()}
    assert all(r["spk_sim_ecapa__kind"] == "unavailable" for r in first.values())
    summary = (out / "summary.csv").read_text()
    assert "spk_sim_ecapa" in summary and ",unavailable," in summary
    n_lines = _lines(out / "rows.jsonl")
    write_random_ecapa(ecapa)  # the model becomes available
    run(cfg, out=out, progress=False)
    second = {r["utt_id"]: r for r in RunStore(out).rows()}
    assert _lines(out / "rows.jsonl") == n_lines + 3  # exactly one updated row per utterance
    for uid, r in second.items():
        assert r["spk_sim_ecapa__kind"] == "" and 0 < r["spk_sim_ecapa"] <= 1.0
        assert r["si_sdr"] == first[uid]["si_sdr"]  # kept, not recomputed
    run(cfg, out=out, progress=False)
    assert _lines(out / "rows.jsonl") == n_lines + 3  # now complete: a no-op


def test_named_metric_that_cannot_run_stops_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("CODECBENCH_ECAPA_MODEL", raising=False)
    manifest = _synth_manifest(tmp_path)
    out = tmp_path / "run"
    code = main(["run", "--dataset", str(manifest), "--codecs", "opus-12kbps", "--metrics", "spk_sim_ecapa",
                 "--out", str(out), "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "spk_sim_ecapa" in err and "codecbench models download" in err
    assert not out.exists()


def test_kill_during_asr_run_then_resume_keeps_side_records_whole(testdata, whisper_base_dir, tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "codecbench", "run", "--dataset", str(testdata / "manifest.json"), "--langs", "en",
            "--codecs", "opus-6kbps,opus-12kbps", "--metrics", "wer", "--metric-opt", f"wer.model={whisper_base_dir}",
            "--batch-size", "1", "--workers", "0", "--out", str(out), "-q"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = out / "rows.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and (not rows.exists() or _lines(rows) < 2):
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = _lines(rows)
    assert subprocess.run(args, cwd=ROOT, env=env, capture_output=True, timeout=600).returncode == 0
    store = RunStore(out)
    scored = store.rows()
    assert len(scored) > killed_at and len({(r["codec"], r["utt_id"]) for r in scored}) == len(scored)
    records = store.records(TRANSCRIPTS)
    assert sorted((r["codec"], r["utt_id"]) for r in records) == sorted((r["codec"], r["utt_id"]) for r in scored)
    rel = json.loads((out / "asr_reliability.json").read_text())
    (model,) = rel
    en = rel[model]["languages"]["en"]
    n_utts = len({r["utt_id"] for r in scored})
    assert en["reference"]["n"] == n_utts  # each utterance once, however often the run was resumed
    assert en["opus-6kbps"]["n"] + en["opus-12kbps"]["n"] == len(scored)


@pytest.mark.parametrize("codecs", [["opus-12kbps"]])
def test_two_runs_in_one_process_share_no_metric_state(tmp_path, codecs):
    manifest = _synth_manifest(tmp_path)
    a = run(BenchConfig(dataset=str(manifest), codecs=codecs, metrics=["si_sdr"], workers=0), out=tmp_path / "a",
            progress=False)
    b = run(BenchConfig(dataset=str(manifest), codecs=codecs, metrics=["si_sdr"], workers=0, limit=2),
            out=tmp_path / "b", progress=False)
    assert len(RunStore(a).rows()) == 3 and len(RunStore(b).rows()) == 2
