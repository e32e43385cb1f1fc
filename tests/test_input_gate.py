"""Issue 25 part 1: one input gate. Every audio kind of ``hostile_inputs.audio_cases`` gets the same
verdict and the same reason through ``run`` (a manifest, Opus), a JSONL pair list and two-file
``score`` (where a row would fail, the command fails with that reason, exit 2, one line)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from codecbench.cli import main
from codecbench.store import RunStore
from tests.hostile_inputs import AUDIO_CASE_IDS, audio_cases

METRICS = "pesq_wb,stoi,si_sdr"
OUTPUTS = ("pesq_wb", "stoi", "si_sdr")


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    d = tmp_path_factory.mktemp("gate")
    cases = audio_cases(d / "in")
    assert tuple(c.id for c in cases) == AUDIO_CASE_IDS
    (d / "m.jsonl").write_text("".join(json.dumps({"id": c.id, "path": c.path, "lang": "en"}) + "\n" for c in cases))
    (d / "p.jsonl").write_text("".join(json.dumps({"id": c.id, "ref": c.path, "deg": c.path, "lang": "en"}) + "\n"
                                      for c in cases))
    common = ["--metrics", METRICS, "--workers", "0", "-q"]
    assert main(["run", "--dataset", str(d / "m.jsonl"), "--codecs", "opus-6kbps", "--out", str(d / "run"),
                 "--save-audio", "none", *common]) == 0
    assert main(["score", str(d / "p.jsonl"), "--out", str(d / "pairs"), *common]) == 0
    rows = {side: {r["utt_id"]: r for r in RunStore(d / side).rows()} for side in ("run", "pairs")}
    return cases, rows


def _two_file(path: str, capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["score", path, path, "--metrics", METRICS])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("uid", AUDIO_CASE_IDS)
def test_same_verdict_and_reason_at_every_entry_point(gate, uid, capsys):
    cases, rows = gate
    case = next(c for c in cases if c.id == uid)
    run, pairs = rows["run"][uid], rows["pairs"][uid]
    code, out, err = _two_file(case.path, capsys)
    if case.expect == "fail":
        assert run["status"] == pairs["status"] == "failed", (run["error"], pairs["error"])
        assert case.value in run["error"] and run["error"] == pairs["error"], (run["error"], pairs["error"])
        lines = [x for x in err.splitlines() if x.strip()]
        assert code == 2 and len(lines) == 1 and run["error"] in lines[0], err
        for o in OUTPUTS:
            assert math.isnan(run[o]) and math.isnan(pairs[o])
        return
    assert code == 0, err
    result = json.loads(out)
    for row in (run, pairs):
        assert row["status"] == "ok", row["error"]
        assert all(math.isfinite(row[o]) for o in OUTPUTS if o != "pesq_wb" or row["source_sr"] >= 16000)
    assert all(result["values"][o] is not None for o in OUTPUTS), result
    if case.expect == "flag":
        assert case.value in run["flags"] and run["flags"] == pairs["flags"] == result["flags"], \
            (run["flags"], pairs["flags"], result["flags"])
    else:
        assert run["flags"] == pairs["flags"] == result["flags"] == ""


def test_m4a_decodes_to_the_source_samples(gate):
    """AAC is lossy: the decoded file matches the source's length (the codec's padding is cropped)
    and its level, not its samples."""

    from codecbench import audio

    cases, _ = gate
    src = next(c for c in cases if c.id == "control").path
    m4a = next(c for c in cases if c.id == "m4a").path
    x, sr = audio.load(src)
    y, sr_y = audio.load(m4a)
    assert sr_y == sr and len(y) == len(x)
    assert audio.info(m4a) == (sr, len(x) / sr)
    assert abs(audio.rms_dbfs(y) - audio.rms_dbfs(x)) < 1.0


def test_degraded_side_gets_the_file_checks(tmp_path, capsys):
    cases = {c.id: c for c in audio_cases(tmp_path / "in")}
    control = cases["control"].path
    for uid, reason in (("truncated-wav", "truncated"), ("symlink-loop", "symlink loop"), ("nan", "NaN or Inf")):
        assert main(["score", control, cases[uid].path, "--metrics", "si_sdr"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("codecbench: error: degraded file") and reason in err, err
    assert main(["score", control, cases["rate-1k"].path, "--metrics", "si_sdr"]) == 0  # a codec earns its score
    assert json.loads(capsys.readouterr().out)["deg_sample_rate"] == 1000


def test_the_gate_reads_each_file_once_per_run(tmp_path):
    from codecbench.pipeline.stages import RecentFiles

    path = Path(audio_cases(tmp_path / "in")[0].path)
    files = RecentFiles()
    assert files.read(str(path)) is files.read(str(path))  # the same checked object: read and judged once
