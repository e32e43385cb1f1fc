"""summary.md and the end-of-run table: short lines, each reason once, n, units, no CI for n < 5."""

from __future__ import annotations

import re

from report_fixture import build_run

from codecbench.report.cells import header_text, value_text
from codecbench.summary import results_table

LONG = "model weights are not available here: " + "run `codecbench models download x` where the hub is reachable " * 4


def _run(tmp_path, per_lang=6):
    return build_run(tmp_path / "run", codecs={"codec-a": 0.0, "codec-b": 0.5, "opus-6kbps": -0.5}, per_lang=per_lang,
                     failed={("codec-a", "wer"): "unavailable: " + LONG, ("codec-b", "wer"): "unavailable: " + LONG,
                             ("opus-6kbps", "wer"): "unavailable: " + LONG,
                             ("codec-b", "stoi"): "unreliable: clipped reference"})


def test_summary_md_lines_short_and_each_reason_once(tmp_path):
    md = (_run(tmp_path) / "summary.md").read_text(encoding="utf-8")
    assert max(len(line) for line in md.splitlines()) <= 400
    assert md.count(LONG.strip()[:60]) == 1 and md.count("clipped reference") == 1
    assert "Not computed in this run: wer (unavailable[^1])" in md  # an all-unavailable metric has no column
    assert "| wer" not in md
    rows = [line for line in md.splitlines() if re.match(r"\| codec-b \| \d+ \|", line)]
    assert len(rows) == 3 and {line.split(" | ")[1] for line in rows} == {"6", "12"}  # the n column
    assert "unreliable[^2]" in md and "[^2]: unreliable: clipped reference" in md
    assert re.search(r"\| opus-6kbps \| 6 \| [0-9.]+ \[[0-9.]+, [0-9.]+\] \|", md)  # n >= 5: CI shown


def test_no_ci_below_five_and_units():
    assert value_text(2.5, 2.0, 3.0, 4) == "2.50"
    assert value_text(2.5, 2.0, 3.0, 5) == "2.50 [2.00, 3.00]"
    assert value_text(6000.0, 6000.0, 6000.0, 16, "bit/s") == "6.00"  # kbps; a zero-width CI is not shown
    # one RTF convention everywhere (issue 24): s/s, processing seconds per audio second, lower is better
    assert value_text(0.02, 0.01, 0.04, 16, "s/s") == "0.020 [0.010, 0.040]"
    assert value_text(0.0021, 0.0015, 0.0032, 16, "s/s") == "0.0021 [0.0015, 0.0032]"  # never 0.000
    assert header_text("rtf_encode", "s/s", False) == "rtf_encode (s/s) ↓"
    assert header_text("bitrate_measured", "bit/s", None) == "bitrate_measured (kbps)"


def test_results_table_for_the_end_of_run(tmp_path):
    text = results_table(_run(tmp_path, per_lang=3))
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["codec", "lang", "n"] and "pesq_wb" in lines[0] and "stoi" in lines[0]
    assert "wer" not in lines[0]
    assert any(line.startswith("not computed: wer (unavailable (1))") for line in lines)
    assert sum(LONG.strip()[:60] in line for line in lines) == 1
    assert "unreliable (2)" in text and "(2) unreliable: clipped reference" in text
    assert "[" not in lines[2]  # means only: CIs are in summary.md
    assert max(len(line) for line in lines if not line.startswith("(")) <= 160
