"""Small synthetic run folders with the layout of codecbench/store.py (for report tests); their summaries
are written by codecbench.summary itself (write_summaries), so the tests read what a real run writes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from codecbench import audio
from codecbench.store import RunStore, safe_name
from codecbench.summary import write_summaries

METRICS = {
    "pesq": {"outputs": [{"name": "pesq_wb", "higher_is_better": True, "unit": "MOS-LQO", "description": ""}],
             "library": "pesq", "version": "0.0.4", "mode": "wb", "model": None, "sample_rate": 16000},
    "stoi": {"outputs": [{"name": "stoi", "higher_is_better": True, "unit": "", "description": ""}],
             "library": "pystoi", "version": "0.4", "mode": None, "model": None, "sample_rate": 10000},
    "asr": {"outputs": [{"name": "wer", "higher_is_better": False, "unit": "", "description": ""}],
            "library": "faster-whisper", "version": "1.0", "mode": None, "model": "whisper-base", "sample_rate": 16000},
    "bitrate": {"outputs": [{"name": "bitrate_kbps", "higher_is_better": None, "unit": "kbps", "description": ""}],
                "library": "codecbench", "version": "0.1.0", "mode": None, "model": None, "sample_rate": None},
    # its aggregate pools the saved codes into codebook.csv (no per-utterance columns here)
    "codebook": {"outputs": [{"name": "codebook_used_share", "higher_is_better": True, "unit": "", "description": ""}],
                 "library": "codecbench", "version": "0.1.0", "mode": None, "model": None, "sample_rate": None},
}
BASE = {"pesq_wb": 2.5, "stoi": 0.85, "wer": 0.20, "bitrate_kbps": 6.0}


def _tone(seed: int, sr: int, seconds: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    f0 = 120 + 80 * rng.random()
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 20))
    x = x * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(len(t))
    return (0.3 * x / np.max(np.abs(x))).astype(np.float32)


def build_run(
    out: Path,
    codecs: dict[str, float] | None = None,
    langs: tuple[str, ...] = ("en", "hi"),
    per_lang: int = 6,
    sr: int = 16000,
    seed: int = 0,
    shift: dict[str, float] | None = None,
    utt_names: dict[str, str] | None = None,
    save_audio: int = 2,
    failed: dict[tuple[str, str], str] | None = None,
    unavailable: dict[str, str] | None = None,
    bitrates: dict[str, float | None] | None = None,
    levels: dict[str, int] | None = None,
) -> Path:
    """A run folder with codecs {name: quality offset}, per-utterance metric rows, summary, codebook.

    ``shift`` adds a constant to a metric column of every codec (a degraded candidate);
    ``utt_names`` renames utterances; ``failed`` fails (codec, metric) cells with a reason (its kind
    from a "unreliable:", "unavailable:" or "not_applicable:" prefix, else failed; an unreliable one
    fails only every other utterance); ``unavailable`` adds metrics that
    could not run, with their reason. ``bitrates`` sets a codec's measured kbps (default 6 + 6·k for the
    k-th codec; None: a continuous codec, no bitrate and no codes), ``levels`` its number of codebooks (2).
    """
    bitrates = bitrates or {}
    levels = levels or {}
    codecs = codecs or {"codec-a": 0.0, "codec-b": 0.5}
    shift = shift or {}
    failed = failed or {}
    out = Path(out)
    refs = out.parent / f"{out.name}-refs"
    rng = np.random.default_rng(seed)
    dataset = []
    for li, lang in enumerate(langs):
        for i in range(per_lang):
            uid = f"{lang}_{i:02d}"
            uid = (utt_names or {}).get(uid, uid)
            wave = _tone(100 * li + i, sr, 1.0)
            path = refs / f"{safe_name(uid)}.wav"
            audio.save(path, wave, sr)
            dataset.append({"id": uid, "path": str(path), "lang": lang, "text": f"text of <b>{uid}</b>",
                            "speaker": f"spk{i % 2}", "source_sr": sr, "duration": 1.0})
    store = RunStore(out)
    store.open({"run_id": out.name, "codecs": list(codecs)})
    store.write_json("dataset.json", dataset)
    store.write_json("codecs.json", {
        name: {"name": name, "family": "opus" if "opus" in name else "ours", "sample_rate": 16000, "channels": 1,
               "frame_rate": 50.0,
               "codebooks": [{"size": 1024, "frame_rate": 50.0}] * (levels.get(name, 2) if _rate(bitrates, name, k) else 0),
               "latent_dim": None if _rate(bitrates, name, k) else 64, "latent_rate": None if _rate(bitrates, name, k) else 50.0,
               "nominal_bitrate": _rate(bitrates, name, k) and 1000.0 * _rate(bitrates, name, k),
               "causal": False, "streaming": False,
               "description": ""}
        for k, name in enumerate(codecs)})
    metrics = {k: {"name": k, **v, "unavailable": None} for k, v in METRICS.items()}
    for name, reason in (unavailable or {}).items():  # e.g. a model that is not installed: no columns
        metrics[name] = {"name": name, "outputs": [{"name": name, "higher_is_better": True, "unit": "",
                                                     "description": ""}], "library": name, "version": "",
                         "mode": None, "model": None, "sample_rate": None, "unavailable": reason}
    store.write_json("metrics.json", metrics)
    rows = []
    saved: dict[tuple[str, str], int] = {}
    for k, (name, offset) in enumerate(codecs.items()):
        for u in dataset:
            row = {"run_id": out.name, "codec": name, "utt_id": u["id"], "lang": u["lang"], "speaker": u["speaker"],
                   "duration": 1.0, "source_sr": sr, "batch_size": 4, "status": "ok", "error": "",
                   "computed_at": "2026-01-01T00:00:00", "audio": ""}
            noise = rng.normal(0, 0.05)
            for col, base in BASE.items():
                reason = failed.get((name, col))
                if reason and reason.startswith("unreliable") and dataset.index(u) % 2:
                    reason = None
                if reason:
                    kind, _, rest = reason.partition(": ")
                    if kind not in ("unreliable", "unavailable", "not_applicable"):
                        kind, rest = "failed", reason
                    row[col], row[col + "__failure"], row[col + "__kind"] = float("nan"), rest, kind
                    continue
                    continue
                if col == "bitrate_kbps":
                    v = _rate(bitrates, name, k)
                    if v is None:
                        row[col], row[col + "__failure"], row[col + "__kind"] = float("nan"), "continuous latent", \
                            "not_applicable"
                        continue
                elif col == "wer":
                    v = max(0.0, base - 0.1 * offset + noise / 5)
                else:
                    v = base + offset * (1 if col == "pesq_wb" else 0.05) + noise
                row[col] = float(v + shift.get(col, 0.0))
                row[col + "__failure"] = ""
                row[col + "__kind"] = ""
            n = saved.get((name, u["lang"]), 0)
            if n < save_audio:
                p = store.audio_path(name, u["id"])
                ref, _ = audio.load(u["path"])
                audio.save(p, (ref * 0.8).astype(np.float32), sr)
                row["audio"] = str(p.relative_to(out))
                saved[(name, u["lang"])] = n + 1
            rows.append(row)
            if _rate(bitrates, name, k):
                codes = [rng.integers(0, int(300 + 200 * k + 100 * level), size=50)
                         for level in range(levels.get(name, 2))]
                np.savez(_mkdir(store.codes_path(name, u["id"])), *codes)
    store.append(rows)
    write_summaries(out)  # the real summaries (summary.csv/.md, codebook.csv from the codes)
    return out


def _rate(bitrates: dict[str, float | None], name: str, k: int) -> float | None:
    return bitrates[name] if name in bitrates else 6.0 + 6 * k


def _mkdir(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def cli(*argv: str) -> int:
    """Run a command through codecbench's own command line; returns the exit status."""
    from codecbench.cli import main

    return main(list(argv))


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no chromium/chrome on PATH: the headless-browser check needs one (Debian: apt install chromium)")


def headless(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """Run headless chromium with a throw-away profile; stderr carries its console log."""
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={tmp_path / 'chrome-profile'}", "--enable-logging=stderr", "--v=0", *args]
    env = {**os.environ, "HOME": str(tmp_path)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
