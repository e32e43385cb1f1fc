"""Shared fixtures. ``../shared`` (beside the project root) holds real test data; tests that need it
skip with the reason when it is absent (a user's clone) and run when it is present (CI).

Strict mode (``CODECBENCH_STRICT=1``, set by ``.ci/run``): every skip except "../shared is absent"
is reported as a failure, so a missing package, tool, checkpoint or model download turns CI red
instead of quietly skipping. ``xfail`` is not a skip and is unaffected.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CODECBENCH_SHARED", ROOT.parent / "shared"))

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a model hub

STRICT = os.environ.get("CODECBENCH_STRICT", "") not in ("", "0")
SHARED_ABSENT = "../shared is absent"  # the one skip reason strict mode allows


def _strict_failure(report) -> str | None:
    """The reason a skip report must fail in strict mode, or None."""
    if not (STRICT and report.skipped) or hasattr(report, "wasxfail"):
        return None
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if reason.removeprefix("Skipped: ").startswith(SHARED_ABSENT):
        return None
    return f"CODECBENCH_STRICT: skipped for a reason other than '{SHARED_ABSENT}': {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    reason = _strict_failure(report)
    if reason:
        report.outcome, report.longrepr = "failed", reason


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    reason = _strict_failure(report)
    if reason:
        report.outcome, report.longrepr = "failed", reason


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "testdata").is_dir():
        pytest.skip(f"{SHARED_ABSENT} ({SHARED}); real-data tests need it")
    return SHARED


@pytest.fixture(scope="session")
def testdata(shared_dir: Path) -> Path:
    return shared_dir / "testdata"


@pytest.fixture(scope="session")
def conformance(testdata: Path) -> dict:
    return json.loads((testdata / "conformance.json").read_text())


@pytest.fixture(scope="session")
def whisper_base_dir(shared_dir: Path) -> Path:
    """Whisper base (CTranslate2) assembled by ../shared/bin/prepare-test-models (a failure skips; strict: fails)."""
    script = shared_dir / "bin" / "prepare-test-models"
    try:
        out = subprocess.run([str(script)], check=True, capture_output=True, text=True, timeout=900)
    except (subprocess.SubprocessError, OSError) as exc:
        err = (getattr(exc, "stderr", None) or "").strip().splitlines()[-1:]
        pytest.skip(f"prepare-test-models failed: {exc} {' '.join(err)}".strip())
    path = Path(out.stdout.strip().splitlines()[-1]) / "whisper-base-ct2"
    if not (path / "model.bin").exists():
        pytest.skip(f"no Whisper base model at {path}")
    return path
