"""What a run ran on: package versions, git revision, device, host, and what decides the outputs of
quantized and threaded models (``numerics``). Written to environment.json.

Quantized kernels are chosen at run time by CPU vendor and instruction set: CTranslate2 (faster-whisper)
dispatches to GENERIC/AVX/AVX2/AVX512 (NEON on ARM) code unless ``CT2_FORCE_CPU_ISA`` says otherwise,
and runs int8 GEMMs through Intel MKL on GenuineIntel CPUs and oneDNN elsewhere (``CT2_USE_MKL``);
PyTorch/oneDNN do the same for the speaker models. The same Whisper int8 model can so write a Hindi clip
in Latin script on one CPU and in Perso-Arabic script on another. ``numerics`` records the inputs of
those choices (vendor, model, ISA flags, the environment variables that override them), thread counts,
and the resolved ASR compute type, so that two runs' numbers can be told comparable or not.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import subprocess
import sys
from pathlib import Path

from codecbench import __version__
from codecbench.metrics.base import package_version

PACKAGES = ("numpy", "scipy", "torch", "soundfile", "soxr", "pesq", "pystoi", "pandas", "pyarrow", "transformers",
            "snac", "visqol-python", "resemblyzer", "speechmos", "faster-whisper", "ctranslate2", "jiwer", "safetensors")


def _start(cmd: list[str]) -> subprocess.Popen | None:
    try:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    except OSError:
        return None


def _output(proc: subprocess.Popen | None) -> str | None:
    """stdout of a started command that succeeded, else None."""
    if proc is None:
        return None
    try:
        out, _ = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None
    return out if proc.returncode == 0 else None


def _git_commands() -> tuple[subprocess.Popen | None, subprocess.Popen | None]:
    src = str(Path(__file__).resolve().parent)
    return (_start(["git", "-C", src, "rev-parse", "HEAD"]),
            _start(["git", "--no-optional-locks", "-C", src, "status", "--porcelain", "--untracked-files=no"]))


def git_revision(started: tuple | None = None) -> dict[str, str | bool | None]:
    """The source tree's commit and whether tracked files differ from it (``started``: the two git
    commands, already running)."""
    rev, status = started or _git_commands()
    rev_out, status_out = _output(rev), _output(status)
    if rev_out is None:
        return {"revision": None, "dirty": None}
    return {"revision": rev_out.strip(), "dirty": None if status_out is None else status_out.strip() != ""}


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


# /proc/cpuinfo flags that CTranslate2, oneDNN, MKL and PyTorch dispatch on (x86 and ARM names).
ISA_FLAGS = ("sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512cd", "avx512bw", "avx512dq",
             "avx512vl", "avx512ifma", "avx512vbmi", "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni",
             "amx_tile", "amx_int8", "amx_bf16", "amx_fp16", "asimd", "asimddp", "asimdhp", "i8mm", "bf16", "sve",
             "sve2")
# Environment variables that force an instruction set, a GEMM library or bit-reproducibility mode.
DISPATCH_ENV = ("CT2_FORCE_CPU_ISA", "CT2_USE_MKL", "CT2_USE_EXPERIMENTAL_PACKED_GEMM", "ONEDNN_MAX_CPU_ISA",
                "DNNL_MAX_CPU_ISA", "ONEDNN_DEFAULT_FPMATH_MODE", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR",
                "ATEN_CPU_CAPABILITY")
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "CODECBENCH_ASR_THREADS")
CPUINFO_FIELDS = {"vendor_id": "vendor", "model name": "model", "cpu family": "family", "model": "model_number",
                  "stepping": "stepping", "CPU implementer": "implementer", "CPU part": "part"}


def cpu_description(cpuinfo: str | None = None) -> dict:
    """Vendor, model and the dispatch-relevant ISA flags of the first CPU in ``/proc/cpuinfo``."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    out: dict = {"machine": platform.machine(), "isa_flags": []}
    for line in cpuinfo.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key in CPUINFO_FIELDS:
            out[CPUINFO_FIELDS[key]] = value
        elif key in ("flags", "Features"):
            have = set(value.split())
            out["isa_flags"] = [f for f in ISA_FLAGS if f in have]
    if "model" not in out:
        out["model"] = platform.processor() or platform.machine()
    return out


