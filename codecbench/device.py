"""Which device a command computes on: ``auto`` resolved once, a CUDA device checked before any work."""

from __future__ import annotations

import os
import shutil
import sys

from codecbench.errors import ConfigError

DEVICE_PATTERN = r"auto|cpu|cuda(:\d+)?"  # what --device accepts (run, score, train)


def resolve_device(device: str = "auto") -> str:
    """'auto' means CUDA when torch sees a GPU, else CPU (without importing torch where no NVIDIA driver is)."""
    if device != "auto":
        return device
    if "torch" not in sys.modules and not os.path.exists("/proc/driver/nvidia") and shutil.which("nvidia-smi") is None:
        return "cpu"
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def usable_device(device: str) -> str:
    """``device`` resolved, and a CUDA one checked: a one-line ConfigError when it is not here."""
    device = resolve_device(device)
    if device.startswith("cuda"):
        require_cuda(device)
    return device


def require_cuda(device: str) -> None:
    try:
        import torch
    except ImportError as exc:
        raise ConfigError(f"device {device!r}: torch is not installed") from exc
    if not torch.cuda.is_available():
        raise ConfigError(f"device {device!r}: no CUDA device is available here (use --device cpu or auto)")
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        raise ConfigError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here")
