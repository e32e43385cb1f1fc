"""PESQ and STOI through codecbench equal direct library calls and ../shared/testdata/conformance.json."""

from __future__ import annotations

import json

import pytest

from codecbench import audio
from codecbench.cli import main
from codecbench.scoring import score_files

# Tolerances: conformance.json's (PESQ 1e-6, STOI 1e-5) against reference values; measured here PESQ
# 0.0 and STOI/ESTOI <= 3.7e-7. Comparisons with a direct library call on the same machine are exact
# (PESQ: single-threaded float64 C, no run-time ISA dispatch) or 1e-12 (ESTOI: numpy's SIMD sums can
# round the last bit differently with the arrays' memory alignment), never a cross-CPU expectation.


def test_pesq_matches_conformance_and_library(testdata, conformance):
    from pesq import pesq

    cases = conformance["pesq"]["cases"]
    tol = conformance["pesq"]["tolerance"]
    for case in cases:
        result = score_files(str(testdata / case["ref"]), str(testdata / case["deg"]), [f"pesq_{case['mode']}"])
        value = result["values"][f"pesq_{case['mode']}"]
        assert value == pytest.approx(case["expected"], abs=tol)
        ref, sr = audio.load(testdata / case["ref"])
        deg, _ = audio.load(testdata / case["deg"])
        assert sr == case["sr"]
        assert value == pesq(sr, ref, deg, case["mode"])


def test_stoi_matches_conformance_and_library(testdata, conformance):
    from pystoi import stoi

    tol = conformance["stoi"]["tolerance"]
    for case in conformance["stoi"]["cases"]:
        result = score_files(str(testdata / case["ref"]), str(testdata / case["deg"]), ["stoi", "estoi"])
        for key in ("stoi", "estoi"):
            assert result["values"][key] == pytest.approx(case[key], abs=tol)
        ref, sr = audio.load(testdata / case["ref"])
        deg, _ = audio.load(testdata / case["deg"])
        n = min(len(ref), len(deg))
        # same call, same numbers (ESTOI's summation order can differ in the last bit between calls)
        assert result["values"]["stoi"] == pytest.approx(stoi(ref[:n], deg[:n], sr, extended=False), abs=1e-12)
        assert result["values"]["estoi"] == pytest.approx(stoi(ref[:n], deg[:n], sr, extended=True), abs=1e-12)


def test_score_cli_prints_json_with_metadata(testdata, capsys):
    case_ref, case_deg = testdata / "pesq/speech.wav", testdata / "pesq/speech_bab_0dB.wav"
    assert main(["score", str(case_ref), str(case_deg), "--metrics", "pesq_wb,si_sdr"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["metrics"]) == {"pesq_wb", "si_sdr"}
    meta = out["metrics"]["pesq_wb"]
    assert meta["library"] == "pesq" and meta["mode"] == "wb" and meta["sample_rate"] == 16000 and meta["version"]
    assert abs(out["values"]["si_sdr"]) < 1.0  # babble mixed at 0 dB SNR
