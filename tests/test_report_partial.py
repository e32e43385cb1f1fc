"""Issue 25 part 7: ``report`` marks a run that is still being written (locked) or stopped early on the
page and in leaderboard.md; markdown outputs escape every name (run ids, languages, codecs); a
duplicated rows.jsonl line is counted in the warning the docs promise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import soundfile as sf
from report_fixture import build_run

from codecbench.cli import main
from codecbench.lock import FolderLocked
from codecbench.store import RunStore
from tests.helpers import speechlike

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("partial")
    lines = []
    for k in range(3):
        sf.write(str(d / f"u{k}.wav"), speechlike(1.0, 16000, seed=k), 16000)
        lines.append(json.dumps({"id": f"u{k}", "path": str(d / f"u{k}.wav"), "lang": "en"}))
    (d / "m.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["run", "--dataset", str(d / "m.jsonl"), "--codecs", "opus-6kbps,opus-12kbps", "--metrics", "si_sdr",
                 "--workers", "0", "--out", str(d / "run"), "-q"]) == 0
    return d / "run"


def _report(run: Path, out: Path) -> tuple[str, str]:
    assert main(["report", str(run), "--out", str(out), "--no-plots", "--examples", "0"]) == 0
    return (out / "index.html").read_text(encoding="utf-8"), (out / "leaderboard.md").read_text(encoding="utf-8")


def test_a_finished_run_has_no_warning(finished, tmp_path):
    page, md = _report(finished, tmp_path / "rep")
    assert "warn partial" not in page and "Warning" not in md


def test_a_run_stopped_early_is_marked(finished, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished, run)
    keep = (run / "rows.jsonl").read_text().splitlines()[:2]
    (run / "rows.jsonl").write_text("\n".join(keep) + "\n")
    for name in ("utterances.parquet", "summary.csv", "summary.md"):
        (run / name).unlink()
    page, md = _report(run, tmp_path / "rep")
    assert "is incomplete: 2 of 6 rows (4 missing)" in page
    assert "> **Warning:** run" in md and "is incomplete: 2 of 6 rows" in md


_HOLDER = ("import sys, time; from codecbench.store import RunStore; s = RunStore(sys.argv[1]); s.lock(); "
           "print('held', flush=True); time.sleep(120)")


def test_a_run_being_written_is_marked_and_keeps_its_lock(finished, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(finished)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        page, md = _report(finished, tmp_path / "rep")
        assert f"still being written (process {holder.pid} holds its folder)" in page
        assert "> **Warning:** run " in md and f"still being written (process {holder.pid}" in md
        with pytest.raises(FolderLocked):  # the report took nothing: the writer still holds the folder
            RunStore(finished).lock()
    finally:
        holder.kill()
        holder.wait()
    page, _ = _report(finished, tmp_path / "rep2")
    assert "still being written" not in page


EVIL = {"run": "run<b>x*em*[link](javascript:alert(1))",  # a folder name: no slash
        "lang": "xx<img src=y>_u_~~s~~", "codec": "codec|pipe![img](http://e/x.png)"}


def test_markdown_outputs_escape_every_name(tmp_path):
    run = build_run(tmp_path / EVIL["run"], codecs={EVIL["codec"]: 0.0, "plain": 0.3}, langs=(EVIL["lang"], "en"),
                    per_lang=3)
    _, md = _report(run, tmp_path / "rep")
    summary = (run / "summary.md").read_text(encoding="utf-8")
    for text in (md, summary):
        for raw in ("<b>", "<img", "*em*", "[link](", "~~s~~", "![img]", "codec|pipe", "_u_"):
            assert raw not in text, (raw, text[:400])
    assert r"run&lt;b&gt;x\*em\*\[link\](javascript:alert(1))" in md
    assert r"## Language: xx&lt;img src=y&gt;\_u\_\~\~s\~\~" in md
    assert r"codec\|pipe!\[img\](http://e/x.png)" in md and r"# codecbench run run&lt;b&gt;" in summary


def test_a_duplicated_rows_line_is_counted_in_the_warning(finished, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished, run)
    last = (run / "rows.jsonl").read_text().splitlines()[-1]
    with open(run / "rows.jsonl", "a") as f:
        f.write(last + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = RunStore(run).rows()
    assert len(rows) == 6
    assert any("skipped 1 line(s): 1 duplicate" in str(w.message) for w in caught), [str(w.message) for w in caught]
