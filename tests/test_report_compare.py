"""codecbench compare: exit 0 against itself, 1 on a degraded candidate (naming the pairs), 2 on mismatch."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from report_fixture import build_run, cli

GATE = ["--max-drop", "pesq_wb=0.05,stoi=0.01", "--max-rise", "wer=0.02"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Baseline and candidates with independent per-utterance noise (seeds differ), as two real runs have."""
    d = tmp_path_factory.mktemp("cmp")
    base = build_run(d / "base", per_lang=20, seed=0)
    same = build_run(d / "same", per_lang=20, seed=1)
    worse = build_run(d / "worse", per_lang=20, seed=2, shift={"pesq_wb": -0.3})
    other = build_run(d / "other", per_lang=19)
    return base, same, worse, other


def test_independent_noise_without_a_shift_exits_0(runs, tmp_path, capsys):
    base, same, _, _ = runs
    md = tmp_path / "cmp.md"
    junit = tmp_path / "cmp.xml"
    assert cli("compare", str(base), str(same), *GATE, "--markdown", str(md), "--junit", str(junit)) == 0
    out = capsys.readouterr().out
    assert "no regression" in out and md.read_text(encoding="utf-8") in out
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "0" and int(suite.get("tests")) == 2 * 3 * 3  # codecs x (en, hi, all) x gated


def test_real_shift_exits_1_names_pairs_with_significant_p(runs, tmp_path, capsys):
    from codecbench.report.compare import compare_runs, pair_codecs
    from codecbench.report.runs import Run

    base, _, worse, _ = runs
    junit = tmp_path / "cmp.xml"
    assert cli("compare", str(base), str(worse), *GATE, "--junit", str(junit)) == 1
    captured = capsys.readouterr()
    for codec in ("codec-a", "codec-b"):
        for lang in ("en", "hi", "all"):
            assert f"{codec}/{lang}/pesq_wb" in captured.err
    assert "stoi" not in captured.err.split("regression in:")[1] and "/wer" not in captured.err
    failed = [tc.get("name") for tc in ET.parse(junit).getroot().iter("testcase") if tc.find("failure") is not None]
    assert sorted(failed) == sorted(["en/pesq_wb", "hi/pesq_wb", "all/pesq_wb"] * 2)
    b, w = Run.open(base), Run.open(worse)
    res = compare_runs(b, w, pair_codecs(b, w, None, None, None), {"pesq_wb": 0.05}, {})
    pesq = [r for r in res if r.metric == "pesq_wb"]
    assert all(r.regressed and r.p_value < 0.01 and -0.4 < r.mean_diff < -0.2 and r.n in (20, 40) for r in pesq)


def test_drop_within_tolerance_passes(runs):
    base, _, worse, _ = runs
    assert cli("compare", str(base), str(worse), "--max-drop", "pesq_wb=0.5") == 0


def test_new_failures_are_a_regression(tmp_path, capsys):
    base = build_run(tmp_path / "b", per_lang=4)
    cand = build_run(tmp_path / "c", per_lang=4, failed={("codec-a", "stoi"): "too short"})
    assert cli("compare", str(base), str(cand), "--max-drop", "stoi=0.5") == 1
    assert "codec-a/en/stoi" in capsys.readouterr().err


def test_mismatched_and_bad_input_exit_2(runs, tmp_path, capsys):
    base, _, _, other = runs
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


def _drop_column(run, col: str) -> None:
    import json

    rows = [json.loads(x) for x in (run / "rows.jsonl").read_text().splitlines()]
    for r in rows:
        for k in (col, col + "__failure", col + "__kind"):
            r.pop(k, None)
    (run / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "utterances.parquet").unlink(missing_ok=True)


def test_gated_metric_that_disappears_fails_unless_allowed(tmp_path, capsys):
    base = build_run(tmp_path / "b", per_lang=4)
    cand = build_run(tmp_path / "c", per_lang=4, seed=1)
    _drop_column(cand, "stoi")
    assert cli("compare", str(base), str(cand)) == 1  # default gate: every quality metric of the baseline
    assert "codec-a/all/stoi (missing from the candidate (not in the run)" in capsys.readouterr().err
    assert cli("compare", str(base), str(cand), "--max-drop", "stoi=0.5") == 1
    assert cli("compare", str(base), str(cand), "--max-drop", "stoi=0.5", "--allow-missing") == 0
    assert "skipped: candidate: not in the run (--allow-missing)" in capsys.readouterr().out
    assert cli("compare", str(base), str(cand), "--max-drop", "pesq_wb=0.5") == 0  # stoi not gated: reported


