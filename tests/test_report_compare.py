"""codecbench compare: exit 0 against itself, 1 on a degraded candidate (naming the pairs), 2 on mismatch."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from report_fixture import build_run, cli

GATE = ["--max-drop", "pesq_wb=0.05,stoi=0.01", "--max-rise", "wer=0.02"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("cmp")
    base = build_run(d / "base", per_lang=20)
    worse = build_run(d / "worse", per_lang=20, shift={"pesq_wb": -0.3})
    other = build_run(d / "other", per_lang=19)
    return base, worse, other


def test_run_against_itself_exits_0(runs, tmp_path, capsys):
    base, _, _ = runs
    md = tmp_path / "cmp.md"
    junit = tmp_path / "cmp.xml"
    assert cli("compare", str(base), str(base), *GATE, "--markdown", str(md), "--junit", str(junit)) == 0
    out = capsys.readouterr().out
    assert "no regression" in out and md.read_text(encoding="utf-8") in out
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "0" and int(suite.get("tests")) == 2 * 3 * 3  # codecs x (en, hi, all) x gated


def test_degraded_candidate_exits_1_and_names_pairs(runs, tmp_path, capsys):
    base, worse, _ = runs
    junit = tmp_path / "cmp.xml"
    assert cli("compare", str(base), str(worse), *GATE, "--junit", str(junit)) == 1
    captured = capsys.readouterr()
    for codec in ("codec-a", "codec-b"):
        for lang in ("en", "hi", "all"):
            assert f"{codec}/{lang}/pesq_wb" in captured.err
    assert "stoi" not in captured.err and "wer" not in captured.err
    failed = [tc.get("name") for tc in ET.parse(junit).getroot().iter("testcase") if tc.find("failure") is not None]
    assert sorted(failed) == sorted(["en/pesq_wb", "hi/pesq_wb", "all/pesq_wb"] * 2)


def test_drop_within_tolerance_passes(runs):
    base, worse, _ = runs
    assert cli("compare", str(base), str(worse), "--max-drop", "pesq_wb=0.5") == 0


def test_new_failures_are_a_regression(tmp_path, capsys):
    base = build_run(tmp_path / "b", per_lang=4)
    cand = build_run(tmp_path / "c", per_lang=4, failed={("codec-a", "stoi"): "too short"})
    assert cli("compare", str(base), str(cand), "--max-drop", "stoi=0.5") == 1
    assert "codec-a/en/stoi" in capsys.readouterr().err


def test_mismatched_and_bad_input_exit_2(runs, tmp_path, capsys):
    base, _, other = runs
    assert cli("compare", str(base), str(other)) == 2
    assert "utterance sets differ" in capsys.readouterr().err
    assert cli("compare", str(base), str(tmp_path / "missing")) == 2
    assert cli("compare", str(base), str(base), "--max-drop", "nosuch=0.1") == 2
    assert "unknown metric" in capsys.readouterr().err
    assert cli("compare", str(base), str(base), "--max-drop", "wer=0.1") == 2  # wrong direction
    assert cli("compare", str(base), str(base), "--codec", "nosuch") == 2


def test_checkpoints_with_different_names(tmp_path):
    base = build_run(tmp_path / "b", codecs={"ours-v1": 0.0}, per_lang=10)
    cand = build_run(tmp_path / "c", codecs={"ours-v2": 0.0}, per_lang=10, shift={"stoi": -0.2})
    assert cli("compare", str(base), str(cand), "--max-drop", "stoi=0.01") == 1  # sole codecs are paired
    assert cli("compare", str(base), str(cand), "--baseline-codec", "ours-v1", "--candidate-codec", "ours-v2",
               "--max-drop", "pesq_wb=0.05") == 0


def test_ci_workflow_example_is_valid_yaml():
    import re
    from pathlib import Path

    import yaml

    doc = (Path(__file__).resolve().parents[1] / "docs" / "ci-gate.md").read_text(encoding="utf-8")
    workflow = yaml.safe_load(re.search(r"```yaml\n(.*?)```", doc, re.S).group(1))
    steps = workflow["jobs"]["gate"]["steps"]
    assert any("codecbench compare" in s.get("run", "") for s in steps)


def test_metric_missing_from_one_run(tmp_path, capsys):
    import json

    base = build_run(tmp_path / "b", per_lang=4)
    cand = build_run(tmp_path / "c", per_lang=4)
    rows = [json.loads(x) for x in (cand / "rows.jsonl").read_text().splitlines()]
    for r in rows:
        r.pop("stoi"), r.pop("stoi__failure")
    (cand / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert cli("compare", str(base), str(cand)) == 0  # reported metrics: those both runs have
    assert cli("compare", str(base), str(cand), "--max-drop", "stoi=0.01") == 2
    assert "missing from the candidate" in capsys.readouterr().err


def test_too_few_utterances_warn_not_fail(tmp_path, capsys):
    base = build_run(tmp_path / "b", per_lang=2, langs=("en",))
    cand = build_run(tmp_path / "c", per_lang=2, langs=("en",), shift={"pesq_wb": -1.0})
    assert cli("compare", str(base), str(cand), "--max-drop", "pesq_wb=0.05") == 0
    captured = capsys.readouterr()
    assert "⚠️ worse by 1 &gt; 0.05 but not significant" in captured.out
    assert "too few to reach p < 0.05" in captured.err
