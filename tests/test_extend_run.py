"""Runs a person can grow and read (issue 29 part 4): a run folder extended by a higher limit, more
languages or more codecs keeps its completed rows, while another metric option, another codec behind a
label or a config that leaves rows out is still refused; ``-q`` keeps the results table; ``score``
prints it and takes the bitrate of outside reconstructions; a missing local ASR folder is named as such."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from codecbench.cli import main
from codecbench.metrics.base import Metric, MetricInfo, MetricInput, Option, Output
from codecbench.metrics.registry import all_metrics
from tests.cli_fixture import manifest


class GainMetric(Metric):
    """A signal metric with an option that changes its value."""

    name = "test_gain"
    options = {"gain": Option(1.0, "multiplies the value", float)}

    def info(self) -> MetricInfo:
        return MetricInfo(name=self.name, outputs=(Output("test_gain"),), default=False)

    def compute(self, x: MetricInput) -> dict[str, float]:
        return {"test_gain": float(self.opts["gain"]) * float(np.mean(np.abs(x.deg)))}


@pytest.fixture
def data(tmp_path, monkeypatch) -> Path:
    monkeypatch.setitem(all_metrics(), "test_gain", GainMetric())
    return manifest(tmp_path / "data", per_lang=3, seconds=1.0)


def _run(data: Path, out: Path, *extra: str) -> int:
    return main(["run", "--dataset", str(data), "--metrics", "si_sdr,test_gain", "--workers", "0", "--out", str(out),
                 "-q", *extra])


def _rows(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "rows.jsonl").read_text().splitlines()]


def test_a_run_grows_by_limit_languages_and_codecs_keeping_its_rows(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert _run(data, out, "--codecs", "opus-6kbps", "--langs", "xx", "--limit", "1") == 0
    first = (out / "rows.jsonl").read_text()
    run_id = json.loads((out / "config.json").read_text())["run_id"]
    assert len(_rows(out)) == 1
    capsys.readouterr()
    steps = [(["--codecs", "opus-6kbps", "--langs", "xx", "--limit", "2"], 2),  # a higher limit
             (["--codecs", "opus-6kbps", "--langs", "xx,yy", "--limit", "2"], 4),  # another language
             (["--codecs", "opus-6kbps,o12=opus-12kbps", "--langs", "xx,yy", "--limit", "2"], 8),  # another codec
             (["--codecs", "opus-6kbps,o12=opus-12kbps", "--langs", "xx,yy"], 12)]  # no limit
    for extra, n in steps:
        before = (out / "rows.jsonl").read_text()
        assert _run(data, out, *extra) == 0
        err = capsys.readouterr().err
        assert "extending" in err and "already computed are kept" in err
        after = (out / "rows.jsonl").read_text()
        assert after.startswith(before) and len(_rows(out)) == n  # nothing recomputed, every new row added
    assert (out / "rows.jsonl").read_text().startswith(first)
    meta = json.loads((out / "config.json").read_text())
    assert meta["run_id"] == run_id and meta["n_utterances"] == 6 and {r["run_id"] for r in _rows(out)} == {run_id}
    assert set(json.loads((out / "codecs.json").read_text())) == {"opus-6kbps", "o12"}
    summary = (out / "summary.csv").read_text()
    assert "o12" in summary and "yy" in summary
    assert _run(data, out, "--codecs", "opus-6kbps,o12=opus-12kbps", "--langs", "xx,yy") == 0  # the same: resumes
    assert "12 of 12 rows already done" in capsys.readouterr().err


@pytest.mark.parametrize("extra, words", [
    (["--codecs", "opus-6kbps", "--limit", "2", "--metric-opt", "test_gain.gain=2"], ["metrics.test_gain.gain"]),
    (["--codecs", "opus-6kbps=opus-12kbps", "--limit", "2"], ["codecs.opus-6kbps.codec"]),  # another codec, same label
    (["--codecs", "opus-12kbps", "--limit", "2"], ["rows are not in this one", "codecs: opus-6kbps"]),  # dropped
    (["--codecs", "opus-6kbps", "--limit", "1"], ["rows are not in this one"]),  # a lower limit
    (["--codecs", "opus-6kbps", "--limit", "2", "--max-duration", "100"], ["max_duration"]),
])
def test_what_changes_a_value_is_still_refused(data, tmp_path, capsys, extra, words):
    out = tmp_path / "run"
    assert _run(data, out, "--codecs", "opus-6kbps", "--limit", "2") == 0
    rows = (out / "rows.jsonl").read_text()
    capsys.readouterr()
    assert _run(data, out, *extra) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "different configuration" in err and all(w in err for w in words), err
    assert (out / "rows.jsonl").read_text() == rows


def test_an_old_identity_is_upgraded_so_old_folders_resume():
    from codecbench.config import extension_diff

    old = {"dataset": "d", "langs": None, "codecs": ["opus-6kbps", "ours-rvq:/x"],
           "codec_revisions": {"ours-rvq:/x": "abc"}, "utterance_ids_sha256": "1"}
    new = {"dataset": "d", "langs": ["hi"], "codecs": {"opus-6kbps": {"codec": "opus-6kbps", "options": {}},
                                                       "ours-rvq:/x": {"codec": "ours-rvq:/x", "options": {}}},
           "codec_revisions": {"ours-rvq:/x": "abc"}, "utterance_ids_sha256": "2"}
    assert extension_diff(old, new) == []
    assert extension_diff(old, {**new, "codec_revisions": {"ours-rvq:/x": "def"}}) == ["codec_revisions.ours-rvq:/x"]


def test_quiet_keeps_the_results_table(data, tmp_path, capsys):
    assert _run(data, tmp_path / "run", "--codecs", "opus-6kbps", "--limit", "1") == 0  # _run passes -q
    err = capsys.readouterr().err
    assert "codec" in err and "opus-6kbps" in err and "summary.md" in err


def test_score_prints_the_table_and_places_outside_reconstructions_on_the_rate_axis(tmp_path, capsys):
    data = manifest(tmp_path / "data", per_lang=2, seconds=1.0)
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    runs = []
    for label, kbps in (("sysa", "6"), ("sysb", "12")):
        pairs = tmp_path / f"{label}.jsonl"
        pairs.write_text("".join(json.dumps({"id": r["id"], "ref": str(data.parent / r["path"]),
                                             "deg": str(data.parent / r["path"]), "lang": r["lang"]}) + "\n"
                                 for r in rows))
        out = tmp_path / label
        assert main(["score", str(pairs), "--label", label, "--bitrate", f"{label}={kbps}", "--metrics", "si_sdr",
                     "--workers", "1", "--out", str(out), "-q"]) == 0
        err = capsys.readouterr().err
        assert label in err and "summary.md" in err  # the results table
        assert json.loads((out / "codecs.json").read_text())[label]["nominal_bitrate"] == 1000 * float(kbps)
        assert "bitrate" in (out / "config.yaml").read_text()
        runs.append(str(out))
    assert main(["report", *runs, "--out", str(tmp_path / "rep"), "--examples", "0", "--plot-all"]) == 0
    assert list((tmp_path / "rep" / "plots").glob("rate_quality_si_sdr.*"))
    assert main(["score", str(tmp_path / "sysa.jsonl"), "--label", "sysa", "--bitrate", "other=6", "--metrics",
                 "si_sdr", "--out", str(tmp_path / "x")]) == 2
    assert "bitrate names other, but the scored pairs are labelled sysa" in capsys.readouterr().err


def test_a_missing_local_asr_folder_is_named_as_such(monkeypatch):
    from codecbench.config import MetricSpec
    from codecbench.metrics.registry import create
    from codecbench.pipeline.resolve import resolve_metrics

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for folder in ("/nonexistent/model", "./models/whisper-hi", "~/asr/hi"):
        [spec] = resolve_metrics([MetricSpec("wer", {"model": "none", "per_lang": {"hi": folder}})], "cpu")
        reason = create("wer", spec.options).unavailable_reason()
        assert reason == f"local model folder {folder} does not exist (ASR model for hi)", reason
