"""The typed run folder: ``Row``/``SummaryRow`` round-trip their on-disk form exactly, every writer of
``RunFolder`` honours the umask, and one check says what a run folder is."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pandas as pd
import pytest

from codecbench.config import BenchConfig
from codecbench.pipeline import run
from codecbench.rows import KEY_COLUMNS, Row, SummaryRow
from codecbench.store import NotARunFolder, RunFolder, is_run_folder
from codecbench.types import Failure, FailureKind
from tests.helpers import mulaw_spec, speechlike
from tests.test_core_runner import write_manifest


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    from codecbench.codecs.registry import register

    register(mulaw_spec())
    d = tmp_path_factory.mktemp("folder")
    items = [(f"u{i}", "hi", speechlike(0.5 + 0.2 * i, 16000, seed=i), 16000) for i in range(3)]
    items.append(("silent", "hi", np.zeros(8000, np.float32), 16000))  # a failed row
    cfg = BenchConfig(codecs=["example-mulaw-8k"], dataset=str(write_manifest(d, items)),
                      metrics=["si_sdr", "codebook"], workers=0, save_audio="1")
    return run(cfg, out=d / "run", progress=False)


def test_rows_round_trip_their_on_disk_form(small_run):
    lines = [json.loads(x) for x in (small_run / "rows.jsonl").read_text().splitlines()]
    assert len(lines) == 4 and {r["status"] for r in lines} == {"ok", "failed"}
    for d in lines:
        row = Row.from_dict(d)
        assert list(row.to_dict()) == list(d)  # same columns, same order
        assert json.dumps(row.to_dict(), allow_nan=True) == json.dumps(d, allow_nan=True)
    failed = Row.from_dict(next(d for d in lines if d["status"] == "failed"))
    assert isinstance(failed.values["si_sdr"], Failure) and failed.values["si_sdr"].kind is FailureKind.FAILED
    assert failed.missing({"si_sdr": ["si_sdr"]}) == ()  # a failed row is complete: never recomputed


def test_rows_from_other_versions():
    old = {"codec": "c", "utt_id": "u", "status": "ok", "m": float("nan"), "m__failure": "boom", "x": "note"}
    row = Row.from_dict(old)
    assert row.values["m"] == Failure.failed("boom") and row.extra == {"x": "note"}
    assert row.to_dict()["m__kind"] == "failed" and "lang" not in row.to_dict()  # absent keys stay absent
    row.values["n"] = Failure.unavailable("no model")
    assert row.missing({"m": ["m"], "n": ["n"], "o": ["o"]}) == ("n", "o")


def test_summary_rows_round_trip_summary_csv(small_run):
    df = pd.read_csv(small_run / "summary.csv", keep_default_na=False, na_values=[""])
    for rec in df.to_dict("records"):
        again = SummaryRow.from_dict(rec).to_dict()
        assert list(again) == list(df.columns)
        assert all(again[k] == v or (isinstance(v, float) and math.isnan(v) and math.isnan(again[k]))
                   for k, v in rec.items())
    assert (small_run / "codebook.csv").is_file() and "## Codebook utilization" in (small_run / "summary.md").read_text()


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_every_writer_honours_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        folder = RunFolder(tmp_path / "run")
        folder.open({"run_id": "x"})
        folder.write_file("t.parquet", pd.DataFrame({"a": [1]}))
        folder.write_file("t.csv", pd.DataFrame({"a": [1]}))
        folder.write_file("t.json", {"a": 1})
        folder.write_file("t.txt", "text")
        folder.save_arrays("feats", "c", "u", ref=np.zeros(3))
        folder.save_codes("c", "u", [np.arange(4)])
        folder.save_audio("c", "u", np.zeros(800, np.float32), 16000)
        folder.cache("some_cache").put("a", "b", value={"text": "x"})
        folder.append([Row(run_id="x", codec="c", utt_id="u", values={"m": 1.0})])
        folder.append_records("stream", [{"codec": "c", "utt_id": "u"}])
        folder.write_parquet()
        folder.close()
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "run").rglob("*") if p.is_file()]
    assert len(files) == 13 and not [p for p in files if p.name.startswith(".") and p.name != ".lock"]
    for p in files:
        assert p.stat().st_mode & 0o777 == mode, p
    assert RunFolder(tmp_path / "run").load_arrays("feats", "c", "u")["ref"].shape == (3,)
    assert [c.tolist() for c in RunFolder(tmp_path / "run").codes("c", "u")] == [[0, 1, 2, 3]]
    assert RunFolder(tmp_path / "run").cache("some_cache").get("a", "b") == {"text": "x"}


def test_one_check_for_a_run_folder(tmp_path, small_run):
    assert is_run_folder(small_run) and not is_run_folder(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotARunFolder, match="not a codecbench run folder"):
        RunFolder(tmp_path / "empty").check()
    with pytest.raises(NotARunFolder, match="lacks metrics.json"):
        RunFolder(tmp_path / "empty").read_json("metrics.json")
    assert RunFolder(small_run).check().read_json("codecs.json")["example-mulaw-8k"]["family"] == "example"
    assert set(KEY_COLUMNS) <= set(RunFolder(small_run).frame().columns)
