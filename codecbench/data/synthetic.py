"""The embedded default dataset: native-script sentences in en, hi and ta spoken by espeak-ng.

Generated deterministically on first use and cached under ``$CODECBENCH_CACHE`` (default
``~/.cache/codecbench``) in a folder named by a hash of the sentences and the espeak-ng version.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from codecbench.data.loaders import Dataset, DatasetError, probe, read_manifest

SENTENCES = Path(__file__).with_name("espeak_sentences.json")
INSTALL_HINT = "install espeak-ng: apt-get install espeak-ng (Debian/Ubuntu) or brew install espeak-ng"


def cache_root() -> Path:
    return Path(os.environ.get("CODECBENCH_CACHE", Path.home() / ".cache" / "codecbench"))


def espeak_version() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise DatasetError(f"the embedded default dataset needs espeak-ng, which is not installed; {INSTALL_HINT}")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout
    return out.split("Data at")[0].strip()


def build(folder: Path, spec: dict) -> None:
    """Speak every sentence into folder/<lang>/<id>.wav and write folder/manifest.jsonl."""
    lines = []
    for lang, sentences in spec["sentences"].items():
        voices = spec["voices"][lang]
        for i, text in enumerate(sentences):
            voice = voices[i % len(voices)]
            uid = f"{lang}_{i:02d}"
            wav = folder / lang / f"{uid}.wav"
            wav.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(wav), text], check=True, capture_output=True)
            lines.append({"id": uid, "path": f"{lang}/{uid}.wav", "lang": lang, "text": text, "speaker": voice,
                          "source": "espeak-ng"})
    (folder / "manifest.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")


def default_dataset() -> Dataset:
    spec = json.loads(SENTENCES.read_text(encoding="utf-8"))
    version = espeak_version()
    digest = hashlib.sha256((SENTENCES.read_text(encoding="utf-8") + version).encode()).hexdigest()[:12]
    folder = cache_root() / f"espeak-demo-{digest}"
    if not (folder / "manifest.jsonl").exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".espeak-demo-"))
        try:
            build(tmp, spec)
            if not folder.exists():  # another process may have built it meanwhile
                os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    utts = [probe(u) for u in read_manifest(folder / "manifest.jsonl")]
    return Dataset(name="espeak-demo", source=f"embedded espeak-ng set ({version})", utterances=utts)
