"""Issue 11: a run over good controls mixed with every bad input kind, through the CLI.

The run exits 0, every bad input is a failure with the right reason, odd rates and formats score,
ids that used to collide on disk get their own files, and the controls' values are bit-identical
to a run over the controls alone. Opus with PESQ/STOI/SI-SDR keeps it cheap (about a minute here).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from codecbench.store import RunStore
from tests.bad_inputs import CONTROLS, build, long_clip

ROOT = Path(__file__).resolve().parents[1]
METRICS = "pesq_wb,stoi,si_sdr"
OUTPUTS = ("pesq_wb", "stoi", "si_sdr")


def _run(manifest: Path, out: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "codecbench", "run", "--codecs", "opus-6kbps", "--dataset", str(manifest),
           "--out", str(out), "--metrics", METRICS, "--save-audio", "all", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def _manifest(path: Path, entries: list[dict]) -> Path:
    path.write_text("".join(json.dumps({k: e[k] for k in ("id", "path", "lang")}) + "\n" for e in entries))
    return path


def _values(out: Path) -> dict[tuple[str, str], dict]:
    return {(r["codec"], r["utt_id"]): r for r in RunStore(out).rows()}


@pytest.fixture(scope="module")
def runs(testdata, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-inputs")
    entries = build(root / "in", testdata)
    mixed = _run(_manifest(root / "mixed.jsonl", entries), root / "mixed")
    good = _run(_manifest(root / "good.jsonl", [e for e in entries if e["id"] in CONTROLS]), root / "good")
    return entries, root, mixed, good


def test_mixed_run_exits_0_without_traceback(runs):
    _, _, mixed, good = runs
    assert mixed.returncode == 0, mixed.stderr[-3000:]
    assert good.returncode == 0, good.stderr[-3000:]
    assert "Traceback" not in mixed.stderr


def test_every_bad_input_fails_with_its_reason(runs):
    entries, root, _, _ = runs
    rows = _values(root / "mixed")
    for e in entries:
        row = rows[("opus-6kbps", e["id"])]
        if e["expect"] == "fail":
            assert row["status"] == "failed" and e["value"] in row["error"], (e["id"], row["error"])
            for o in OUTPUTS:
                assert math.isnan(row[o]) and row[o + "__failure"], (e["id"], o)
        else:
            assert row["status"] == "ok", (e["id"], row["error"])
            for o in OUTPUTS:
                if o in e["undefined"]:
                    assert math.isnan(row[o]) and e["undefined"][o] in row[o + "__failure"], (e["id"], o)
                else:
                    assert math.isfinite(row[o]) and not row[o + "__failure"], (e["id"], o, row[o + "__failure"])
            assert (e["value"] in row["flags"]) if e["expect"] == "flag" else row["flags"] == "", (e["id"], row["flags"])


def test_colliding_ids_keep_their_own_files(runs):
    _, root, _, _ = runs
    rows = _values(root / "mixed")
    ids = ("spk1 utt", "spk1_utt", "spk1/utt")
    saved = {rows[("opus-6kbps", u)]["audio"] for u in ids}
    codes = {RunStore(root / "mixed").codes_path("opus-6kbps", u) for u in ids}
    assert len(saved) == 3 and all((root / "mixed" / p).is_file() for p in saved)
    assert len(codes) == 3
    assert len({rows[("opus-6kbps", u)]["pesq_wb"] for u in ids}) == 3  # three different signals


def test_controls_are_bit_identical_to_a_good_only_run(runs):
    _, root, _, _ = runs
    mixed, good = _values(root / "mixed"), _values(root / "good")
    assert set(good) == {("opus-6kbps", k) for k in CONTROLS}
    for key, g in good.items():
        for o in OUTPUTS:
            assert mixed[key][o] == g[o], (key, o)  # exact: no tolerance


@pytest.mark.slow
def test_ten_minute_clip_is_a_recorded_failure_and_harms_nothing(testdata, tmp_path):
    # Beyond the documented maximum duration (max_duration, 300 s by default) the row fails as a whole,
    # before any codec or metric sees it; the controls are untouched.
    entries = [{"id": k, "path": str(testdata / p), "lang": "en"} for k, p in CONTROLS.items()]
    entries.append(long_clip(tmp_path, testdata))
    out = tmp_path / "run"
    proc = _run(_manifest(tmp_path / "m.jsonl", entries), out)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    rows = _values(out)
    long_row = rows[("opus-6kbps", "ten-minutes")]
    reason = long_row["error"] if long_row["status"] == "failed" else long_row["pesq_wb__failure"]
    assert reason and "worker" not in reason, reason  # a length/duration reason, not a crashed pool
    for k in CONTROLS:
        assert all(math.isfinite(rows[("opus-6kbps", k)][o]) for o in OUTPUTS), k
