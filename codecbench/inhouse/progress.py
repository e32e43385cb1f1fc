"""What ``codecbench train`` shows while it works: on a terminal one live line (step, loss, s/step, ETA,
last validation) with validation results printed above it; otherwise (a log file, CI) plain lines, one
every ``--log-every`` steps and one per validation. Both go to stderr; log.jsonl keeps the numbers.

The ETA comes from the measured seconds per step (a moving average that skips the first steps, which
include start-up), over the steps left, or the time left to ``--max-minutes`` when that comes first.
"""

from __future__ import annotations

import math
import sys
import time


def clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class TrainProgress:
    def __init__(self, start: int, total: int, deadline: float, log_every: int, stream=None, tty: bool | None = None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.total, self.deadline, self.log_every = total, deadline, log_every
        self.start = start
        self.sec_per_step: float | None = None
        self.val = ""
        self.bar = None
        if self.tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, file=self.stream, unit="step", dynamic_ncols=True,
                            bar_format="{desc} {n_fmt}/{total_fmt} |{bar:20}| {postfix}")

    def eta(self, step: int) -> float:
        if self.sec_per_step is None:
            return math.inf
        left = (self.total - step) * self.sec_per_step
        return min(left, max(0.0, self.deadline - time.monotonic()))

    def step(self, step: int, row: dict, dt: float) -> None:
        if step - self.start > 2:  # the first steps include allocation and warm-up
            a = 0.1 if self.sec_per_step is not None else 1.0
            self.sec_per_step = dt if self.sec_per_step is None else (1 - a) * self.sec_per_step + a * dt
        sps = self.sec_per_step if self.sec_per_step is not None else dt
        text = (f"loss {row['total']:.4f} mel {row.get('mel', float('nan')):.4f} {sps:.3f} s/step "
                f"ETA {clock(self.eta(step))}")
        if self.bar is not None:
            self.bar.set_description_str("train", refresh=False)
            self.bar.set_postfix_str(text + (f" | val {self.val}" if self.val else ""), refresh=False)
            self.bar.update(step - self.bar.n)
        elif step % self.log_every == 0 or step == self.start + 1:
            print(f"step {step}/{self.total} {text}", file=self.stream, flush=True)

    def validation(self, step: int, text: str, seconds: float) -> None:
        self.val = text.split(" | ")[0]
        line = f"validation at step {step} ({seconds:.0f} s): {text}"
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def note(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
