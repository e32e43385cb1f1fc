"""Metrics own what they know: their side records, per-item folders and corpus-level aggregate.

Shards 1/2 and 2/2 merged give the unsharded run's summary for ABX (features in a metric folder,
triplets across utterances) and for ASR (transcript records, corpus WER); a metric with a corpus
aggregate defined only here (registered at run time, as a plugin would be) shows up in summary.csv,
summary.md, its own file, a merged run and a report's recomputed summary, with nothing else touched."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

from codecbench import audio
from codecbench.cli import main
from codecbench.metrics.base import Metric, MetricInfo, MetricInput, Output
from codecbench.metrics.corpus import Aggregate, Corpus, Table
from codecbench.metrics.registry import all_metrics
from codecbench.report.runs import Run
from codecbench.store import RunFolder
from tests.helpers import speechlike


def _shard_and_merge(tmp_path, args: list[str]) -> tuple[RunFolder, RunFolder]:
    """The unsharded run and the merge of its shards 1/2 and 2/2 (all through the command line)."""
    for name, extra in (("full", []), ("s1", ["--shard", "1/2"]), ("s2", ["--shard", "2/2"])):
        assert main(["run", *args, *extra, "--workers", "0", "--out", str(tmp_path / name), "-q"]) == 0, name
    assert main(["merge", str(tmp_path / "s2"), str(tmp_path / "s1"), "--out", str(tmp_path / "merged")]) == 0
    return RunFolder(tmp_path / "full"), RunFolder(tmp_path / "merged")


def _summary(folder: RunFolder) -> pd.DataFrame:
    return pd.read_csv(folder.path("summary.csv")).sort_values(["codec", "lang", "metric"]).reset_index(drop=True)


def test_sharded_abx_run_merges_to_the_unsharded_summary(tmp_path, monkeypatch):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    full, merged = _shard_and_merge(tmp_path, ["--dataset", "contrasts:hi", "--limit", "48", "--codecs",
                                               "opus-6kbps,opus-12kbps", "--metrics", "abx", "--save-audio", "none"])
    want, got = _summary(full), _summary(merged)
    abx = want["metric"].str.match(r"abx_(floor|error|loss|token_error):")
    # 2 codecs x (hi: its class and all; all languages: all) x (floor, error, loss): 18 rows, as unsharded
    assert abx.sum() == 18 and (want.loc[abx, "status"] == "ok").all()
    pd.testing.assert_frame_equal(got, want)
    key = ["codec", "a", "b", "x"]
    pd.testing.assert_frame_equal(
        pd.read_parquet(merged.path("abx_triplets.parquet")).sort_values(key).reset_index(drop=True),
        pd.read_parquet(full.path("abx_triplets.parquet")).sort_values(key).reset_index(drop=True))


def test_sharded_asr_run_merges_to_the_unsharded_summary(tmp_path):
    pytest.importorskip("transformers")
    from tests.asr_checkpoints import build_whisper
    from tests.test_metrics_asr_hf import _manifest

    model = build_whisper(tmp_path / "whisper-tiny-random")
    manifest = _manifest(tmp_path / "data")
    full, merged = _shard_and_merge(tmp_path, ["--dataset", str(manifest), "--codecs", "opus-6kbps,opus-12kbps",
                                               "--metrics", "wer", "--metric-opt", f"wer.model={model}",
                                               "--metric-opt", "wer.beam=1", "--batch-size", "4"])
    want, got = _summary(full), _summary(merged)
    assert set(want["metric"]) >= {"wer", "wer_corpus", "dcer_corpus"}
    pd.testing.assert_frame_equal(got, want)
    assert json.loads(merged.path("asr_reliability.json").read_text()) == \
        json.loads(full.path("asr_reliability.json").read_text())
    assert len(merged.records("asr_transcripts")) == len(full.records("asr_transcripts")) == 8


# -- a metric with a corpus-level figure, defined only here -----------------------------------------
RECORDS, ARRAYS = "test_peak_records", "test_peak_arrays"


class PeakMetric(Metric):
    """Per item: the reconstruction's peak, a side record and an array; per corpus: the largest peak
    per (codec, language), a JSON file and a summary.md table."""

    name = "test_peak"
    streams = (RECORDS,)
    folders = (ARRAYS,)

    def info(self) -> MetricInfo:
        return MetricInfo(name=self.name, outputs=(Output("test_peak", True, ""),), library="tests", default=False)

    def setup(self, device: str = "cpu", workdir: str | None = None) -> None:
        self.workdir = workdir

    def compute(self, x: MetricInput) -> dict[str, float]:
        peak = float(np.max(np.abs(x.deg)))
        if self.workdir and x.codec is not None:
            folder = RunFolder(self.workdir)
            folder.append_records(RECORDS, [{"codec": x.codec.name, "utt_id": x.utterance.id, "peak": peak}])
            folder.save_arrays(ARRAYS, x.codec.name, x.utterance.id, envelope=np.abs(x.deg[::50]))
        return {"test_peak": peak}

    def aggregate(self, corpus: Corpus) -> Aggregate:
        lang = dict(zip(corpus.rows["utt_id"], corpus.rows["lang"], strict=True))
        peaks: dict[tuple[str, str], list[float]] = defaultdict(list)
        for r in corpus.records[RECORDS]:
            env = corpus.folder.load_arrays(ARRAYS, r["codec"], r["utt_id"])["envelope"]
            for group in (lang[r["utt_id"]], "all"):
                peaks[(r["codec"], group)].append(max(r["peak"], float(env.max())))
        rows = [corpus.row(codec, group, "test_peak_max", n=len(v), mean=max(v), higher_is_better=True)
                for (codec, group), v in sorted(peaks.items())]
        return Aggregate(rows=rows, files={"test_peaks.json": {f"{c}/{g}": len(v) for (c, g), v in peaks.items()}},
                         tables=[Table("Largest peaks", ["codec", "lang", "n"],
                                       [[c, g, str(len(v))] for (c, g), v in sorted(peaks.items())])])


def _manifest(folder) -> str:
    lines = []
    for i in range(6):
        lang = ("en", "hi")[i % 2]
        audio.save(folder / f"u{i}.wav", speechlike(0.6 + 0.1 * i, 16000, seed=i), 16000)
        lines.append(json.dumps({"id": f"u{i}", "path": f"u{i}.wav", "lang": lang}))
    (folder / "m.jsonl").write_text("\n".join(lines) + "\n")
    return str(folder / "m.jsonl")


def test_a_metric_with_its_own_aggregate_needs_nothing_else(tmp_path, monkeypatch):
    monkeypatch.setitem(all_metrics(), "test_peak", PeakMetric())
    full, merged = _shard_and_merge(tmp_path, ["--dataset", _manifest(tmp_path), "--codecs", "opus-6kbps",
                                               "--metrics", "si_sdr,test_peak"])
    summary = _summary(full).set_index(["lang", "metric"])
    rows = RunFolder(full.dir).rows()
    assert summary.loc[("all", "test_peak_max"), "n"] == 6 and summary.loc[("hi", "test_peak_max"), "n"] == 3
    assert summary.loc[("all", "test_peak_max"), "mean"] == pytest.approx(max(r["test_peak"] for r in rows))
    assert summary.loc[("all", "test_peak_max"), "library"] == "tests"  # provenance from the metric's info
    assert json.loads(full.path("test_peaks.json").read_text()) == {"opus-6kbps/en": 3, "opus-6kbps/hi": 3,
                                                                     "opus-6kbps/all": 6}
    assert "## Largest peaks" in full.path("summary.md").read_text()
    pd.testing.assert_frame_equal(_summary(merged), _summary(full))  # its records and arrays were merged
    # a report restricted to some utterances recomputes the aggregate over them
    run = Run.open(full.dir)
    run.restrict({"u0", "u2"})
    s = run.summary().set_index(["lang", "metric"])
    assert s.loc[("all", "test_peak_max"), "n"] == 2


def test_pair_scoring_on_the_ray_engine_equals_local(tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'codecbench[ray]')")
    refs, degs = tmp_path / "ref", tmp_path / "deg"
    ref_lines, deg_lines = [], []
    for i in range(5):
        x = speechlike(1.2 + 0.3 * i, 16000, seed=i)
        y = x + 0.01 * np.random.default_rng(i).standard_normal(len(x)).astype(np.float32)
        audio.save(refs / f"u{i}.wav", x, 16000)
        audio.save(degs / f"u{i}.wav", y[: len(y) - 6400 * (i % 2)], 16000)  # some 0.4 s shorter: length notes
        ref_lines.append(f"u{i} {refs / f'u{i}.wav'}")
        deg_lines.append(f"u{i} {degs / f'u{i}.wav'}")
    (tmp_path / "ref.scp").write_text("\n".join(ref_lines) + "\n")
    (tmp_path / "deg.scp").write_text("\n".join(deg_lines) + "\n")
    args = ["score", str(tmp_path / "ref.scp"), str(tmp_path / "deg.scp"), "--metrics", "pesq_wb,stoi,si_sdr", "-q"]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             object_store_memory=256 * 1024**2)
    try:
        assert main([*args, "--engine", "ray", "--out", str(tmp_path / "ray")]) == 0
    finally:
        ray.shutdown()
    assert main([*args, "--workers", "1", "--out", str(tmp_path / "local")]) == 0

    def values(name: str) -> pd.DataFrame:
        df = RunFolder(tmp_path / name).frame().drop(columns=["computed_at"])
        return df.sort_values("utt_id").reset_index(drop=True)

    a, b = values("ray"), values("local")
    assert len(a) == 5 and a[["pesq_wb", "stoi", "si_sdr"]].notna().all().all() and (a["length_note"] != "").any()
    pd.testing.assert_frame_equal(a, b)
    assert json.loads((tmp_path / "ray" / "timings.json").read_text())["engine"] == "ray"