def asr_settings(device: str, options: dict | None) -> dict:
    """The run's resolved ASR options (compute type, threads, beam: from the config, not re-derived
    here) and what CTranslate2 offers on this device (no model is loaded)."""
    out: dict = {"options": options, "ctranslate2": package_version("ctranslate2")}
    if importlib.util.find_spec("ctranslate2") is not None:
        import ctranslate2

        try:
            out["supported_compute_types"] = sorted(ctranslate2.get_supported_compute_types(
                "cuda" if str(device).startswith("cuda") else "cpu"))
        except (RuntimeError, ValueError) as exc:  # e.g. no CUDA driver
            out["supported_compute_types"] = f"unknown ({exc})"
    return out


_BUILD_LIBRARIES = {"mkl": "Math Kernel Library Version", "onednn": "MKL-DNN", "openmp": "OpenMP"}


def torch_build_libraries(config: str) -> dict[str, str | None]:
    """The MKL, oneDNN and OpenMP versions in ``torch.__config__.show()`` (their kernels pick code paths
    per CPU vendor and ISA, so they decide float32 results in the last bits)."""
    out: dict[str, str | None] = dict.fromkeys(_BUILD_LIBRARIES)
    for line in config.splitlines():
        line = line.strip().removeprefix("- ")
        for key, marker in _BUILD_LIBRARIES.items():
            if out[key] is None and marker in line:
                out[key] = line.split(marker, 1)[1].strip().split(" (")[0].split("-Product")[0].strip() or line
    return out


def _torch_settings() -> dict:
    """PyTorch's CPU kernel level, math libraries and thread counts, if torch is already loaded (never
    imported here)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {"loaded": False}
    return {"loaded": True, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "num_threads": torch.get_num_threads(), "num_interop_threads": torch.get_num_interop_threads(),
            "mkldnn_enabled": bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled),
            **torch_build_libraries(torch.__config__.show())}


def _numpy_blas() -> dict:
    """numpy's BLAS (name, version, its build's kernel selection): STOI/ESTOI, mel and SI-SDR sums use it."""
    import numpy as np

    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except Exception as exc:  # numpy < 1.25 has no dict mode
        return {"numpy": np.__version__, "blas": f"unknown ({type(exc).__name__})"}
    out = {"numpy": np.__version__, "blas": blas.get("name"), "blas_version": blas.get("version"),
           "blas_config": blas.get("openblas configuration")}
    if importlib.util.find_spec("threadpoolctl") is not None:  # the kernel set OpenBLAS picked at run time
        from threadpoolctl import threadpool_info

        out["runtime"] = [{k: p.get(k) for k in ("internal_api", "version", "architecture", "num_threads",
                                                 "threading_layer")} for p in threadpool_info()]
    return out


def numerics(device: str, asr_options: dict | None = None, metrics: list | None = None) -> dict:
    """What decides the outputs of quantized and threaded models; each part is best effort and says
    why it is missing rather than failing a run. ``metrics``: the run's metrics, each adding its own
    sections (``Metric.numerics``; the ASR metric: "asr"); ``asr_options``: the ASR section directly."""
    try:
        affinity: int | None = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    out: dict = {"threads": {"cpu_count": os.cpu_count(), "usable_cpus": affinity,
                             **{k: os.environ.get(k) for k in THREAD_ENV}},
                 "dispatch_env": {k: os.environ[k] for k in DISPATCH_ENV if k in os.environ}}
    parts = [("cpu", cpu_description), ("torch", _torch_settings), ("numpy", _numpy_blas)]
    if asr_options is not None:  # CTranslate2's offer matters (and is imported) only when the run transcribes
        parts.insert(1, ("asr", lambda: asr_settings(device, asr_options)))
    for key, part in parts:
        try:
            out[key] = part()
        except Exception as exc:  # describe, never fail a run over it
            out[key] = {"error": f"{type(exc).__name__}: {exc}"}
    for m in metrics or []:
        try:
            out.update(m.numerics(device))
        except Exception as exc:  # describe, never fail a run over it
            out[m.name] = {"error": f"{type(exc).__name__}: {exc}"}
    out.setdefault("asr", "no ASR metric in this run")
    return out


def capture(device: str, asr_options: dict | None = None, metrics: list | None = None) -> dict:
    from codecbench.codecs.opus import libopus_unavailable_reason, libopus_version

    git, espeak = _git_commands(), _start(["espeak-ng", "--version"])  # run while the rest is gathered
    env = {
        "codecbench": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": platform.node(),
        "device": device_description(device),
        "packages": {p: package_version(p) for p in PACKAGES},
        "libopus": libopus_version() if libopus_unavailable_reason() is None else None,
        "numerics": numerics(device, asr_options, metrics),
    }
    env["git"] = git_revision(git)
    out = _output(espeak)
    env["espeak_ng"] = None if out is None else out.split("Data at")[0].strip()
    return env
