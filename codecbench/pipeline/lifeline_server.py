"""Preloaded by the forkserver of a run's worker pool (``workers.start_server``), and imported nowhere
else: the server process dies with the run named in ``lifeline.ENV_PARENT`` (see ``lifeline``)."""

from __future__ import annotations

import os

from codecbench.pipeline.lifeline import ENV_PARENT, die_with

_run = os.environ.get(ENV_PARENT, "")
if _run.isdigit() and int(_run) != os.getpid():
    die_with(int(_run))
