"""Issue 11 building blocks: the signal gate, file names, the run-folder lock, file modes, damaged
run folders, checkpoint guards, FIFOs, report paths and library caches (no codec runs here)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from codecbench import audio
from codecbench.checks import check_reference, level_flags
from codecbench.data.loaders import DatasetError, probe, read_manifest
from codecbench.inhouse.checkpoint import load_checkpoint
from codecbench.inhouse.config import CheckpointMismatch
from codecbench.inhouse.guard import safetensors_header
from codecbench.lock import FolderLocked
from codecbench.report.runs import Run
from codecbench.store import DamagedRunFolder, RunStore, atomic_write_json, file_stem, load_rows
from codecbench.types import Utterance
from tests.helpers import speechlike

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "codecbench" / "checkpoints" / "ours-rvq"
SR = 16000


# -- signal gate ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name, wave, reason", [
    ("zeros", np.zeros(2 * SR), "silent reference"),
    ("dc -6 dBFS", np.full(2 * SR, 0.5), "DC only"),
    ("noise floor -80 dBFS", 1e-4 * np.random.default_rng(0).standard_normal(2 * SR), "silent reference"),
    ("click", np.r_[np.zeros(SR), [0.9], np.zeros(SR)], "no signal"),
    ("dc plus click", np.r_[np.full(SR, 0.3), [0.9], np.full(SR, 0.3)], "no signal"),
])
def test_non_signals_fail_with_the_reason(name, wave, reason):
    got = check_reference(np.asarray(wave, dtype=np.float32), SR)
    assert got is not None and reason in got, (name, got)


@pytest.mark.parametrize("level", [1.0, 0.05, 0.005])  # down to ~-50 dBFS peak speech
def test_speech_passes_the_gate_at_any_sensible_level(level):
    x = speechlike(1.0, SR)
    x = x / np.max(np.abs(x)) * level
    assert check_reference(x, SR) is None
    assert check_reference(x + 0.4, SR) is None  # a DC offset does not hide the signal


def test_real_clips_pass_the_gate(testdata):
    for f in sorted((testdata / "hi").glob("*.wav")) + sorted((testdata / "en").glob("*")):
        wave, sr = audio.load(f)
        assert check_reference(wave, sr) is None, f


def test_level_flags():
    x = speechlike(1.0, SR)
    assert level_flags(x) == ""
    assert "beyond full scale" in level_flags(x * 10)
    clipped = np.clip(x * 10, -1.0, 1.0)
    assert level_flags(clipped).startswith("clipped")


# -- file names -----------------------------------------------------------------------------------
def test_file_names_never_collide_and_stay_readable():
    ids = ["spk1 utt", "spk1_utt", "spk1/utt", "Spk1_utt", "spk1_utt.", "ąę"]
    stems = [file_stem(i) for i in ids]
    assert len(set(stems)) == len(ids)
    assert stems[0].startswith("spk1_utt-") and all("/" not in s for s in stems)
    store = RunStore("/r")
    assert store.audio_path("opus-6kbps", "spk1 utt") != store.audio_path("opus-6kbps", "spk1_utt")
    assert store.codes_path("a:b", "u").parent != store.codes_path("a_b", "u").parent


def test_manifest_rejects_ids_whose_file_names_collide(tmp_path, monkeypatch):
    m = tmp_path / "m.jsonl"
    m.write_text('{"id": "a", "path": "a.wav"}\n{"id": "b", "path": "b.wav"}\n')
    monkeypatch.setattr("codecbench.data.dataset.file_stem", lambda name: "same")  # the id check lives there
    with pytest.raises(DatasetError, match="map to one file name"):
        read_manifest(m)


# -- lock -----------------------------------------------------------------------------------------
_HOLDER = "import sys, time; from codecbench.store import RunStore; s = RunStore(sys.argv[1]); s.lock(); print('held', flush=True); time.sleep(60)"


def _hold(folder: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, "-c", _HOLDER, str(folder)], env=env, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_second_run_on_a_folder_is_refused_naming_the_holder(tmp_path):
    tmp_path.joinpath("run").mkdir()
    holder = _hold(tmp_path / "run")
    try:
        with pytest.raises(FolderLocked, match=f"pid {holder.pid}"):
            RunStore(tmp_path / "run").open({"run_id": "x"})
        assert not (tmp_path / "run" / "config.json").exists()
    finally:
        holder.kill()
        holder.wait()


def test_lock_of_a_killed_run_is_not_stale(tmp_path):
    tmp_path.joinpath("run").mkdir()
    holder = _hold(tmp_path / "run")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    store = RunStore(tmp_path / "run")
    assert store.open({"run_id": "x"}) is False  # taken at once, no manual clean-up
    assert (tmp_path / "run" / ".lock").read_text().strip() == str(os.getpid())
    store.close()
    again = RunStore(tmp_path / "run")
    assert again.open({"run_id": "x"}) is True
    again.close()


# -- modes ----------------------------------------------------------------------------------------
def test_everything_the_store_writes_honours_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        store = RunStore(tmp_path / "run")
        store.open({"run_id": "x"})
        store.write_json("metrics.json", {})
        store.append([{"run_id": "x", "codec": "c", "utt_id": "u", "lang": "en", "status": "ok", "error": "",
                       "m": 1.0, "m__failure": "", "m__kind": ""}])
        store.write_parquet()
        audio.save(store.audio_path("c", "u"), speechlike(0.5, SR), SR)
        from codecbench.metrics.base import MetricInput
        from codecbench.pipeline.stages import Work, save_artifacts
        from codecbench.types import Utterance

        w = Work("c", Utterance(id="u"), ())
        w.x = MetricInput(ref=np.zeros(4, np.float32), deg=np.zeros(4, np.float32), sample_rate=SR,
                          utterance=Utterance(id="u"), codes=[np.zeros(4)])
        save_artifacts(store, w, False, {})
        store.close()
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "run").rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"config.json", "metrics.json", "rows.jsonl", "utterances.parquet", ".lock"}
    assert len([p for p in files if p.suffix in (".wav", ".npz")]) == 2
    for p in files:
        assert p.stat().st_mode & 0o777 == 0o644, p


# -- damaged run folders --------------------------------------------------------------------------
ROW = {"run_id": "x", "codec": "c", "utt_id": "u", "lang": "en", "status": "ok", "error": ""}


@pytest.mark.parametrize("bad, what", [(b"\xff\xfe{}\n", "not valid UTF-8"), (b"[1, 2]\n", "not a row"),
                                       (b"42\n", "not a row"), (b'{"codec": 1}\n', "not a row"),
                                       (b"{oops\n", "not valid JSON")])
def test_damaged_rows_name_the_file_and_line(tmp_path, bad, what):
    store = RunStore(tmp_path)
    store.rows_path.write_bytes(json.dumps(ROW).encode() + b"\n" + bad)
    with pytest.raises(DamagedRunFolder, match=f"rows.jsonl line 2: {what}") as exc:
        store.rows()
    assert "\n" not in str(exc.value)


def test_skipped_lines_are_counted_in_a_warning(tmp_path):
    store = RunStore(tmp_path)
    line = json.dumps(ROW).encode() + b"\n"
    updated = json.dumps({**ROW, "m": 1.0}).encode() + b"\n"
    store.rows_path.write_bytes(line + b"\n" + line + updated + b'{"codec": "c", "utt')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert store.rows() == [{**ROW, "m": 1.0}]
    msg = " ".join(str(w.message) for w in caught)
    # a repeated (codec, utt_id) with other content is a later, updated row (values filled in on
    # resume): kept, not skipped; the same line again (issue 25) is a duplicate, counted
    assert "skipped 3 line(s)" in msg and "1 cut off by a crash" in msg and "1 empty" in msg and "1 duplicate" in msg


def test_corrupt_json_files_are_one_line_errors(tmp_path):
    (tmp_path / "config.json").write_text('{"run_id": "x",\n "codecs": [}')
    with pytest.raises(DamagedRunFolder, match=r"config.json line 2: not valid JSON"):
        RunStore(tmp_path).open({"run_id": "x"})
    (tmp_path / "config.json").write_text("[1]")
    with pytest.raises(DamagedRunFolder, match="not a JSON object"):
        RunStore(tmp_path).open({"run_id": "x"})
    (tmp_path / "utterances.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DamagedRunFolder, match="not readable as Parquet"):
        load_rows(tmp_path)


# -- checkpoints ----------------------------------------------------------------------------------
def _checkpoint(tmp_path: Path, **model) -> Path:
    folder = tmp_path / "ckpt"
    shutil.copytree(CHECKPOINT, folder)
    meta = json.loads((folder / "config.json").read_text())
    meta["model"].update(model)
    (folder / "config.json").write_text(json.dumps(meta))
    return folder


@pytest.mark.parametrize("model, match", [
    ({"dim": 10**6}, "dim must be an integer"), ({"fsq_levels": [2] * 100}, "fsq_levels must be a list"),
    ({"fsq_levels": "abc"}, "fsq_levels must be a list"), ({"kernel_size": True}, "kernel_size must be an integer"),
    ({"ema_decay": float("nan")}, "ema_decay"), ({"kind": "gan"}, "kind"),
    ({"dim": 8192, "mlp_ratio": 16, "decoder_blocks": 64}, "parameters"),
    ({"n_quantizers": 20}, "weights do not match"),
])
def test_hostile_checkpoint_configs_are_refused_before_building(tmp_path, monkeypatch, model, match):
    folder = _checkpoint(tmp_path, **model)

    def built(*args, **kwargs):
        raise AssertionError("the real model was built before the checks")

    monkeypatch.setattr("codecbench.inhouse.checkpoint.InhouseModel", built)
    with pytest.raises(CheckpointMismatch, match=match):
        load_checkpoint(folder)


def test_oversized_config_and_bad_safetensors_header(tmp_path):
    folder = _checkpoint(tmp_path)
    (folder / "config.json").write_text(" " * (2 << 20))
    with pytest.raises(CheckpointMismatch, match="at most"):
        load_checkpoint(folder)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes((10**12).to_bytes(8, "little") + b"{}")
    with pytest.raises(CheckpointMismatch, match="not a safetensors file"):
        safetensors_header(bad)
    assert len(safetensors_header(CHECKPOINT / "model.safetensors")) > 10


# -- regular files only ---------------------------------------------------------------------------
def test_fifo_and_devices_are_never_opened(tmp_path):
    os.mkfifo(tmp_path / "fifo.wav")
    u = probe(Utterance(id="f", path=str(tmp_path / "fifo.wav")))
    assert u.extra["load_error"].startswith("not a regular file")
    with pytest.raises(audio.AudioError, match="not a regular file"):
        audio.load(tmp_path / "fifo.wav")
    with pytest.raises(audio.AudioError, match="not a regular file"):
        audio.load("/dev/zero")


def test_report_reads_audio_only_inside_the_run_folder(tmp_path):
    run = tmp_path / "run"
    (run / "audio").mkdir(parents=True)
    sf.write(str(run / "audio" / "x.wav"), speechlike(0.5, SR), SR)
    sf.write(str(tmp_path / "secret.wav"), speechlike(0.5, SR), SR)
    os.symlink(tmp_path / "secret.wav", run / "audio" / "link.wav")
    atomic_write_json(run / "config.json", {"run_id": "r"})
    (run / "rows.jsonl").write_text("")
    r = Run.open(run)
    assert r.audio_file("audio/x.wav") is not None
    for rel in ("../secret.wav", str(tmp_path / "secret.wav"), "audio/link.wav", "audio"):
        assert r.audio_file(rel) is None, rel


def test_library_caches_live_under_the_codecbench_cache(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "MPLCONFIGDIR")}
    env.update(PYTHONPATH=str(ROOT), CODECBENCH_CACHE=str(tmp_path))
    code = "import codecbench, os; print(os.environ['NUMBA_CACHE_DIR']); print(os.environ['MPLCONFIGDIR'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(tmp_path / "numba"), str(tmp_path / "matplotlib")]
