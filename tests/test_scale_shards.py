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


def test_shards_record_their_costs_and_merge_refuses_other_splits(runs):
    from codecbench.pipeline.shards import CODEC_COST, NEURAL_COST

    metas = [json.loads((runs[k] / "config.json").read_text()) for k in (1, 2)]
    assert metas[0]["shard_costs"] == {"opus-12kbps": CODEC_COST["opus"], "example-mulaw-8k": NEURAL_COST}
    assert "shard_costs" not in json.loads((runs["full"] / "config.json").read_text())
    other = runs["dir"] / "costs2"
    shutil.copytree(runs[2], other)
    meta = {**metas[1], "shard_costs": {"opus-12kbps": 0.5, "example-mulaw-8k": NEURAL_COST}}
    (other / "config.json").write_text(json.dumps(meta))
    with pytest.raises(MergeError, match="split with different cost estimates"):
        merge([runs[1], other], runs["dir"] / "c3")


def test_cost_split_is_balanced_and_deterministic():
    """Greedy LPT: every pair in exactly one shard; the most and least loaded shards within one pair's
    cost of each other (max/min <= 1.15 on this mix of 4 Opus and 2 neural codecs over 24 utterances of
    1-12 s); the same split whatever the input order, and (integer costs) on every machine."""
    import numpy as np

    from codecbench.pipeline.shards import CODEC_COST, NEURAL_COST, assign, estimated_cost

    costs = {"opus-6kbps": CODEC_COST["opus"], "opus-12kbps": CODEC_COST["opus"], "opus-24kbps": CODEC_COST["opus"],
             "opus-32kbps": CODEC_COST["opus"], "ours-rvq": NEURAL_COST, "ours-fsq": NEURAL_COST}
    rng = np.random.default_rng(7)
    utts = [(f"hi_{i:02d}", float(np.round(rng.uniform(1, 12), 3))) for i in range(24)]
    dur = dict(utts)
    for n in (2, 3, 4):
        split = assign(costs, utts, n)
        assert set(split) == {(c, u) for c in costs for u, _ in utts} and set(split.values()) == set(range(1, n + 1))
        load = [sum(estimated_cost(costs, c, dur[u]) for (c, u), k in split.items() if k == kk) for kk in range(1, n + 1)]
        biggest = max(estimated_cost(costs, c, d) for c in costs for _, d in utts)
        assert max(load) - min(load) <= biggest + 1e-6 and max(load) / min(load) <= 1.15, (n, load)
        neural = [sum(1 for (c, _), k in split.items() if k == kk and c.startswith("ours")) for kk in range(1, n + 1)]
        assert max(neural) - min(neural) <= 2, neural  # the expensive rows are spread, not piled on one shard
        again = assign(dict(reversed(list(costs.items()))), list(reversed(utts)), n)
        assert again == split
    # the case: 2 shards of opus-6kbps and ours-rvq over 6 equal utterances: 3 ours-rvq rows each
    split = assign({"opus-6kbps": 0.05, "ours-rvq": 1.0}, [(f"u{i}", 4.0) for i in range(6)], 2)
    assert sorted(sum(1 for (c, _), k in split.items() if k == kk and c == "ours-rvq") for kk in (1, 2)) == [3, 3]
    # a pinned split: the same on every machine (integer milli-costs, ties by codec then utterance id)
    pinned = assign({"a": 0.05, "b": 1.0}, [("u1", 1.0), ("u2", 2.5), ("u3", 0.7)], 2)
    assert pinned == {("b", "u2"): 1, ("b", "u1"): 2, ("b", "u3"): 2, ("a", "u2"): 2, ("a", "u1"): 2, ("a", "u3"): 2}


def test_shard_folders_from_before_the_cost_split_keep_the_hash_split():
    import hashlib

    from codecbench.pipeline.shards import part

    utts = [(f"u{i}", 1.0) for i in range(10)]
    old = {(c, u) for c in ("a", "b") for u, _ in utts
           if int(hashlib.sha1(f"{c}\0{u}".encode()).hexdigest()[:12], 16) % 3 == 1}  # shard 2/3 as it was
    assert part("2/3", ["a", "b"], utts, None) == old
    assert part(None, ["a"], utts, {"a": 1.0}) is None
