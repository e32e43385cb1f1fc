"""A small synthetic dataset and ways to call the command line (in process, or as a real process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
from helpers import speechlike

from codecbench import audio
from codecbench.cli import main

ROOT = Path(__file__).resolve().parents[1]


def manifest(folder: Path, per_lang: int = 2, seconds: float = 1.2, langs=("xx", "yy")) -> Path:
    """per_lang utterances of each language, 16 kHz, speech-like."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for li, lang in enumerate(langs):
        for i in range(per_lang):
            name = f"{lang}{i}.wav"
            audio.save(folder / name, speechlike(seconds + 0.1 * i, 16000, seed=10 * li + i), 16000)
            rows.append(json.dumps({"id": f"{lang}{i}", "path": name, "lang": lang}))
    path = folder / "manifest.jsonl"
    path.write_text("\n".join(rows) + "\n")
    return path


def cli(*argv: str) -> int:
    return main([str(a) for a in argv])


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def popen(*argv: str, **kw) -> subprocess.Popen:
    """``python -m codecbench ARGV`` in its own process group (so a kill reaches its workers too)."""
    return subprocess.Popen([sys.executable, "-m", "codecbench", *map(str, argv)], env=kw.pop("env", env()),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)


def rows(run: Path) -> pd.DataFrame:
    return pd.read_parquet(run / "utterances.parquet")