def test_unavailable_in_candidate_fails_and_n0_is_skipped(tmp_path, capsys):
    base = build_run(tmp_path / "b", per_lang=6, failed={("codec-a", "pesq_wb"): "PESQ NoUtterancesError"})
    cand = build_run(tmp_path / "c", per_lang=6, seed=1, failed={("codec-a", "pesq_wb"): "PESQ NoUtterancesError",
                                                                 ("codec-b", "stoi"): "unavailable: no pystoi here"})
    junit = tmp_path / "j.xml"
    assert cli("compare", str(base), str(cand), "--max-drop", "pesq_wb=0.5,stoi=0.5", "--junit", str(junit)) == 1
    err = capsys.readouterr().err
    assert "codec-b/en/stoi (missing from the candidate (unavailable: no pystoi here)" in err
    assert "codec-a/en/pesq_wb" not in err.split("regression in:")[1]
    cases = {(tc.get("classname"), tc.get("name")): tc for tc in ET.parse(junit).getroot().iter("testcase")}
    skip = cases[("codecbench.codec-a", "en/pesq_wb")].find("skipped")
    assert skip is not None and skip.get("message").startswith("n = 0")  # n = 0 is never a pass
    assert cli("compare", str(base), str(cand), "--max-drop", "pesq_wb=0.5,stoi=0.5", "--allow-missing") == 0


def test_unreliable_summaries_are_not_gated(tmp_path, capsys):
    kw = {"codecs": {"codec-a": 0.0}, "per_lang": 10, "failed": {("codec-a", "wer"): "unreliable: wrong script"}}
    base = build_run(tmp_path / "b", **kw)
    cand = build_run(tmp_path / "c", seed=1, shift={"wer": 0.5}, **kw)
    # every wer pair unreliable: the gate tested nothing it was asked to gate, so it fails (issue 24)
    assert cli("compare", str(base), str(cand), "--max-rise", "wer=0.02") == 1
    assert "wer: none of its 2 per-language pair(s) was tested" in capsys.readouterr().err
    assert cli("compare", str(base), str(cand), "--max-rise", "wer=0.02", "--allow-skipped") == 0
    assert "not gated: unreliable in the baseline summary (wrong script)" in capsys.readouterr().out


def test_min_n_skips_small_pairs(tmp_path, capsys):
    base = build_run(tmp_path / "b", per_lang=4, langs=("en",))
    cand = build_run(tmp_path / "c", per_lang=4, langs=("en",), seed=1, shift={"pesq_wb": -1.0})
    junit = tmp_path / "j.xml"
    gate = ["--max-drop", "pesq_wb=0.05", "--min-n", "5", "--junit", str(junit)]
    assert cli("compare", str(base), str(cand), *gate) == 1  # every pair skipped: the gate tested nothing
    captured = capsys.readouterr()
    assert "nothing tested" in captured.out and "pesq_wb: none of its 2 per-language pair(s) was tested" in captured.err
    assert cli("compare", str(base), str(cand), *gate, "--allow-skipped") == 0
    assert "n = 4 &lt; --min-n 5" in capsys.readouterr().out
    assert ET.parse(junit).getroot().get("skipped") == str(2)  # codecs x en (one language: no "all" row)


def test_pr_markdown_is_short_with_labels_and_revisions(tmp_path):
    import json

    codecs = {f"codec-{k}": 0.1 * k for k in range(6)}
    base = build_run(tmp_path / "b", codecs=codecs, langs=("en", "hi", "ta"), per_lang=8)
    cand = build_run(tmp_path / "c", codecs=codecs, langs=("en", "hi", "ta"), per_lang=8, seed=1,
                     shift={"pesq_wb": -0.3})
    (cand / "environment.json").write_text(json.dumps({"git": {"revision": "0123456789abcdef", "dirty": True}}))
    md = tmp_path / "pr.md"
    assert cli("compare", str(base), str(cand), "--label", f"{base}=main", "--label", "c=PR #7",
               "--markdown", str(md)) == 1
    text = md.read_text(encoding="utf-8")
    visible = text.split("<details>")[0].splitlines()
    assert len(visible) <= 40 and len(text.splitlines()) > 60  # the rest is folded, not dropped
    assert "Baseline **main** (run `b`)" in text and "candidate **PR #7** (run `c`, rev `0123456789+dirty`)" in text


def test_too_few_utterances_warn_not_fail(tmp_path, capsys):
    base = build_run(tmp_path / "b", per_lang=2, langs=("en",))
    cand = build_run(tmp_path / "c", per_lang=2, langs=("en",), shift={"pesq_wb": -1.0})
    assert cli("compare", str(base), str(cand), "--max-drop", "pesq_wb=0.05") == 0
    captured = capsys.readouterr()
    assert "⚠️ worse by 1 &gt; 0.05 but not significant" in captured.out
    assert "too few to reach p < 0.05" in captured.err
