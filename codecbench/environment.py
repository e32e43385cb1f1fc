"""What a run ran on: package versions, git revision, device, host. Written to environment.json."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

from codecbench import __version__
from codecbench.metrics.base import package_version

PACKAGES = ("numpy", "scipy", "torch", "soundfile", "soxr", "pesq", "pystoi", "pandas", "pyarrow", "transformers",
            "snac", "visqol-python", "resemblyzer", "speechmos", "faster-whisper", "ctranslate2", "jiwer", "safetensors")


def git_revision() -> dict[str, str | bool | None]:
    src = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if rev.returncode != 0:
            return {"revision": None, "dirty": None}
        dirty = subprocess.run(["git", "--no-optional-locks", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip() != ""
        return {"revision": rev.stdout.strip(), "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"revision": None, "dirty": None}


def device_description(device: str) -> str:
    if device.startswith("cuda"):
        try:
            import torch

            return f"{device}: {torch.cuda.get_device_name(torch.device(device))}"
        except Exception as exc:  # describe, never fail a run over it
            return f"{device} ({exc})"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu: {cpu}, {os.cpu_count()} cores"


def capture(device: str) -> dict:
    from codecbench.codecs.opus import libopus_unavailable_reason, libopus_version

    env = {
        "codecbench": __version__,
        "git": git_revision(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": platform.node(),
        "device": device_description(device),
        "packages": {p: package_version(p) for p in PACKAGES},
        "libopus": libopus_version() if libopus_unavailable_reason() is None else None,
    }
    try:
        out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, timeout=10).stdout
        env["espeak_ng"] = out.split("Data at")[0].strip()
    except OSError:
        env["espeak_ng"] = None
    return env
