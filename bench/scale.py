"""Scale-out figures, measured in one run of this script, printed as ratios.

1. Engines: utterances/s of the local engine and of the Ray engine on the same work (same config,
   fresh run folders), their ratio, and busy seconds per stage (``timings.json``: summed over
   workers, so overlapping stages can add up to more than the wall time). The Ray instance is
   started before timing (its start-up is printed on its own line); the Ray figure is the run itself.
2. ``--codec-batch``: the codec stage (``Codec.reconstruct``: encode + decode, resampling included)
   at batch 32 vs batch 1 for EnCodec and DAC, random weights at the released shapes (real weights
   where cached); seconds of audio per second at each batch size and the ratio (goal on a GPU: >= 50x).
3. With CUDA (``--device cuda``): the GPU busy share during each engine's run, sampled every 0.1 s
   from ``torch.cuda.utilization()`` (needs ``nvidia-ml-py``); on the Ray engine, codec and model
   metric actors take ``num_gpus`` (``codecbench.pipeline.ray_engine.GPU_SHARE``).

    PYTHONPATH=. python bench/scale.py                                      # engines, shared test clips
    PYTHONPATH=. python bench/scale.py --device cuda --metrics default --codec-batch
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


class GpuBusy:
    """Samples GPU utilization in a thread while a run is going (None where it cannot be read)."""

    def __init__(self, device: str):
        self.device, self.samples, self.stop = device, [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import torch

        while not self.stop.wait(0.1):
            try:
                self.samples.append(torch.cuda.utilization(self.device))
            except Exception:
                return

    def __enter__(self):
        if self.device.startswith("cuda"):
            self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()

    def share(self) -> str:
        if not self.samples:
            return "not measured" + ("" if self.device.startswith("cuda") else " (no CUDA device)")
        s = np.asarray(self.samples, dtype=float)
        return f"{(s > 0).mean():.0%} of samples busy, mean utilization {s.mean():.0f}% ({len(s)} samples)"


def run_engine(engine: str, cfg: dict, out: Path) -> tuple[float, dict, str]:
    from codecbench.config import BenchConfig
    from codecbench.pipeline import run

    with GpuBusy(str(cfg.get("device", "auto"))) as busy:
        t = time.perf_counter()
        run(BenchConfig(engine=engine, **cfg), out=out, progress=False)
        wall = time.perf_counter() - t
    return wall, json.loads((out / "timings.json").read_text()), busy.share()


def engines(args: argparse.Namespace, tmp: Path) -> None:
    import ray

    from codecbench.store import load_rows

    cfg = {"codecs": args.codecs.split(","), "dataset": args.dataset, "langs": args.langs.split(","),
           "metrics": None if args.metrics == "default" else args.metrics.split(","), "device": args.device,
           "workers": args.workers, "batch_size": args.batch_size}
    res = {}
    wall, timings, busy = run_engine("local", cfg, tmp / "local")
    res["local"] = (wall, timings, busy)
    t = time.perf_counter()
    ray.init(address=args.ray_address, include_dashboard=False, log_to_driver=False, configure_logging=False,
             **({} if args.ray_address else {"num_cpus": args.ray_cpus}))
    print(f"ray start-up: {time.perf_counter() - t:.1f} s ({ray.cluster_resources()})")
    try:
        res["ray"] = run_engine("ray", cfg, tmp / "ray")
    finally:
        ray.shutdown()
    n = len(load_rows(tmp / "local"))
    same = _same(load_rows(tmp / "local"), load_rows(tmp / "ray"))
    print(f"work: {n} rows ({cfg['codecs']} x {cfg['langs']}), metrics {args.metrics}, device {args.device}")
    for engine, (wall, timings, busy) in res.items():
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in timings["stage_seconds"].items())
        print(f"{engine:>5}: {n / wall:6.2f} utt/s ({wall:.1f} s); busy per stage: {stages}; GPU: {busy}")
    print(f"ray / local throughput: {res['local'][0] / res['ray'][0]:.2f}x; same rows and values: {same}")


def _same(a, b) -> bool:
    import pandas as pd

    drop = [c for c in a.columns if c == "computed_at" or c.startswith("rtf")]
    try:
        pd.testing.assert_frame_equal(*(x.drop(columns=drop).sort_values(["codec", "utt_id"]).reset_index(drop=True)
                                        for x in (a, b)))
        return True
    except AssertionError:
        return False


def codec_batch(args: argparse.Namespace, tmp: Path) -> None:
    from codec_rtf import device_name, load  # noqa: E402  (bench/codec_rtf.py)

    from codecbench.codecs.base import resolve_device

    device = resolve_device(args.device)
    print(f"codec stage, batch 32 vs 1, {args.seconds:g} s clips, device {device_name(device)}")
    for name in args.batch_codecs.split(","):
        codec, weights = load(name, device, force_random=True, workdir=tmp)
        sr = codec.info.sample_rate
        rate = {}
        for b in (1, 32):
            wave = (0.1 * np.random.default_rng(0).standard_normal((b, int(args.seconds * sr)))).astype(np.float32)
            lengths = np.full(b, wave.shape[1])
            codec.reconstruct(wave, lengths, sr)  # warm-up
            best = float("inf")
            for _ in range(args.repeats):
                _sync(device)
                t = time.perf_counter()
                codec.reconstruct(wave, lengths, sr)
                _sync(device)
                best = min(best, time.perf_counter() - t)
            rate[b] = b * args.seconds / best
        print(f"{name:>20} ({weights}): batch 1 {rate[1]:8.1f} s audio/s, batch 32 {rate[32]:8.1f} s audio/s, "
              f"ratio {rate[32] / rate[1]:.1f}x")
        codec.close()


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--codecs", default="opus-6kbps,opus-12kbps")
    p.add_argument("--dataset", default=str(SHARED / "testdata" / "manifest.json"))
    p.add_argument("--langs", default="hi,en")
    p.add_argument("--metrics", default="pesq_wb,stoi,si_sdr", help="comma-separated, or 'default'")
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--ray-address", default=None)
    p.add_argument("--ray-cpus", type=int, default=None, help="CPUs of the local Ray instance (default: all)")
    p.add_argument("--no-engines", action="store_true", help="skip the local vs Ray comparison")
    p.add_argument("--codec-batch", action="store_true", help="time the codec stage at batch 32 vs 1")
    p.add_argument("--batch-codecs", default="encodec-24k-6kbps,dac-24k")
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="codecbench-scale-") as d:
        if not args.no_engines:
            engines(args, Path(d))
        if args.codec_batch:
            codec_batch(args, Path(d))


if __name__ == "__main__":
    main()
