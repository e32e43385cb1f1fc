"""One-file codecs (``--codecs FILE.py:CLASS``, ``{name, file}`` in a config) and experiment trackers
(``--log-to wandb,mlflow``, offline, read back with the trackers' own readers) (issue 28)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from codecbench.cli import main
from codecbench.config import BenchConfig
from codecbench.errors import ConfigError
from tests.helpers import speechlike

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "adapters" / "one-file" / "mycodec.py"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    from codecbench import audio

    root = tmp_path_factory.mktemp("data")
    lines = []
    for i, lang in enumerate(("hi", "hi", "ta")):
        audio.save(root / f"u{i}.wav", speechlike(0.8 + 0.2 * i, 16000, seed=i), 16000)
        lines.append(json.dumps({"id": f"u{i}", "path": f"u{i}.wav", "lang": lang, "text": "a b"}))
    (root / "m.jsonl").write_text("\n".join(lines) + "\n")
    return root / "m.jsonl"


def _run(args: list[str]) -> Path:
    assert main(["run", "--quiet", "--workers", "0", *args]) == 0
    return Path(args[args.index("--out") + 1])


# -- one-file codecs -----------------------------------------------------------------------------------
def test_one_file_codec_runs_and_its_edit_changes_the_run_id(manifest, tmp_path, capsys, monkeypatch):
    codec = tmp_path / "mycodec.py"
    shutil.copy(EXAMPLE, codec)
    out = _run(["--codecs", f"{codec}:Quant6", "--dataset", str(manifest), "--metrics", "si_sdr,bitrate,codebook",
                "--out", str(tmp_path / "a")])
    rows = pd.read_parquet(out / "utterances.parquet")
    assert len(rows) == 3 and rows["status"].eq("ok").all() and (rows["si_sdr"] > 20).all()
    assert (rows["bitrate_nominal"] == 96000).all()
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["codecs"] == [f"{codec}:Quant6"] and cfg["codec_revisions"][f"{codec}:Quant6"].startswith("sha256:")
    first = json.loads((out / "config.json").read_text())["run_id"]
    # the same file in a config as {name, file}, from another folder: the same run
    monkeypatch.chdir(tmp_path)
    again = BenchConfig.from_dict({"codecs": [{"name": "Quant6", "file": "mycodec.py"}], "dataset": str(manifest),
                                   "metrics": ["si_sdr", "bitrate", "codebook"], "workers": 0})
    from codecbench.data import load_dataset
    from codecbench.pipeline.plan import run_id_for
    from codecbench.pipeline.resolve import resolve

    utts = load_dataset(str(manifest)).utterances
    assert run_id_for(resolve(again), "m", utts)[0] == first
    codec.write_text(codec.read_text().replace("HALF = 31", "HALF = 15"))  # an edit: another codec
    edited = _run(["--codecs", f"{codec}:Quant6", "--dataset", str(manifest), "--metrics", "si_sdr,bitrate,codebook",
                   "--out", str(tmp_path / "b")])
    assert json.loads((edited / "config.json").read_text())["run_id"] != first
    assert main(["run", "--quiet", "--config", str(out / "config.yaml"), "--out", str(out)]) == 2  # resuming it now
    assert "weights revision" in capsys.readouterr().err


def test_one_file_codec_errors_are_one_line(manifest, tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('boom')\n")
    plain = tmp_path / "plain.py"
    plain.write_text("from codecbench.codecs.base import Codec\n\nclass A(Codec):\n"
                     "    def encode_native(self, w, n): ...\n    def decode_native(self, e, n): ...\n")
    for spec, message in ((f"{bad}", "failed to import: RuntimeError: boom"),
                          (f"{plain}:B", "defines no Codec subclass 'B' (it defines: A)"),
                          (f"{plain}", "class A needs a class attribute info = CodecInfo"),
                          (f"{tmp_path}/absent.py", "absent.py")):
        code = main(["run", "--quiet", "--codecs", spec, "--dataset", str(manifest), "--metrics", "si_sdr",
                     "--out", str(tmp_path / "x")])
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    with pytest.raises(ConfigError, match="name: CLASS, file: PATH.py"):
        BenchConfig.from_dict({"codecs": [{"file": 3}]})


# -- trackers ------------------------------------------------------------------------------------------
def _inspect(wandb_dir: Path) -> tuple[dict, list[dict]]:
    """The offline run as W&B's own reader of its transaction log shows it (``wandb leet inspect``)."""
    exe = [sys.executable, "-m", "wandb"]
    run_dir = next(wandb_dir.glob("wandb/offline-run-*"))
    summary = subprocess.run([*exe, "leet", "inspect", "--summary", "--json", str(run_dir)], capture_output=True,
                             text=True, timeout=120, check=True)
    records = subprocess.run([*exe, "leet", "inspect", "--json", str(run_dir)], capture_output=True, text=True,
                             timeout=120, check=True)
    return json.loads(summary.stdout), [json.loads(line) for line in records.stdout.splitlines() if line.strip()]


