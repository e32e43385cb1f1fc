"""A metric worker that dies (a library segfault) fails only the item that kills it: the rows its pool
held are not persisted as failures, the pool is rebuilt, and those items are retried one at a time."""

from __future__ import annotations

import json

from codecbench import audio
from codecbench.config import BenchConfig
from codecbench.metrics.registry import all_metrics
from codecbench.pipeline import run
from codecbench.store import RunStore
from tests.helpers import CrashingMetric, speechlike


def test_a_crashing_worker_fails_only_its_item(tmp_path, monkeypatch):
    monkeypatch.setitem(all_metrics(), "test_crash", CrashingMetric())
    lines = []
    for i, uid in enumerate(["a1", "a2", "crash", "a3", "a4"]):
        audio.save(tmp_path / f"{uid}.wav", speechlike(0.8, 16000, seed=i), 16000)
        lines.append(json.dumps({"id": uid, "path": f"{uid}.wav", "lang": "en"}))
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    cfg = BenchConfig(dataset=str(tmp_path / "m.jsonl"), codecs=["opus-12kbps"], metrics=["si_sdr", "test_crash"],
                      workers=1, batch_size=5)
    out = run(cfg, out=tmp_path / "run", progress=False)
    rows = {r["utt_id"]: r for r in RunStore(out).rows()}
    assert len(rows) == 5
    crash = rows["crash"]
    assert crash["test_crash__kind"] == "failed" and "SIGSEGV" in crash["test_crash__failure"]
    for uid in ("a1", "a2", "a3", "a4"):  # innocent items of the broken pool are retried, not failed
        assert rows[uid]["test_crash"] == 1.0 and rows[uid]["si_sdr__kind"] == "", rows[uid]
