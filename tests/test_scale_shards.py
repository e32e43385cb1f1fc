"""Shards and merge: shards 1/2 + 2/2 merged equal one unsharded run; overlaps, gaps, incomplete
shards and shards of other configurations are refused with one-line messages."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from codecbench.cli import main
from codecbench.codecs.registry import register
from codecbench.config import BenchConfig
from codecbench.pipeline import run
from codecbench.pipeline.merge import MergeError, merge
from codecbench.store import RunStore, load_rows
from tests.helpers import mulaw_spec, speechlike
from tests.test_core_runner import write_manifest

METRICS = ["si_sdr", "stoi", "bitrate", "codebook"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An unsharded run and its two shards (local engine, in-process metrics)."""
    register(mulaw_spec())
    d = tmp_path_factory.mktemp("shards")
    items = [(f"{lang}{i}", lang, speechlike(0.6 + 0.23 * i, sr, seed=i), sr)
             for i in range(6) for lang, sr in (("hi", 16000), ("ta", 22050))]
    manifest = write_manifest(d, items)
    cfg = dict(codecs=["opus-12kbps", "example-mulaw-8k"], dataset=str(manifest), metrics=METRICS, workers=0,
               save_audio="2")
    out = {"full": run(BenchConfig(**cfg), out=d / "full", progress=False)}
    for k in (1, 2):
        out[k] = run(BenchConfig(shard=f"{k}/2", **cfg), out=d / f"s{k}", progress=False)
    out["other"] = run(BenchConfig(shard="2/2", **{**cfg, "metrics": ["si_sdr"]}), out=d / "other", progress=False)
    out["dir"] = d
    return out


def _rows(run_dir) -> pd.DataFrame:
    df = load_rows(run_dir).drop(columns=["computed_at", "batch_size"])
    return df.sort_values(["codec", "utt_id"]).reset_index(drop=True)


def test_merged_shards_equal_the_unsharded_run(runs):
    n1, n2 = len(RunStore(runs[1]).rows()), len(RunStore(runs[2]).rows())
    assert n1 > 0 and n2 > 0 and n1 + n2 == 24  # a real split of the (codec, utterance) work
    assert json.loads((runs[1] / "config.json").read_text())["run_id"].endswith("-shard1of2")
    out = runs["dir"] / "merged"
    assert main(["merge", str(runs[2]), str(runs[1]), "--out", str(out)]) == 0
    pd.testing.assert_frame_equal(_rows(out), _rows(runs["full"]))
    for name in ("summary.csv", "codebook.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(out / name), pd.read_csv(runs["full"] / name))
    meta = json.loads((out / "config.json").read_text())
    assert meta["run_id"] == json.loads((runs["full"] / "config.json").read_text())["run_id"]
    assert meta["shard"] is None and len(meta["merged_from"]) == 2
    assert sorted(p.name for p in (out / "audio").rglob("*.wav")) == \
        sorted(p.name for p in (runs["full"] / "audio").rglob("*.wav"))


def test_overlapping_shards_are_refused(runs, capsys):
    with pytest.raises(MergeError, match="overlapping shards: .* both shard 1/2"):
        merge([runs[1], runs[1], runs[2]], runs["dir"] / "m1")
    # a shard folder holding another shard's rows
    bad = runs["dir"] / "bad1"
    shutil.copytree(runs[1], bad)
    with open(bad / "rows.jsonl", "a") as f:
        f.write((runs[2] / "rows.jsonl").read_text().splitlines(keepends=True)[0])
    with pytest.raises(MergeError, match=r"holds 1 row\(s\) of other shards"):
        merge([bad, runs[2]], runs["dir"] / "m2")
    code = main(["merge", str(runs[1]), str(runs[1]), str(runs[2]), "--out", str(runs["dir"] / "m3")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "overlapping shards" in err
    assert not (runs["dir"] / "m3").exists()


def test_gaps_and_incomplete_shards_are_refused(runs):
    with pytest.raises(MergeError, match=r"gap: shard\(s\) 2/2 missing"):
        merge([runs[1]], runs["dir"] / "g1")
    cut = runs["dir"] / "cut2"
    shutil.copytree(runs[2], cut)
    lines = (cut / "rows.jsonl").read_text().splitlines(keepends=True)
    (cut / "rows.jsonl").write_text("".join(lines[1:]))
    with pytest.raises(MergeError, match=r"gap: .* lacks 1 row\(s\)"):
        merge([runs[1], cut], runs["dir"] / "g2")


def test_shards_of_other_configurations_are_refused(runs):
    with pytest.raises(MergeError, match=r"different configurations \(differ in: metrics"):
        merge([runs[1], runs["other"]], runs["dir"] / "c1")
    with pytest.raises(MergeError, match="split the work differently"):
        merge([runs[1], runs["full"]], runs["dir"] / "c2")
    with pytest.raises(MergeError, match="exists and is not empty"):
        merge([runs[1], runs[2]], runs["full"])