def test_run_logged_offline_to_wandb_and_mlflow_reads_back(manifest, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient  # the [trackers] extra, which `make` installs

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    out = _run(["--codecs", "opus-12kbps", "--dataset", str(manifest), "--metrics", "stoi,bitrate", "--out",
                str(tmp_path / "run"), "--log-to", "wandb,mlflow", "--log-project", "cb-test"])
    summary = pd.read_csv(out / "summary.csv")
    stoi_hi = float(summary[(summary.metric == "stoi") & (summary.lang == "hi")]["mean"].iloc[0])
    ids = json.loads((out / "trackers.json").read_text())
    assert set(ids) == {"wandb", "mlflow"}
    run_id = json.loads((out / "config.json").read_text())["run_id"]

    client = MlflowClient((tmp_path / "mlruns").as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("cb-test").experiment_id])
    assert run.info.run_id == ids["mlflow"] and run.info.status == "FINISHED" and run.info.run_name == run_id
    assert run.data.metrics["stoi/opus-12kbps/hi"] == pytest.approx(stoi_hi, rel=1e-12)
    assert run.data.params["codecs"] == '["opus-12kbps"]' and run.data.params["run_id"] == run_id
    assert "log_to" in run.data.params  # logged as configured, though not part of the identity
    top = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"summary.csv", "summary.md", "config.yaml", "summary.json", "report"} <= top
    report = {a.path for a in client.list_artifacts(run.info.run_id, "report")}
    assert "report/index.html" in report and "report/plots" in report

    state, records = _inspect(tmp_path)
    assert state["run_id"] == ids["wandb"] and state["name"] == run_id and state["project"] == "cb-test"
    assert state["config"]["codecs"] == ["opus-12kbps"] and state["state"] == "finished"
    assert state["summary"]["stoi/opus-12kbps/hi"] == pytest.approx(stoi_hi, rel=1e-12)
    assert state["summary"]["summary"]["_type"] == "table-file" and state["summary"]["summary"]["nrows"] == len(summary)
    logged = json.dumps([r for r in records if r.get("type") == "artifact"])
    assert "report/index.html" in logged and "summary.md" in logged and "report/plots/" in logged


def test_a_failing_or_missing_tracker_is_a_warning(manifest, tmp_path, monkeypatch, capsys):
    from codecbench.report import trackers

    def boom(content, project):
        raise RuntimeError("server said no")

    monkeypatch.setitem(trackers.LOGGERS, "mlflow", boom)
    monkeypatch.setitem(sys.modules, "wandb", None)  # not installed
    out = _run(["--codecs", "opus-12kbps", "--dataset", str(manifest), "--metrics", "bitrate", "--out",
                str(tmp_path / "run"), "--log-to", "mlflow,wandb"])
    err = capsys.readouterr().err
    assert "warning: logging to mlflow failed (RuntimeError: server said no)" in err
    assert "warning: wandb is not installed" in err
    assert (out / "summary.csv").is_file() and not (out / "trackers.json").exists()
    identity = json.loads((out / "config.json").read_text())["identity"]
    assert "log_to" not in identity and "log_project" not in identity


def test_the_readme_example_is_the_example_file():
    readme = (ROOT / "adapters" / "README.md").read_text()
    block = readme.split("```python\n", 1)[1].split("```", 1)[0]
    assert block == EXAMPLE.read_text().split('"""', 2)[2].lstrip("\n")
    assert len(block.splitlines()) <= 30
