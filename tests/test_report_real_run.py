"""Report, compare and MUSHRA on a real run (Opus on the embedded espeak-ng set, 2 utterances per language)."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import yaml
from report_fixture import cli, headless

CODECS = ["opus-6kbps", "opus-12kbps"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    from codecbench.codecs.registry import get_spec

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is absent: the embedded demo set cannot be synthesised")
    for name in CODECS:
        reason = get_spec(name).unavailable_reason()
        if reason:
            pytest.skip(f"{name} cannot run here: {reason}")
    from codecbench.config import BenchConfig
    from codecbench.pipeline import run

    out = tmp_path_factory.mktemp("real") / "run"
    return run(BenchConfig(codecs=CODECS, limit=2, workers=1, save_audio="all"), out=out, progress=False)


def test_report_of_real_run_in_chromium(real_run, tmp_path):
    out = tmp_path / "report"
    assert cli("report", str(real_run), "--out", str(out)) == 0
    assert any(p.suffix == ".svg" for p in (out / "plots").iterdir())
    res = headless(tmp_path, "--dump-dom", (out / "index.html").as_uri())
    assert res.returncode == 0
    body = re.search(r"<body([^>]*)>", res.stdout).group(1)
    assert 'data-ready="1"' in body and 'data-errors="0"' in body
    assert not [ln for ln in res.stderr.splitlines() if ":CONSOLE" in ln]
    table = re.search(r'<table class="lb headline" data-lang="all"[^>]*>(.*?)</table>', res.stdout, re.S).group(1)
    assert sorted(re.findall(r'<tr class="codec-row" data-codec="([^"]*)"', table)) == sorted(CODECS)


def test_compare_real_runs(real_run, tmp_path, capsys):
    gate = ["--max-drop", "pesq_wb=0.05,stoi=0.01"]
    assert cli("compare", str(real_run), str(real_run), *gate) == 0
    # 6 kbps as the "candidate checkpoint" of 12 kbps: a real quality drop
    assert cli("compare", str(real_run), str(real_run), "--baseline-codec", "opus-12kbps",
               "--candidate-codec", "opus-6kbps", "--max-drop", "pesq_wb=0.05", "--alpha", "0.1") == 1
    assert "opus-12kbps->opus-6kbps/all/pesq_wb" in capsys.readouterr().err
    cut = tmp_path / "cut"
    shutil.copytree(real_run, cut)
    (cut / "utterances.parquet").unlink(missing_ok=True)
    lines = (cut / "rows.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (cut / "rows.jsonl").write_text("".join(lines[:-1]), encoding="utf-8")
    assert cli("compare", str(real_run), str(cut), *gate) == 2


def test_mushra_on_real_run(real_run, tmp_path):
    out = tmp_path / "mushra"
    assert cli("mushra", str(real_run), "--codecs", ",".join(CODECS), "--items", "3", "--out", str(out)) == 0
    meta = json.loads((out / "mushra_items.json").read_text(encoding="utf-8"))
    assert sorted(i["lang"] for i in meta["items"]) == ["en", "hi", "ta"]
    cfg = yaml.safe_load((out / "mushra.yaml").read_text(encoding="utf-8"))
    assert len(next(p for p in cfg["pages"] if isinstance(p, list))) == 1 + 3


def test_summary_md_of_real_run_is_readable(real_run):
    from collections import Counter

    from codecbench.summary import results_table

    md = (real_run / "summary.md").read_text(encoding="utf-8")
    assert max(len(line) for line in md.splitlines()) <= 400
    notes = [line.split(": ", 1)[1] for line in md.splitlines() if re.match(r"\[\^\d+\]: ", line)]
    assert not [n for n, k in Counter(notes).items() if k > 1]  # each reason once
    for reason in notes:
        assert md.count(reason) == 1, reason
    table = results_table(real_run)
    assert table.splitlines()[0].startswith("codec") and all(c in table for c in CODECS)
