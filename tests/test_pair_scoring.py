"""Pair scoring (``codecbench score REF DEG --out DIR``): wav.scp lists end to end then ``report``;
folders and JSONL with unmatched ids; kill and resume; another configuration refused; values equal
to single-pair ``score`` calls; bad degraded files fail their rows; signal-only runs (pairs or a
codec) never import torch in any process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from codecbench import audio
from codecbench.cli import main
from codecbench.config import BenchConfig, ConfigError
from codecbench.pipeline import run
from codecbench.pipeline.resolve import available_cpus, resolve
from codecbench.scoring import score_files
from codecbench.store import FAILURE_SUFFIX, KEY_COLUMNS, KIND_SUFFIX, RunStore, load_rows

ROOT = Path(__file__).resolve().parents[1]
SR = 16000
OUTPUTS = ["pesq_wb", "pesq_nb", "stoi", "estoi"]


def _clips(testdata: Path, n: int, seconds: float = 3.0) -> list[np.ndarray]:
    out = []
    for i in range(n):
        x, sr = audio.load(testdata / "hi" / f"hi_{i:02d}.wav")
        out.append(audio.resample(x, sr, SR)[: int(seconds * SR)])
    return out


def _degrade(x: np.ndarray, i: int) -> np.ndarray:
    """Noise; every third item also delayed by 40 ms and 0.5 s shorter (lengths differ)."""
    rng = np.random.default_rng(i)
    y = x + 0.02 * rng.standard_normal(len(x)).astype(np.float32)
    if i % 3 == 1:
        y = np.concatenate([np.zeros(640, np.float32), y])[: len(x) - SR // 2]
    return y


def _write_scp_pairs(folder: Path, clips: list[np.ndarray], extra_ref: int = 1, extra_deg: int = 1) -> tuple[Path, Path]:
    ref_lines, deg_lines = [], []
    for i, x in enumerate(clips):
        ref, deg = folder / "ref" / f"u{i}.wav", folder / "sys" / f"u{i}.wav"
        audio.save(ref, x, SR)
        audio.save(deg, _degrade(x, i), SR)
        ref_lines.append(f"u{i} {ref}")
        deg_lines.append(f"u{i} {deg}")
    ref_lines += [f"only_ref{k} {folder / 'ref' / 'u0.wav'}" for k in range(extra_ref)]
    deg_lines += [f"only_deg{k} {folder / 'sys' / 'u0.wav'}" for k in range(extra_deg)]
    (folder / "ref.scp").write_text("\n".join(ref_lines) + "\n")
    (folder / "sys.scp").write_text("\n".join(deg_lines[::-1]) + "\n")  # order does not matter
    return folder / "ref.scp", folder / "sys.scp"


def test_scp_pairs_score_to_a_run_folder_then_report(testdata, tmp_path, capsys):
    clips = _clips(testdata, 4)
    ref_scp, deg_scp = _write_scp_pairs(tmp_path, clips)
    out = tmp_path / "run"
    assert main(["score", str(ref_scp), str(deg_scp), "--out", str(out), "--metrics", "pesq,stoi",
                 "--workers", "1", "-q"]) == 0
    err = capsys.readouterr().err
    assert "only_ref0 has no degraded file" in err and "only_deg0 has no reference file" in err
    assert json.loads((out / "unmatched.json").read_text()) == {"reference_only": ["only_ref0"],
                                                               "degraded_only": ["only_deg0"]}
    for name in ("config.yaml", "config.json", "metrics.json", "dataset.json", "codecs.json", "environment.json",
                 "rows.jsonl", "utterances.parquet", "summary.csv", "summary.md"):
        assert (out / name).is_file(), name
    cfg = BenchConfig.load(out / "config.yaml")
    assert cfg.degraded == str(deg_scp) and cfg.dataset_format == "pairs" and cfg.codec_keys == ["sys"]
    assert json.loads((out / "codecs.json").read_text())["sys"]["family"] == "pairs"
    assert "degraded" in json.loads((out / "config.json").read_text())["identity"]
    dataset = json.loads((out / "dataset.json").read_text())
    assert [d["extra"]["deg_path"] for d in dataset] == [str(tmp_path / "sys" / f"u{i}.wav") for i in range(4)]

    rows = {r["utt_id"]: r for r in RunStore(out).rows()}
    assert sorted(rows) == ["u0", "u1", "u2", "u3"]
    for uid, row in rows.items():
        assert set(KEY_COLUMNS) <= set(row) and row["codec"] == "sys" and row["status"] == "ok"
        assert all(row[o + FAILURE_SUFFIX] == "" and row[o + KIND_SUFFIX] == "" for o in OUTPUTS)
        assert ("lengths differ by 0.500 s" in row["length_note"]) == (uid == "u1"), row["length_note"]
        # the same values as scoring the pair alone (PESQ on the signals as given: no alignment)
        single = score_files(str(tmp_path / "ref" / f"{uid}.wav"), str(tmp_path / "sys" / f"{uid}.wav"), ["pesq", "stoi"])
        assert single["length_note"] == row["length_note"]
        for o in OUTPUTS:
            assert row[o] == pytest.approx(single["values"][o], abs=1e-12), (uid, o)
    table = load_rows(out)  # the note stays text in the Parquet table, values stay floats
    notes = dict(zip(table["utt_id"], table["length_note"], strict=True))
    assert notes["u1"].startswith("lengths differ") and notes["u0"] == "" and table["stoi"].dtype == np.float64
    summary = (out / "summary.md").read_text()
    assert "| sys |" in summary

    assert main(["report", str(out), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "index.html").is_file()


def test_folders_and_jsonl_match_ids_and_list_unmatched(testdata, tmp_path, capsys):
    clips = _clips(testdata, 2, seconds=2.0)
    for side in ("ref", "recon_x"):
        (tmp_path / side / "spk").mkdir(parents=True)
    for i, x in enumerate(clips):
        audio.save(tmp_path / "ref" / "spk" / f"u{i}.wav", x, SR)
        audio.save(tmp_path / "recon_x" / "spk" / f"u{i}.flac", audio.resample(_degrade(x, 0), SR, 24000), 24000)
    for k in range(13):  # more unmatched ids than are printed
        audio.save(tmp_path / "ref" / f"lonely{k:02d}.wav", clips[0][:SR], SR)
    out = tmp_path / "run"
    assert main(["score", str(tmp_path / "ref"), str(tmp_path / "recon_x"), "--out", str(out),
                 "--metrics", "stoi", "--workers", "0", "-q"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert sum("has no degraded file" in line for line in err) == 10
    assert any("3 more ids" in line for line in err)
    assert len(json.loads((out / "unmatched.json").read_text())["reference_only"]) == 13
    rows = RunStore(out).rows()
    assert sorted(r["utt_id"] for r in rows) == ["spk/u0", "spk/u1"] and {r["codec"] for r in rows} == {"recon_x"}
    for r in rows:  # 24 kHz FLAC resampled to the reference's rate, same value as alone
        i = r["utt_id"][-1]
        single = score_files(str(tmp_path / "ref" / "spk" / f"u{i}.wav"), str(tmp_path / "recon_x" / "spk" / f"u{i}.flac"),
                             ["stoi", "estoi"])
        assert r["stoi"] == pytest.approx(single["values"]["stoi"], abs=1e-12)

    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text("".join(json.dumps({"id": f"p{i}", "ref": f"ref/spk/u{i}.wav", "deg": f"recon_x/spk/u{i}.flac",
                                         "lang": "hi"}) + "\n" for i in range(2)))
    out2 = tmp_path / "run2"
    assert main(["score", str(jsonl), "--out", str(out2), "--metrics", "stoi", "--label", "mine", "--workers", "0",
                 "-q"]) == 0
    rows2 = RunStore(out2).rows()
    assert {(r["codec"], r["lang"]) for r in rows2} == {("mine", "hi")}
    assert sorted(r["stoi"] for r in rows2) == pytest.approx(sorted(r["stoi"] for r in rows), abs=1e-12)


def test_kill_then_resume_keeps_rows_and_refuses_another_configuration(testdata, tmp_path):
    ref_scp, deg_scp = _write_scp_pairs(tmp_path, _clips(testdata, 16, seconds=4.0), 0, 0)
    out = tmp_path / "run"
    args = [sys.executable, "-m", "codecbench", "score", str(ref_scp), str(deg_scp), "--out", str(out),
            "--metrics", "pesq_wb,stoi", "--workers", "1", "-q"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    rows = out / "rows.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and (not rows.exists() or not rows.read_text().count("\n")):
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the command and its metric workers
    proc.wait()
    before = rows.read_text()
    kept = before[: before.rfind("\n") + 1]  # whole lines (a cut-off one is repaired away)
    assert 0 < kept.count("\n") < 16
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "resuming" in done.stderr and f"{kept.count(chr(10))} of 16 rows already done" in done.stderr
    after = rows.read_text()
    assert after.startswith(kept)  # completed rows are kept, not recomputed
    scored = RunStore(out).rows()
    assert len(scored) == 16 and len({r["utt_id"] for r in scored}) == 16
    # another configuration in the same folder is refused (one line, exit 2), naming what differs
    for change, key in ((["--metrics", "pesq_wb"], "metrics"), (["--label", "other"], "codecs")):
        again = args[:args.index("--metrics")] + change + ["--workers", "1", "-q"]
        if "--metrics" not in change:
            again += ["--metrics", "pesq_wb,stoi"]
        res = subprocess.run(again, env=env, capture_output=True, text=True, timeout=300)
        assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, res.stderr
        assert "different configuration" in res.stderr and key in res.stderr
    assert rows.read_text() == after


@pytest.mark.parametrize("command", ["score", "run"])
def test_signal_only_runs_never_import_torch(testdata, tmp_path, command):
    """A stand-in ``torch`` first on the path records every process (main and workers) importing it."""
    stub = tmp_path / "stub" / "torch"
    stub.mkdir(parents=True)
    marker = tmp_path / "torch-imported"
    stub.joinpath("__init__.py").write_text(
        f"import os\nopen({str(marker)!r}, 'a').write(str(os.getpid()) + '\\n')\nraise ImportError('torch blocked')\n")
    if command == "score":
        ref_scp, deg_scp = _write_scp_pairs(tmp_path, _clips(testdata, 2, seconds=2.0), 0, 0)
        args = ["score", str(ref_scp), str(deg_scp)]  # the default score metrics
    else:
        args = ["run", "--codecs", "opus-12kbps", "--metrics", "pesq_wb,stoi,si_sdr", "--dataset",
                str(testdata / "manifest.json"), "--langs", "en", "--limit", "2"]
    env = {**os.environ, "PYTHONPATH": f"{tmp_path / 'stub'}{os.pathsep}{ROOT}"}
    res = subprocess.run([sys.executable, "-m", "codecbench", *args, "--out", str(tmp_path / "run"), "--workers", "2",
                          "-q"], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert not marker.exists(), f"torch imported by processes {marker.read_text().split()}"
    rows = RunStore(tmp_path / "run").rows()
    assert len(rows) == 2 and all(r["si_sdr__kind"] == "" for r in rows)
    subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True, timeout=60)
    assert marker.exists()  # control: the stand-in does record an import


def test_bad_degraded_files_fail_their_rows_and_signal_runs_use_every_core(testdata, tmp_path):
    (x,) = _clips(testdata, 1, seconds=2.0)
    audio.save(tmp_path / "r.wav", x, SR)
    audio.save(tmp_path / "nan.wav", np.full(len(x), np.nan, np.float32), SR, subtype="FLOAT")
    (tmp_path / "junk.wav").write_bytes(b"not audio at all")
    (tmp_path / "ref.scp").write_text("".join(f"{u} {tmp_path / 'r.wav'}\n" for u in ("ok", "gone", "nan", "junk")))
    (tmp_path / "deg.scp").write_text(f"ok {tmp_path / 'r.wav'}\ngone {tmp_path / 'missing.wav'}\n"
                                      f"nan {tmp_path / 'nan.wav'}\njunk {tmp_path / 'junk.wav'}\n")
    cfg = BenchConfig(dataset=str(tmp_path / "ref.scp"), degraded=str(tmp_path / "deg.scp"), metrics=["stoi"])
    assert resolve(cfg).workers == available_cpus()  # the main process only reads files
    run(BenchConfig(dataset=str(tmp_path / "ref.scp"), degraded=str(tmp_path / "deg.scp"), metrics=["stoi"],
                    workers=0), out=tmp_path / "run", progress=False)
    rows = {r["utt_id"]: r for r in RunStore(tmp_path / "run").rows()}
    assert rows["ok"]["status"] == "ok" and rows["ok"]["stoi"] == pytest.approx(1.0)
    assert rows["gone"]["status"] == "failed" and "degraded file: missing file" in rows["gone"]["error"]
    assert rows["nan"]["status"] == "failed" and "NaN or Inf" in rows["nan"]["error"]
    assert rows["junk"]["status"] == "failed" and "degraded file: cannot decode" in rows["junk"]["error"]
    assert all(r["stoi__failure"] == r["error"] for r in rows.values() if r["status"] == "failed")


def test_pair_scoring_usage_errors(tmp_path, capsys):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    for p in (a, b):
        audio.save(p, np.zeros(SR, np.float32), SR)
    assert main(["score", str(a), str(b), "--out", str(tmp_path / "x")]) == 2
    assert "--out and --label are for pair lists" in capsys.readouterr().err
    assert main(["score", str(tmp_path / "ref.scp")]) == 2  # one list that is not a pairs JSONL
    assert "must be a .jsonl" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    with pytest.raises(ConfigError, match="dataset_format must be auto or pairs"):
        BenchConfig.from_dict({"dataset": "a", "degraded": "b", "dataset_format": "manifest"})
    with pytest.raises(ConfigError, match="one label"):
        BenchConfig.from_dict({"dataset": "a", "degraded": "b", "codecs": ["x", "y"]})
